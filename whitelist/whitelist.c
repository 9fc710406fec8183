/*
 * whitelist.c - one version of the ANS whitelist: its domain set and the
 * metadata (generation date, sha256, source) shown to operators.
 *
 * The struct is filled by whoever builds it (ansxml.c, snapshot.c,
 * store.c); this file only owns its lifetime and the lookup adaptors used
 * by the policy code.
 */
#include <stdlib.h>

#include "whitelist/whitelist.h"

struct whitelist *whitelist_new(void)
{
    return calloc(1, sizeof(struct whitelist));
}

void whitelist_free(struct whitelist *wl)
{
    if (wl == NULL)
        return;
    domainset_free(wl->domains);
    certset_free(wl->certs);
    free(wl);
}

/* A missing list answers "not listed": the caller decides what an absent
 * list means (the daemon tempfails before ever getting here). */
bool whitelist_lookup(const void *wl, const char *domain)
{
    const struct whitelist *w = wl;

    if (w == NULL)
        return 0;
    return domainset_contains(w->domains, domain);
}

bool whitelist_cn_lookup(const void *wl, const char *domain, const char *cn)
{
    const struct whitelist *w = wl;

    if (w == NULL)
        return false;
    return certset_has(w->certs, domain, cn);
}
