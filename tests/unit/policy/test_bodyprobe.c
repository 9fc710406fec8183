/*
 * test_bodyprobe.c - the body probe of [FIN] closures (policy/bodyprobe.c):
 * which bodies count as empty, plain and multipart, whatever the chunking
 * libmilter hands them over in; parameters a mail reader could read
 * otherwise (doubt: not empty); long lines and NUL bytes.
 *
 * Every body is fed three ways (whole, one byte at a time, and in odd-sized
 * chunks) because libmilter cuts the body wherever it likes, including in
 * the middle of a CRLF or a boundary line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "policy/bodyprobe.h"
#include "tests/unit/testlib.h"

/* Feed BODY in chunks of CHUNK bytes (0: whole); the probe's answer. */
static bool probe_chunked(const char *ctype, const char *body, size_t chunk, const char **why)
{
    struct body_probe p;
    size_t len = strlen(body), off = 0;
    bool empty;

    body_probe_init(&p, ctype);
    if (chunk == 0)
        chunk = len ? len : 1;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;

        body_probe_feed(&p, body + off, n);
        off += n;
    }
    empty = body_probe_empty(&p);
    CHECK(body_probe_empty(&p) == empty);   /* asking twice changes nothing */
    *why = body_probe_why(&p);
    return empty;
}

/* The same answer whatever the chunking; WHY_PART in the reason if not empty. */
static void expect_body_at(int line, const char *ctype, const char *body, bool want_empty,
                           const char *why_part)
{
    static const size_t chunks[] = { 0, 1, 2, 3, 7, 64 };
    size_t i;

    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        const char *why = NULL;
        bool empty = probe_chunked(ctype, body, chunks[i], &why);

        CHECK(empty == want_empty);
        if (empty != want_empty)
            fprintf(stderr, "  line %d, chunk %zu: got %s (%s)\n", line, chunks[i],
                    empty ? "empty" : "not empty", why ? why : "-");
        if (want_empty) {
            CHECK(why == NULL);
        } else {
            CHECK(why != NULL);
            if (why != NULL && why_part != NULL && strstr(why, why_part) == NULL) {
                CHECK(strstr(why, why_part) != NULL);
                fprintf(stderr, "  line %d: reason \"%s\", expected \"%s\"\n", line, why,
                        why_part);
            }
        }
    }
}

#define expect_body(ct, body, empty, why) expect_body_at(__LINE__, ct, body, empty, why)

#define MIXED "multipart/mixed; boundary=\"b1\""

static void test_body_plain(void)
{
    expect_body(NULL, "", true, NULL);
    expect_body(NULL, "\r\n", true, NULL);
    expect_body(NULL, " \t\r\n\r\n  \n", true, NULL);
    expect_body("text/plain; charset=utf-8", "\r\n\r\n", true, NULL);
    expect_body(NULL, "x", false, "text in the body");
    expect_body(NULL, "\r\n\r\n.\r\n", false, "text in the body");
    expect_body(NULL, "-- \r\nDr Martin\r\n", false, "text");   /* a signature is content */
    expect_body(NULL, "\xc2\xa0\r\n", false, "text");            /* UTF-8 no-break space */
    expect_body(NULL, "\f\r\n", false, "text");
    /* Encoded "nothing" is empty, encoded anything else is text. */
    expect_body("text/plain; charset=utf-8;\r\n\tformat=flowed", "\r\n", true, NULL);
    expect_body(NULL, "IA==\r\n", false, "text");
    /* A multipart whose body is only white space is empty, boundaries or not. */
    expect_body(MIXED, "\r\n\r\n", true, NULL);
    /* multipart without a boundary, or with one too long for RFC 2046:
     * only the white-space rule applies. */
    expect_body("multipart/mixed", "--b1\r\n\r\n--b1--\r\n", false, "text in the body");
    expect_body("multipart/mixed; boundary="
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "--aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
                "\r\n--aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa--\r\n",
                false, "text in the body");
    /* A top-level named file is not empty, even with no bytes. */
    expect_body("application/pdf; name=\"cr.pdf\"", "", false, "named file");
}

