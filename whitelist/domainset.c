/*
 * domainset.c - exact-match set of normalised domain names.
 *
 * Layout: every name is copied once, NUL-terminated, into a single growing
 * arena; the hash table holds (arena offset, hash) pairs and is probed
 * linearly.  Keeping offsets rather than pointers lets the arena be
 * realloc'ed while the set is built, and keeping the hash in the slot means
 * a lookup almost never touches a string that is not the one it wants.
 * Once built the set is only read, so lookups need no lock.
 *
 * Normal form: ASCII lower case, one trailing dot removed.  Only host names
 * made of [a-z0-9-] labels are valid: an IDN must be in its A-label
 * ("xn--") form, which is how the ANS list and DNS write them, so a
 * lookalike such as "mssanté.fr" can never be a member.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "whitelist/domainset.h"

#define DOMAIN_MAX 253      /* RFC 1035, without the trailing dot */
#define LABEL_MAX  63
#define MIN_SLOTS  16

struct slot {
    uint32_t off;           /* arena offset + 1; 0 marks an empty slot */
    uint32_t hash;
};

struct domainset {
    struct slot *slots;
    size_t nslots;          /* power of two */
    size_t count;
    char *arena;
    size_t arena_len;
    size_t arena_cap;
};

/* FNV-1a over the bytes, then a final mix so the low bits used for the
 * slot index depend on every byte (domains share long suffixes). */
static uint32_t hash_name(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

/* Slots needed so that EXPECTED names keep the load factor under 0.7. */
static size_t slots_for(size_t expected)
{
    size_t want = expected + expected / 2 + 1;
    size_t n = MIN_SLOTS;

    while (n < want && n < ((size_t)1 << 31))
        n <<= 1;
    return n;
}

struct domainset *domainset_new(size_t expected)
{
    struct domainset *set = calloc(1, sizeof(*set));

    if (set == NULL)
        return NULL;
    if (expected > ((size_t)1 << 26))
        expected = (size_t)1 << 26;    /* a hint, not a promise: grow later */
    set->nslots = slots_for(expected);
    set->slots = calloc(set->nslots, sizeof(*set->slots));
    set->arena_cap = expected ? expected * 24 : 256;
    set->arena = malloc(set->arena_cap);
    if (set->slots == NULL || set->arena == NULL) {
        domainset_free(set);
        return NULL;
    }
    return set;
}

void domainset_free(struct domainset *set)
{
    if (set == NULL)
        return;
    free(set->slots);
    free(set->arena);
    free(set);
}

/*
 * Copy NAME into OUT (DOMAIN_MAX + 1 bytes) in normal form.  Returns the
 * normalised length, or 0 when NAME is not a valid host name.
 */
static size_t normalise(const char *name, size_t len, char *out)
{
    size_t i, label = 0;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > DOMAIN_MAX)
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

/* Find NAME's slot: the one holding it, or the empty slot where it goes. */
static size_t probe(const struct domainset *set, const char *name, uint32_t h)
{
    size_t mask = set->nslots - 1;
    size_t i = h & mask;

    for (;;) {
        const struct slot *s = &set->slots[i];

        if (s->off == 0)
            return i;
        if (s->hash == h && strcmp(set->arena + s->off - 1, name) == 0)
            return i;
        i = (i + 1) & mask;
    }
}

/* Double the table; the arena does not move, only the slots are redone. */
static int grow_table(struct domainset *set)
{
    size_t n = set->nslots * 2, i;
    struct slot *slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (i = 0; i < set->nslots; i++) {
        struct slot s = set->slots[i];
        size_t j;

        if (s.off == 0)
            continue;
        for (j = s.hash & (n - 1); slots[j].off != 0; j = (j + 1) & (n - 1))
            ;
        slots[j] = s;
    }
    free(set->slots);
    set->slots = slots;
    set->nslots = n;
    return 0;
}

/* Make room for NEED more bytes; offsets must stay below 2^32 - 1. */
static int reserve_arena(struct domainset *set, size_t need)
{
    size_t cap = set->arena_cap;
    char *p;

    if (set->arena_len + need >= UINT32_MAX)
        return -1;
    if (set->arena_len + need <= cap)
        return 0;
    while (cap < set->arena_len + need)
        cap *= 2;
    p = realloc(set->arena, cap);
    if (p == NULL)
        return -1;
    set->arena = p;
    set->arena_cap = cap;
    return 0;
}

int domainset_add(struct domainset *set, const char *name, size_t len)
{
    char norm[DOMAIN_MAX + 1];
    size_t n, i;
    uint32_t h;

    if (name == NULL || (n = normalise(name, len, norm)) == 0)
        return -1;
    h = hash_name(norm, n);
    i = probe(set, norm, h);
    if (set->slots[i].off != 0)
        return 0;
    if ((set->count + 1) * 10 > set->nslots * 7) {
        if (grow_table(set) < 0)
            return -2;
        i = probe(set, norm, h);
    }
    if (reserve_arena(set, n + 1) < 0)
        return -2;
    memcpy(set->arena + set->arena_len, norm, n + 1);
    set->slots[i].off = (uint32_t)(set->arena_len + 1);
    set->slots[i].hash = h;
    set->arena_len += n + 1;
    set->count++;
    return 1;
}

bool domainset_contains(const struct domainset *set, const char *domain)
{
    size_t len;

    if (set == NULL || domain == NULL)
        return false;
    len = strlen(domain);
    if (len == 0 || len > DOMAIN_MAX)
        return false;
    return set->slots[probe(set, domain, hash_name(domain, len))].off != 0;
}

size_t domainset_count(const struct domainset *set)
{
    return set ? set->count : 0;
}

/* Walk the arena rather than the table: names come out in insertion
 * order, which keeps snapshots of the same list byte-identical. */
int domainset_foreach(const struct domainset *set,
                      int (*fn)(const char *domain, void *arg), void *arg)
{
    size_t off = 0;

    if (set == NULL)
        return 0;
    while (off < set->arena_len) {
        const char *name = set->arena + off;
        int rc = fn(name, arg);

        if (rc != 0)
            return rc;
        off += strlen(name) + 1;
    }
    return 0;
}
