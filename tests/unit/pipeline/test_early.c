/*
 * test_early.c - EarlyAccept (pipeline/early.h): when a message may be
 * accepted before its end, and that the early path decides exactly what
 * the whole path decides.
 *
 * The decision table is checked alone; then a table of messages goes
 * through the pipeline (tests/unit/plharness.h) twice, EarlyAccept off and
 * on, and everything the outside can see is compared: each step's answer
 * and reply, the changes asked of the MTA, the notices and conversation
 * records, and the verdict line.  The one change allowed: a message
 * accepted at DATA keeps an X-MSSante-Held header it came with, which the
 * whole path deletes (policy/held.h: it is signed, so a planted one is
 * never the daemon's).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/early.h"
#include "tests/unit/plharness.h"
#include "tests/unit/testlib.h"
#include "tests/unit/pipeline_fixture.h"

#define QID           "4XyZ1Q2w3e"
/* a message from outside that carries an X-MSSante-Held of its own */
#define PLANTED_CASE  "a planted X-MSSante-Held header: deleted by the whole path only"

static const struct policy_env no_list = {
    NULL, NULL, locals, 1, "patient.mssante.fr", NULL
};

static const struct plh_rule rules[] = {
    { "cardio@" PLH_LOCAL_DOMAIN, false, { "dr@medecin.mssante.fr", NULL } },
    { NULL, false, { NULL } },
};

/* ---- the decision alone ------------------------------------------------- */

static void test_decision_table(void)
{
    static const struct {
        struct early_data_in in;
        enum early_why want;
    } rows[] = {
        { { true, false, false, false, false, false }, EARLY_OK },
        { { false, false, false, false, false, false }, EARLY_OFF },
        { { true, true, false, false, false, false }, EARLY_DRY_RUN },
        { { true, false, true, false, false, false }, EARLY_LOCAL },
        { { true, false, false, true, false, false }, EARLY_KEPT },
        { { true, false, false, false, true, false }, EARLY_PATIENT },
        { { true, false, false, false, false, true }, EARLY_FORWARDING },
        { { false, true, true, true, true, true }, EARLY_OFF },
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        enum early_why got = early_at_data(&rows[i].in);

        if (got != rows[i].want)
            printf("# row %zu: %s, expected %s\n", i, early_why_name(got),
                   early_why_name(rows[i].want));
        CHECK(got == rows[i].want);
    }
    CHECK_STR(early_why_name(EARLY_OK), "ok");
    CHECK_STR(early_why_name(EARLY_FORWARDING), "forwarding");
    CHECK_STR(early_why_name((enum early_why)99), "unknown");
}

/* ---- whole messages, both ways ---------------------------------------------- */

enum tweak {
    T_DRY_RUN = 1,
    T_RULES = 2,             /* the store has the rule table above */
    T_NO_FORWARDING_OPS = 4, /* the store without rules and notices */
    T_NO_LIST = 8,
    T_FORWARDING_OFF = 16,
    T_CONV_CLOSED = 32,
};

struct msg_case {
    const char *name;
    const struct plh_client *cl;
    const char *sender;
    const char *rcpts[4];          /* NULL-ended */
    const char *headers[5];        /* NULL-ended */
    const char *body;
    unsigned tweaks;
    bool early;                    /* EarlyAccept yes accepts it at DATA */
};

