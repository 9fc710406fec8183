/*
 * test_certset.c - the operator CNs of a whitelist version: lookups by
 * domain and for any domain, case, unknown domains and CNs, a domain with
 * several CNs, a version with none, what is refused on the way in, the
 * per-domain bound, the sorted walk, and whitelist_cn_lookup() (the
 * policy's cn_lookup_fn) over a real parse of the test list.
 */
#include <stdio.h>
#include <string.h>

#include "policy/classify.h"
#include "tests/unit/testlib.h"
#include "whitelist/ansxml.h"
#include "whitelist/certset.h"
#include "whitelist/strtab.h"
#include "whitelist/whitelist.h"

static int add(struct certset *s, const char *domain, const char *cn)
{
    return certset_add(s, domain, strlen(domain), cn, strlen(cn));
}

/* The adaptor must keep the policy's signature (policy/classify.h). */
static const cn_lookup_fn policy_adaptor = whitelist_cn_lookup;

static void test_lookups(void)
{
    struct certset *s = certset_new(4);

    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK(add(s, "medecin.mssante.fr", "smtp-1.mssante.exemple.fr") == CERTSET_ADDED);
    CHECK(add(s, "MEDECIN.mssante.fr.", "SMTP-2.MSSante.Exemple.FR") == CERTSET_ADDED);
    CHECK(add(s, "chu-lille.mssante.fr", "mss.chu-lille.fr") == CERTSET_ADDED);
    /* The same pair again, in another case: kept once. */
    CHECK(add(s, "chu-lille.mssante.fr", "MSS.CHU-LILLE.FR") == CERTSET_PRESENT);
    /* One CN shared by two domains (an operator hosting both). */
    CHECK(add(s, "pharmacien.mssante.fr", "smtp-1.mssante.exemple.fr") == CERTSET_ADDED);
    CHECK(certset_pairs(s) == 4);
    CHECK(certset_domains(s) == 3);
    CHECK(certset_cns(s) == 3);

    /* By domain, in any case of the CN. */
    CHECK(certset_has(s, "medecin.mssante.fr", "smtp-1.mssante.exemple.fr"));
    CHECK(certset_has(s, "medecin.mssante.fr", "smtp-2.mssante.exemple.fr"));
    CHECK(certset_has(s, "medecin.mssante.fr", "SMTP-2.mssante.EXEMPLE.fr"));
    CHECK(certset_has(s, "chu-lille.mssante.fr", "Mss.Chu-Lille.Fr"));
    CHECK(certset_has(s, "pharmacien.mssante.fr", "smtp-1.mssante.exemple.fr"));
    /* A CN listed for another domain only is not listed for this one. */
    CHECK(!certset_has(s, "chu-lille.mssante.fr", "smtp-1.mssante.exemple.fr"));
    CHECK(!certset_has(s, "pharmacien.mssante.fr", "smtp-2.mssante.exemple.fr"));
    CHECK(!certset_has(s, "medecin.mssante.fr", "mss.chu-lille.fr"));
    /* Unknown domain, unknown CN, near misses. */
    CHECK(!certset_has(s, "evil.example.com", "mss.chu-lille.fr"));
    CHECK(!certset_has(s, "chu-lille.mssante.fr", "mss.chu-lille.fr.evil.com"));
    CHECK(!certset_has(s, "chu-lille.mssante.fr", "ss.chu-lille.fr"));
    CHECK(!certset_has(s, "chu-lille.mssante.fr", "mss.chu-lille.f"));
    CHECK(!certset_has(s, "chu-lille.mssante.fr", ""));
    CHECK(!certset_has(s, "chu-lille.mssante.fr", NULL));
    /* Any domain (the null sender): listed for one domain is enough. */
    CHECK(certset_has(s, NULL, "MSS.chu-lille.fr"));
    CHECK(certset_has(s, NULL, "smtp-2.mssante.exemple.fr"));
    CHECK(!certset_has(s, NULL, "smtp.intrus.test"));
    CHECK(!certset_has(s, NULL, ""));
    /* A domain is not a CN. */
    CHECK(!certset_has(s, NULL, "medecin.mssante.fr"));
    certset_free(s);
}

