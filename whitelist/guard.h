/*
 * guard.h - may a freshly downloaded list replace the one in force?
 *
 * Pure decision, no I/O: the caller has already parsed the candidate
 * (ans_parse_buffer refuses anything that is not a complete ANS document)
 * and reads the current list's facts from Redis metadata or memory.
 *
 * The checks, in order:
 *   1. at least min_domains distinct domains          (never overridden)
 *   2. the candidate's DateDeGeneration is a date     (never overridden)
 *   3. same sha256 as the current list -> GUARD_UNCHANGED, nothing to do
 *   4. DateDeGeneration not older than the current's  (force overrides)
 *   5. not smaller than the current by more than
 *      max_shrink_pct percent of its domains          (force overrides)
 *
 * Why force never overrides min_domains: the issue lets --force bypass
 * "the shrink and age guards", nothing else, and a near-empty list is the
 * one failure that would refuse almost all MSSante mail at once.  An
 * operator who really serves a small list (a test bed) lowers
 * WhitelistMinDomains instead, which is visible in the configuration.
 */
#ifndef MSSANTE_GUARD_H
#define MSSANTE_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "whitelist/fetch.h"
#include "whitelist/whitelist.h"

/* What the guard needs to know about one list. */
struct guard_facts {
    size_t domains;              /* distinct domains */
    const char *generated;       /* DateDeGeneration; NULL or "" = unknown */
    const char *sha256;          /* of the XML, hex; NULL or "" = unknown */
};

struct guard_limits {
    size_t min_domains;          /* WhitelistMinDomains */
    int max_shrink_pct;          /* WhitelistMaxShrink, 0..100 */
    bool force;                  /* mssantectl whitelist fetch --force */
};

enum guard_verdict {
    GUARD_ACCEPT = 0,            /* publish the candidate */
    GUARD_UNCHANGED,             /* byte-identical to the current list */
    GUARD_REFUSE                 /* keep the current list */
};

/* The limits FS sets (WhitelistMinDomains, WhitelistMaxShrink), force off. */
void guard_limits_init(struct guard_limits *lim, const struct fetch_settings *fs);

/* Decide.  CURRENT is NULL when no list is in force yet (only checks 1-2
 * apply).  REASON always gets one line: why it was refused, or what was
 * accepted (and, with force, which guard was overridden). */
enum guard_verdict guard_check(const struct guard_facts *candidate,
                               const struct guard_facts *current,
                               const struct guard_limits *lim,
                               char *reason, size_t reasonlen);

/* Facts of an in-memory list (domainset count, generated, sha256).  The
 * pointers borrow WL's strings: keep WL alive while FACTS is used. */
void guard_facts_from_whitelist(const struct whitelist *wl, struct guard_facts *facts);

/* Parse an ISO 8601 / RFC 3339 date-time, "YYYY-MM-DDThh:mm:ss" with an
 * optional fraction and a zone "Z", "+hh:mm", "+hhmm" or "+hh" (none means
 * UTC, the ANS's convention); surrounding white space is ignored.
 * 0 and seconds since the epoch in *out, or -1. */
int guard_parse_time(const char *text, time_t *out);

const char *guard_verdict_name(enum guard_verdict v);  /* "accept", ... */

#endif
