/*
 * test_address.c - envelope address parsing and domain normalisation
 * (policy/address.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "policy/address.h"
#include "tests/unit/testlib.h"

/* Parse IN; expect ADDR_OK with the given local part and domain. */
static void expect_ok(const char *in, const char *local, const char *domain)
{
    struct mailaddr a;
    const char *why = "unset";
    enum addr_status st = addr_parse(in, &a, &why);

    CHECK(st == ADDR_OK);
    if (st != ADDR_OK)
        fprintf(stderr, "  input \"%s\": %s\n", in, why ? why : "(no reason)");
    CHECK(why == NULL);
    CHECK_STR(a.local, local);
    CHECK_STR(a.domain, domain);
}

/* Parse IN; expect ADDR_MALFORMED with a reason, and nothing left in the result. */
static void expect_bad(const char *in)
{
    struct mailaddr a;
    const char *why = NULL;
    enum addr_status st = addr_parse(in, &a, &why);

    CHECK(st == ADDR_MALFORMED);
    if (st != ADDR_MALFORMED)
        fprintf(stderr, "  input \"%s\" was accepted as %s@%s\n", in ? in : "(null)",
                a.local, a.domain);
    CHECK(why != NULL && why[0] != '\0');
    CHECK(a.domain[0] == '\0');
}

static void test_plain_forms(void)
{
    struct mailaddr a;

    expect_ok("<user@example.fr>", "user", "example.fr");
    expect_ok("user@example.fr", "user", "example.fr");
    expect_ok("<Jean.Dupont@CHU-Lille.MSSante.fr>", "Jean.Dupont", "chu-lille.mssante.fr");
    expect_ok("<user@chu-lille.mssante.fr.>", "user", "chu-lille.mssante.fr");
    expect_ok("user@MEDECIN.MSSANTE.FR.", "user", "medecin.mssante.fr");
    expect_ok("<279035121518989@patient.mssante.fr>", "279035121518989", "patient.mssante.fr");
    expect_ok("<pharmacie-nom-59000-lille@lgpi.mssante.fr>", "pharmacie-nom-59000-lille",
              "lgpi.mssante.fr");
    expect_ok("<a+tag/x=y!#$%&'*?^_`{|}~@x.fr>", "a+tag/x=y!#$%&'*?^_`{|}~", "x.fr");
    expect_ok("<u@localhost>", "u", "localhost");
    expect_ok("<u@xn--mssant-bva.fr>", "u", "xn--mssant-bva.fr");

    CHECK(addr_parse("<user@x.fr>", &a, NULL) == ADDR_OK);
    CHECK(!a.domain_literal && !a.domain_utf8);
}

static void test_null_sender(void)
{
    struct mailaddr a;
    const char *why = "unset";

    CHECK(addr_parse("<>", &a, &why) == ADDR_NULL);
    CHECK(why == NULL);
    CHECK_STR(a.local, "");
    CHECK_STR(a.domain, "");
}

static void test_source_route(void)
{
    expect_ok("<@relay1,@relay2:user@host.fr>", "user", "host.fr");
    expect_ok("<@relay1.example:User@Host.FR>", "User", "host.fr");
    expect_ok("@r1:user@host.fr", "user", "host.fr");
    expect_bad("<@relay1,@relay2 user@host.fr>");
    expect_bad("<@relay1,relay2:user@host.fr>");
    expect_bad("<@:user@host.fr>");
    expect_bad("<@x.fr>");
}

static void test_quoted_local(void)
{
    expect_ok("<\"jean dupont\"@x.fr>", "\"jean dupont\"", "x.fr");
    expect_ok("<\"a@b\"@x.fr>", "\"a@b\"", "x.fr");
    expect_ok("<\"a\\\"b\"@x.fr>", "\"a\\\"b\"", "x.fr");
    expect_bad("<\"jean dupont@x.fr>");
    expect_bad("<jean\"dupont@x.fr>");
    expect_bad("<\"jean\"dupont@x.fr>");
    expect_bad("<\"tab\there\"@x.fr>");
}

