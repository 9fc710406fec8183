/*
 * test_domainset.c - the exact-match domain set and the whitelist lookup
 * adaptor: normalisation, what counts as a valid name, lookalikes that
 * must never match, growth to a list far larger than the real one.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tests/unit/testlib.h"
#include "whitelist/domainset.h"
#include "whitelist/whitelist.h"

static int add(struct domainset *s, const char *name)
{
    return domainset_add(s, name, strlen(name));
}

static void test_normalisation(void)
{
    struct domainset *s = domainset_new(4);

    CHECK(s != NULL);
    CHECK(add(s, "chu-lille.mssante.fr") == 1);
    CHECK(add(s, "CHU-Lille.MSSante.fr.") == 0);       /* same name, not added again */
    CHECK(add(s, "UC-CMP.mssante.fr") == 1);
    CHECK(domainset_count(s) == 2);
    CHECK(domainset_contains(s, "chu-lille.mssante.fr"));
    CHECK(domainset_contains(s, "uc-cmp.mssante.fr"));
    /* Lookups take the normal form: the caller normalises. */
    CHECK(!domainset_contains(s, "UC-CMP.mssante.fr"));
    CHECK(!domainset_contains(s, "chu-lille.mssante.fr."));
    /* Only one trailing dot is stripped. */
    CHECK(add(s, "chu-lille.mssante.fr..") == -1);
    /* LEN is honoured: the name need not be NUL-terminated. */
    CHECK(domainset_add(s, "medecin.mssante.frXYZ", 18) == 1);
    CHECK(domainset_contains(s, "medecin.mssante.fr"));
    CHECK(!domainset_contains(s, "medecin.mssante.frxyz"));
    domainset_free(s);
}

static void test_lookalikes(void)
{
    struct domainset *s = domainset_new(0);

    CHECK(add(s, "chu-lille.mssante.fr") == 1);
    CHECK(add(s, "medecin.mssante.fr") == 1);
    CHECK(add(s, "interop-mssante.apicrypt.org") == 1);

    /* Non-ASCII is not a valid member: IDNs are listed in A-label form. */
    CHECK(add(s, "medecin.mssant\xc3\xa9.fr") == -1);
    CHECK(!domainset_contains(s, "medecin.mssant\xc3\xa9.fr"));
    CHECK(domainset_count(s) == 3);

    CHECK(!domainset_contains(s, "chu-lille.mssante.fr.example.com"));
    CHECK(!domainset_contains(s, "evilmssante.fr"));
    CHECK(!domainset_contains(s, "mssante.fr"));             /* only sub-domains listed */
    CHECK(!domainset_contains(s, "apicrypt.org"));
    CHECK(!domainset_contains(s, "interop-mssante.apycrypt.org"));
    CHECK(!domainset_contains(s, "x.chu-lille.mssante.fr"));
    CHECK(!domainset_contains(s, "chu-lille.mssante.f"));
    CHECK(!domainset_contains(s, ""));
    CHECK(!domainset_contains(s, NULL));
    CHECK(!domainset_contains(NULL, "chu-lille.mssante.fr"));
    domainset_free(s);
}

