/*
 * certset.c - operator certificate CNs per whitelisted domain.
 *
 * Layout: two interned-string tables (whitelist/strtab.h), one for the
 * domains that have a CN and one for the distinct CNs, and one small
 * linked list of CN ids per domain (HEAD indexed by domain id, nodes in
 * LINKS).  The CN table doubles as the "listed for any domain" set, since
 * a CN only enters it together with a domain.  A lookup is two hash probes
 * and a walk of at most CERTSET_PER_DOMAIN_MAX integers: no string is
 * compared twice.  On the real list (5,000 domains, 375 distinct CNs,
 * 6,500 pairs) the lists hold one to five ids.
 *
 * A lookup for an unknown CN, the common case for an intruder, ends after
 * the first probe.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "whitelist/certset.h"
#include "whitelist/domainset.h"
#include "whitelist/strtab.h"

struct link {
    uint32_t cn;            /* id in the CN table */
    uint32_t next;          /* index + 1 of the next link, 0 at the end */
};

struct certset {
    struct strtab *domains;
    struct strtab *cns;
    uint32_t *head;         /* per domain id - 1: index + 1 of its first link */
    size_t head_cap;
    struct link *links;
    size_t nlinks;
    size_t links_cap;
};

struct certset *certset_new(size_t expected_domains)
{
    struct certset *set = calloc(1, sizeof(*set));
    size_t n = expected_domains ? expected_domains : 16;

    if (set == NULL)
        return NULL;
    if (n > STRTAB_HINT_MAX)
        n = STRTAB_HINT_MAX;            /* a hint from outside: grow later */
    set->domains = strtab_new(n, 23);
    set->cns = strtab_new(n / 8 + 16, 23);
    set->head_cap = n;
    set->head = calloc(n, sizeof(*set->head));
    set->links_cap = n + n / 2;      /* the real list: 1.26 CNs per domain */
    set->links = malloc(set->links_cap * sizeof(*set->links));
    if (set->domains == NULL || set->cns == NULL || set->head == NULL || set->links == NULL) {
        certset_free(set);
        return NULL;
    }
    return set;
}

void certset_free(struct certset *set)
{
    if (set == NULL)
        return;
    strtab_free(set->domains);
    strtab_free(set->cns);
    free(set->head);
    free(set->links);
    free(set);
}

/* CN (len bytes) into OUT (CERTSET_CN_MAX + 1) with ASCII letters
 * lower-cased.  Returns the length, 0 when CN is not acceptable. */
static size_t normalise_cn(const char *cn, size_t len, char *out)
{
    size_t i;

    if (cn == NULL || len == 0 || len > CERTSET_CN_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)cn[i];

        if (c < 0x20 || c == 0x7f)
            return 0;
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[len] = '\0';
    return len;
}

/* Does domain DID (id) list CN id CID?  Also counts its CNs into *n. */
static bool domain_has(const struct certset *set, uint32_t did, uint32_t cid, size_t *n)
{
    uint32_t l;

    if (n != NULL)
        *n = 0;
    if (did == 0 || did > set->head_cap)
        return false;
    for (l = set->head[did - 1]; l != 0; l = set->links[l - 1].next) {
        if (set->links[l - 1].cn == cid)
            return true;
        if (n != NULL)
            (*n)++;
    }
    return false;
}

/* Room for one more link and one more domain, before anything is added,
 * so that a CN never enters the CN table without its pair. */
static int reserve(struct certset *set)
{
    if (set->nlinks == set->links_cap) {
        struct link *p = realloc(set->links, 2 * set->links_cap * sizeof(*p));

        if (p == NULL)
            return -1;
        set->links = p;
        set->links_cap *= 2;
    }
    if (strtab_count(set->domains) + 1 > set->head_cap) {
        size_t cap = 2 * set->head_cap;
        uint32_t *p = realloc(set->head, cap * sizeof(*p));

        if (p == NULL)
            return -1;
        memset(p + set->head_cap, 0, (cap - set->head_cap) * sizeof(*p));
        set->head = p;
        set->head_cap = cap;
    }
    return 0;
}