static void test_literals_and_idn(void)
{
    struct mailaddr a;
    const char *why;

    CHECK(addr_parse("<u@[192.0.2.1]>", &a, &why) == ADDR_OK);
    CHECK(a.domain_literal);
    CHECK_STR(a.domain, "[192.0.2.1]");
    CHECK(addr_parse("<u@[IPv6:2001:DB8::1]>", &a, &why) == ADDR_OK);
    CHECK(a.domain_literal);
    CHECK_STR(a.domain, "[ipv6:2001:db8::1]");
    expect_bad("<u@[192.0.2.256]>");
    expect_bad("<u@[192.0.2.1>");
    expect_bad("<u@[IPv6:zz::1]>");
    expect_bad("<u@[x400:whatever]>");
    expect_bad("<u@[]>");

    /* medecin.mssanté.fr in UTF-8: accepted, flagged, compared in A-label
     * form (its own: a lookalike is not medecin.mssante.fr); domain_u keeps
     * it as written, with only the ASCII lower-cased */
    CHECK(addr_parse("<u@Medecin.MSSant\xc3\xa9.FR>", &a, &why) == ADDR_OK);
    CHECK(a.domain_utf8 && !a.domain_idn_bad);
    CHECK(!a.domain_literal);
    CHECK_STR(a.domain, "medecin.xn--mssant-gva.fr");
    CHECK_STR(a.domain_u, "medecin.mssant\xc3\xa9.fr");
    /* capital E-acute: UTS #46 folds its case, as DNS does */
    CHECK(addr_parse("<u@MSSANT\xc3\x89.fr>", &a, &why) == ADDR_OK);
    CHECK_STR(a.domain, "xn--mssant-gva.fr");
    CHECK_STR(a.domain_u, "mssant\xc3\x89.fr");
    /* broken UTF-8 is not a domain */
    expect_bad("<u@mssant\xc3.fr>");
    expect_bad("<u@mssant\xe9.fr>");
    expect_bad("<u@\xc0\xae.fr>");
}

/* Unicode domains (SMTPUTF8): IDNA2008, UTS #46 non-transitional. */
static void test_idna(void)
{
    struct mailaddr a;
    const char *why;

    /* full-width letters map to ASCII: where Postfix would deliver it */
    CHECK(addr_parse("<u@\xef\xbd\x8d\xef\xbd\x85\xef\xbd\x84\xef\xbd\x85\xef\xbd\x83"
                     "\xef\xbd\x89\xef\xbd\x8e.mssante.fr>", &a, &why) == ADDR_OK);
    CHECK(a.domain_utf8 && !a.domain_idn_bad);
    CHECK_STR(a.domain, "medecin.mssante.fr");
    /* non-transitional: the sharp s stays (transitional would give "strasse") */
    CHECK(addr_parse("<u@stra\xc3\x9f" "e.de>", &a, &why) == ADDR_OK);
    CHECK_STR(a.domain, "xn--strae-oqa.de");
    /* an ideographic full stop at the end is a trailing dot */
    CHECK(addr_parse("<u@\xc3\xa9.fr\xe3\x80\x82>", &a, &why) == ADDR_OK);
    CHECK(!a.domain_idn_bad);
    CHECK_STR(a.domain, "xn--9ca.fr");
    /* refused by IDNA2008: kept as written and flagged, never an A-label */
    CHECK(addr_parse("<u@\xe2\x98\x83.fr>", &a, &why) == ADDR_OK);          /* snowman */
    CHECK(a.domain_utf8 && a.domain_idn_bad);
    CHECK_STR(a.domain, "\xe2\x98\x83.fr");
    CHECK(addr_parse("<u@a\xe2\x80\x8d" "b.fr>", &a, &why) == ADDR_OK);      /* ZWJ */
    CHECK(a.domain_idn_bad);
    CHECK(addr_parse("<u@ab--cd.\xc3\xa9.fr>", &a, &why) == ADDR_OK);        /* "--" at 3-4 */
    CHECK(a.domain_idn_bad);
    /* an ASCII domain is left alone, an A-label included */
    CHECK(addr_parse("<u@xn--mssant-gva.fr>", &a, &why) == ADDR_OK);
    CHECK(!a.domain_utf8 && !a.domain_idn_bad && a.domain_u[0] == '\0');
    CHECK_STR(a.domain, "xn--mssant-gva.fr");
    /* a U-label that maps to something that is no host name */
    CHECK(addr_parse("<u@\xc3\xa9_x.fr>", &a, &why) == ADDR_MALFORMED);
}

