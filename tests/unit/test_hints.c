/*
 * test_hints.c - the hints of a refused recipient (policy/hints.c) and
 * where they go in the 550 of a mixed list (policy/replies.c).  One named
 * case per line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/address.h"
#include "policy/hints.h"
#include "policy/replies.h"
#include "tests/unit/testlib.h"
#include "whitelist/domainset.h"

static unsigned lookups;

static bool set_lookup(const void *ctx, const char *domain)
{
    lookups++;
    return domainset_contains(ctx, domain);
}

static struct domainset *small;
static const char *const locals[] = { "chu-exemple.mssante.fr" };
static struct policy_env env = { set_lookup, NULL, locals, 1, "patient.mssante.fr", NULL };

static int setup(void)
{
    static const char *const listed[] = {
        "chu-lille.mssante.fr", "medecin.mssante.fr", "pharmacien.mssante.fr",
        "lgpi.mssante.fr", "mssante.apicrypt.org", "interop-mssante.apicrypt.org",
        "chu-lyon.mssante.fr", "chu-lion.mssante.fr",
    };

    if ((small = domainset_new(16)) == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++)
        if (domainset_add(small, listed[i], strlen(listed[i])) != 1)
            return -1;
    env.lookup_ctx = small;
    return 0;
}

/* The hint for the recipient IN (which must parse). */
static struct rcpt_hint hint_of(const char *in)
{
    struct rcpt_hint h;
    struct mailaddr a;

    CHECK(addr_parse(in, &a, NULL) == ADDR_OK);
    hint_for(&env, &a, &h);
    return h;
}

static void expect_near(const char *in, const char *near)
{
    struct rcpt_hint h = hint_of(in);

    CHECK(h.kind == HINT_DID_YOU_MEAN);
    CHECK_STR(h.suggestion, near);
}

static void test_typos(void)
{
    expect_near("<a@chu-lile.mssante.fr>", "chu-lille.mssante.fr");        /* a letter left out */
    expect_near("<a@medeciin.mssante.fr>", "medecin.mssante.fr");          /* one too many */
    expect_near("<a@medecim.mssante.fr>", "medecin.mssante.fr");           /* one changed */
    expect_near("<a@mdeecin.mssante.fr>", "medecin.mssante.fr");           /* two swapped */
    expect_near("<a@interop-mssante.apycrypt.org>", "interop-mssante.apicrypt.org");
    expect_near("<a@medecinmssante.fr>", "medecin.mssante.fr");            /* the dot */
    expect_near("<a@MEDECN.MSSANTE.FR.>", "medecin.mssante.fr");           /* any case */
    /* our own domains and the patients' are in the trust space too */
    expect_near("<a@chu-exempl.mssante.fr>", "chu-exemple.mssante.fr");
    expect_near("<279035121518989@patient.msante.fr>", "patient.mssante.fr");
    /* two listed neighbours: always the same answer (the smaller) */
    expect_near("<a@chu-lxon.mssante.fr>", "chu-lion.mssante.fr");     /* not chu-lyon */
}

static void test_unicode(void)
{
    struct rcpt_hint h;

    /* the accented lookalike of MSSANTE.md: one letter changed back */
    h = hint_of("<a@medecin.mssant\xc3\xa9.fr>");
    CHECK(h.kind == HINT_DID_YOU_MEAN);
    CHECK_STR(h.suggestion, "medecin.mssante.fr");
    CHECK_STR(h.domain, "medecin.xn--mssant-gva.fr");
    h = hint_of("<a@m\xc3\xa9" "decin.mssante.fr>");
    CHECK(h.kind == HINT_DID_YOU_MEAN);
    CHECK_STR(h.suggestion, "medecin.mssante.fr");
    /* two accents: more than one edit, no suggestion; but it is a .fr name */
    h = hint_of("<a@m\xc3\xa9" "decin.mssant\xc3\xa9.fr>");
    CHECK(h.kind == HINT_NONE);
}