int certset_add(struct certset *set, const char *domain, size_t dlen,
                const char *cn, size_t cn_len)
{
    char d[DOMAINSET_NAME_MAX + 1], c[CERTSET_CN_MAX + 1];
    size_t nd, nc, have;
    uint32_t did, cid;

    if ((nd = domainset_normalise(domain, dlen, d)) == 0)
        return CERTSET_BAD_DOMAIN;
    if ((nc = normalise_cn(cn, cn_len, c)) == 0)
        return CERTSET_BAD_CN;
    did = strtab_find(set->domains, d, nd);
    cid = strtab_find(set->cns, c, nc);
    if (domain_has(set, did, cid, &have))
        return CERTSET_PRESENT;
    if (have >= CERTSET_PER_DOMAIN_MAX)
        return CERTSET_FULL;
    if (reserve(set) < 0
        || (did = strtab_add(set->domains, d, nd, NULL)) == 0
        || (cid = strtab_add(set->cns, c, nc, NULL)) == 0)
        return CERTSET_NOMEM;
    set->links[set->nlinks].cn = cid;
    set->links[set->nlinks].next = set->head[did - 1];
    set->nlinks++;
    set->head[did - 1] = (uint32_t)set->nlinks;
    return CERTSET_ADDED;
}

bool certset_has(const struct certset *set, const char *domain, const char *cn)
{
    char c[CERTSET_CN_MAX + 1];
    size_t nc;
    uint32_t cid;

    if (set == NULL || cn == NULL)
        return false;
    nc = strnlen(cn, CERTSET_CN_MAX + 1);
    if ((nc = normalise_cn(cn, nc, c)) == 0)
        return false;
    if ((cid = strtab_find(set->cns, c, nc)) == 0)
        return false;
    if (domain == NULL)
        return true;
    return domain_has(set, strtab_find(set->domains, domain, strlen(domain)), cid, NULL);
}

size_t certset_pairs(const struct certset *set)
{
    return set != NULL ? set->nlinks : 0;
}

/* A domain enters its table only on the way to getting a link, but an
 * allocation failure in between may leave it without one: count heads. */
size_t certset_domains(const struct certset *set)
{
    size_t i, n = 0, count = strtab_count(set != NULL ? set->domains : NULL);

    for (i = 0; i < count; i++)
        n += set->head[i] != 0;
    return n;
}

size_t certset_cns(const struct certset *set)
{
    return set != NULL ? strtab_count(set->cns) : 0;
}

size_t certset_memory(const struct certset *set)
{
    if (set == NULL)
        return 0;
    return sizeof(*set) + strtab_memory(set->domains) + strtab_memory(set->cns)
           + set->head_cap * sizeof(*set->head) + set->links_cap * sizeof(*set->links);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One domain's CN names, sorted, into CNS; returns how many. */
static size_t domain_cns(const struct certset *set, uint32_t did, const char **cns)
{
    size_t n = 0;
    uint32_t l;

    for (l = set->head[did - 1]; l != 0 && n < CERTSET_PER_DOMAIN_MAX; l = set->links[l - 1].next)
        cns[n++] = strtab_str(set->cns, set->links[l - 1].cn);
    qsort(cns, n, sizeof(*cns), cmp_str);
    return n;
}

int certset_foreach(const struct certset *set, certset_visit_fn fn, void *arg)
{
    const char *cns[CERTSET_PER_DOMAIN_MAX];
    const char **names;
    size_t i, n = 0, count = strtab_count(set != NULL ? set->domains : NULL);
    int rc = 0;

    if (count == 0)
        return 0;
    if ((names = malloc(count * sizeof(*names))) == NULL)
        return -1;
    for (i = 0; i < count; i++)
        if (set->head[i] != 0)
            names[n++] = strtab_str(set->domains, (uint32_t)(i + 1));
    qsort(names, n, sizeof(*names), cmp_str);
    for (i = 0; i < n && rc == 0; i++) {
        uint32_t did = strtab_find(set->domains, names[i], strlen(names[i]));

        rc = fn(names[i], cns, domain_cns(set, did, cns), arg);
    }
    free(names);
    return rc;
}
