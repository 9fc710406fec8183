/*
 * test_patient.c - [FIN] detection, body emptiness, pharmacy mailboxes and
 * the patient verdicts (policy/patient.c).
 *
 * Every body is fed three ways (whole, one byte at a time, and in odd-sized
 * chunks) because libmilter cuts the body wherever it likes, including in
 * the middle of a CRLF or a boundary line.
 */
#include <stdio.h>
#include <string.h>

#include "policy/patient.h"
#include "tests/unit/testlib.h"

/* ------------------------------------------------------------------ */
/* [FIN] and X-MSS-MES                                                  */
/* ------------------------------------------------------------------ */

static void expect_fin(const char *subject, enum fin_kind want)
{
    enum fin_kind got = patient_subject_fin(subject);

    CHECK(got == want);
    if (got != want)
        fprintf(stderr, "  subject \"%s\": %s, expected %s\n", subject ? subject : "(null)",
                fin_kind_name(got), fin_kind_name(want));
}

static void test_subject(void)
{
    expect_fin("[FIN]", FIN_EXACT);

    expect_fin("[fin]", FIN_VARIANT);
    expect_fin("[Fin]", FIN_VARIANT);
    expect_fin("[ FIN ]", FIN_VARIANT);
    expect_fin("[\tfin\t]", FIN_VARIANT);
    expect_fin(" [FIN]", FIN_VARIANT);
    expect_fin("[FIN] ", FIN_VARIANT);
    expect_fin("[FIN]\r\n", FIN_VARIANT);
    expect_fin("\r\n [FIN]", FIN_VARIANT);          /* folded */
    expect_fin("Re: [FIN]", FIN_VARIANT);
    expect_fin("RE : [fin]", FIN_VARIANT);
    expect_fin("re:[FIN]", FIN_VARIANT);
    expect_fin("Fwd: [FIN]", FIN_VARIANT);
    expect_fin("Fw: [FIN]", FIN_VARIANT);
    expect_fin("TR: [FIN]", FIN_VARIANT);
    expect_fin("Re: RE: Fwd: [FIN]", FIN_VARIANT);

    expect_fin(NULL, FIN_NONE);
    expect_fin("", FIN_NONE);
    expect_fin("   ", FIN_NONE);
    expect_fin("FIN", FIN_NONE);
    expect_fin("fin", FIN_NONE);
    expect_fin("[FIN] merci", FIN_NONE);
    expect_fin("merci [FIN]", FIN_NONE);
    expect_fin("Fin du traitement", FIN_NONE);
    expect_fin("[FIN][FIN]", FIN_NONE);
    expect_fin("[FINI]", FIN_NONE);
    expect_fin("[FIN", FIN_NONE);
    expect_fin("FIN]", FIN_NONE);
    expect_fin("(FIN)", FIN_NONE);
    expect_fin("Re [FIN]", FIN_NONE);               /* no colon: not a prefix */
    expect_fin("Reponse: [FIN]", FIN_NONE);
    expect_fin("=?UTF-8?Q?=5BFIN=5D?=", FIN_NONE);  /* encoded: not guessed */
    expect_fin("[FIN]\x01", FIN_NONE);

    CHECK_STR(fin_kind_name(FIN_NONE), "none");
    CHECK_STR(fin_kind_name(FIN_EXACT), "exact");
    CHECK_STR(fin_kind_name(FIN_VARIANT), "variant");
}

static void test_mes_header(void)
{
    CHECK(patient_mes_fin("FIN"));
    CHECK(patient_mes_fin("fin"));
    CHECK(patient_mes_fin(" Fin \r\n"));
    CHECK(!patient_mes_fin(NULL));
    CHECK(!patient_mes_fin(""));
    CHECK(!patient_mes_fin("FINI"));
    CHECK(!patient_mes_fin("FIN FIN"));
    CHECK(!patient_mes_fin("OUVERTURE"));
}

/* ------------------------------------------------------------------ */
/* Body probe                                                           */
/* ------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------ */
/* Pharmacies                                                           */
/* ------------------------------------------------------------------ */

