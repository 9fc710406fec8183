/*
 * test_forward_audit.c - "mssantectl forwards audit|rewrite" (audit/audit.c)
 * over the sample files tests/fixtures/fwd-*: the exact report, the exact
 * rewritten file (untouched lines byte for byte, CRLF included), the pairs
 * to import, idempotence, type guessing and edge cases.
 *
 * For a fixture F, F.report holds the report lines then one
 * "import MAILBOX copy TARGET" line per pair ("-" for an unknown mailbox),
 * and F.rewritten the expected new file.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "tests/unit/testlib.h"

static const char *const locals[] = { "chu-test.mssante.fr", "autre-site.chu-test.mssante.fr" };

static bool list_lookup(const void *ctx, const char *domain)
{
    (void)ctx;
    return strcmp(domain, "medecin.mssante.fr") == 0
           || strcmp(domain, "pharmacien.mssante.fr") == 0;
}

static const struct policy_env env = {
    list_lookup, NULL, locals, 2, "patient.mssante.fr", NULL
};

/* The whole fixture NAME (malloc'd), its length in *len; NULL if absent. */
static char *slurp(const char *name, size_t *len)
{
    char path[512], *buf;
    long size;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", testlib_fixtures(), name);
    if ((f = fopen(path, "rb")) == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    buf = malloc((size_t)size + 1);
    if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[size] = '\0';
        *len = (size_t)size;
    }
    return buf;
}

/* The report as the .report files hold it. */
static char *report(const char *file, const struct fwd_audit_result *r)
{
    size_t i, cap = 1, len = 0;
    char *out = calloc(1, 1);

    for (i = 0; out != NULL && i < r->n_findings + r->n_pairs; i++) {
        char line[2048], *f = NULL, *g;
        size_t n;

        if (i < r->n_findings) {
            f = fwd_audit_format(file, &r->findings[i]);
            snprintf(line, sizeof(line), "%s\n", f ? f : "(null)");
        } else {
            const struct fwd_import_pair *p = &r->pairs[i - r->n_findings];

            snprintf(line, sizeof(line), "import %s copy %s\n", p->mailbox ? p->mailbox : "-",
                     p->target);
        }
        free(f);
        n = strlen(line);
        if ((g = realloc(out, cap + n)) == NULL) {
            free(out);
            return NULL;
        }
        out = g;
        memcpy(out + len, line, n + 1);
        len += n;
        cap += n;
    }
    return out;
}

/* Run the audit of fixture NAME and compare with NAME.report / .rewritten. */
static void check_fixture(const char *name, const char *domain, const char *mailbox,
                          enum fwd_audit_type want_type, size_t want_classic)
{
    struct fwd_audit_opts o = { FWD_AUDIT_AUTO, &env, domain, mailbox };
    struct fwd_audit_result r, again;
    struct err err = { "" };
    char path[256], *in, *exp_report, *exp_out, *got;
    size_t in_len = 0, rep_len = 0, out_len = 0;

    in = slurp(name, &in_len);
    snprintf(path, sizeof(path), "%s.report", name);
    exp_report = slurp(path, &rep_len);
    snprintf(path, sizeof(path), "%s.rewritten", name);
    exp_out = slurp(path, &out_len);
    CHECK(in != NULL && exp_report != NULL && exp_out != NULL);
    if (in == NULL || exp_report == NULL || exp_out == NULL)
        goto out;

    CHECK(fwd_audit_run(name, in, in_len, &o, &r, &err) == 0);
    CHECK(r.type == want_type);
    CHECK(r.n_classic == want_classic);
    CHECK(r.changed);
    got = report(name, &r);
    CHECK_STR(got, exp_report);
    free(got);
    CHECK(r.output_len == out_len && memcmp(r.output, exp_out, out_len) == 0);
    if (r.output_len != out_len || memcmp(r.output, exp_out, out_len) != 0)
        fprintf(stderr, "%s: rewritten output differs:\n%.*s\n", name, (int)r.output_len,
                r.output);

    /* The rewritten file has nothing left to rewrite. */
    CHECK(fwd_audit_run(name, r.output, r.output_len, &o, &again, &err) == 0);
    CHECK(again.n_classic == 0);
    CHECK(!again.changed);
    CHECK(again.n_pairs == 0);
    fwd_audit_result_free(&again);
    fwd_audit_result_free(&r);
out:
    free(in);
    free(exp_report);
    free(exp_out);
}

/* Audit TEXT as TYPE (with default domain chu-test.mssante.fr); the
 * rewritten text, or "ERROR: message". */
static char *rewrite_text(enum fwd_audit_type type, const char *text, size_t *n_classic)
{
    struct fwd_audit_opts o = { type, &env, "chu-test.mssante.fr", "moi@chu-test.mssante.fr" };
    struct fwd_audit_result r;
    struct err err = { "" };
    char *out;

    if (fwd_audit_run("t", text, strlen(text), &o, &r, &err) < 0) {
        out = malloc(strlen(err.msg) + 8);
        sprintf(out, "ERROR: %s", err.msg);
        return out;
    }
    if (n_classic)
        *n_classic = r.n_classic;
    out = r.output;
    r.output = NULL;
    fwd_audit_result_free(&r);
    return out;
}