static void test_body_multipart_empty(void)
{
    /* Preamble text is not shown by anyone: ignored. */
    expect_body(MIXED,
                "This is a multi-part message in MIME format.\r\n"
                "--b1\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 7bit\r\n"
                "\r\n"
                "\r\n"
                "--b1--\r\n"
                "epilogue text, ignored too\r\n", true, NULL);
    /* Two empty parts, LF line ends, inline disposition, padding after boundaries. */
    expect_body("Multipart/Alternative;\n boundary=b1",
                "--b1 \t\n"
                "Content-Type: text/plain\n"
                "Content-Disposition: inline\n"
                "\n"
                "   \n"
                "--b1\n"
                "content-type: text/plain\n"
                "\n"
                "--b1--  \n", true, NULL);
    /* A part with no header at all, and a part with a header but no body. */
    expect_body(MIXED,
                "--b1\r\n"
                "\r\n"
                "\r\n"
                "--b1\r\n"
                "Content-Type: text/plain\r\n"
                "--b1--\r\n", true, NULL);
    /* Unquoted boundary, closing line without a final newline. */
    expect_body("multipart/mixed; charset=x; boundary=----=_Part_1",
                "------=_Part_1\r\n"
                "Content-Type: text/plain\r\n"
                "\r\n"
                "------=_Part_1--", true, NULL);
    /* Quoted boundary with spaces and an escaped character. */
    expect_body("multipart/mixed; boundary=\"a b\\\"c\"",
                "--a b\"c\r\n"
                "\r\n"
                "--a b\"c--\r\n", true, NULL);
    /* Nested: alternative inside mixed, all empty. */
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: multipart/alternative;\r\n"
                "\tboundary=\"b2\"\r\n"
                "\r\n"
                "--b2\r\n"
                "Content-Type: text/plain\r\n"
                "\r\n"
                "\r\n"
                "--b2--\r\n"
                "\r\n"
                "--b1--\r\n", true, NULL);
}

static void test_body_multipart_content(void)
{
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: text/plain\r\n"
                "\r\n"
                "Bonjour\r\n"
                "--b1--\r\n", false, "text in a MIME part");
    /* Content in the second part only. */
    expect_body(MIXED,
                "--b1\r\n"
                "\r\n"
                "\r\n"
                "--b1\r\n"
                "Content-Type: text/plain\r\n"
                "\r\n"
                "  x\r\n"
                "--b1--\r\n", false, "text in a MIME part");
    /* An empty attachment is still an attachment. */
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: text/plain\r\n"
                "\r\n"
                "\r\n"
                "--b1\r\n"
                "Content-Type: application/octet-stream\r\n"
                "Content-Disposition: attachment\r\n"
                "\r\n"
                "--b1--\r\n", false, "attachment");
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: application/pdf; name=\"cr.pdf\"\r\n"
                "\r\n"
                "--b1--\r\n", false, "attachment");
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Disposition: inline;\r\n"
                " filename=\"image.png\"\r\n"
                "\r\n"
                "--b1--\r\n", false, "attachment");
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Disposition: inline; filename*=UTF-8''compte-rendu.pdf\r\n"
                "\r\n"
                "--b1--\r\n", false, "attachment");
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: text/plain; NAME*0=a; NAME*1=b\r\n"
                "\r\n"
                "--b1--\r\n", false, "attachment");
    /* HTML that renders as nothing is still not white space. */
    expect_body("multipart/alternative; boundary=\"b1\"",
                "--b1\r\n"
                "Content-Type: text/plain\r\n"
                "\r\n"
                "\r\n"
                "--b1\r\n"
                "Content-Type: text/html\r\n"
                "\r\n"
                "<html><body></body></html>\r\n"
                "--b1--\r\n", false, "text in a MIME part");
    /* Boundaries are case-sensitive: "--B1" is text, and the closing one is missing. */
    expect_body(MIXED,
                "--b1\r\n"
                "\r\n"
                "--B1--\r\n", false, "text in a MIME part");
    /* A boundary followed by anything but padding is text. */
    expect_body(MIXED,
                "--b1\r\n"
                "\r\n"
                "--b1x\r\n"
                "--b1--\r\n", false, "text in a MIME part");
    /* Nested multipart with text inside. */
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: multipart/alternative; boundary=b2\r\n"
                "\r\n"
                "--b2\r\n"
                "\r\n"
                "secret\r\n"
                "--b2--\r\n"
                "--b1--\r\n", false, "text in a MIME part");
    /* Text in a nested preamble or epilogue counts. */
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: multipart/alternative; boundary=b2\r\n"
                "\r\n"
                "hidden\r\n"
                "--b2\r\n"
                "\r\n"
                "--b2--\r\n"
                "--b1--\r\n", false, "nested MIME preamble");
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: multipart/alternative; boundary=b2\r\n"
                "\r\n"
                "--b2\r\n"
                "\r\n"
                "--b2--\r\n"
                "after\r\n"
                "--b1--\r\n", false, "text in a MIME part");
}

