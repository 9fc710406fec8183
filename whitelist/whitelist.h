/*
 * whitelist.h - one version of the ANS whitelist: the domain set plus the
 * metadata that tells an operator which list is in force.
 */
#ifndef MSSANTE_WHITELIST_H
#define MSSANTE_WHITELIST_H

#include <stddef.h>
#include <time.h>
#include "whitelist/domainset.h"

struct whitelist {
    struct domainset *domains;   /* owned */
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
_Bool whitelist_lookup(const void *wl, const char *domain);

#endif
