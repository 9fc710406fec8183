/*
 * test_conv_import.c - the lines of a conversation import file
 * (conversation/import.c): what is a row, what is skipped, what is refused
 * and why.  One named case per line of the table.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "conversation/import.h"
#include "tests/unit/testlib.h"

#define NOW 1800000000LL      /* 2027-01-15T08:00:00Z */
#define P1  "279035121518989"
#define P2A "185052A12345633"

static const char *const locals[] = { "chu-exemple.mssante.fr", "xn--hpital-ixa.mssante.fr" };
static const struct import_rules rules = { locals, 2, "patient.mssante.fr", NOW };

struct line_case {
    const char *name;
    const char *line;
    bool first;
    enum import_line want;
    const char *mailbox, *patient;   /* IMPORT_ROW */
    long long opened_at;             /* IMPORT_ROW */
    const char *says;                /* IMPORT_BAD: in the reason */
};

static const struct line_case lines[] = {
    { "plain row, ISO 8601 with Z", "dr.martin@chu-exemple.mssante.fr," P1 ",2026-11-02T09:30:00Z",
      false, IMPORT_ROW, "dr.martin@chu-exemple.mssante.fr", P1, 1793611800LL, NULL },
    { "no opened_at: the import's time", "dr.martin@chu-exemple.mssante.fr," P1, false,
      IMPORT_ROW, "dr.martin@chu-exemple.mssante.fr", P1, NOW, NULL },
    { "empty opened_at: the import's time", "dr.martin@chu-exemple.mssante.fr," P1 ",", false,
      IMPORT_ROW, "dr.martin@chu-exemple.mssante.fr", P1, NOW, NULL },
    { "Unix seconds", "dr@chu-exemple.mssante.fr," P1 ",1793611800", false, IMPORT_ROW,
      "dr@chu-exemple.mssante.fr", P1, 1793611800LL, NULL },
    { "ISO 8601 with an offset", "dr@chu-exemple.mssante.fr;" P1 ";2026-11-02T10:30:00+01:00",
      false, IMPORT_ROW, "dr@chu-exemple.mssante.fr", P1, 1793611800LL, NULL },
    { "a bare date", "dr@chu-exemple.mssante.fr," P1 ",2026-11-02", false, IMPORT_ROW,
      "dr@chu-exemple.mssante.fr", P1, 1793577600LL, NULL },
    { "the whole patient address; 2a upper-cased",
      "dr@CHU-Exemple.MSSante.fr.,185052a12345633@Patient.MSSante.fr", false, IMPORT_ROW,
      "dr@chu-exemple.mssante.fr", P2A, NOW, NULL },
    { "spreadsheet: semicolons, quotes, spaces, CRLF",
      " \"dr@chu-exemple.mssante.fr\" ; \"" P1 "\" ; \"2026-11-02 09:30:00\"\r", false,
      IMPORT_ROW, "dr@chu-exemple.mssante.fr", P1, 1793611800LL, NULL },
    { "a byte order mark on the first line", "\xef\xbb\xbf" "dr@chu-exemple.mssante.fr," P1,
      true, IMPORT_ROW, "dr@chu-exemple.mssante.fr", P1, NOW, NULL },
    { "a mailbox of a LocalDomain written in Unicode", "a@h\xc3\xb4pital.mssante.fr," P1, false,
      IMPORT_ROW, "a@xn--hpital-ixa.mssante.fr", P1, NOW, NULL },
    { "the header line", "mailbox,patient,opened_at", true, IMPORT_SKIP, NULL, NULL, 0, NULL },
    { "the header line, any case and quoted", "\"Mailbox\";\"Patient\"", true, IMPORT_SKIP,
      NULL, NULL, 0, NULL },
    { "a header later is a bad row", "mailbox,patient", false, IMPORT_BAD, NULL, NULL, 0,
      "mailbox \"mailbox\": missing '@'" },
    { "blank", "   \r", false, IMPORT_SKIP, NULL, NULL, 0, NULL },
    { "comment", "# exported 2026-12-01", false, IMPORT_SKIP, NULL, NULL, 0, NULL },
    { "not our domain", "dr@medecin.mssante.fr," P1, false, IMPORT_BAD, NULL, NULL, 0,
      "medecin.mssante.fr is not one of our LocalDomains" },
    { "a route address", "a%b@chu-exemple.mssante.fr," P1, false, IMPORT_BAD, NULL, NULL, 0,
      "percent hack" },
    { "wrong INS key", "dr@chu-exemple.mssante.fr,279035121518988", false, IMPORT_BAD, NULL,
      NULL, 0, "key does not match" },
    { "not an INS", "dr@chu-exemple.mssante.fr,12345", false, IMPORT_BAD, NULL, NULL, 0,
      "not an INS matricule" },
    { "patient elsewhere", "dr@chu-exemple.mssante.fr," P1 "@outlook.fr", false, IMPORT_BAD,
      NULL, NULL, 0, "not in PatientDomain patient.mssante.fr" },
    { "in the future", "dr@chu-exemple.mssante.fr," P1 ",2027-02-01T00:00:00Z", false,
      IMPORT_BAD, NULL, NULL, 0, "in the future" },
    { "five minutes ahead is clock skew", "dr@chu-exemple.mssante.fr," P1 ",1800000299", false,
      IMPORT_ROW, "dr@chu-exemple.mssante.fr", P1, 1800000299LL, NULL },
    { "before 2000", "dr@chu-exemple.mssante.fr," P1 ",1999-12-31", false, IMPORT_BAD, NULL,
      NULL, 0, "before 2000" },
    { "not a time", "dr@chu-exemple.mssante.fr," P1 ",hier", false, IMPORT_BAD, NULL, NULL, 0,
      "neither ISO 8601" },
    { "a month 13", "dr@chu-exemple.mssante.fr," P1 ",2026-13-01", false, IMPORT_BAD, NULL,
      NULL, 0, "neither ISO 8601" },
    { "one field", "dr@chu-exemple.mssante.fr", false, IMPORT_BAD, NULL, NULL, 0,
      "expected mailbox,patient[,opened_at]" },
    { "four fields", "dr@chu-exemple.mssante.fr," P1 ",1793611800,x", false, IMPORT_BAD, NULL,
      NULL, 0, "more than 3 fields" },
    { "an empty mailbox", "," P1, false, IMPORT_BAD, NULL, NULL, 0, "no mailbox" },
    { "an unclosed quote", "\"dr@chu-exemple.mssante.fr," P1, false, IMPORT_BAD, NULL, NULL, 0,
      "not closed" },
    { "a control character", "dr@chu-exemple.mssante.fr,\"" P1 "\x01\"", false, IMPORT_BAD,
      NULL, NULL, 0, "control character" },
};

