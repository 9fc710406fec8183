/*
 * strtab.c - interned strings with dense ids.
 *
 * Layout: every string is copied once, NUL-terminated, into a single
 * growing arena; OFFS[id - 1] is where string ID starts; the hash table
 * holds (id, hash) pairs and is probed linearly.  Keeping offsets rather
 * than pointers lets the arena be realloc'ed while the table is built, and
 * keeping the hash in the slot means a lookup almost never touches a
 * string that is not the one it wants.  Ids and offsets are 32-bit: a
 * whitelist is a few MiB, and the bound keeps a corrupt source from
 * growing the table without limit.
 */
#include <stdlib.h>
#include <string.h>

#include "whitelist/strtab.h"

#define MIN_SLOTS 16
#define MAX_ITEMS ((size_t)1 << 28)

struct slot {
    uint32_t id;            /* 0 marks an empty slot */
    uint32_t hash;
};

struct strtab {
    struct slot *slots;
    size_t nslots;          /* power of two */
    uint32_t *offs;         /* arena offset of each id - 1 */
    size_t count;
    size_t offs_cap;
    char *arena;
    size_t arena_len;
    size_t arena_cap;
};

/* FNV-1a over the bytes, then a final mix so the low bits used for the
 * slot index depend on every byte (domains share long suffixes). */
static uint32_t hash_bytes(const char *s, size_t len)
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

/* Slots needed so that EXPECTED strings keep the load factor under 0.7. */
static size_t slots_for(size_t expected)
{
    size_t want = expected + expected / 2 + 1;
    size_t n = MIN_SLOTS;

    while (n < want && n < ((size_t)1 << 31))
        n <<= 1;
    return n;
}

struct strtab *strtab_new(size_t expected, size_t avg_len)
{
    struct strtab *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    if (expected > STRTAB_HINT_MAX)
        expected = STRTAB_HINT_MAX;     /* a hint, not a promise: grow later */
    if (avg_len == 0 || avg_len > 256)
        avg_len = 24;
    t->nslots = slots_for(expected);
    t->slots = calloc(t->nslots, sizeof(*t->slots));
    t->offs_cap = expected ? expected : 16;
    t->offs = malloc(t->offs_cap * sizeof(*t->offs));
    t->arena_cap = expected ? expected * (avg_len + 1) : 256;
    t->arena = malloc(t->arena_cap);
    if (t->slots == NULL || t->offs == NULL || t->arena == NULL) {
        strtab_free(t);
        return NULL;
    }
    return t;
}

void strtab_free(struct strtab *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t->offs);
    free(t->arena);
    free(t);
}

/* Does stored string ID equal S (LEN bytes)?  strncmp stops at the stored
 * string's NUL, so a shorter stored string is never read past. */
static bool same(const struct strtab *t, uint32_t id, const char *s, size_t len)
{
    const char *stored = t->arena + t->offs[id - 1];

    return strncmp(stored, s, len) == 0 && stored[len] == '\0';
}

/* S's slot: the one holding it, or the empty slot where it goes. */
static size_t probe(const struct strtab *t, const char *s, size_t len, uint32_t h)
{
    size_t mask = t->nslots - 1;
    size_t i = h & mask;

    for (;;) {
        const struct slot *sl = &t->slots[i];

        if (sl->id == 0 || (sl->hash == h && same(t, sl->id, s, len)))
            return i;
        i = (i + 1) & mask;
    }
}

/* Double the table; the arena does not move, only the slots are redone. */
static int grow_table(struct strtab *t)
{
    size_t n = t->nslots * 2, i;
    struct slot *slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (i = 0; i < t->nslots; i++) {
        struct slot s = t->slots[i];
        size_t j;

        if (s.id == 0)
            continue;
        for (j = s.hash & (n - 1); slots[j].id != 0; j = (j + 1) & (n - 1))
            ;
        slots[j] = s;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return 0;
}

/* Room for one more id and NEED more arena bytes. */
static int reserve(struct strtab *t, size_t need)
{
    if (t->count >= MAX_ITEMS || t->arena_len + need >= UINT32_MAX)
        return -1;
    if (t->count == t->offs_cap) {
        uint32_t *p = realloc(t->offs, 2 * t->offs_cap * sizeof(*p));

        if (p == NULL)
            return -1;
        t->offs = p;
        t->offs_cap *= 2;
    }
    if (t->arena_len + need > t->arena_cap) {
        size_t cap = t->arena_cap;
        char *p;

        while (cap < t->arena_len + need)
            cap *= 2;
        if ((p = realloc(t->arena, cap)) == NULL)
            return -1;
        t->arena = p;
        t->arena_cap = cap;
    }
    return 0;
}

uint32_t strtab_add(struct strtab *t, const char *s, size_t len, bool *added)
{
    uint32_t h = hash_bytes(s, len);
    size_t i = probe(t, s, len, h);

    if (added != NULL)
        *added = false;
    if (t->slots[i].id != 0)
        return t->slots[i].id;
    if ((t->count + 1) * 10 > t->nslots * 7) {
        if (grow_table(t) < 0)
            return 0;
        i = probe(t, s, len, h);
    }
    if (reserve(t, len + 1) < 0)
        return 0;
    memcpy(t->arena + t->arena_len, s, len);
    t->arena[t->arena_len + len] = '\0';
    t->offs[t->count] = (uint32_t)t->arena_len;
    t->arena_len += len + 1;
    t->count++;
    t->slots[i].id = (uint32_t)t->count;
    t->slots[i].hash = h;
    if (added != NULL)
        *added = true;
    return (uint32_t)t->count;
}

uint32_t strtab_find(const struct strtab *t, const char *s, size_t len)
{
    if (t == NULL || s == NULL)
        return 0;
    return t->slots[probe(t, s, len, hash_bytes(s, len))].id;
}

const char *strtab_str(const struct strtab *t, uint32_t id)
{
    if (t == NULL || id == 0 || id > t->count)
        return NULL;
    return t->arena + t->offs[id - 1];
}

size_t strtab_count(const struct strtab *t)
{
    return t != NULL ? t->count : 0;
}

size_t strtab_memory(const struct strtab *t)
{
    if (t == NULL)
        return 0;
    return sizeof(*t) + t->nslots * sizeof(*t->slots) + t->offs_cap * sizeof(*t->offs)
           + t->arena_cap;
}
