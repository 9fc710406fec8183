/*
 * test_notify_message.c - the content-free notice (notify/notice.c): exact
 * headers, a body that decodes to the fixed text, nothing from an original
 * message, header injection refused, and NotifyTemplate checking.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "notify/notice.h"
#include "tests/unit/testlib.h"

#define SENDER  "notify@chu-test.mssante.fr"
#define TARGET  "secretariat@outlook.fr"
#define MAILBOX "dr.a@chu-test.mssante.fr"
#define WHEN    1741877650LL          /* Thu, 13 Mar 2025 14:54:10 UTC */

/* An "original" message, as the milter would have seen it.  The notice API
 * has no way to receive any of it; the test checks that none of it shows. */
static const char *const original_words[] = {
    "IRM", "genou", "Compte", "rendu", "m\xc3\xa9niscale", "dr.house", "medecin.mssante.fr",
    "irm-genou.pdf", "orig-7731", "Re:", "References", "In-Reply-To", "Fwd",
};

static char *build(const char *mailbox, const struct notify_template *t, size_t *len)
{
    struct notify_params p = { SENDER, TARGET, mailbox, WHEN, "n42.x7f3", t };
    struct err err = { "" };
    char *m = notify_message_build(&p, len, &err);

    if (m == NULL)
        fprintf(stderr, "notify_message_build: %s\n", err.msg);
    return m;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode the quoted-printable body of MSG (after the blank line), CRLF ->
 * LF.  Returns a malloc'd string, NULL when the encoding is broken. */
static char *decode_body(const char *msg)
{
    const char *p = strstr(msg, "\r\n\r\n");
    char *out, *o;

    if (p == NULL)
        return NULL;
    p += 4;
    if ((out = malloc(strlen(p) + 1)) == NULL)
        return NULL;
    o = out;
    while (*p) {
        if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 3;
        } else if (p[0] == '=') {
            int h = hexval(p[1]), l = h < 0 ? -1 : hexval(p[2]);

            if (h < 0 || l < 0) {
                free(out);
                return NULL;
            }
            *o++ = (char)(h * 16 + l);
            p += 3;
        } else if (p[0] == '\r' && p[1] == '\n') {
            *o++ = '\n';
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

/* Every line ends with CRLF, is at most 76 characters, and 7-bit. */
static bool well_formed(const char *m, size_t len)
{
    size_t i, col = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)m[i];

        if (c >= 0x80 || c == 0)
            return false;
        if (c == '\n') {
            if (i == 0 || m[i - 1] != '\r')
                return false;
            col = 0;
            continue;
        }
        if (c == '\r' && (i + 1 >= len || m[i + 1] != '\n'))
            return false;
        if (c != '\r' && ++col > 76)
            return false;
    }
    return len > 0 && m[len - 1] == '\n';
}

static const char expected_headers[] =
    "From: " SENDER "\r\n"
    "To: " TARGET "\r\n"
    "Subject: =?UTF-8?Q?Nouveau_message_s=C3=A9curis=C3=A9_/_New_secure_message?=\r\n"
    "Date: Thu, 13 Mar 2025 14:54:10 +0000\r\n"
    "Message-ID: <n42.x7f3@chu-test.mssante.fr>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=UTF-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "Auto-Submitted: auto-generated\r\n"
    "\r\n";

static void test_builtin(void)
{
    size_t len = 0, i;
    char *m = build(MAILBOX, NULL, &len), *body;

    CHECK(m != NULL);
    if (m == NULL)
        return;
    CHECK(len == strlen(m));
    CHECK(strncmp(m, expected_headers, strlen(expected_headers)) == 0);
    CHECK(well_formed(m, len));
    /* Soft breaks fall between words: the mailbox can be found in the raw
     * message, as an operator grepping a queue file would look for it. */
    CHECK(strstr(m, "\r\nMSSant=C3=A9 " MAILBOX ".\r\n") != NULL);
    CHECK(strstr(m, "\r\n" MAILBOX ".\r\n") != NULL);
    body = decode_body(m);
    CHECK(body != NULL);
    if (body != NULL) {
        CHECK(strstr(body, "Un nouveau message s\xc3\xa9" "curis\xc3\xa9 vous attend dans la "
                           "bo\xc3\xaete MSSant\xc3\xa9 " MAILBOX ".\n") != NULL);
        CHECK(strstr(body, "A new secure message is waiting in the MSSant\xc3\xa9 mailbox "
                           MAILBOX ".\n") != NULL);
        CHECK(strstr(body, "Bonjour,\n\n") == body);
        CHECK(body[strlen(body) - 1] == '\n');
        for (i = 0; i < sizeof(original_words) / sizeof(original_words[0]); i++) {
            CHECK(strstr(body, original_words[i]) == NULL);
            CHECK(strstr(m, original_words[i]) == NULL);
        }
        free(body);
    }
    free(m);
}

/* A re-injected forward: the mailbox is unknown and not made up. */
static void test_unknown_mailbox(void)
{
    size_t len = 0;
    char *m = build(NULL, NULL, &len), *body;

    CHECK(m != NULL);
    if (m == NULL)
        return;
    CHECK(strncmp(m, expected_headers, strlen(expected_headers)) == 0);
    body = decode_body(m);
    CHECK(body != NULL && strstr(body, "vous attend dans votre messagerie MSSant\xc3\xa9.\n"));
    CHECK(body != NULL && strstr(body, "is waiting in your MSSant\xc3\xa9 mailbox.\n"));
    CHECK(body != NULL && strchr(body, '@') == NULL);
    free(body);
    free(m);

    m = build("", NULL, &len);     /* "" means unknown as well */
    body = m ? decode_body(m) : NULL;
    CHECK(body != NULL && strchr(body, '@') == NULL);
    free(body);
    free(m);
}

/* Nothing that could smuggle a header or a second recipient in. */
static void test_bad_arguments(void)
{
    struct notify_params p = { SENDER, TARGET, MAILBOX, WHEN, "n1", NULL };
    struct err err;

    p.to = TARGET "\r\nBcc: spy@example.com";
    err_clear(&err);
    CHECK(notify_message_build(&p, NULL, &err) == NULL);
    CHECK(strstr(err.msg, "recipient") != NULL);
    p.to = "a@b.fr, spy@example.com";
    CHECK(notify_message_build(&p, NULL, &err) == NULL);
    p.to = TARGET;
    p.from = "not an address";
    CHECK(notify_message_build(&p, NULL, &err) == NULL);
    CHECK(strstr(err.msg, "sender") != NULL);
    p.from = SENDER;
    p.mailbox = "dr.a@chu-test.mssante.fr\nSubject: x";
    CHECK(notify_message_build(&p, NULL, &err) == NULL);
    p.mailbox = MAILBOX;
    p.unique = "a b";
    CHECK(notify_message_build(&p, NULL, &err) == NULL);
    p.unique = "x@y";
    CHECK(notify_message_build(&p, NULL, &err) == NULL);
    p.unique = "";
    CHECK(notify_message_build(&p, NULL, &err) == NULL);
    CHECK(notify_message_build(NULL, NULL, &err) == NULL);
}

static void test_template_file(void)
{
    struct err err = { "" };
    char path[512];
    struct notify_template *t;
    size_t len = 0;
    char *m, *body;

    snprintf(path, sizeof(path), "%s/fwd-notify-template.txt", testlib_fixtures());
    t = notify_template_load(path, &err);
    CHECK(t != NULL);
    if (t == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    m = build(MAILBOX, t, &len);
    CHECK(m != NULL && strncmp(m, expected_headers, strlen(expected_headers)) == 0);
    CHECK(m != NULL && well_formed(m, len));
    body = m ? decode_body(m) : NULL;
    CHECK_STR(body, "Bonjour,\n\nUn message s\xc3\xa9" "curis\xc3\xa9 est arriv\xc3\xa9 dans "
              MAILBOX ".\nAucune donn\xc3\xa9" "e du message n'est jointe (100 % "
              "confidentiel).\n\n-- \nCHU Test, service informatique\n");
    free(body);
    free(m);

    /* %m for an unknown mailbox. */
    m = build(NULL, t, &len);
    body = m ? decode_body(m) : NULL;
    CHECK(body != NULL && strstr(body, "arriv\xc3\xa9 dans " NOTIFY_UNKNOWN_MAILBOX ".\n"));
    free(body);
    free(m);
    notify_template_free(t);

    t = notify_template_load("/nonexistent/notify.txt", &err);
    CHECK(t == NULL && strstr(err.msg, "/nonexistent/notify.txt") != NULL);
}

/* Parse TEXT; returns the error ("" when accepted). */
static const char *template_error(const char *text, size_t len)
{
    static struct err err;
    struct notify_template *t;

    err_clear(&err);
    t = notify_template_parse(text, len, &err);
    if (t != NULL) {
        notify_template_free(t);
        return "";
    }
    return err.msg[0] ? err.msg : "(no message)";
}

#define TERR(s) template_error(s, sizeof(s) - 1)

static void test_template_checks(void)
{
    char big[NOTIFY_TEMPLATE_MAX + 2];

    CHECK_STR(TERR("Message pour %m\r\n100 %% s\xc3\xbbr\r\n"), "");
    CHECK_STR(TERR("sans nom de bo\xc3\xaete\n"), "");
    CHECK_STR(TERR("ligne 1\nsujet: %s\n"),
              "line 2: unknown escape %s (only %m and %% are allowed)");
    CHECK_STR(TERR("fin %"), "line 1: lone % (write %% for a percent sign)");
    CHECK_STR(TERR("a\n% m\n"), "line 2: lone % (write %% for a percent sign)");
    CHECK_STR(TERR("a\nb\n\xc3\x28\n"), "line 3: invalid UTF-8");
    CHECK_STR(TERR("overlong \xc0\xaf\n"), "line 1: invalid UTF-8");
    CHECK_STR(TERR("bell \a\n"), "line 1: control character 0x07");
    CHECK_STR(TERR(" \r\n\t\n"), "template is empty");
    CHECK_STR(TERR(""), "template is empty");
    CHECK_STR(TERR("nul \0 byte"), "NUL byte in template");
    memset(big, 'a', sizeof(big));
    CHECK_STR(template_error(big, NOTIFY_TEMPLATE_MAX + 1), "template larger than 8192 bytes");
    CHECK_STR(template_error(big, NOTIFY_TEMPLATE_MAX), "");
}

/* Long lines and '=' survive the quoted-printable round trip. */
static void test_long_lines(void)
{
    char text[600], expect[sizeof(text) + 2];
    struct notify_template *t;
    size_t len = 0, i;
    char *m, *body;

    for (i = 0; i < 300; i++)
        text[i] = (char)("abc=\xc3\xa9 "[i % 7]);
    text[300] = '\0';
    /* the pattern may end in the middle of a UTF-8 sequence: cut it */
    while (((unsigned char)text[strlen(text) - 1] & 0xc0) == 0xc0
           || (unsigned char)text[strlen(text) - 1] == ' ')
        text[strlen(text) - 1] = '\0';
    snprintf(expect, sizeof(expect), "%s\n", text);
    strcat(text, "\n");
    t = notify_template_parse(text, strlen(text), NULL);
    CHECK(t != NULL);
    m = build(MAILBOX, t, &len);
    CHECK(m != NULL && well_formed(m, len));
    body = m ? decode_body(m) : NULL;
    CHECK_STR(body, expect);
    free(body);
    free(m);
    notify_template_free(t);

    /* A long line without spaces is cut anywhere, never inside =XX. */
    memset(text, 'x', 250);
    strcpy(text + 250, "\xc3\xa9=\xc3\xa9\n");
    snprintf(expect, sizeof(expect), "%s", text);
    t = notify_template_parse(text, strlen(text), NULL);
    m = build(MAILBOX, t, &len);
    CHECK(m != NULL && well_formed(m, len));
    body = m ? decode_body(m) : NULL;
    CHECK_STR(body, expect);
    free(body);
    free(m);
    notify_template_free(t);

    /* Trailing white space is encoded so that no relay can strip it. */
    t = notify_template_parse("end with space \n", 16, NULL);
    m = build(MAILBOX, t, &len);
    CHECK(m != NULL && strstr(m, "\r\n\r\nend with space=20\r\n") != NULL);
    free(m);
    notify_template_free(t);
}

int main(void)
{
    test_builtin();
    test_unknown_mailbox();
    test_bad_arguments();
    test_template_file();
    test_template_checks();
    test_long_lines();
    TEST_DONE();
}