static void test_invalid_names(void)
{
    static const char *const bad[] = {
        "", ".", "..", "a..b.fr", ".a.fr", "-a.fr", "a-.fr", "a.-b.fr", "a.b-.fr",
        "a_b.fr", "a b.fr", "a@b.fr", "sessad@ase.mssante.fr", "a/b.fr", "a\tb.fr",
        "xn--mssant-6ua.fr\xc3\xa9", "*.mssante.fr",
    };
    struct domainset *s = domainset_new(0);
    char label[80], name[300];
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = add(s, bad[i]);

        if (rc != -1)
            fprintf(stderr, "invalid name \"%s\" gave %d\n", bad[i], rc);
        CHECK(rc == -1);
    }
    CHECK(domainset_add(s, "a\0b.fr", 6) == -1);       /* embedded NUL */
    CHECK(domainset_add(s, NULL, 0) == -1);
    CHECK(domainset_count(s) == 0);

    /* Label length: 63 is the limit. */
    memset(label, 'a', 63);
    snprintf(name, sizeof(name), "%.63s.fr", label);
    CHECK(add(s, name) == 1);
    memset(label, 'b', 64);
    snprintf(name, sizeof(name), "%.64s.fr", label);
    CHECK(add(s, name) == -1);

    /* Name length: 253 is the limit, 254 with the trailing dot. */
    memset(name, 0, sizeof(name));
    for (i = 0; i < 253; i++)
        name[i] = (i % 2) ? '.' : 'c';        /* "c.c.c...c": 127 labels */
    CHECK(strlen(name) == 253);
    CHECK(add(s, name) == 1);
    name[253] = '.';
    CHECK(add(s, name) == 0);                 /* same name with its dot */
    name[253] = '\0';
    name[251] = 'd';                          /* another 253-character name */
    CHECK(add(s, name) == 1);
    name[253] = 'x';                          /* 254 characters, no dot */
    CHECK(add(s, name) == -1);

    /* Digits, hyphens inside labels, all-numeric labels, A-labels are fine. */
    CHECK(add(s, "xn--mssant-6ua.fr") == 1);
    CHECK(add(s, "ch-a--b.mssante.fr") == 1);
    CHECK(add(s, "83.mssante.fr") == 1);
    CHECK(add(s, "localhost") == 1);
    CHECK(domainset_count(s) == 7);
    domainset_free(s);
}

struct visit {
    int seen;
    int stop_at;
    char first[64];
};

static int visit_fn(const char *domain, void *arg)
{
    struct visit *v = arg;

    if (v->seen == 0)
        snprintf(v->first, sizeof(v->first), "%s", domain);
    v->seen++;
    return v->seen == v->stop_at ? 42 : 0;
}

static void test_foreach(void)
{
    struct domainset *s = domainset_new(2);
    struct visit v = { 0, -1, "" };

    add(s, "b.mssante.fr");
    add(s, "A.mssante.fr");
    add(s, "b.mssante.fr");
    add(s, "c.mssante.fr");
    CHECK(domainset_foreach(s, visit_fn, &v) == 0);
    CHECK(v.seen == 3);
    CHECK_STR(v.first, "b.mssante.fr");      /* insertion order */

    v.seen = 0;
    v.stop_at = 2;
    CHECK(domainset_foreach(s, visit_fn, &v) == 42);
    CHECK(v.seen == 2);
    domainset_free(s);
}

/* A list 20 times the real one, grown from a zero-size hint. */
static void test_large(void)
{
    enum { N = 100000 };
    struct domainset *s = domainset_new(0);
    char name[64];
    struct timespec t0, t1;
    int i, added = 0, found = 0, false_hits = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < N; i++) {
        int n = snprintf(name, sizeof(name), "Etablissement-%d.MSSante.fr", i);

        added += domainset_add(s, name, (size_t)n) == 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(added == N);
    CHECK(domainset_count(s) == N);
    for (i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "etablissement-%d.mssante.fr", i);
        found += domainset_contains(s, name);
        snprintf(name, sizeof(name), "etablissement-%d.mssante.fr", i + N);
        false_hits += domainset_contains(s, name);
    }
    CHECK(found == N);
    CHECK(false_hits == 0);
    printf("100000 domains added in %.1f ms\n",
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    domainset_free(s);
}

static void test_whitelist_lookup(void)
{
    struct whitelist *wl = whitelist_new();

    CHECK(wl != NULL);
    CHECK(wl->domains == NULL);
    CHECK(wl->version[0] == '\0' && wl->entries == 0);
    CHECK(!whitelist_lookup(NULL, "chu-lille.mssante.fr"));
    CHECK(!whitelist_lookup(wl, "chu-lille.mssante.fr"));   /* no set yet */
    wl->domains = domainset_new(1);
    add(wl->domains, "CHU-Lille.MSSante.fr.");
    CHECK(whitelist_lookup(wl, "chu-lille.mssante.fr"));
    CHECK(!whitelist_lookup(wl, "evilmssante.fr"));
    whitelist_free(wl);
    whitelist_free(NULL);
}

static const struct test_case cases[] = {
    { "normalisation", test_normalisation },
    { "lookalikes", test_lookalikes },
    { "invalid names", test_invalid_names },
    { "foreach", test_foreach },
    { "A list 20 times the real one, grown from a zero-size hint", test_large },
    { "whitelist lookup", test_whitelist_lookup },
};
TEST_MAIN(cases)