static void test_malformed(void)
{
    char longlocal[300], longdom[300], label64[80];
    char buf[600];
    int i;

    expect_bad(NULL);
    expect_bad("");
    expect_bad("<");
    expect_bad(">");
    expect_bad("userexample.fr");
    expect_bad("<userexample.fr>");
    expect_bad("<@example.fr>");
    expect_bad("<user@>");
    expect_bad("user@");
    expect_bad("@");
    expect_bad("<user@example.fr");
    expect_bad("user@example.fr>");
    expect_bad("<<user@example.fr>>");
    expect_bad("<user@example.fr> ");
    expect_bad(" <user@example.fr>");
    expect_bad("<jean dupont@x.fr>");
    expect_bad("<user@ex ample.fr>");
    expect_bad("<user\r\n@x.fr>");
    expect_bad("<user@x.fr\r\nRCPT TO:<a@b>>");
    expect_bad("<user@x\x01.fr>");
    expect_bad("<user@-x.fr>");
    expect_bad("<user@x-.fr>");
    expect_bad("<user@x..fr>");
    expect_bad("<user@.x.fr>");
    expect_bad("<user@x.fr..>");
    expect_bad("<user@.>");
    expect_bad("<user@x_y.fr>");
    expect_bad("<user@x.fr:25>");
    expect_bad("<user@x@y.fr>");

    /* local part: 256 is the (lenient) limit */
    memset(longlocal, 'a', 256);
    longlocal[256] = '\0';
    snprintf(buf, sizeof(buf), "<%s@x.fr>", longlocal);
    expect_ok(buf, longlocal, "x.fr");
    memset(longlocal, 'a', 257);
    longlocal[257] = '\0';
    snprintf(buf, sizeof(buf), "<%s@x.fr>", longlocal);
    expect_bad(buf);

    /* labels: 63 is fine, 64 is not */
    memset(label64, 'b', 63);
    strcpy(label64 + 63, ".fr");
    snprintf(buf, sizeof(buf), "<u@%s>", label64);
    expect_ok(buf, "u", label64);
    memset(label64, 'b', 64);
    strcpy(label64 + 64, ".fr");
    snprintf(buf, sizeof(buf), "<u@%s>", label64);
    expect_bad(buf);

    /* whole domain: 253 is fine (also with its trailing dot), 254 is not */
    for (i = 0; i < 253; i++)
        longdom[i] = (i % 10 == 9) ? '.' : 'c';
    longdom[253] = '\0';
    snprintf(buf, sizeof(buf), "<u@%s>", longdom);
    expect_ok(buf, "u", longdom);
    snprintf(buf, sizeof(buf), "<u@%s.>", longdom);
    expect_ok(buf, "u", longdom);
    longdom[253] = 'c';
    longdom[254] = '\0';
    snprintf(buf, sizeof(buf), "<u@%s>", longdom);
    expect_bad(buf);
}

static void test_normalize_domain(void)
{
    char d1[] = "CHU-Lille.MSSante.FR.";
    char d2[] = "x.fr..";
    char d3[] = "mssant\xc3\xa9.fr";
    char d4[] = "[192.0.2.1]";
    char d5[] = "";
    char d6[] = "Patient.MSSante.fr";
    char d7[] = "-bad.fr";

    CHECK(addr_normalize_domain(d1));
    CHECK_STR(d1, "chu-lille.mssante.fr");
    CHECK(!addr_normalize_domain(d2));
    CHECK(!addr_normalize_domain(d3));
    CHECK(!addr_normalize_domain(d4));
    CHECK(!addr_normalize_domain(d5));
    CHECK(addr_normalize_domain(d6));
    CHECK_STR(d6, "patient.mssante.fr");
    CHECK(!addr_normalize_domain(d7));
    CHECK(!addr_normalize_domain(NULL));
}

