/*
 * test_held.c - the X-MSSante-Held header (policy/held.c) and the notice to
 * the sender of a held message (notify/held.c): the header is one line of
 * printable ASCII, signed, that reads back to what was written; a header
 * without a MAC, with a wrong one, with its reason, rule or submission
 * changed, copied to another queue id or made with another key is not
 * taken for the daemon's; the notice is bilingual ASCII naming the
 * reference and nothing else.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify/held.h"
#include "policy/held.h"
#include "tests/unit/testlib.h"

static const unsigned char KEY[HELD_KEY_BYTES] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                                    14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                                                    25, 26, 27, 28, 29, 30, 31, 32 };
static const unsigned char OTHER_KEY[HELD_KEY_BYTES] = { 1, 2, 3 };
#define QID "4F3A2B1C0D"

/* VALUE with its "mac=HEX; " taken out (the form the daemon wrote before
 * the MAC), into OUT. */
static void without_mac(const char *value, char *out, size_t size)
{
    const char *mac = strstr(value, "mac=");

    if (mac == NULL) {
        snprintf(out, size, "%s", value);
        return;
    }
    snprintf(out, size, "%.*s%s", (int)(mac - value), value, mac + 4 + HELD_MAC_HEX + 2);
}

/* The MAC of VALUE (64 hex digits), into OUT. */
static void mac_of(const char *value, char out[HELD_MAC_HEX + 1])
{
    const char *mac = strstr(value, "mac=");

    snprintf(out, HELD_MAC_HEX + 1, "%s", mac != NULL ? mac + 4 : "");
}

static void test_value_round_trip(void)
{
    char buf[HELD_VALUE_MAX], mac[HELD_MAC_HEX + 1], want[HELD_VALUE_MAX];
    struct held_mark m;

    CHECK(held_header_value(buf, sizeof(buf), KEY, QID, "forward-classic-only", true,
                            "every recipient is outside the trust space") == 0);
    mac_of(buf, mac);
    CHECK(strlen(mac) == HELD_MAC_HEX && strspn(mac, "0123456789abcdef") == HELD_MAC_HEX);
    snprintf(want, sizeof(want), "forward-classic-only; submission=local; mac=%s; every "
             "recipient is outside the trust space", mac);
    CHECK_STR(buf, want);
    CHECK(held_header_check(buf, KEY, QID, &m) == HELD_OURS);
    CHECK_STR(m.rule, "forward-classic-only");
    CHECK(m.local_submission);
    CHECK_STR(m.reason, "every recipient is outside the trust space");

    CHECK(held_header_value(buf, sizeof(buf), KEY, QID, "no-whitelist", false, NULL) == 0);
    CHECK(strncmp(buf, "no-whitelist; submission=smtp; mac=", 35) == 0);
    CHECK(strcmp(buf + strlen(buf) - 3, "; -") == 0);
    CHECK(held_header_check(buf, KEY, QID, &m) == HELD_OURS);
    CHECK(!m.local_submission);

    CHECK(held_header_value(buf, sizeof(buf), KEY, QID, NULL, true, "x") == 0);
    CHECK(strncmp(buf, "hold; submission=local; mac=", 28) == 0);
    CHECK(held_header_check(buf, KEY, QID, &m) == HELD_OURS);

    /* the same header for two messages: two MACs */
    CHECK(held_header_value(want, sizeof(want), KEY, "4F3A2B1C0E", NULL, true, "x") == 0);
    CHECK(strcmp(buf, want) != 0);
}

/* The reason may name envelope addresses: one line, printable ASCII, and
 * the MAC covers it as written. */
static void test_value_made_safe(void)
{
    char buf[HELD_VALUE_MAX], big[3 * HELD_VALUE_MAX];
    struct held_mark m;

    CHECK(held_header_value(buf, sizeof(buf), KEY, QID, "Rule X\n", true,
                            "  a\r\nBcc: spy@example.com\t m\xc3\xa9" "decin\x7f end  ") == 0);
    CHECK(strncmp(buf, "rule-x-; submission=local; mac=", 31) == 0);
    CHECK(strcmp(buf + 31 + HELD_MAC_HEX, "; a Bcc: spy@example.com m??decin end") == 0);
    CHECK(strpbrk(buf, "\r\n\t") == NULL);
    CHECK(held_header_check(buf, KEY, QID, &m) == HELD_OURS);
    CHECK_STR(m.reason, "a Bcc: spy@example.com m??decin end");

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(held_header_value(buf, sizeof(buf), KEY, QID, "no-whitelist", true, big) == 0);
    CHECK(strlen(buf) == sizeof(buf) - 1);
    CHECK(held_header_check(buf, KEY, QID, &m) == HELD_OURS);

    /* no key, no queue id, no room: no header (the daemon defers instead) */
    CHECK(held_header_value(buf, sizeof(buf), NULL, QID, "x", true, "y") == -1);
    CHECK(held_header_value(buf, sizeof(buf), KEY, "", "x", true, "y") == -1);
    CHECK(held_header_value(buf, sizeof(buf), KEY, NULL, "x", true, "y") == -1);
    CHECK(held_header_value(buf, 60, KEY, QID, "x", true, "y") == -1);
    CHECK(buf[0] == '\0');
}