static void test_refused(void)
{
    struct certset *s = certset_new(0);
    char longcn[CERTSET_CN_MAX + 2];
    char name[64];
    int i;

    memset(longcn, 'a', sizeof(longcn) - 1);
    longcn[sizeof(longcn) - 1] = '\0';
    CHECK(add(s, "a.mssante.fr", "") == CERTSET_BAD_CN);
    CHECK(add(s, "a.mssante.fr", "mx\na.fr") == CERTSET_BAD_CN);
    CHECK(add(s, "a.mssante.fr", "mx\ta.fr") == CERTSET_BAD_CN);
    CHECK(add(s, "a.mssante.fr", "mx\x7f" "a.fr") == CERTSET_BAD_CN);
    CHECK(add(s, "a.mssante.fr", longcn) == CERTSET_BAD_CN);
    CHECK(certset_add(s, "a.mssante.fr", 12, "mx\0a.fr", 7) == CERTSET_BAD_CN);
    CHECK(add(s, "a.mssant\xc3\xa9.fr", "mx.a.fr") == CERTSET_BAD_DOMAIN);
    CHECK(add(s, "", "mx.a.fr") == CERTSET_BAD_DOMAIN);
    CHECK(add(s, "sessad@a.mssante.fr", "mx.a.fr") == CERTSET_BAD_DOMAIN);
    CHECK(certset_pairs(s) == 0 && certset_cns(s) == 0);
    CHECK(!certset_has(s, NULL, "mx.a.fr"));
    /* The longest CN that fits, and one with a space and a comma (a DN
     * escape): the rule compares what Postfix passes, byte for byte. */
    longcn[CERTSET_CN_MAX] = '\0';
    CHECK(add(s, "a.mssante.fr", longcn) == CERTSET_ADDED);
    CHECK(certset_has(s, "a.mssante.fr", longcn));
    CHECK(add(s, "a.mssante.fr", "Serveur MSS, Site A") == CERTSET_ADDED);
    CHECK(certset_has(s, "a.mssante.fr", "serveur mss, site a"));
    /* Bounded per domain. */
    for (i = 2; i < CERTSET_PER_DOMAIN_MAX; i++) {
        snprintf(name, sizeof(name), "mx%d.b.fr", i);
        CHECK(add(s, "a.mssante.fr", name) == CERTSET_ADDED);
    }
    CHECK(add(s, "a.mssante.fr", "one-too-many.b.fr") == CERTSET_FULL);
    CHECK(!certset_has(s, NULL, "one-too-many.b.fr"));   /* not half added */
    CHECK(add(s, "a.mssante.fr", "MX2.b.fr") == CERTSET_PRESENT);
    CHECK(add(s, "b.mssante.fr", "one-too-many.b.fr") == CERTSET_ADDED);
    CHECK(certset_pairs(s) == CERTSET_PER_DOMAIN_MAX + 1);
    certset_free(s);
}

struct walk {
    char text[512];
    size_t calls;
};

static int walk_fn(const char *domain, const char *const *cns, size_t n, void *arg)
{
    struct walk *w = arg;
    size_t i, len = strlen(w->text);

    len += (size_t)snprintf(w->text + len, sizeof(w->text) - len, "%s=", domain);
    for (i = 0; i < n; i++)
        len += (size_t)snprintf(w->text + len, sizeof(w->text) - len, "%s%s",
                                i ? ":" : "", cns[i]);
    snprintf(w->text + len, sizeof(w->text) - len, ";");
    w->calls++;
    return 0;
}

static int stop_fn(const char *domain, const char *const *cns, size_t n, void *arg)
{
    (void)domain; (void)cns; (void)n;
    return ++*(int *)arg == 2 ? 7 : 0;
}

static void test_walk(void)
{
    struct certset *s = certset_new(2);
    struct walk w = { "", 0 };
    int seen = 0;

    add(s, "z.mssante.fr", "mx-b.z.fr");
    add(s, "a.mssante.fr", "MX2.a.fr");
    add(s, "z.mssante.fr", "MX-A.z.fr");
    add(s, "a.mssante.fr", "mx1.a.fr");
    add(s, "m.mssante.fr", "mx.m.fr");
    add(s, "a.mssante.fr", "mx1.A.fr");
    CHECK(certset_foreach(s, walk_fn, &w) == 0);
    CHECK_STR(w.text, "a.mssante.fr=mx1.a.fr:mx2.a.fr;m.mssante.fr=mx.m.fr;"
                      "z.mssante.fr=mx-a.z.fr:mx-b.z.fr;");
    CHECK(certset_foreach(s, stop_fn, &seen) == 7 && seen == 2);
    certset_free(s);

    /* No CN at all: nothing to visit; and a NULL set is an empty one. */
    s = certset_new(0);
    w.calls = 0;
    CHECK(certset_foreach(s, walk_fn, &w) == 0 && w.calls == 0);
    CHECK(certset_foreach(NULL, walk_fn, &w) == 0 && w.calls == 0);
    CHECK(!certset_has(s, NULL, "mx.a.fr"));
    CHECK(certset_pairs(NULL) == 0 && certset_domains(NULL) == 0 && certset_cns(NULL) == 0);
    CHECK(!certset_has(NULL, "a.mssante.fr", "mx.a.fr"));
    certset_free(s);
}

