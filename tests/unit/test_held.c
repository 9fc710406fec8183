/*
 * test_held.c - the X-MSSante-Held header (policy/held.c) and the notice to
 * the sender of a held message (notify/held.c): the header is one line of
 * printable ASCII that reads back to what was written, forged or damaged
 * values are not taken for the daemon's, and the notice is bilingual
 * ASCII naming the reference and nothing else.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/held.h"
#include "policy/held.h"
#include "tests/unit/testlib.h"

static void test_value_round_trip(void)
{
    char buf[HELD_VALUE_MAX];
    struct held_mark m;

    held_header_value(buf, sizeof(buf), "forward-classic-only", true,
                      "every recipient is outside the trust space");
    CHECK_STR(buf, "forward-classic-only; submission=local; every recipient is outside "
                   "the trust space");
    CHECK(held_header_parse(buf, &m) == 0);
    CHECK_STR(m.rule, "forward-classic-only");
    CHECK(m.local_submission);
    CHECK_STR(m.reason, "every recipient is outside the trust space");

    held_header_value(buf, sizeof(buf), "no-whitelist", false, NULL);
    CHECK_STR(buf, "no-whitelist; submission=smtp; -");
    CHECK(held_header_parse(buf, &m) == 0);
    CHECK(!m.local_submission);

    held_header_value(buf, sizeof(buf), NULL, true, "x");
    CHECK_STR(buf, "hold; submission=local; x");
}

/* The reason may name envelope addresses: one line, printable ASCII. */
static void test_value_made_safe(void)
{
    char buf[HELD_VALUE_MAX], big[3 * HELD_VALUE_MAX];
    struct held_mark m;

    held_header_value(buf, sizeof(buf), "Rule X\n", true,
                      "  a\r\nBcc: spy@example.com\t m\xc3\xa9" "decin\x7f end  ");
    CHECK_STR(buf, "rule-x-; submission=local; a Bcc: spy@example.com m??decin end");
    CHECK(strpbrk(buf, "\r\n\t") == NULL);

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    held_header_value(buf, sizeof(buf), "no-whitelist", true, big);
    CHECK(strlen(buf) == sizeof(buf) - 1);
    CHECK(held_header_parse(buf, &m) == 0);
}

/* What the daemon never writes is not the daemon's. */
static void test_parse_refuses(void)
{
    static const char *const bad[] = {
        "", "forged", "forged; x", "; submission=local; x", "Rule; submission=local; x",
        "rule; submission=other; x", "rule; submission=localx; y", "rule x; submission=local; y",
        "a-very-long-rule-name-that-goes-on-and-on-and-on-for-more-than-64-bytes; "
        "submission=local; x",
    };
    struct held_mark m;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (held_header_parse(bad[i], &m) == 0)
            fprintf(stderr, "parsed: \"%s\"\n", bad[i]);
        CHECK(held_header_parse(bad[i], &m) != 0);
    }
    CHECK(held_header_parse(" forward-classic-only;submission=local;x", &m) == 0);
    CHECK(held_header_is("X-MSSante-Held"));
    CHECK(held_header_is("x-mssante-held"));
    CHECK(!held_header_is("X-MSSante-Held2"));
    CHECK(!held_header_is(NULL));
}

static void test_notice(void)
{
    struct err err = { "" };
    size_t len = 0;
    char *m = notify_held_build("no-reply@chu-test.mssante.fr", "dr.martin@chu-test.mssante.fr",
                                "4F3A2B1C0D", 1741877650LL, "held.1", &len, &err);

    CHECK(m != NULL);
    if (m == NULL) {
        fprintf(stderr, "notify_held_build: %s\n", err.msg);
        return;
    }
    CHECK(strstr(m, "\r\nSubject: Message retenu, intervention requise / Message held, "
                    "action required\r\n") != NULL);
    CHECK(strstr(m, "To: dr.martin@chu-test.mssante.fr\r\n") != NULL);
    CHECK(strstr(m, "Auto-Submitted: auto-generated\r\n") != NULL);
    CHECK(strstr(m, "\r\nReference : 4F3A2B1C0D\r\n") != NULL);
    CHECK(strstr(m, "\r\nAdministrateur / administrator : postmaster@chu-test.mssante.fr\r\n")
          != NULL);
    /* French first, then English; 7-bit text, so only the signature's
     * trailing space needs quoted-printable. */
    CHECK(strstr(m, "Bonjour") != NULL && strstr(m, "Hello") != NULL
          && strstr(m, "Bonjour") < strstr(m, "Hello"));
    CHECK(strstr(m, "=C3") == NULL && strstr(m, "\r\n--=20\r\n") != NULL);
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)m[i] < 0x80);
    free(m);

    CHECK(notify_held_build("no-reply@chu-test.mssante.fr", "a@b.fr", "ID\r\nBcc: x",
                            1, "u", NULL, &err) == NULL);
    CHECK(notify_held_build("no-reply@chu-test.mssante.fr", "a@b.fr\r\nBcc: x@y.fr", "ABC",
                            1, "u", NULL, &err) == NULL);
    CHECK(notify_held_build("nobody", "a@b.fr", "ABC", 1, "u", NULL, &err) == NULL);
    CHECK(notify_held_check_ref("4bXv6K0Nqgz9tfm", &err) == 0);
    CHECK(notify_held_check_ref("", &err) != 0);
    CHECK(notify_held_check_ref("ALL-", &err) != 0);
}

int main(void)
{
    test_value_round_trip();
    test_value_made_safe();
    test_parse_refuses();
    test_notice();
    TEST_DONE();
}