static void test_lines(void)
{
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        const struct line_case *t = &lines[i];
        struct import_row row;
        struct err why = { "" };
        enum import_line got = import_parse_line(&rules, t->line, strlen(t->line), t->first,
                                                 &row, &why);
        bool ok = got == t->want;

        if (ok && got == IMPORT_ROW)
            ok = strcmp(row.mailbox, t->mailbox) == 0 && strcmp(row.patient, t->patient) == 0
                 && row.opened_at == t->opened_at;
        if (ok && got == IMPORT_BAD)
            ok = strstr(why.msg, t->says) != NULL;
        CHECK(ok);
        if (!ok)
            printf("#   case \"%s\": got %d (%s | %s | %lld), reason \"%s\"\n", t->name, got,
                   row.mailbox, row.patient, row.opened_at, why.msg);
    }
}

/* The reason never shows the expected key (it would fix a typo into
 * another patient's number). */
static void test_no_expected_key(void)
{
    struct import_row row;
    struct err why = { "" };
    const char *line = "dr@chu-exemple.mssante.fr,279035121518988";

    CHECK(import_parse_line(&rules, line, strlen(line), false, &row, &why) == IMPORT_BAD);
    CHECK(strstr(why.msg, "expected") == NULL && strstr(why.msg, " 89") == NULL);
}

static void test_long_line(void)
{
    static char line[IMPORT_LINE_MAX + 10];
    struct import_row row;
    struct err why = { "" };

    memset(line, 'a', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    CHECK(import_parse_line(&rules, line, strlen(line), false, &row, &why) == IMPORT_BAD);
    CHECK(strstr(why.msg, "longer than") != NULL);
    /* a NUL inside the line */
    CHECK(import_parse_line(&rules, "a\0b", 3, false, &row, &why) == IMPORT_BAD);
}

static const struct test_case cases[] = {
    { "import lines: rows, skipped lines and refusals with their reason", test_lines },
    { "import lines: a wrong key is refused without the expected one", test_no_expected_key },
    { "import lines: too long, or a NUL inside", test_long_line },
};

TEST_MAIN(cases)
