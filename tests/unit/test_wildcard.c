/*
 * test_wildcard.c - '*' patterns for the local part of PharmacyMailboxes
 * (policy/wildcard.c), and the pharmacy entries that use them
 * (policy/patient.c).  One named case per line.
 */
#include <stdbool.h>
#include <string.h>

#include "policy/patient.h"
#include "policy/wildcard.h"
#include "tests/unit/testlib.h"

struct match_case {
    const char *pattern, *text;
    bool match;
};

static const struct match_case matches[] = {
    { "pharmacie-*", "pharmacie-martin-59000-lille", true },
    { "pharmacie-*", "pharmacie-", true },                 /* '*' may match nothing */
    { "pharmacie-*", "pharmacie", false },
    { "pharmacie-*", "xpharmacie-martin", false },         /* anchored at the start */
    { "*-lille", "pharmacie-martin-59000-lille", true },
    { "*-lille", "pharmacie-martin-59000-lille2", false }, /* anchored at the end */
    { "pharmacie-*-59*", "pharmacie-martin-59000-lille", true },
    { "pharmacie-*-59*", "pharmacie-martin-62000-arras", false },
    { "a*b*c", "abc", true },
    { "a*b*c", "aXbYc", true },
    { "a*b*c", "acb", false },
    { "a*a", "a", false },                                 /* two a's needed */
    { "a*a", "aa", true },
    { "*", "", true },
    { "*", "anything", true },
    { "**", "x", true },
    { "", "", true },
    { "", "x", false },
    { "x", "", false },
    { "Pharmacie-*", "PHARMACIE-MARTIN", true },           /* ASCII case ignored */
    { "pharmacie-*", "Pharmacie-Martin", true },
    { "pharmac?e", "pharmacie", false },                   /* only '*' is special */
    { "pharmac?e", "pharmac?e", true },
    { "pharm.cie", "pharmacie", false },
    { "a*", "a\xc3\xa9", true },                           /* bytes, not characters */
};

static void test_table(void)
{
    for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
        const struct match_case *m = &matches[i];
        bool got = wildcard_match(m->pattern, strlen(m->pattern), m->text);

        CHECK(got == m->match);
        if (got != m->match)
            printf("#   \"%s\" against \"%s\": %s\n", m->pattern, m->text,
                   got ? "matched" : "did not match");
    }
}

/* Only the first PLEN bytes are the pattern (the entry's "@domain" after them). */
static void test_length(void)
{
    const char *entry = "pharmacie-*@lgpi.mssante.fr";

    CHECK(wildcard_match(entry, 11, "pharmacie-x"));
    CHECK(!wildcard_match(entry, strlen(entry), "pharmacie-x"));
    CHECK(wildcard_has_star(entry, 11));
    CHECK(!wildcard_has_star(entry, 9));
    CHECK(!wildcard_match(NULL, 0, "x") && !wildcard_match("x", 1, NULL));
}

/*
 * The attacker writes the local part: a pattern with many stars against a
 * long text that almost matches.  A recursive matcher takes exponential
 * time here; this one answers (false) after at most plen * tlen steps.
 * No timing is measured: finishing at all is the test.
 */
static void test_adversarial(void)
{
    char text[257];
    const char *pattern = "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";

    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    CHECK(!wildcard_match(pattern, strlen(pattern), text));
    text[sizeof(text) - 2] = 'b';
    CHECK(wildcard_match(pattern, strlen(pattern), text));
}

static void test_pharmacy_patterns(void)
{
    static const char *const list[] = {
        "pharmacie-*@lgpi.mssante.fr",
        "*-officine@Pharmacien.MSSante.fr.",
        "exact@chu-lille.mssante.fr",
    };
    size_t n = sizeof(list) / sizeof(list[0]);

    CHECK(patient_is_pharmacy(list, n, "pharmacie-martin-59000-lille", "lgpi.mssante.fr"));
    CHECK(patient_is_pharmacy(list, n, "Pharmacie-Dupont-75001-Paris", "lgpi.mssante.fr"));
    CHECK(patient_is_pharmacy(list, n, "grande-officine", "pharmacien.mssante.fr"));
    CHECK(patient_is_pharmacy(list, n, "exact", "CHU-Lille.mssante.fr"));
    /* the pattern stays in its domain, and in its shape */
    CHECK(!patient_is_pharmacy(list, n, "pharmacie-martin", "chu-lille.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "pharmacie-martin", "lgpi.mssante.fr.example.com"));
    CHECK(!patient_is_pharmacy(list, n, "pharmacie-martin", "x.lgpi.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "dr.martin", "lgpi.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "officine-grande", "pharmacien.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "exact2", "chu-lille.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "ex*ct", "chu-lille.mssante.fr"));

    /* entries: '*' in the local part only */
    CHECK(patient_pharmacy_entry_valid("pharmacie-*@lgpi.mssante.fr"));
    CHECK(patient_pharmacy_entry_valid("*@lgpi.mssante.fr"));
    CHECK(patient_pharmacy_entry_valid("a*b*c@lgpi.mssante.fr"));
    CHECK(!patient_pharmacy_entry_valid("pharmacie@*.mssante.fr"));
    CHECK(!patient_pharmacy_entry_valid("@*.mssante.fr"));
    CHECK(!patient_pharmacy_entry_valid("p*@lgpi.*"));
}

static const struct test_case cases[] = {
    { "wildcard: the match table (anchored, '*' may be empty, case ignored)", test_table },
    { "wildcard: only the first PLEN bytes are the pattern", test_length },
    { "wildcard: 16 stars against 256 a's answers (bounded work)", test_adversarial },
    { "PharmacyMailboxes: local-part patterns, never the domain", test_pharmacy_patterns },
};

TEST_MAIN(cases)
