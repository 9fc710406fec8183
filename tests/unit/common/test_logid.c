/*
 * test_logid.c - patient identifiers in the log (common/logid.c): the
 * three modes, the key made once and read back, and the rewriting of
 * patient addresses inside a line.  One named case per line; a failing
 * case is reported by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/testlib.h"
#include "common/logid.h"

#define PD "patient.mssante.fr"
#define INS "279035121518989"

static char dir[64];

static void report(const char *name, int ok, const char *got)
{
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  case \"%s\": got \"%s\"\n", name, got);
}

/* LogPatientId hash: its key made at the first start (common/keyfile.c
 * does the making and reading, test_keyfile.c tests it), then read again:
 * the same values; a file others can read is said so. */
static void test_key_file(void)
{
    struct logid_settings s = { LOGID_HASH, NULL };
    char path[128], first[LOGID_MAX], again[LOGID_MAX];
    struct err err;
    struct stat st;

    snprintf(path, sizeof(path), "%s/logid.key", dir);
    s.key_file = path;
    CHECK(logid_start(&s, false, &err) == -1);                  /* not made without CREATE */
    report("the error names LogPatientIdKeyFile",
           strncmp(err.msg, "LogPatientIdKeyFile ", 20) == 0, err.msg);
    CHECK(logid_start(&s, true, &err) == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    logid_format(INS, first, sizeof(first));
    CHECK(logid_start(&s, true, &err) == 0);                    /* read, not made again */
    logid_format(INS, again, sizeof(again));
    report("the key read again gives the same value", strcmp(first, again) == 0, again);
    CHECK(!logid_key_loose());
    chmod(path, 0644);
    CHECK(logid_start(&s, true, &err) == 0 && logid_key_loose());
    chmod(path, 0600);
    CHECK(logid_start(&s, true, &err) == 0 && !logid_key_loose());

    s.key_file = NULL;
    CHECK(logid_start(&s, true, &err) == -1);
    report("hash without a key file: said", strstr(err.msg, "LogPatientIdKeyFile") != NULL,
           err.msg);
    s.mode = LOGID_MASK;
    CHECK(logid_start(&s, true, &err) == 0);                    /* mask needs no key */
}

struct format_case {
    const char *name;
    enum logid_mode mode;
    const char *id;
    const char *want;       /* NULL: a hash, checked apart */
};

static const struct format_case formats[] = {
    { "clear shows the id",                LOGID_CLEAR, INS, INS },
    { "mask keeps the first 5",            LOGID_MASK,  INS, "27903**********" },
    { "mask of a short id",                LOGID_MASK,  "2790", "2790" },
    { "clear makes a space safe",          LOGID_CLEAR, "a b", "a?b" },
    { "hash has its prefix",               LOGID_HASH,  INS, NULL },
};

static void test_formats(void)
{
    char out[LOGID_MAX], other[LOGID_MAX], lower[LOGID_MAX];

    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        const struct format_case *t = &formats[i];

        logid_set_mode(t->mode);
        logid_format(t->id, out, sizeof(out));
        if (t->want != NULL)
            report(t->name, strcmp(out, t->want) == 0, out);
        else
            report(t->name, strncmp(out, LOGID_PREFIX, strlen(LOGID_PREFIX)) == 0
                   && strlen(out) == strlen(LOGID_PREFIX) + LOGID_HEX
                   && strstr(out, "27903") == NULL, out);
    }
    logid_set_mode(LOGID_HASH);
    logid_format("2A0351215189xx", out, sizeof(out));
    logid_format("2a0351215189xx", lower, sizeof(lower));
    report("hash: 2a and 2A are one patient", strcmp(out, lower) == 0, lower);
    logid_format("279035121518988", other, sizeof(other));
    logid_format(INS, out, sizeof(out));
    report("hash: two patients, two values", strcmp(out, other) != 0, other);
}

struct redact_case {
    const char *name;
    enum logid_mode mode;
    const char *text;
    const char *want;
};

static const struct redact_case redacts[] = {
    { "an address in brackets", LOGID_MASK, "rcpt=<" INS "@" PD ">/patient",
      "rcpt=<27903**********@" PD ">/patient" },
    { "upper-case domain", LOGID_MASK, "<" INS "@PATIENT.MSSANTE.FR>",
      "<27903**********@PATIENT.MSSANTE.FR>" },
    { "a reply naming it", LOGID_MASK,
      "550 5.1.1 Adresse patient invalide <" INS "@" PD "> / Invalid patient address",
      "550 5.1.1 Adresse patient invalide <27903**********@" PD "> / Invalid patient address" },
    { "another domain is left alone", LOGID_MASK, "<" INS "@medecin.mssante.fr>",
      "<" INS "@medecin.mssante.fr>" },
    { "a longer domain is not the patients'", LOGID_MASK, "<" INS "@" PD ".evil.example>",
      "<" INS "@" PD ".evil.example>" },
    { "two addresses", LOGID_MASK, "a=" INS "@" PD " b=" INS "@" PD,
      "a=27903**********@" PD " b=27903**********@" PD },
    { "clear changes nothing", LOGID_CLEAR, "<" INS "@" PD ">", "<" INS "@" PD ">" },
};

static void test_redact(void)
{
    char out[256];

    for (size_t i = 0; i < sizeof(redacts) / sizeof(redacts[0]); i++) {
        const struct redact_case *t = &redacts[i];

        logid_set_mode(t->mode);
        logid_redact(t->text, PD, out, sizeof(out));
        report(t->name, strcmp(out, t->want) == 0, out);
    }
    logid_set_mode(LOGID_HASH);
    logid_redact("<" INS "@" PD ">", PD, out, sizeof(out));
    report("hash: no digit of the id is left", strstr(out, "27903") == NULL
           && strstr(out, LOGID_PREFIX) != NULL, out);
    logid_redact("<" INS "@" PD ">", PD, out, 8);
    report("cut to the room given", strlen(out) == 7, out);
}

static const struct test_case cases[] = {
    { "the key file: made once, kept, its mode", test_key_file },
    { "hash, mask and clear formats", test_formats },
    { "patient ids redacted in a text", test_redact },
};

TEST_MAIN_TMPDIR(cases, dir, "test_logid")
