/*
 * tlspolicy.h - the Postfix smtp_tls_policy_maps table for the trust space.
 *
 * Outbound mail to an MSSante domain must go over TLS to an MTA of that
 * domain's operator: the server must present a certificate Postfix
 * verifies (smtp_tls_CAfile: the IGC-Sante chain) whose name is one of the
 * CNs the whitelist lists for the domain.  This module turns one whitelist
 * version into the table that says so, one line per domain with at least
 * one CN, sorted by domain:
 *
 *   chu-exemple.mssante.fr secure match=mx1.operateur.fr:mx2.operateur.fr
 *   chu-exemple.mssante.fr encrypt                  (level encrypt)
 *
 * It is read as texthash: (no postmap).  Lines starting with '#' are
 * comments; the header names the whitelist version it came from.
 *
 * What may go into a match= list: Postfix splits it on ':' and the value
 * ends at white space, a name starting with '.' matches sub-domains, and
 * "hostname", "nexthop" and "dot-nexthop" are keywords.  So only a CN that
 * is a plain host name (letters, digits and '-' in dot-separated labels,
 * as the domain set accepts, already lower-case) and not one of those
 * keywords is written.  Any other CN (a wildcard, a space, ':', a
 * non-ASCII name) is left out and reported through the warn callback; a
 * domain left with no usable CN is left out of the secure table, and
 * reported.  A domain's own name is always a host name (domainset.h), and
 * no control character ever reaches the file.
 *
 * DIAGNOSTICS: tls_policy_write() reports one line in err: no CN
 * information in the list (a format-1 snapshot: writing an empty table
 * would silently turn TLS enforcement off), or the file error from
 * common/atomicfile.h.
 */
#ifndef MSSANTE_TLSPOLICY_H
#define MSSANTE_TLSPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"
#include "whitelist/whitelist.h"

enum tls_policy_level { TLS_POLICY_SECURE = 0, TLS_POLICY_ENCRYPT };

const char *tls_policy_level_name(enum tls_policy_level level);   /* "secure", "encrypt" */
/* "secure" / "encrypt" (any case): 0, or -1 for anything else. */
int tls_policy_level_parse(const char *text, enum tls_policy_level *out);

struct tls_policy_stats {
    size_t domains;          /* lines written */
    size_t cns;              /* names written in match= lists */
    size_t cns_dropped;      /* CNs that cannot be a match= name */
    size_t domains_dropped;  /* domains with CNs, none usable (secure only) */
};

/* Called for each CN left out (CN is NULL when the whole DOMAIN is). */
typedef void (*tls_policy_warn_fn)(void *arg, const char *domain, const char *cn);

/* True when CN may be written in a match= list. */
bool tls_policy_cn_usable(const char *cn);

/* The table for WL on FP.  0, or -1 (the list has no CN information, or
 * a write error).  STATS and WARN may be NULL. */
int tls_policy_print(FILE *fp, const struct whitelist *wl, enum tls_policy_level level,
                     struct tls_policy_stats *stats, tls_policy_warn_fn warn, void *arg);

/* The same into PATH, replaced atomically, mode 0644 (Postfix reads it
 * as another user).  0, or -1 + err; PATH is untouched on failure. */
int tls_policy_write(const char *path, const struct whitelist *wl,
                     enum tls_policy_level level, struct tls_policy_stats *stats,
                     tls_policy_warn_fn warn, void *arg, struct err *err);

#endif