static const struct msg_case msgs[] = {
    { "inbound, listed sender", &PLH_OUTSIDE, "<dr@medecin.mssante.fr>", { LOCAL_MAILBOX },
      { "Subject: compte rendu", NULL }, "Bonjour\r\n", 0, true },
    { "outbound from an internal host", &PLH_INTERNAL, LOCAL_MAILBOX,
      { "<dr@medecin.mssante.fr>", "<dr.b@medecin.mssante.fr>" }, { "Subject: x", NULL },
      "x\r\n", 0, true },
    { "outbound, authenticated", &PLH_AUTH, LOCAL_MAILBOX, { "<dr@medecin.mssante.fr>" },
      { NULL }, "x\r\n", 0, true },
    { "null sender inbound", &PLH_OUTSIDE, "<>", { LOCAL_MAILBOX }, { NULL }, "x\r\n", 0,
      true },
    { "outbound mixed list: refused at DATA", &PLH_INTERNAL, LOCAL_MAILBOX,
      { "<dr@medecin.mssante.fr>", "<secretaire@outlook.fr>" }, { NULL }, "x\r\n", 0, false },
    { "inbound, one recipient refused at RCPT, the other accepted", &PLH_OUTSIDE,
      "<dr@medecin.mssante.fr>", { LOCAL_MAILBOX, "<root@localhost>" }, { NULL }, "x\r\n", 0,
      true },
    { "inbound from a classic sender: refused", &PLH_OUTSIDE, "<x@gmail.com>",
      { LOCAL_MAILBOX }, { NULL }, "x\r\n", 0, false },
    { "outbound to a patient: conversation", &PLH_INTERNAL, LOCAL_MAILBOX, { PATIENT },
      { "Subject: resultats", NULL }, "x\r\n", 0, false },
    { "outbound [FIN] to a patient", &PLH_INTERNAL, LOCAL_MAILBOX, { PATIENT },
      { "Subject: [FIN]", NULL }, "", 0, false },
    { "[FIN] with content: refused at end", &PLH_INTERNAL, LOCAL_MAILBOX, { PATIENT },
      { "Subject: [FIN]", NULL }, "contenu\r\n", 0, false },
    { "a patient writes into an open conversation", &PLH_OUTSIDE,
      "<279035121518989@patient.mssante.fr>", { LOCAL_MAILBOX }, { NULL }, "x\r\n", 0, true },
    { "a patient writes without a conversation", &PLH_OUTSIDE,
      "<279035121518989@patient.mssante.fr>", { LOCAL_MAILBOX }, { NULL }, "x\r\n",
      T_CONV_CLOSED, false },
    { "local recipient with a forwarding rule", &PLH_OUTSIDE, "<dr.b@medecin.mssante.fr>",
      { LOCAL_MAILBOX }, { NULL }, "x\r\n", T_RULES, false },
    { "local recipient without a rule, rules in the store", &PLH_OUTSIDE,
      "<dr.b@medecin.mssante.fr>", { "<accueil@" PLH_LOCAL_DOMAIN ">" }, { NULL }, "x\r\n",
      T_RULES, true },
    { "a rule, Forwarding off", &PLH_OUTSIDE, "<dr.b@medecin.mssante.fr>", { LOCAL_MAILBOX },
      { NULL }, "x\r\n", T_RULES | T_FORWARDING_OFF, true },
    { "a rule, no forwarding in the store (no Redis)", &PLH_OUTSIDE,
      "<dr.b@medecin.mssante.fr>", { LOCAL_MAILBOX }, { NULL }, "x\r\n",
      T_RULES | T_NO_FORWARDING_OPS, true },
    { "DryRun", &PLH_OUTSIDE, "<dr@medecin.mssante.fr>", { LOCAL_MAILBOX }, { NULL }, "x\r\n",
      T_DRY_RUN, false },
    { "DryRun, a refusal said in the header", &PLH_INTERNAL, LOCAL_MAILBOX,
      { "<secretaire@outlook.fr>" }, { NULL }, "x\r\n", T_DRY_RUN, false },
    { "local submission", &PLH_LOCAL, LOCAL_MAILBOX, { "<dr@medecin.mssante.fr>" }, { NULL },
      "x\r\n", 0, false },
    { "local submission, forward made elsewhere", &PLH_LOCAL, LOCAL_MAILBOX,
      { "<dr@medecin.mssante.fr>", "<x@gmail.com>" }, { NULL }, "x\r\n", 0, false },
    { PLANTED_CASE, &PLH_OUTSIDE, "<dr@medecin.mssante.fr>",
      { LOCAL_MAILBOX }, { "X-MSSante-Held: no-whitelist; submission=local; forged", NULL },
      "x\r\n", 0, true },
    { "no whitelist: deferred", &PLH_OUTSIDE, "<dr@medecin.mssante.fr>", { LOCAL_MAILBOX },
      { NULL }, "x\r\n", T_NO_LIST, false },
    { "no whitelist, local submission: held", &PLH_LOCAL, LOCAL_MAILBOX,
      { "<dr@medecin.mssante.fr>" }, { NULL }, "x\r\n", T_NO_LIST, false },
};

/* What the outside sees of one message. */
struct seen {
    char steps[512];               /* each step's answer and reply */
    char mta[8192];
    char line[2048];
    unsigned notices, records, closures, held_notices, rules_reads;
    bool early;                    /* accepted at DATA */
};

static void note_step(struct seen *s, const char *step, const struct pl_answer *a)
{
    static const char *const codes[] = { "continue", "reject", "tempfail", "skip", "accept" };
    size_t used = strlen(s->steps);

    snprintf(s->steps + used, sizeof(s->steps) - used, "%s=%s%s%s %s %s ", step, codes[a->code],
             a->code == PL_REJECT || a->code == PL_TEMPFAIL ? ":" : "",
             a->code == PL_REJECT || a->code == PL_TEMPFAIL ? a->reply.rcode : "",
             a->code == PL_REJECT || a->code == PL_TEMPFAIL ? a->reply.xcode : "",
             a->code == PL_REJECT || a->code == PL_TEMPFAIL ? a->reply.text : "");
}