#define CHECK_REWRITE(type, in, expect) do { \
        char *got_ = rewrite_text(type, in, NULL); \
        CHECK_STR(got_, expect); \
        free(got_); \
    } while (0)

static void test_virtual_edges(void)
{
    size_t n = 9;
    char *got;

    /* Every target classic, several of them: the mailbox itself, once. */
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL, "a@chu-test.mssante.fr x@gmail.com, y@gmail.com\n",
                  "a@chu-test.mssante.fr a@chu-test.mssante.fr\n");
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL, "a@chu-test.mssante.fr x@gmail.com,\n  y@gmail.com\n",
                  "a@chu-test.mssante.fr a@chu-test.mssante.fr\n");
    /* Classic first, kept target on the next line. */
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL,
                  "a@chu-test.mssante.fr x@gmail.com,\n  b@medecin.mssante.fr\n",
                  "a@chu-test.mssante.fr \n  b@medecin.mssante.fr\n");
    /* Two classic targets on a continuation line of their own. */
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL,
                  "a@chu-test.mssante.fr b@medecin.mssante.fr,\n x@gmail.com, y@gmail.com\n",
                  "a@chu-test.mssante.fr b@medecin.mssante.fr\n");
    /* No final line end, and white space only separators. */
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL, "a@chu-test.mssante.fr b@medecin.mssante.fr x@gmail.com",
                  "a@chu-test.mssante.fr b@medecin.mssante.fr");
    /* Not our domain, listed domain on the left, upper case on the left. */
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL, "a@medecin.mssante.fr x@gmail.com\n",
                  "a@medecin.mssante.fr x@gmail.com\n");
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL, "A@CHU-TEST.mssante.fr. x@gmail.com\n",
                  "A@CHU-TEST.mssante.fr. A@CHU-TEST.mssante.fr.\n");
    /* Patient and MSSante targets are not classic. */
    got = rewrite_text(FWD_AUDIT_VIRTUAL,
                       "a@chu-test.mssante.fr 279035121518989@patient.mssante.fr\n", &n);
    CHECK_STR(got, "a@chu-test.mssante.fr 279035121518989@patient.mssante.fr\n");
    CHECK(n == 0);
    free(got);
    /* Empty input, comments only, a stray continuation line. */
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL, "", "");
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL, "# x@gmail.com\r\n\r\n", "# x@gmail.com\r\n\r\n");
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL, "   x@gmail.com\n", "   x@gmail.com\n");
    /* An empty line ends a rule: what follows is a stray continuation. */
    CHECK_REWRITE(FWD_AUDIT_VIRTUAL, "a@chu-test.mssante.fr b@medecin.mssante.fr\n\n"
                  "  x@gmail.com\n",
                  "a@chu-test.mssante.fr b@medecin.mssante.fr\n\n  x@gmail.com\n");
}

static void test_aliases_edges(void)
{
    CHECK_REWRITE(FWD_AUDIT_ALIASES, "\\dr: x@gmail.com\n", "\\dr: \\dr\n");
    CHECK_REWRITE(FWD_AUDIT_ALIASES, "dr:x@gmail.com,\"|/bin/true\"\n", "dr:\"|/bin/true\"\n");
    CHECK_REWRITE(FWD_AUDIT_ALIASES, "no colon x@gmail.com\n", "no colon x@gmail.com\n");
    CHECK_REWRITE(FWD_AUDIT_ALIASES, "dr: :INCLUDE:/etc/list, dr@gmail.com\r\n",
                  "dr: :INCLUDE:/etc/list\r\n");
    /* A name that would not read back as one target ("\\c i@d" is "\\c"
     * and the address i@d): the rule is commented out, not pointed at
     * itself. */
    CHECK_REWRITE(FWD_AUDIT_ALIASES, "c i@d: x@gmail.com\n",
                  "# mssante-milter: c i@d forwarded only to classic addresses and cannot "
                  "point at itself: commented out\n#c i@d: x@gmail.com\n");
    CHECK_REWRITE(FWD_AUDIT_ALIASES, "a,b: x@gmail.com,\r\n\ty@gmail.com\r\n",
                  "# mssante-milter: a,b forwarded only to classic addresses and cannot "
                  "point at itself: commented out\r\n#a,b: x@gmail.com,\r\n#\ty@gmail.com\r\n");
}

