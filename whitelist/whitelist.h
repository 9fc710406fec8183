/*
 * whitelist.h - one version of the ANS whitelist: the domain set, the
 * operator certificate CNs of those domains, and the metadata that tells
 * an operator which list is in force.
 *
 * The two sets belong to the version: whoever builds one (ansxml.c,
 * snapshot.c, store.c) fills both, and the daemon swaps them together
 * (live.c), so a new list changes which CNs are accepted at the same
 * moment as it changes the domains.
 */
#ifndef MSSANTE_WHITELIST_H
#define MSSANTE_WHITELIST_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "whitelist/certset.h"
#include "whitelist/domainset.h"

struct whitelist {
    struct domainset *domains;   /* owned */
    struct certset *certs;       /* owned; NULL: this copy of the list carries
                                    no CNs (a format-1 snapshot, or a Redis
                                    version published before they were kept) */
    char version[64];            /* Redis version id, or "file" / "snapshot" */
    char generated[40];          /* DateDeGeneration, ISO 8601 as in the file */
    char sha256[65];             /* of the source XML, hex */
    char source[512];            /* file path or URL it came from */
    time_t loaded_at;            /* when it was published / loaded */
    size_t entries;              /* <Domaine> entries (>= distinct domains) */
};

struct whitelist *whitelist_new(void);          /* zeroed, domains == NULL */
void whitelist_free(struct whitelist *wl);      /* NULL-safe */

/* Lookup adaptor matching policy/classify.h's domain_lookup_fn. */
bool whitelist_lookup(const void *wl, const char *domain);

/* Lookup adaptor matching policy/classify.h's cn_lookup_fn: is CN (any
 * case) the CN of an operator certificate listed for DOMAIN (normalised),
 * or for any domain of the list when DOMAIN is NULL?  False when the list
 * carries no CNs. */
bool whitelist_cn_lookup(const void *wl, const char *domain, const char *cn);

#endif