/* Parameters a mail reader may read otherwise than the probe: doubt. */
static void test_body_params(void)
{
    /* The probe read boundary "A" and saw an empty part; a reader that
     * takes the last boundary shows "secret". */
    static const char dup_body[] =
        "--B\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "secret\r\n"
        "--B--\r\n"
        "--A\r\n"
        "\r\n"
        "--A--\r\n";

    expect_body("multipart/mixed; boundary=\"A\"; boundary=\"B\"", dup_body, false,
                "duplicated MIME parameter");
    expect_body("multipart/mixed; boundary=\"A\"; BOUNDARY=B", dup_body, false, "duplicated");
    expect_body("multipart/mixed; boundary=\"A\"; boundary*=utf-8''B", dup_body, false,
                "duplicated");
    expect_body("multipart/mixed; boundary=\"A\"; boundary*0=B", dup_body, false,
                "duplicated");
    /* Even white space only: the header itself is not vouched for. */
    expect_body("multipart/mixed; boundary=A; boundary=A", "\r\n", false, "duplicated");
    expect_body("text/plain; charset=utf-8; charset=iso-8859-1", "", false, "duplicated");
    /* Where a value ends is not clear. */
    expect_body("multipart/mixed; boundary=\"A\"B; x=1", dup_body, false,
                "malformed MIME parameter");
    expect_body("multipart/mixed; boundary=A B", "--A\r\n\r\n--A--\r\n", false, "malformed");
    expect_body("multipart/mixed; boundary=\"A", "--A\r\n\r\n--A--\r\n", false, "malformed");
    expect_body("multipart/mixed; boundary", "\r\n", false, "malformed");
    expect_body("multipart/mixed; boundary=", "\r\n", false, "malformed");
    expect_body("multipart/mixed; (comment) boundary=A", "--A\r\n\r\n--A--\r\n", false,
                "malformed");
    expect_body("text/plain; charset=utf-8\r\n\tformat=flowed", "\r\n", false, "malformed");
    /* The same in a part header, and in a part's Content-Disposition. */
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: multipart/alternative; boundary=b2; boundary=b3\r\n"
                "\r\n"
                "--b2\r\n"
                "\r\n"
                "--b2--\r\n"
                "--b1--\r\n", false, "duplicated MIME parameter");
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Disposition: inline; x=\"; filename=cr.pdf\r\n"
                "\r\n"
                "--b1--\r\n", false, "malformed MIME parameter");
    /* Well-formed lists stay empty: RFC 2231 sections of one value, an
     * empty parameter, unquoted values with '=' as real mailers write them. */
    expect_body("multipart/mixed; boundary=\"A\"; x*0=a; x*1=b;", "--A\r\n\r\n--A--\r\n",
                true, NULL);
    expect_body("multipart/mixed;; boundary = \"A\" ;\r\n\tcharset=\"utf-8\"",
                "--A\r\n\r\n--A--\r\n", true, NULL);
    expect_body("multipart/mixed; boundary=----=_Part_0_1.2", "------=_Part_0_1.2\r\n\r\n"
                "------=_Part_0_1.2--\r\n", true, NULL);
}

static void test_body_doubt(void)
{
    /* No closing boundary: not vouched for. */
    expect_body(MIXED,
                "--b1\r\n"
                "\r\n"
                "\r\n", false, "no closing MIME boundary");
    /* Only a preamble, no boundary at all. */
    expect_body(MIXED, "This is a multi-part message in MIME format.\r\n", false,
                "no closing MIME boundary");
    /* Outer boundary while the inner multipart is still open. */
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: multipart/alternative; boundary=b2\r\n"
                "\r\n"
                "--b2\r\n"
                "\r\n"
                "--b1--\r\n", false, "outer MIME boundary");
    /* Nested multipart without a boundary. */
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: multipart/related\r\n"
                "\r\n"
                "--b1--\r\n", false, "without a usable boundary");
    /* Too deep: five levels. */
    expect_body("multipart/mixed; boundary=l1",
                "--l1\r\nContent-Type: multipart/mixed; boundary=l2\r\n\r\n"
                "--l2\r\nContent-Type: multipart/mixed; boundary=l3\r\n\r\n"
                "--l3\r\nContent-Type: multipart/mixed; boundary=l4\r\n\r\n"
                "--l4\r\nContent-Type: multipart/mixed; boundary=l5\r\n\r\n"
                "--l5\r\n\r\n--l5--\r\n--l4--\r\n--l3--\r\n--l2--\r\n--l1--\r\n",
                false, "too deep");
    /* ... while four levels are fine. */
    expect_body("multipart/mixed; boundary=l1",
                "--l1\r\nContent-Type: multipart/mixed; boundary=l2\r\n\r\n"
                "--l2\r\nContent-Type: multipart/mixed; boundary=l3\r\n\r\n"
                "--l3\r\nContent-Type: multipart/mixed; boundary=l4\r\n\r\n"
                "--l4\r\n\r\n--l4--\r\n--l3--\r\n--l2--\r\n--l1--\r\n",
                true, NULL);
    /* Part headers that do not parse. */
    expect_body(MIXED,
                "--b1\r\n"
                "not a header\r\n"
                "\r\n"
                "--b1--\r\n", false, "malformed MIME part header");
    expect_body(MIXED,
                "--b1\r\n"
                " continuation first\r\n"
                "\r\n"
                "--b1--\r\n", false, "malformed MIME part header");
    expect_body(MIXED,
                "--b1\r\n"
                "Content-Type: text/plain\r\n"
                "Content-Type: text/html\r\n"
                "\r\n"
                "--b1--\r\n", false, "two Content-Type");
}

