/*
 * test_rules.c - the parts of forward/rules.c that need no Redis:
 * modes, address normalisation, and the JSON import/export format with its
 * error messages.  The Redis side is tested by
 * tests/integration/t_forward_rules.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "forward/rules.h"
#include "tests/unit/testlib.h"

static void test_modes(void)
{
    enum fwd_mode m = FWD_COPY;

    CHECK(fwd_mode_parse("redirect", &m) == 0 && m == FWD_REDIRECT);
    CHECK(fwd_mode_parse("COPY", &m) == 0 && m == FWD_COPY);
    CHECK(fwd_mode_parse("forward", &m) == -1);
    CHECK(fwd_mode_parse(NULL, &m) == -1);
    CHECK_STR(fwd_mode_name(FWD_REDIRECT), "redirect");
    CHECK_STR(fwd_mode_name(FWD_COPY), "copy");
}

static void test_normalize(void)
{
    struct err err;
    char out[FWD_ADDR_MAX];

    CHECK(fwd_normalize_mailbox("<Dr.Martin@CHU-Test.mssante.fr.>", out, sizeof(out),
                                &err) == 0);
    CHECK_STR(out, "dr.martin@chu-test.mssante.fr");
    CHECK(fwd_normalize_target("Dr.Martin@Outlook.FR", out, sizeof(out), &err) == 0);
    CHECK_STR(out, "Dr.Martin@outlook.fr");
    CHECK(fwd_normalize_target("<>", out, sizeof(out), &err) == -1);
    CHECK_STR(err.msg, "target: the null address <> is not a mailbox");
    CHECK(fwd_normalize_mailbox("no-at-sign", out, sizeof(out), &err) == -1);
    CHECK_STR(err.msg, "mailbox \"no-at-sign\": missing '@'");
    CHECK(fwd_normalize_target("a@b@c.fr", out, sizeof(out), &err) == -1);
    CHECK(fwd_normalize_target("a@exa mple.fr", out, sizeof(out), &err) == -1);
    CHECK(fwd_normalize_mailbox("a@b.fr", out, 4, &err) == -1);
}

static const char good[] =
    "{\"rules\": [\n"
    "  {\"mailbox\": \"Dr.A@CHU-Test.mssante.fr\", \"mode\": \"redirect\",\n"
    "   \"targets\": [\"confrere@medecin.mssante.fr\", \"Sec@Outlook.fr\", \"sec@outlook.FR\"]},\n"
    "  {\"mailbox\": \"dr.b@chu-test.mssante.fr\", \"mode\": \"copy\",\n"
    "   \"targets\": [\"<dr.b@gmail.com>\"]}\n"
    "]}\n";

static const char good_export[] =
    "{\n"
    "  \"rules\": [\n"
    "    {\n"
    "      \"mailbox\": \"dr.a@chu-test.mssante.fr\",\n"
    "      \"mode\": \"redirect\",\n"
    "      \"targets\": [\n"
    "        \"confrere@medecin.mssante.fr\",\n"
    "        \"Sec@outlook.fr\"\n"
    "      ]\n"
    "    },\n"
    "    {\n"
    "      \"mailbox\": \"dr.b@chu-test.mssante.fr\",\n"
    "      \"mode\": \"copy\",\n"
    "      \"targets\": [\n"
    "        \"dr.b@gmail.com\"\n"
    "      ]\n"
    "    }\n"
    "  ]\n"
    "}\n";

static void test_json_round_trip(void)
{
    struct fwd_rules rs = { 0 }, back = { 0 };
    struct err err = { "" };
    char *text, *again;

    CHECK(fwd_rules_from_json(good, &rs, &err) == 0);
    CHECK(rs.n == 2);
    if (rs.n != 2)
        return;
    CHECK_STR(rs.v[0].mailbox, "dr.a@chu-test.mssante.fr");
    CHECK(rs.v[0].mode == FWD_REDIRECT);
    CHECK(rs.v[0].n_targets == 2);       /* the case variant is the same target */
    CHECK(rs.v[1].mode == FWD_COPY);
    text = fwd_rules_to_json(&rs);
    CHECK_STR(text, good_export);
    CHECK(fwd_rules_from_json(text, &back, &err) == 0);
    again = fwd_rules_to_json(&back);
    CHECK_STR(again, good_export);
    free(text);
    free(again);
    fwd_rules_clear(&rs);
    fwd_rules_clear(&back);
    CHECK(rs.n == 0 && rs.v == NULL);

    text = fwd_rules_to_json(&rs);
    CHECK_STR(text, "{\n  \"rules\": []\n}\n");
    free(text);
}