static void test_pharmacy(void)
{
    static const char *const list[] = {
        "pharmacie-martin-59000-lille@lgpi.mssante.fr",
        "@pharmacien.mssante.fr",
        "officine@chu-lille.mssante.fr.",
    };
    size_t n = sizeof(list) / sizeof(list[0]);

    CHECK(patient_is_pharmacy(list, n, "pharmacie-martin-59000-lille", "lgpi.mssante.fr"));
    CHECK(patient_is_pharmacy(list, n, "Pharmacie-Martin-59000-Lille", "lgpi.mssante.fr"));
    CHECK(patient_is_pharmacy(list, n, "pharmacie-martin-59000-lille", "LGPI.mssante.fr."));
    CHECK(patient_is_pharmacy(list, n, "anyone", "pharmacien.mssante.fr"));
    CHECK(patient_is_pharmacy(list, n, "officine", "chu-lille.mssante.fr"));

    CHECK(!patient_is_pharmacy(list, n, "pharmacie-martin-59000", "lgpi.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "pharmacie-martin-59000-lille2", "lgpi.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "dr.martin", "lgpi.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "anyone", "sub.pharmacien.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "anyone", "pharmacien.mssante.fr.example.com"));
    CHECK(!patient_is_pharmacy(list, n, "anyone", "mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "officine", "chu-lille.mssante.fr.x"));
    CHECK(!patient_is_pharmacy(list, 0, "anyone", "pharmacien.mssante.fr"));
    CHECK(!patient_is_pharmacy(NULL, 3, "anyone", "pharmacien.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, NULL, "pharmacien.mssante.fr"));

    CHECK(patient_pharmacy_entry_valid("a@b.fr"));
    CHECK(patient_pharmacy_entry_valid("@b.fr"));
    CHECK(patient_pharmacy_entry_valid("@b.fr."));
    CHECK(!patient_pharmacy_entry_valid("b.fr"));
    CHECK(!patient_pharmacy_entry_valid("a@"));
    CHECK(!patient_pharmacy_entry_valid("@"));
    CHECK(!patient_pharmacy_entry_valid("@."));
    CHECK(!patient_pharmacy_entry_valid("a@b@c.fr"));
    CHECK(!patient_pharmacy_entry_valid("a b@c.fr"));
    CHECK(!patient_pharmacy_entry_valid("a@c.fr,d@e.fr"));
    CHECK(!patient_pharmacy_entry_valid(NULL));
}

/* ------------------------------------------------------------------ */
/* Verdicts                                                             */
/* ------------------------------------------------------------------ */

static void test_outbound_rcpt(void)
{
    struct patient_policy strict, warn;
    struct ins_result ins;
    struct verdict v;

    memset(&strict, 0, sizeof(strict));
    memset(&warn, 0, sizeof(warn));
    warn.ins_warn = true;

    v = patient_outbound_rcpt(&strict, "279035121518989", "279035121518989@patient.mssante.fr",
                              &ins);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(v.rule == RULE_NONE);
    CHECK_STR(ins.normalized, "279035121518989");

    v = patient_outbound_rcpt(&strict, "185052a12345633", NULL, &ins);
    CHECK(v.action == ACT_CONTINUE);
    CHECK_STR(ins.normalized, "185052A12345633");

    v = patient_outbound_rcpt(&strict, "27903512151898", "27903512151898@patient.mssante.fr",
                              &ins);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "patient-ins-shape");
    CHECK_STR(v.rcode, "550");
    CHECK_STR(v.xcode, "5.1.1");
    CHECK(strstr(v.text, "matricule INS mal forme (15 caracteres attendus)") != NULL);
    CHECK(strstr(v.text, " / ") != NULL);
    CHECK(strstr(v.text, "<27903512151898@patient.mssante.fr>") != NULL);

    v = patient_outbound_rcpt(&strict, "185052C12345633", NULL, &ins);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "patient-ins-shape");
    CHECK(strstr(v.text, "position 7") != NULL);
    CHECK(strstr(v.text, "Adresse patient invalide :") != NULL);

    /* Wrong key: the reply says so, and never gives the right key. */
    v = patient_outbound_rcpt(&strict, "279035121518988", "279035121518988@patient.mssante.fr",
                              &ins);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "patient-ins-key");
    CHECK_STR(v.xcode, "5.1.1");
    CHECK(strstr(v.text, "cle de controle INS incorrecte") != NULL);
    CHECK(strstr(v.text, "<279035121518988@patient.mssante.fr>") != NULL);
    CHECK(ins.expected_key == 89);
    v = patient_outbound_rcpt(&strict, "185052A12345600", NULL, &ins);   /* key is 33 */
    CHECK(v.action == ACT_REJECT);
    CHECK(ins.expected_key == 33);
    CHECK(strstr(v.text, "33") == NULL);

    /* Warn: accepted, but the verdict still says what was wrong. */
    v = patient_outbound_rcpt(&warn, "279035121518988", NULL, &ins);
    CHECK(v.action == ACT_CONTINUE);
    CHECK_STR(rule_name(v.rule), "patient-ins-key");
    CHECK(ins.status == INS_BAD_KEY);

    /* A long address is cut so the reply fits one SMTP line. */
    {
        char longaddr[300];

        memset(longaddr, 'a', 250);
        snprintf(longaddr + 250, sizeof(longaddr) - 250, "@patient.mssante.fr");
        v = patient_outbound_rcpt(&strict, "x79035121518989", longaddr, &ins);
        CHECK(v.action == ACT_REJECT);
        CHECK(strlen(v.text) < 450);
    }

    /* No text outside printable ASCII, whatever the address. */
    v = patient_outbound_rcpt(&strict, "\xc3\xa9", "\xc3\xa9@patient.mssante.fr", &ins);
    CHECK(v.action == ACT_REJECT);
    {
        const char *s;
        int ascii = 1;

        for (s = v.text; *s; s++)
            if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
                ascii = 0;
        CHECK(ascii);
    }
}

static void test_inbound_rcpt(void)
{
    struct verdict v;

    v = patient_inbound_rcpt(false, 1);
    CHECK(v.action == ACT_CONTINUE);
    v = patient_inbound_rcpt(true, 0);
    CHECK(v.action == ACT_CONTINUE);
    v = patient_inbound_rcpt(true, -1);    /* a pharmacy needs no state */
    CHECK(v.action == ACT_CONTINUE);

    v = patient_inbound_rcpt(false, 0);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(v.rcode, "550");
    CHECK_STR(v.xcode, "5.7.1");
    CHECK_STR(rule_name(v.rule), "patient-no-conversation");
    CHECK(strstr(v.text, "ne peut pas ouvrir ni reprendre") != NULL);
    CHECK(strstr(v.text, "cannot start or resume") != NULL);

    v = patient_inbound_rcpt(false, -1);
    CHECK(v.action == ACT_TEMPFAIL);
    CHECK_STR(v.rcode, "451");
    CHECK_STR(v.xcode, "4.3.0");
    CHECK_STR(rule_name(v.rule), "conversation-state-unavailable");
}

/* PatientInbound: enforce refuses, log admits with the refusal kept. */
static void test_inbound_mode(void)
{
    struct patient_policy pp;
    struct verdict v;

    memset(&pp, 0, sizeof(pp));
    v = patient_inbound_decide(&pp, false, 0);
    CHECK(v.action == ACT_REJECT && v.rule == RULE_PATIENT_NO_CONVERSATION);
    v = patient_inbound_decide(NULL, false, 0);
    CHECK(v.action == ACT_REJECT);

    pp.inbound_log = true;
    v = patient_inbound_decide(&pp, false, 0);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(v.rule == RULE_PATIENT_NO_CONVERSATION);
    CHECK(rule_action(v.rule) == ACT_REJECT);
    CHECK(strstr(v.text, "cannot start or resume") != NULL);
    v = patient_inbound_decide(&pp, false, 1);
    CHECK(v.action == ACT_CONTINUE && v.rule == RULE_NONE);
    v = patient_inbound_decide(&pp, true, 0);
    CHECK(v.action == ACT_CONTINUE && v.rule == RULE_NONE);
    /* the store cannot answer: deferred whatever the mode */
    v = patient_inbound_decide(&pp, false, -1);
    CHECK(v.action == ACT_TEMPFAIL);
    CHECK_STR(rule_name(v.rule), "conversation-state-unavailable");
}

static struct verdict eom(bool accept_content, enum fin_kind subj, bool mes, bool empty,
                          struct patient_plan *plan)
{
    struct patient_policy pp;
    struct patient_msg m;

    memset(&pp, 0, sizeof(pp));
    pp.fin_content_accept = accept_content;
    m.subject_fin = subj;
    m.mes_fin = mes;
    m.body_empty = empty;
    return patient_outbound_eom(&pp, &m, plan);
}

static void test_outbound_eom(void)
{
    struct patient_plan plan;
    struct patient_msg m;
    struct verdict v;

    /* Ordinary message: open or refresh, body not looked at. */
    v = eom(false, FIN_NONE, false, false, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_OPEN);
    CHECK(!plan.rewrite_subject && !plan.add_mes_header && !plan.content_lost);
    m.subject_fin = FIN_NONE;
    m.mes_fin = false;
    CHECK(!patient_closure_candidate(&m));
    m.mes_fin = true;
    CHECK(patient_closure_candidate(&m));
    m.mes_fin = false;
    m.subject_fin = FIN_VARIANT;
    CHECK(patient_closure_candidate(&m));

    /* Exact [FIN], empty: close, nothing rewritten. */
    v = eom(false, FIN_EXACT, false, true, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(!plan.rewrite_subject && !plan.add_mes_header);

    /* X-MSS-MES: FIN, any subject, empty: close. */
    v = eom(false, FIN_NONE, true, true, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(!plan.rewrite_subject && !plan.add_mes_header);

    /* Variant, empty: close, rewrite, add the header (once). */
    v = eom(false, FIN_VARIANT, false, true, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(plan.rewrite_subject && plan.add_mes_header);
    CHECK(plan.note != NULL && strstr(plan.note, "rewritten") != NULL);
    v = eom(false, FIN_VARIANT, true, true, &plan);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(plan.rewrite_subject && !plan.add_mes_header);

    /* Exact [FIN] or the header, with content: refused, nothing recorded. */
    v = eom(false, FIN_EXACT, false, false, &plan);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "fin-with-content");
    CHECK_STR(v.rcode, "550");
    CHECK_STR(v.xcode, "5.7.1");
    CHECK(strstr(v.text, "[FIN]") != NULL && strstr(v.text, " / ") != NULL);
    CHECK(plan.op == PATOP_NONE);
    v = eom(false, FIN_NONE, true, false, &plan);
    CHECK(v.action == ACT_REJECT);
    CHECK(plan.op == PATOP_NONE);
    v = eom(false, FIN_VARIANT, true, false, &plan);
    CHECK(v.action == ACT_REJECT);

    /* FinWithContent accept: closed anyway, flagged. */
    v = eom(true, FIN_EXACT, false, false, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(plan.content_lost);

    /* Variant with content: an ordinary message the patient will read. */
    v = eom(false, FIN_VARIANT, false, false, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_OPEN);
    CHECK(!plan.rewrite_subject && !plan.add_mes_header);

    reply_conversation_unavailable(&v);
    CHECK(v.action == ACT_TEMPFAIL);
    CHECK_STR(v.rcode, "451");
    CHECK_STR(v.xcode, "4.3.0");
}

int main(void)
{
    test_subject();
    test_mes_header();
    test_body_plain();
    test_body_multipart_empty();
    test_body_multipart_content();
    test_body_params();
    test_body_doubt();
    test_body_limits();
    test_pharmacy();
    test_outbound_rcpt();
    test_inbound_rcpt();
    test_inbound_mode();
    test_outbound_eom();
    TEST_DONE();
}