/* Far more than the real list: growth of every table keeps every pair. */
static void test_growth(void)
{
    struct certset *s = certset_new(1);
    char d[64], c[64];
    int i, bad = 0;

    for (i = 0; i < 20000; i++) {
        snprintf(d, sizeof(d), "etab-%d.mssante.fr", i);
        snprintf(c, sizeof(c), "mx-%d.operateur.fr", i % 300);
        bad += add(s, d, c) != CERTSET_ADDED;
        snprintf(c, sizeof(c), "MX-%d.operateur.fr", (i + 1) % 300);
        bad += add(s, d, c) != CERTSET_ADDED;
    }
    CHECK(bad == 0);
    CHECK(certset_pairs(s) == 40000 && certset_domains(s) == 20000 && certset_cns(s) == 300);
    for (i = 0; i < 20000; i += 37) {
        snprintf(d, sizeof(d), "etab-%d.mssante.fr", i);
        snprintf(c, sizeof(c), "mx-%d.operateur.fr", (i + 1) % 300);
        bad += !certset_has(s, d, c);
        snprintf(c, sizeof(c), "mx-%d.operateur.fr", (i + 2) % 300);
        bad += certset_has(s, d, c);
    }
    CHECK(bad == 0);
    certset_free(s);
}

/* The interned-string table under both sets: dense ids, exact bytes. */
static void test_strtab(void)
{
    struct strtab *t = strtab_new(1, 4);
    bool added = false;

    CHECK(strtab_add(t, "abc", 3, &added) == 1 && added);
    CHECK(strtab_add(t, "abcd", 3, &added) == 1 && !added);   /* LEN is honoured */
    CHECK(strtab_add(t, "ab", 2, &added) == 2 && added);
    CHECK(strtab_find(t, "ab", 2) == 2 && strtab_find(t, "abc", 3) == 1);
    CHECK(strtab_find(t, "a", 1) == 0 && strtab_find(t, "abcd", 4) == 0);
    CHECK(strtab_find(t, "ABC", 3) == 0);
    CHECK_STR(strtab_str(t, 2), "ab");
    CHECK(strtab_str(t, 0) == NULL && strtab_str(t, 3) == NULL);
    CHECK(strtab_count(t) == 2 && strtab_find(NULL, "ab", 2) == 0);
    strtab_free(t);
}

/* The adaptor the daemon hands the policy, over the parsed test list. */
static void test_whitelist_adaptor(void)
{
    struct err err = { "" };
    char path[512];
    struct ans_list *l;
    struct whitelist *bare = whitelist_new();

    snprintf(path, sizeof(path), "%s/ans-small.xml", testlib_fixtures());
    l = ans_parse_file(path, &err);
    CHECK(l != NULL);
    if (l == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        whitelist_free(bare);
        return;
    }
    CHECK(policy_adaptor(l->wl, "medecin.mssante.fr", "SMTP-1.mssante.exemple.fr"));
    CHECK(policy_adaptor(l->wl, "medecin.mssante.fr", "smtp-2.mssante.exemple.fr"));
    CHECK(!policy_adaptor(l->wl, "medecin.mssante.fr", "mss.chu-lille.fr"));
    CHECK(policy_adaptor(l->wl, NULL, "mss.chu-lille.fr"));
    CHECK(!policy_adaptor(l->wl, "outlook.fr", "mss.chu-lille.fr"));
    CHECK(!policy_adaptor(l->wl, NULL, "smtp.intrus.test"));
    CHECK(!policy_adaptor(NULL, NULL, "mss.chu-lille.fr"));
    /* A version that carries no CNs (old snapshot) lists none. */
    CHECK(!policy_adaptor(bare, NULL, "mss.chu-lille.fr"));
    whitelist_free(bare);
    ans_list_free(l);
}

static const struct test_case cases[] = {
    { "lookups", test_lookups },
    { "refused", test_refused },
    { "walk", test_walk },
    { "Far more than the real list: growth of every table keeps every pair", test_growth },
    { "The interned-string table under both sets: dense ids, exact bytes", test_strtab },
    { "The adaptor the daemon hands the policy, over the parsed test list", test_whitelist_adaptor },
};
TEST_MAIN(cases)
