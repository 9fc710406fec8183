/*
 * domainset.c - exact-match set of normalised domain names.
 *
 * The names live in a whitelist/strtab.h table (one arena, open
 * addressing, the hash kept in each slot); this file adds what makes them
 * domains: the normal form, and refusing anything that is not a host name.
 * Once built the set is only read, so lookups need no lock.
 *
 * Normal form: ASCII lower case, one trailing dot removed.  Only host names
 * made of [a-z0-9-] labels are valid: an IDN must be in its A-label
 * ("xn--") form, which is how the ANS list and DNS write them, so a
 * lookalike such as "mssanté.fr" can never be a member.
 */
#include <stdlib.h>
#include <string.h>

#include "whitelist/domainset.h"
#include "whitelist/strtab.h"

#define LABEL_MAX  63

struct domainset {
    struct strtab *names;
};

struct domainset *domainset_new(size_t expected)
{
    struct domainset *set = calloc(1, sizeof(*set));

    if (set == NULL)
        return NULL;
    if ((set->names = strtab_new(expected, 23)) == NULL) {
        free(set);
        return NULL;
    }
    return set;
}

void domainset_free(struct domainset *set)
{
    if (set == NULL)
        return;
    strtab_free(set->names);
    free(set);
}

size_t domainset_normalise(const char *name, size_t len, char *out)
{
    size_t i, label = 0;

    if (name == NULL)
        return 0;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > DOMAINSET_NAME_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c == '.') {
            /* Empty label, or one ending with a hyphen. */
            if (label == 0 || out[i - 1] == '-')
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            if (c == '-' && label == 0)
                return 0;
            if (++label > LABEL_MAX)
                return 0;
        } else {
            return 0;
        }
        out[i] = (char)c;
    }
    /* The last label: neither empty ("a.fr.." less one dot) nor ending in '-'. */
    if (label == 0 || out[len - 1] == '-')
        return 0;
    out[len] = '\0';
    return len;
}

int domainset_add(struct domainset *set, const char *name, size_t len)
{
    char norm[DOMAINSET_NAME_MAX + 1];
    size_t n;
    bool added;

    if (name == NULL || (n = domainset_normalise(name, len, norm)) == 0)
        return -1;
    if (strtab_add(set->names, norm, n, &added) == 0)
        return -2;
    return added ? 1 : 0;
}

bool domainset_contains(const struct domainset *set, const char *domain)
{
    size_t len;

    if (set == NULL || domain == NULL)
        return false;
    len = strlen(domain);
    if (len == 0 || len > DOMAINSET_NAME_MAX)
        return false;
    return strtab_find(set->names, domain, len) != 0;
}

size_t domainset_count(const struct domainset *set)
{
    return set ? strtab_count(set->names) : 0;
}

size_t domainset_memory(const struct domainset *set)
{
    return set ? sizeof(*set) + strtab_memory(set->names) : 0;
}

/* Insertion order keeps snapshots of the same list byte-identical. */
int domainset_foreach(const struct domainset *set,
                      int (*fn)(const char *domain, void *arg), void *arg)
{
    size_t id, n = domainset_count(set);

    for (id = 1; id <= n; id++) {
        int rc = fn(strtab_str(set->names, (uint32_t)id), arg);

        if (rc != 0)
            return rc;
    }
    return 0;
}
