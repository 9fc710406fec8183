/*
 * certset.h - the operator certificate CNs of one whitelist version.
 *
 * Each <Domaine> entry of the ANS list names, in <DNCertificatOperateur>,
 * a certificate of the MTAs allowed to send for that domain; the CN of
 * that DN is what Postfix passes as {cert_subject} once it verified the
 * client's certificate.  A domain has up to 5 entries in the real list.
 * This set answers "is CN listed for DOMAIN?" and "is CN listed for any
 * domain?" (the null sender), and lists a domain's CNs for the outbound
 * TLS policy map.
 *
 * Like the domain set: built once, then read-only, so lookups take no
 * lock and never allocate, and the set travels inside its struct
 * whitelist, swapped with the domains in one pointer assignment.
 *
 * Normal forms: domains as in domainset.h; CNs with ASCII letters
 * lower-cased (the comparison is case-insensitive), otherwise as written.
 * A CN is 1..CERTSET_CN_MAX bytes with no control character (which keeps
 * the '\n'-joined lists in Redis and the line-based snapshot intact).
 * Memory is bounded: at most CERTSET_PER_DOMAIN_MAX CNs per domain, and
 * each distinct CN and domain name is stored once.
 */
#ifndef MSSANTE_CERTSET_H
#define MSSANTE_CERTSET_H

#include <stdbool.h>
#include <stddef.h>

#define CERTSET_CN_MAX          255
#define CERTSET_PER_DOMAIN_MAX  16

/* certset_add results */
#define CERTSET_ADDED        1
#define CERTSET_PRESENT      0     /* that pair is already there */
#define CERTSET_BAD_DOMAIN  (-1)
#define CERTSET_BAD_CN      (-2)
#define CERTSET_FULL        (-3)   /* the domain already has the maximum of CNs */
#define CERTSET_NOMEM       (-4)

struct certset;

/* EXPECTED_DOMAINS is a sizing hint.  NULL on ENOMEM. */
struct certset *certset_new(size_t expected_domains);
void certset_free(struct certset *set);          /* NULL-safe */

/* Add CN (cn_len bytes) for DOMAIN (dlen bytes); neither need be
 * NUL-terminated nor normalised.  Returns one of the CERTSET_ codes. */
int certset_add(struct certset *set, const char *domain, size_t dlen,
                const char *cn, size_t cn_len);

/* Is CN (any case, NUL-terminated) listed for DOMAIN (normalised), or,
 * when DOMAIN is NULL, for some domain?  False for a NULL set. */
bool certset_has(const struct certset *set, const char *domain, const char *cn);

size_t certset_pairs(const struct certset *set);     /* (domain, CN) pairs */
size_t certset_domains(const struct certset *set);   /* domains with a CN */
size_t certset_cns(const struct certset *set);       /* distinct CNs */
size_t certset_memory(const struct certset *set);    /* bytes allocated */

/*
 * Visit every domain with its CNs: domains in byte order, each domain's
 * CNs in byte order, no duplicates (a deterministic walk, for files that
 * must not change when the list does not).  Stops when fn returns
 * non-zero and returns that value; -1 when out of memory.
 */
typedef int (*certset_visit_fn)(const char *domain, const char *const *cns, size_t n,
                                void *arg);
int certset_foreach(const struct certset *set, certset_visit_fn fn, void *arg);

#endif
