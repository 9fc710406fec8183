/*
 * hints.h - why a refused recipient is outside the trust space, in words
 * a health professional can act on: the sentence added to the 550 of a
 * mixed list (policy/replies.h).
 *
 * Three hints, the first that applies:
 *   did you mean   the domain is one edit away from a domain in the trust
 *                  space (the ANS list, LocalDomains, PatientDomain): one
 *                  letter added, removed, changed, or two neighbours
 *                  swapped (Damerau-Levenshtein distance 1, the optimal
 *                  string alignment kind), "chu-lile.mssante.fr" for
 *                  "chu-lille.mssante.fr"; a domain written in Unicode is
 *                  also tried with its one accented letter changed or
 *                  removed ("medecin.mssant\u00e9.fr");
 *   Apicrypt       apicrypt.org or a name under it: the old Apicrypt
 *                  service, which is not MSSante (only its interop-mssante
 *                  and mssante domains are listed);
 *   not listed     a name ending in .mssante.fr that the ANS list does
 *                  not hold (not yet registered, or mistyped);
 *   bad IDN        a name written in Unicode that IDNA2008 refuses (it
 *                  can be no one's domain: a character no domain may hold).
 * A hint is only ever a suggestion: the recipient stays refused.
 *
 * Cost: only refused recipients are looked at, at most MSG_MAX_OFFENDERS
 * per message, and the suggestion is a fixed number of exact lookups per
 * character of the domain (about 77: every insertion, deletion,
 * substitution and swap over [a-z0-9.-]), not a scan of the list: some
 * 2,300 hash lookups for a 30-character domain, whatever the size of the
 * list.  Domains longer than HINT_SEARCH_MAX are not searched.
 *
 * Pure: the list is reached through the policy_env lookup.
 */
#ifndef MSSANTE_HINTS_H
#define MSSANTE_HINTS_H

#include "policy/address.h"
#include "policy/classify.h"

#define HINT_SEARCH_MAX 100    /* longest domain searched for a near miss */

enum hint_kind {
    HINT_NONE = 0,
    HINT_DID_YOU_MEAN,         /* suggestion holds the near domain */
    HINT_APICRYPT,             /* the old Apicrypt service */
    HINT_MSSANTE_UNLISTED,     /* *.mssante.fr, not on the ANS list */
    HINT_IDN_INVALID           /* Unicode that IDNA2008 refuses */
};

struct rcpt_hint {
    enum hint_kind kind;
    char domain[ADDR_DOMAIN_MAX + 1];       /* the refused domain (A-labels) */
    char suggestion[ADDR_DOMAIN_MAX + 1];   /* HINT_DID_YOU_MEAN: the near one */
};

/* The hint for A, a recipient refused as classic (ENV: the list in force,
 * LocalDomains, PatientDomain).  OUT->kind is HINT_NONE when none applies. */
void hint_for(const struct policy_env *env, const struct mailaddr *a, struct rcpt_hint *out);

/* The near domain of DOMAIN (ASCII), or false: see above. */
bool hint_near_domain(const struct policy_env *env, const char *domain, char *out,
                      size_t size);

#endif