static void setup(const struct msg_case *m, bool early)
{
    plh_init();
    plh_env = (m->tweaks & T_NO_LIST) ? &no_list : &whitelist;
    plh_rules.early_accept = early;
    plh_rules.dry_run = (m->tweaks & T_DRY_RUN) != 0;
    plh_rules.forwarding = !(m->tweaks & T_FORWARDING_OFF);
    plh_rules_of = (m->tweaks & T_RULES) ? rules : NULL;
    if (m->tweaks & T_NO_FORWARDING_OPS)
        plh_store_without_forwarding();
    if (m->tweaks & T_CONV_CLOSED)
        plh_conv = 0;
}

/* DATA and the message's end: when the pipeline accepts it at DATA,
 * nothing more (the MTA sends nothing more of it), written down as the
 * whole path's answers to the same message would be; else headers, body
 * and end of message, as libmilter would. */
static void data_and_end(const struct msg_case *m, struct seen *s)
{
    const struct pl_answer go_on = { PL_CONTINUE, { 0 } };
    struct pl_answer a = pl_data(&c);

    if (a.code == PL_ACCEPT) {
        s->early = true;
        note_step(s, "data", &go_on);
        note_step(s, "end", &go_on);
        return;
    }
    note_step(s, "data", &a);
    if (a.code != PL_CONTINUE)
        return;
    a = plh_content(&c, m->headers, m->body);
    CHECK(a.code != PL_ACCEPT);
    a = pl_eom(&c, &plh_mta);
    note_step(s, "end", &a);
}

static void run(const struct msg_case *m, bool early, struct seen *s)
{
    const char *mailer = m->cl->port == 0 ? NULL : "smtp";
    struct pl_answer a;
    unsigned ok = 0;

    memset(s, 0, sizeof(*s));
    setup(m, early);
    CHECK(plh_connect(&c, m->cl).code == PL_CONTINUE);
    a = plh_mail(&c, m->cl, m->sender);
    note_step(s, "mail", &a);
    pl_queue_id(&c, QID);
    for (size_t i = 0; a.code == PL_CONTINUE && m->rcpts[i] != NULL; i++) {
        struct pl_answer r = pl_rcpt(&c, m->rcpts[i],
                                     strcmp(m->rcpts[i], "<root@localhost>") == 0 ? "local"
                                                                                 : mailer);
        note_step(s, "rcpt", &r);
        ok += r.code == PL_CONTINUE;
    }
    if (a.code == PL_CONTINUE && ok > 0)
        data_and_end(m, s);
    pl_close(&c);
    snprintf(s->mta, sizeof(s->mta), "%s", plh_mta_log);
    snprintf(s->line, sizeof(s->line), "%s", plh_verdict_line());
    s->notices = plh_notices;
    s->records = plh_records;
    s->closures = plh_closures;
    s->held_notices = plh_held_notices;
    s->rules_reads = plh_rules_reads;
}

static void test_same_fate_both_ways(void)
{
    for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
        const struct msg_case *m = &msgs[i];
        struct seen off, on;
        int before = testlib_failures;

        run(m, false, &off);
        run(m, true, &on);
        CHECK(!off.early);
        CHECK(on.early == m->early);
        CHECK_STR(on.steps, off.steps);
        if (strcmp(m->name, PLANTED_CASE) == 0) {
            /* the whole path tidies the header away; accepted at DATA,
             * the message keeps it, unsigned, so never the daemon's */
            CHECK_STR(off.mta, "delete_header X-MSSante-Held #1\n");
            CHECK_STR(on.mta, "");
        } else {
            CHECK_STR(on.mta, off.mta);
        }
        CHECK_STR(on.line, off.line);
        if (strncmp(on.steps, "mail=continue", 13) == 0)   /* the id comes after MAIL */
            CHECK(strstr(on.line, QID ": ") == on.line);
        CHECK(on.notices == off.notices);
        CHECK(on.records == off.records);
        CHECK(on.closures == off.closures);
        CHECK(on.held_notices == off.held_notices);
        /* the rules are read once, at DATA, whatever EarlyAccept says */
        CHECK(on.rules_reads == off.rules_reads);
        CHECK(on.rules_reads <= 1);
        if (testlib_failures != before)
            printf("# in case \"%s\"\n#   off: %s| %s\n#   on:  %s| %s\n", m->name, off.steps,
                   off.line, on.steps, on.line);
    }
}

/* The rules of a local recipient are read at DATA, and not again at end
 * of message. */