static void test_other_hints(void)
{
    CHECK(hint_of("<dr@apicrypt.org>").kind == HINT_APICRYPT);
    CHECK(hint_of("<dr@medecins.apicrypt.org>").kind == HINT_APICRYPT);
    CHECK(hint_of("<dr@APICRYPT.ORG.>").kind == HINT_APICRYPT);
    CHECK(hint_of("<dr@notapicrypt.org>").kind == HINT_NONE);
    CHECK(hint_of("<dr@apicrypt.org.example.com>").kind == HINT_NONE);

    CHECK(hint_of("<dr@nouveau-centre.mssante.fr>").kind == HINT_MSSANTE_UNLISTED);
    CHECK(hint_of("<dr@mssante.fr>").kind == HINT_MSSANTE_UNLISTED);
    CHECK(hint_of("<dr@x.y.mssante.fr>").kind == HINT_MSSANTE_UNLISTED);
    CHECK(hint_of("<dr@evilmssante.fr>").kind == HINT_NONE);
    CHECK(hint_of("<dr@chu-lille.mssante.fr.example.com>").kind == HINT_NONE);
    CHECK(hint_of("<dr@outlook.fr>").kind == HINT_NONE);
    CHECK(hint_of("<dr@[192.0.2.1]>").kind == HINT_NONE);
    CHECK(hint_of("<dr@\xe2\x98\x83.mssante.fr>").kind == HINT_IDN_INVALID);
    CHECK_STR(hint_of("<dr@Nouveau.MSSante.fr>").domain, "nouveau.mssante.fr");
}

/* The work depends on the refused name, not on the list. */
static void test_bounded(void)
{
    struct domainset *big = domainset_new(10000);
    struct policy_env e = env;
    char name[64], out[ADDR_DOMAIN_MAX + 1], longname[HINT_SEARCH_MAX + 8];
    unsigned on_small, on_big;
    size_t len = strlen("chu-lile.mssante.fr");

    CHECK(big != NULL);
    if (big == NULL)
        return;
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(name, sizeof(name), "etablissement-%05d.mssante.fr", i);

        domainset_add(big, name, (size_t)n);
    }
    domainset_add(big, "chu-lille.mssante.fr", strlen("chu-lille.mssante.fr"));
    lookups = 0;
    CHECK(hint_near_domain(&env, "chu-lile.mssante.fr", out, sizeof(out)));
    on_small = lookups;
    e.lookup_ctx = big;
    lookups = 0;
    CHECK(hint_near_domain(&e, "chu-lile.mssante.fr", out, sizeof(out)));
    CHECK_STR(out, "chu-lille.mssante.fr");
    on_big = lookups;
    CHECK(on_small == on_big);
    CHECK(on_big <= 77 * (len + 1));
    printf("# %u lookups for a %zu-character name, with 8 or 10,001 names listed\n", on_big,
           len);
    /* a typo of a listed name among 10,000 */
    CHECK(hint_near_domain(&e, "etablissement-0421.mssante.fr", out, sizeof(out)));
    CHECK_STR(out, "etablissement-00421.mssante.fr");      /* the smallest of several */
    /* longer than HINT_SEARCH_MAX: not searched at all */
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    lookups = 0;
    CHECK(!hint_near_domain(&e, longname, out, sizeof(out)));
    CHECK(lookups == 0);
    domainset_free(big);
}