static void test_sieve_edges(void)
{
    CHECK_REWRITE(FWD_AUDIT_SIEVE, "redirect \"x@gmail.com\";\n",
                  "keep; /* mssante-milter: redirect to x@gmail.com removed, "
                  "notified instead */\n");
    CHECK_REWRITE(FWD_AUDIT_SIEVE, "REDIRECT :COPY\r\n  \"x@gmail.com\" ;stop;\r\n",
                  "/* mssante-milter: redirect :copy to x@gmail.com removed, "
                  "notified instead */stop;\r\n");
    /* An address that would close the comment is not copied into it. */
    CHECK_REWRITE(FWD_AUDIT_SIEVE, "redirect \"a*/b@gmail.com\";",
                  "keep; /* mssante-milter: redirect to a classic address removed, "
                  "notified instead */");
    /* Not at command position, in a comment, in a string: untouched. */
    CHECK_REWRITE(FWD_AUDIT_SIEVE,
                  "if header :is \"x\" \"redirect\" { keep; }\n# redirect \"x@gmail.com\";\n",
                  "if header :is \"x\" \"redirect\" { keep; }\n# redirect \"x@gmail.com\";\n");
    CHECK_REWRITE(FWD_AUDIT_SIEVE, "redirect \"x@gmail.com", "ERROR: line 1: unterminated string");
    CHECK_REWRITE(FWD_AUDIT_SIEVE, "keep;\n/* redirect", "ERROR: line 2: unterminated /* comment");
    CHECK_REWRITE(FWD_AUDIT_SIEVE, "vacation text:\nabc\n", "ERROR: line 1: unterminated text: block");
}

/* Without --domain / --mailbox the report still works; the pairs cannot
 * name a mailbox. */
static void test_unqualified(void)
{
    struct fwd_audit_opts o = { FWD_AUDIT_AUTO, &env, NULL, NULL };
    struct fwd_audit_result r;
    const char *al = "dr: dr@gmail.com\n", *sv = "redirect \"x@gmail.com\";\n";
    char *line;

    CHECK(fwd_audit_run("aliases", al, strlen(al), &o, &r, NULL) == 0);
    CHECK(r.type == FWD_AUDIT_ALIASES);
    CHECK(r.n_pairs == 1 && r.pairs[0].mailbox == NULL && strcmp(r.pairs[0].lhs, "dr") == 0);
    fwd_audit_result_free(&r);

    CHECK(fwd_audit_run("x.sieve", sv, strlen(sv), &o, &r, NULL) == 0);
    CHECK(r.type == FWD_AUDIT_SIEVE);
    CHECK(r.n_findings == 1);
    line = r.n_findings == 1 ? fwd_audit_format("x.sieve", &r.findings[0]) : NULL;
    CHECK_STR(line, "x.sieve:1: - -> x@gmail.com (classic; kept: none)");
    free(line);
    CHECK(r.n_pairs == 1 && r.pairs[0].mailbox == NULL);
    fwd_audit_result_free(&r);
}

static void test_guess(void)
{
    enum fwd_audit_type t;
    const char *v = "# c\n\nuser@chu-test.mssante.fr x@gmail.com\n";
    const char *al = "# c\npostmaster: root\n";
    const char *sv = "# c\nrequire \"copy\";\n";
    const char *kw = "keep   keep@gmail.com\n";    /* a user called "keep" */

    CHECK(fwd_audit_guess_type("rules.sieve", "", 0) == FWD_AUDIT_SIEVE);
    CHECK(fwd_audit_guess_type("/home/x/.dovecot.SIV", "", 0) == FWD_AUDIT_SIEVE);
    CHECK(fwd_audit_guess_type("/etc/aliases", v, strlen(v)) == FWD_AUDIT_ALIASES);
    CHECK(fwd_audit_guess_type("site.aliases", "", 0) == FWD_AUDIT_ALIASES);
    CHECK(fwd_audit_guess_type("virtual", v, strlen(v)) == FWD_AUDIT_VIRTUAL);
    CHECK(fwd_audit_guess_type("f", al, strlen(al)) == FWD_AUDIT_ALIASES);
    CHECK(fwd_audit_guess_type("f", sv, strlen(sv)) == FWD_AUDIT_SIEVE);
    CHECK(fwd_audit_guess_type("f", kw, strlen(kw)) == FWD_AUDIT_VIRTUAL);
    CHECK(fwd_audit_guess_type("f", "", 0) == FWD_AUDIT_VIRTUAL);
    CHECK(fwd_audit_type_parse("Sieve", &t) == 0 && t == FWD_AUDIT_SIEVE);
    CHECK(fwd_audit_type_parse("aliases", &t) == 0 && t == FWD_AUDIT_ALIASES);
    CHECK(fwd_audit_type_parse("virtual", &t) == 0 && t == FWD_AUDIT_VIRTUAL);
    CHECK(fwd_audit_type_parse("hash", &t) == -1);
    CHECK_STR(fwd_audit_type_name(FWD_AUDIT_ALIASES), "aliases");
}

int main(void)
{
    check_fixture("fwd-virtual", "chu-test.mssante.fr", NULL, FWD_AUDIT_VIRTUAL, 8);
    check_fixture("fwd-aliases", "chu-test.mssante.fr", NULL, FWD_AUDIT_ALIASES, 5);
    check_fixture("fwd-mailbox.sieve", NULL, "dr.martin@chu-test.mssante.fr", FWD_AUDIT_SIEVE, 2);
    test_virtual_edges();
    test_aliases_edges();
    test_sieve_edges();
    test_unqualified();
    test_guess();
    TEST_DONE();
}