static void test_rules_read_at_data(void)
{
    struct plh_client cl = PLH_OUTSIDE;

    plh_init();
    plh_env = &whitelist;
    plh_rules_of = rules;
    CHECK(plh_connect(&c, &cl).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &cl, "<dr.b@medecin.mssante.fr>").code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, LOCAL_MAILBOX, "smtp").code == PL_CONTINUE);
    CHECK(plh_rules_reads == 0);
    CHECK(pl_data(&c).code == PL_CONTINUE);
    CHECK(plh_rules_reads == 1);
    CHECK(plh_content(&c, NULL, "x\r\n").code == PL_CONTINUE);
    CHECK(pl_eom(&c, &plh_mta).code == PL_CONTINUE);
    CHECK(plh_rules_reads == 1);
    CHECK_STR(plh_mta_log, "add_rcpt <dr@medecin.mssante.fr>\n");
    pl_close(&c);
}

/* An MTA whose milter protocol sends no DATA event: nothing is accepted
 * early, and the mixed list is refused at end of message. */
static void test_no_data_event(void)
{
    struct pl_answer a;

    plh_init();
    plh_env = &whitelist;
    plh_rules.early_accept = true;
    CHECK(plh_connect(&c, &PLH_INTERNAL).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_INTERNAL, LOCAL_MAILBOX).code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, "<dr@medecin.mssante.fr>", "smtp").code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, "<secretaire@outlook.fr>", "smtp").code == PL_CONTINUE);
    CHECK(plh_content(&c, NULL, "x\r\n").code == PL_CONTINUE);
    a = pl_eom(&c, &plh_mta);
    CHECK(a.code == PL_REJECT);
    CHECK_STR(a.reply.xcode, "5.7.1");
    CHECK_STR(rule_name(a.reply.rule), "outbound-classic-recipient");
    CHECK(strstr(plh_verdict_line(), " verdict=reject rule=outbound-classic-recipient") != NULL);
    pl_close(&c);

    /* ... and an ordinary message goes the whole way, accepted at its end */
    plh_init();
    plh_env = &whitelist;
    plh_rules.early_accept = true;
    CHECK(plh_connect(&c, &PLH_INTERNAL).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_INTERNAL, LOCAL_MAILBOX).code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, "<dr@medecin.mssante.fr>", "smtp").code == PL_CONTINUE);
    CHECK(plh_content(&c, NULL, "x\r\n").code == PL_CONTINUE);
    CHECK(pl_eom(&c, &plh_mta).code == PL_CONTINUE);
    CHECK(strstr(plh_verdict_line(), " verdict=accept") != NULL);
    pl_close(&c);
}

/* Two messages on one connection: the second is decided afresh. */
static void test_two_messages(void)
{
    plh_init();
    plh_env = &whitelist;
    plh_rules.early_accept = true;
    CHECK(plh_connect(&c, &PLH_INTERNAL).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_INTERNAL, LOCAL_MAILBOX).code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, "<dr@medecin.mssante.fr>", "smtp").code == PL_CONTINUE);
    pl_queue_id(&c, QID);               /* the i macro at DATA */
    CHECK(pl_data(&c).code == PL_ACCEPT);
    CHECK(!c.msg.in_txn);
    CHECK(strstr(plh_verdict_line(), QID ": direction=outbound") == plh_verdict_line());
    CHECK(strstr(plh_verdict_line(), " verdict=accept") != NULL);
    pl_header(&c, "Subject", "x");      /* an MTA that sent more anyway: ignored */
    CHECK(!c.msg.in_txn);
    pl_abort(&c);                       /* Postfix may abort after an accept */
    CHECK(strstr(plh_log, "verdict=abort") == NULL);
    CHECK(plh_mail(&c, &PLH_INTERNAL, LOCAL_MAILBOX).code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, PATIENT, "smtp").code == PL_CONTINUE);
    CHECK(pl_data(&c).code == PL_CONTINUE);
    CHECK(plh_content(&c, NULL, "x\r\n").code == PL_CONTINUE);
    CHECK(pl_eom(&c, &plh_mta).code == PL_CONTINUE);
    CHECK(plh_records == 1);
    pl_close(&c);
}

static const struct test_case cases[] = {
    { "decision table: each reason, EarlyAccept off first", test_decision_table },
    { "same answers, changes and verdict line with EarlyAccept no and yes",
      test_same_fate_both_ways },
    { "forwarding rules read once, at DATA", test_rules_read_at_data },
    { "no DATA event: mixed list refused at end of message", test_no_data_event },
    { "two messages on one connection: each decided afresh", test_two_messages },
};

TEST_MAIN(cases)