/* A reply line's text: printable ASCII, under the SMTP budget. */
static bool text_ok(const char *t)
{
    for (const char *p = t; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            return false;
    return strlen(t) <= 450;
}

#define FIRST_SENTENCE "Envoi refuse : destinataire(s) hors de l'espace de confiance MSSante"

static void test_reply(void)
{
    struct rcpt_hint h[3];
    struct verdict v;
    const char *one[1] = { "dr@chu-lile.mssante.fr" };
    const char *three[3] = { "dr@chu-lile.mssante.fr", "x@apicrypt.org", "y@new.mssante.fr" };

    h[0] = hint_of("<dr@chu-lile.mssante.fr>");
    h[1] = hint_of("<x@apicrypt.org>");
    h[2] = hint_of("<y@new.mssante.fr>");
    reply_outbound_classic_hints(&v, one, 1, 1, h, 1);
    CHECK(v.action == ACT_REJECT && strcmp(v.rcode, "550") == 0);
    CHECK(strstr(v.text, FIRST_SENTENCE) == v.text);
    CHECK(strstr(v.text, "Hors MSSante / Not MSSante: dr@chu-lile.mssante.fr. Aide / Help: "
                         "chu-lile.mssante.fr : vouliez-vous dire / did you mean "
                         "chu-lille.mssante.fr ?") != NULL);
    CHECK(text_ok(v.text));

    /* two hints, in the order of the names */
    reply_outbound_classic_hints(&v, three, 2, 2, h, 2);
    CHECK(strstr(v.text, "dr@chu-lile.mssante.fr, x@apicrypt.org. Aide / Help: chu-lile") != NULL);
    CHECK(strstr(v.text, "did you mean chu-lille.mssante.fr ?; apicrypt.org : ancien service "
                         "Apicrypt, non interoperable / old Apicrypt, not interoperable") != NULL);
    CHECK(text_ok(v.text));
    printf("# %zu bytes: %s\n", strlen(v.text), v.text);
    /* three: the third hint has no room left; the names are all there */
    reply_outbound_classic_hints(&v, three, 3, 3, h, 3);
    CHECK(strstr(v.text, "dr@chu-lile.mssante.fr, x@apicrypt.org, y@new.mssante.fr. Aide") != NULL);
    CHECK(strstr(v.text, "did you mean chu-lille.mssante.fr ?") != NULL);
    CHECK(text_ok(v.text));
    h[2].kind = HINT_MSSANTE_UNLISTED;
    reply_outbound_classic_hints(&v, three + 2, 1, 1, h + 2, 1);
    CHECK(strstr(v.text, "y@new.mssante.fr. Aide / Help: new.mssante.fr : absent (ou pas "
                         "encore) de la liste ANS / not (yet) on the ANS list") != NULL);

    /* the same domain twice: one hint */
    h[1] = h[0];
    reply_outbound_classic_hints(&v, three, 2, 2, h, 2);
    CHECK(strstr(v.text, "did you mean") != NULL);
    CHECK(strstr(strstr(v.text, "did you mean") + 1, "did you mean") == NULL);
    /* no hint: the text of before */
    reply_outbound_classic_hints(&v, one, 1, 1, NULL, 0);
    CHECK(strstr(v.text, "Aide") == NULL);
}

/* Five offenders with the longest names a reply quotes, each with a
 * hint: the names win, and the reply stays within its 450 bytes. */
static void test_reply_budget(void)
{
    char names[5][120], dom[110];
    const char *addrs[5];
    struct rcpt_hint h[5];
    struct verdict v;

    for (int i = 0; i < 5; i++) {
        memset(dom, 'a' + i, 80);
        snprintf(dom + 80, sizeof(dom) - 80, ".mssante.fr");
        snprintf(names[i], sizeof(names[i]), "x@%s", dom);
        addrs[i] = names[i];
        memset(&h[i], 0, sizeof(h[i]));
        h[i].kind = HINT_DID_YOU_MEAN;
        snprintf(h[i].domain, sizeof(h[i].domain), "%s", dom);
        snprintf(h[i].suggestion, sizeof(h[i].suggestion), "%s", dom);
    }
    reply_outbound_classic_hints(&v, addrs, 5, 7, h, 5);
    CHECK(text_ok(v.text));
    CHECK(strstr(v.text, FIRST_SENTENCE) == v.text);
    CHECK(strstr(v.text, names[0]) != NULL);
    CHECK(strstr(v.text, "autre(s) / and ") != NULL);
    printf("# %zu bytes\n", strlen(v.text));
    /* short names: every one named, and the hints that fit after them */
    for (int i = 0; i < 5; i++) {
        snprintf(names[i], sizeof(names[i]), "x%d@chu-lile.mssante.fr", i);
        h[i] = hint_of("<x@chu-lile.mssante.fr>");
    }
    h[1] = hint_of("<x@apicrypt.org>");
    reply_outbound_classic_hints(&v, addrs, 5, 5, h, 5);
    CHECK(text_ok(v.text));
    for (int i = 0; i < 5; i++)
        CHECK(strstr(v.text, names[i]) != NULL);
    CHECK(strstr(v.text, "did you mean chu-lille.mssante.fr ?") != NULL);
}

static const struct test_case cases[] = {
    { "did you mean: one letter added, removed, changed or two swapped", test_typos },
    { "did you mean: a Unicode lookalike with one accent", test_unicode },
    { "the old Apicrypt, and a .mssante.fr domain not on the list", test_other_hints },
    { "the search costs the same with 8 or 10,001 listed names", test_bounded },
    { "the hints follow the names in the 550 text", test_reply },
    { "five long offenders with hints: the names first, 450 bytes at most", test_reply_budget },
};

TEST_MAIN_SETUP(cases, setup)