/* A header the daemon did not sign for this message is not the daemon's. */
static void test_forged(void)
{
    char good[HELD_VALUE_MAX], v[HELD_VALUE_MAX + 64], mac[HELD_MAC_HEX + 1];
    char wrong[HELD_MAC_HEX + 1];
    struct held_mark m;

    CHECK(held_header_value(good, sizeof(good), KEY, QID, "forward-classic-only", false,
                            "every recipient is outside") == 0);
    mac_of(good, mac);
    CHECK(held_header_check(good, KEY, QID, &m) == HELD_OURS);

    /* the form before the MAC, as a sender would write it */
    CHECK(held_header_check("no-whitelist; submission=local; forged", KEY, QID, &m)
          == HELD_NO_MAC);
    CHECK_STR(m.rule, "no-whitelist");
    CHECK(m.local_submission);
    CHECK_STR(m.reason, "forged");
    without_mac(good, v, sizeof(v));
    CHECK(held_header_check(v, KEY, QID, &m) == HELD_NO_MAC);

    /* a wrong MAC, well formed */
    snprintf(wrong, sizeof(wrong), "%s", mac);
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    snprintf(v, sizeof(v), "forward-classic-only; submission=smtp; mac=%s; every recipient is "
             "outside", wrong);
    CHECK(held_header_check(v, KEY, QID, &m) == HELD_BAD_MAC);
    CHECK(held_header_check(v, KEY, QID, &m) != HELD_OURS);

    /* the daemon's MAC, with one field changed */
    snprintf(v, sizeof(v), "forward-classic-only; submission=smtp; mac=%s; every recipient is "
             "inside", mac);
    CHECK(held_header_check(v, KEY, QID, &m) == HELD_BAD_MAC);       /* reason */
    snprintf(v, sizeof(v), "no-whitelist; submission=smtp; mac=%s; every recipient is "
             "outside", mac);
    CHECK(held_header_check(v, KEY, QID, &m) == HELD_BAD_MAC);       /* rule */
    snprintf(v, sizeof(v), "forward-classic-only; submission=local; mac=%s; every recipient is "
             "outside", mac);
    CHECK(held_header_check(v, KEY, QID, &m) == HELD_BAD_MAC);       /* submission */
    /* a copy in another message, another key, no key */
    CHECK(held_header_check(good, KEY, "4F3A2B1C0E", &m) == HELD_BAD_MAC);
    CHECK(held_header_check(good, KEY, "", &m) == HELD_BAD_MAC);
    CHECK(held_header_check(good, OTHER_KEY, QID, &m) == HELD_BAD_MAC);
    CHECK(held_header_check(good, NULL, QID, &m) == HELD_BAD_MAC);
    /* the same made with another key does not verify under ours */
    CHECK(held_header_value(v, sizeof(v), OTHER_KEY, QID, "forward-classic-only", false,
                            "every recipient is outside") == 0);
    CHECK(held_header_check(v, KEY, QID, &m) == HELD_BAD_MAC);
    /* spaces or a fold in the reason read back the same */
    snprintf(v, sizeof(v), "forward-classic-only; submission=smtp; mac=%s;  every\t recipient "
             "is outside  ", mac);
    CHECK(held_header_check(v, KEY, QID, &m) == HELD_OURS);
    /* a short MAC, a MAC without its ';': the form without a MAC */
    snprintf(v, sizeof(v), "forward-classic-only; submission=smtp; mac=%.63s; every", mac);
    CHECK(held_header_check(v, KEY, QID, &m) == HELD_NO_MAC);
    snprintf(v, sizeof(v), "forward-classic-only; submission=smtp; mac=%severy", mac);
    CHECK(held_header_check(v, KEY, QID, &m) == HELD_NO_MAC);
    CHECK_STR(held_check_name(HELD_OURS), "ours");
    CHECK_STR(held_check_name(HELD_BAD_MAC), "bad-mac");
    CHECK_STR(held_check_name(HELD_NO_MAC), "no-mac");
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
        if (held_header_check(bad[i], KEY, QID, &m) != HELD_MALFORMED)
            fprintf(stderr, "parsed: \"%s\"\n", bad[i]);
        CHECK(held_header_check(bad[i], KEY, QID, &m) == HELD_MALFORMED);
    }
    CHECK(held_header_check(NULL, KEY, QID, &m) == HELD_MALFORMED);
    CHECK(held_header_check(" forward-classic-only;submission=local;x", KEY, QID, &m)
          == HELD_NO_MAC);
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

static const struct test_case cases[] = {
    { "value round trip", test_value_round_trip },
    { "The reason may name envelope addresses: one line, printable ASCII", test_value_made_safe },
    { "forged, altered, copied, other key, old form: not the daemon's", test_forged },
    { "What the daemon never writes is not the daemon's", test_parse_refuses },
    { "notice", test_notice },
};
TEST_MAIN(cases)
