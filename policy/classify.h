/*
 * classify.h - which side of the trust space an address is on.
 *
 * Pure: the whitelist is reached through a lookup callback, so the
 * decision code needs neither Redis nor the daemon's memory layout and is
 * unit-tested with a plain array.
 */
#ifndef MSSANTE_CLASSIFY_H
#define MSSANTE_CLASSIFY_H

#include <stdbool.h>
#include "policy/address.h"

enum addr_class {
    CLASS_MSSANTE = 0,   /* domain on the ANS whitelist (or one of ours) */
    CLASS_PATIENT,       /* domain is PatientDomain */
    CLASS_CLASSIC,       /* anything else: outside the trust space */
    CLASS_INVALID        /* address could not be parsed */
};

/* Answers "is this exact, normalised domain on the whitelist?". */
typedef bool (*domain_lookup_fn)(const void *ctx, const char *domain);

/*
 * Answers "does the whitelist list CN as the CN of one of DOMAIN's operator
 * MTA certificates?" (the CN= of a <DNCertificatOperateur> of that domain),
 * compared case-insensitively.  DOMAIN is normalised; NULL asks "listed for
 * any domain of the list" (the null sender has no domain to match).  Same
 * context as is_listed: the CNs travel with the version they came with.
 */
typedef bool (*cn_lookup_fn)(const void *ctx, const char *domain, const char *cn);

struct policy_env {
    domain_lookup_fn is_listed;
    const void *lookup_ctx;
    const char *const *local_domains;   /* normalised */
    unsigned long n_local_domains;
    const char *patient_domain;         /* normalised */
    cn_lookup_fn is_cn_listed;          /* NULL when no list is in force */
};

/* Class of a parsed address.  *reason gets a static English phrase that
 * says why (for logs and "mssantectl check"). */
enum addr_class policy_classify(const struct policy_env *env,
                                const struct mailaddr *addr,
                                const char **reason);

bool policy_is_local_domain(const struct policy_env *env, const char *domain);

const char *addr_class_name(enum addr_class c);   /* "mssante", "patient", ... */

#endif