/* The error for TEXT ("" when accepted). */
static const char *json_error(const char *text)
{
    static struct err err;
    struct fwd_rules rs = { 0 };

    err_clear(&err);
    if (fwd_rules_from_json(text, &rs, &err) == 0) {
        fwd_rules_clear(&rs);
        return "";
    }
    CHECK(rs.n == 0 && rs.v == NULL);
    return err.msg;
}

static void test_json_errors(void)
{
    char many[4096];
    size_t i, len;

    CHECK_STR(json_error("{\"rules\": []}"), "");
    CHECK_STR(json_error("{\"rules\": [}"),
              "line 1, column 12: unexpected token near '}'");
    CHECK_STR(json_error("[]"), "expected an object with a \"rules\" array");
    CHECK_STR(json_error("{\"rules\": [{\"mailbox\": \"a@chu.fr\", \"mode\": \"copy\", "
                         "\"targets\": [\"x@y.fr\"], \"note\": 1}]}"),
              "rules[0]: unknown member \"note\"");
    CHECK_STR(json_error("{\"rules\": [{\"mode\": \"copy\", \"targets\": [\"x@y.fr\"]}]}"),
              "rules[0].mailbox: missing or not a string");
    CHECK_STR(json_error("{\"rules\": [{\"mailbox\": \"a@chu.fr\", \"mode\": \"forward\", "
                         "\"targets\": [\"x@y.fr\"]}]}"),
              "rules[0].mode: must be \"copy\" or \"redirect\"");
    CHECK_STR(json_error("{\"rules\": [{\"mailbox\": \"a@chu.fr\", \"mode\": \"copy\", "
                         "\"targets\": []}]}"),
              "rules[0].targets: missing, empty or not an array");
    CHECK_STR(json_error("{\"rules\": [{\"mailbox\": \"a@chu.fr\", \"mode\": \"copy\", "
                         "\"targets\": [\"x@y.fr\"]},"
                         "{\"mailbox\": \"b@chu.fr\", \"mode\": \"copy\", "
                         "\"targets\": [\"ok@y.fr\", \"bad@\"]}]}"),
              "rules[1].targets[1]: target \"bad@\": empty domain");
    CHECK_STR(json_error("{\"rules\": [{\"mailbox\": \"a@chu.fr\", \"mode\": \"copy\", "
                         "\"targets\": [\"A@CHU.fr\"]}]}"),
              "rules[0].targets[0]: A@chu.fr forwards to itself");
    CHECK_STR(json_error("{\"rules\": [{\"mailbox\": \"a@chu.fr\", \"mode\": \"copy\", "
                         "\"targets\": [\"x@y.fr\"]},"
                         "{\"mailbox\": \"A@chu.fr\", \"mode\": \"redirect\", "
                         "\"targets\": [\"z@y.fr\"]}]}"),
              "rules[1]: mailbox a@chu.fr already given in rules[0]");

    len = (size_t)snprintf(many, sizeof(many), "{\"rules\": [{\"mailbox\": \"a@chu.fr\", "
                           "\"mode\": \"copy\", \"targets\": [");
    for (i = 0; i <= FWD_MAX_TARGETS; i++)
        len += (size_t)snprintf(many + len, sizeof(many) - len, "%s\"t%zu@y.fr\"",
                                i ? "," : "", i);
    snprintf(many + len, sizeof(many) - len, "]}]}");
    CHECK_STR(json_error(many), "rules[0].targets: more than 32 targets");
}

static const struct test_case cases[] = {
    { "modes", test_modes },
    { "normalize", test_normalize },
    { "json round trip", test_json_round_trip },
    { "json errors", test_json_errors },
};
TEST_MAIN(cases)