static void test_format(void)
{
    struct mailaddr a;
    char buf[64], small[8];

    CHECK(addr_parse("<Jean@Example.FR.>", &a, NULL) == ADDR_OK);
    CHECK_STR(addr_format(&a, buf, sizeof(buf)), "Jean@example.fr");
    CHECK(addr_format(&a, small, sizeof(small)) == small);
    CHECK_STR(small, "Jean@ex");
    CHECK(addr_parse("<>", &a, NULL) == ADDR_NULL);
    CHECK_STR(addr_format(&a, buf, sizeof(buf)), "<>");
    CHECK(addr_format(&a, buf, 0) == buf);
}

/* IN parses; expect addr_route_form() to say ROUTE (with a reason when so). */
static void expect_route(const char *in, bool route)
{
    struct mailaddr a;
    const char *why = "unset";

    CHECK(addr_parse(in, &a, NULL) == ADDR_OK);
    CHECK(addr_route_form(&a, &why) == route);
    if (route)
        CHECK(why != NULL && why[0] != '\0');
    else
        CHECK(why == NULL);
    if (addr_route_form(&a, NULL) != route)
        fprintf(stderr, "  input \"%s\": route form expected %s\n", in, route ? "yes" : "no");
}

static void test_route_forms(void)
{
    struct mailaddr a;
    const char *why;

    /* the forms Postfix rewrites with its defaults (issue 10) */
    expect_route("<dr.martin%chu-test.mssante.fr@[127.0.0.1]>", true);
    expect_route("<dr.martin%chu-test.mssante.fr@localhost>", true);
    expect_route("<victim%gmail.com@chu-test.mssante.fr>", true);
    expect_route("<chu-test.mssante.fr!dr.martin@[127.0.0.1]>", true);
    expect_route("<chu-test.mssante.fr!dr.martin@mx.example.fr>", true);
    expect_route("<\"dr.martin@chu-test.mssante.fr\"@[127.0.0.1]>", true);
    expect_route("<\"dr.martin@chu-test.mssante.fr\"@mx.example.fr>", true);
    expect_route("<\"victim%gmail.com\"@chu-test.mssante.fr>", true);
    expect_route("<\"gmail.com!victim\"@chu-test.mssante.fr>", true);
    expect_route("<dr.martin@[192.0.2.10]>", true);
    expect_route("<dr.martin@[IPv6:2001:db8::1]>", true);
    expect_route("<a+tag/x=y!#$%&'*?^_`{|}~@x.fr>", true);
    /* ordinary addresses, quoted or not, and the stripped source route */
    expect_route("<dr.martin@chu-test.mssante.fr>", false);
    expect_route("<\"jean dupont\"@chu-test.mssante.fr>", false);
    expect_route("<a+tag@x.fr>", false);
    expect_route("<@relay.example:dr.martin@chu-test.mssante.fr>", false);
    expect_route("<279035121518989@patient.mssante.fr>", false);
    /* the reason says which form */
    CHECK(addr_parse("<a%b@x.fr>", &a, NULL) == ADDR_OK);
    CHECK(addr_route_form(&a, &why) && strstr(why, "percent") != NULL);
    CHECK(addr_parse("<b!a@x.fr>", &a, NULL) == ADDR_OK);
    CHECK(addr_route_form(&a, &why) && strstr(why, "bang") != NULL);
    CHECK(addr_parse("<\"a@b\"@x.fr>", &a, NULL) == ADDR_OK);
    CHECK(addr_route_form(&a, &why) && strstr(why, "quoted") != NULL);
    CHECK(addr_parse("<a@[192.0.2.1]>", &a, NULL) == ADDR_OK);
    CHECK(addr_route_form(&a, &why) && strstr(why, "literal") != NULL);
    CHECK(!addr_route_form(NULL, &why) && why == NULL);
}

int main(void)
{
    test_plain_forms();
    test_null_sender();
    test_source_route();
    test_quoted_local();
    test_literals_and_idn();
    test_idna();
    test_malformed();
    test_normalize_domain();
    test_format();
    test_route_forms();
    TEST_DONE();
}