/* Bodies built in a buffer: long lines, NUL bytes. */
static void test_body_limits(void)
{
    static char body[4096];
    struct body_probe p;
    size_t n;

    /* A 2000-byte line of text in a part. */
    n = (size_t)snprintf(body, sizeof(body), "--b1\r\n\r\n");
    memset(body + n, 'x', 2000);
    n += 2000;
    n += (size_t)snprintf(body + n, sizeof(body) - n, "\r\n--b1--\r\n");
    expect_body(MIXED, body, false, "text in a MIME part");

    /* A 2000-byte Content-Type line: too long to check. */
    n = (size_t)snprintf(body, sizeof(body), "--b1\r\nContent-Type: text/plain; x=\"");
    memset(body + n, 'y', 2000);
    n += 2000;
    snprintf(body + n, sizeof(body) - n, "\"\r\n\r\n--b1--\r\n");
    expect_body(MIXED, body, false, "too long");

    /* A long header of another kind is harmless. */
    n = (size_t)snprintf(body, sizeof(body), "--b1\r\nX-Long: ");
    memset(body + n, 'z', 2000);
    n += 2000;
    snprintf(body + n, sizeof(body) - n, "\r\n\r\n--b1--\r\n");
    expect_body(MIXED, body, true, NULL);

    /* A long line of white space in a part is white space. */
    n = (size_t)snprintf(body, sizeof(body), "--b1\r\n\r\n");
    memset(body + n, ' ', 3000);
    n += 3000;
    snprintf(body + n, sizeof(body) - n, "\r\n--b1--\r\n");
    expect_body(MIXED, body, true, NULL);

    /* A boundary-looking line whose text lies beyond the line buffer. */
    n = (size_t)snprintf(body, sizeof(body), "--b1\r\n\r\n--b1");
    memset(body + n, ' ', 2000);
    n += 2000;
    snprintf(body + n, sizeof(body) - n, "x\r\n\r\n--b1--\r\n");
    expect_body(MIXED, body, false, "text in a MIME part");

    /* NUL bytes: content in a body, doubt in a part header. */
    body_probe_init(&p, NULL);
    body_probe_feed(&p, "\r\n\0\r\n", 5);
    CHECK(!body_probe_empty(&p));
    body_probe_init(&p, MIXED);
    body_probe_feed(&p, "--b1\r\nContent-Type: text/plain\0\r\n\r\n--b1--\r\n", 45);
    CHECK(!body_probe_empty(&p));
    CHECK(body_probe_why(&p) != NULL && strstr(body_probe_why(&p), "NUL") != NULL);
    body_probe_init(&p, MIXED);
    body_probe_feed(&p, "--b1\r\n\r\n--b1--\r\n", 16);
    CHECK(body_probe_empty(&p));
    CHECK(body_probe_why(&p) == NULL);
}

static const struct test_case cases[] = {
    { "plain bodies: blank is empty, any text (a signature too) is content", test_body_plain },
    { "multipart bodies counted empty", test_body_multipart_empty },
    { "multipart bodies with content", test_body_multipart_content },
    { "parameters read otherwise by a mail reader: doubt", test_body_params },
    { "a broken MIME structure is not vouched for", test_body_doubt },
    { "long lines and NUL bytes", test_body_limits },
};
TEST_MAIN(cases)
