/*
 * test_pipeline.c - whole messages through the pipeline
 * (pipeline/pipeline.c), without libmilter and Redis
 * (tests/unit/plharness.h): the trust space's answers at each step, the
 * hold of a local submission and the X-MSSante-Held headers, DryRun, and
 * a daemon that is stopping.  The patient stage has
 * test_pipeline_patients.c, the forwarding stage test_pipeline_forward.c;
 * what they share is tests/unit/pipeline_fixture.h.
 */
#include <stdbool.h>
#include <string.h>

#include "tests/unit/plharness.h"
#include "tests/unit/testlib.h"
#include "tests/unit/pipeline_fixture.h"

static void test_inbound_accepted(void)
{
    static const char *const rcpt[] = { LOCAL_MAILBOX };
    struct pl_answer a;

    start();
    a = message(&PLH_OUTSIDE, "<dr@medecin.mssante.fr>", rcpt, 1, NULL, "Bonjour\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK_STR(plh_mta_log, "");
    CHECK(line_has("NOQUEUE: direction=inbound sender=<dr@medecin.mssante.fr> "
                   "rcpt=<cardio@hopital-exemple.mssante.fr>/mssante verdict=accept"));
    CHECK(c.msg.fate.action == ACT_CONTINUE);
    pl_close(&c);
}

static void test_refused_at_mail(void)
{
    struct pl_answer a;

    start();
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    a = plh_mail(&c, &PLH_OUTSIDE, "<no-at-sign>");
    CHECK(a.code == PL_REJECT);
    CHECK_STR(a.reply.rcode, "550");
    CHECK_STR(a.reply.xcode, "5.1.7");
    CHECK(line_has(" verdict=reject rule=bad-sender-address reply=\"550 5.1.7 "));
    CHECK(!c.msg.in_txn);
    pl_close(&c);
    CHECK(strstr(plh_log, "verdict=abort") == NULL);   /* one line per message */
}

static void test_one_recipient_refused(void)
{
    struct pl_answer a;

    start();
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, "<dr@medecin.mssante.fr>").code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, LOCAL_MAILBOX, "smtp").code == PL_CONTINUE);
    a = pl_rcpt(&c, "<root@localhost>", "local");
    CHECK(a.code == PL_REJECT);
    CHECK_STR(rule_name(a.reply.rule), "system-recipient");
    CHECK(pl_data(&c).code == PL_CONTINUE);
    plh_content(&c, NULL, "x\r\n");
    CHECK(pl_eom(&c, &plh_mta).code == PL_CONTINUE);
    CHECK(line_has(" rcpt=<root@localhost>/classic/refused verdict=accept"));
    pl_close(&c);

    /* every recipient refused, then QUIT: that refusal is the fate */
    start();
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, "<dr@medecin.mssante.fr>").code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, "<root@localhost>", "local").code == PL_REJECT);
    pl_close(&c);
    CHECK(line_has(" verdict=reject rule=system-recipient"));
}

static void test_abort(void)
{
    static const char *const rcpt[] = { LOCAL_MAILBOX };

    start();
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, "<dr@medecin.mssante.fr>").code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, rcpt[0], "smtp").code == PL_CONTINUE);
    pl_abort(&c);
    CHECK(line_has(" verdict=abort"));
    CHECK(c.msg.fate.action == ACT_CONTINUE && c.msg.fate.rule == RULE_NONE);
    plh_log[0] = '\0';
    pl_close(&c);
    CHECK_STR(plh_log, "");   /* the line was written once */
}

/* A local submission is never refused before end of message; there, the
 * trust space's refusal comes first, whatever came before it. */
static void test_local_submission_deferred(void)
{
    static const char *const rcpts[] = { "<123@patient.mssante.fr>", "<x@gmail.com>" };
    static const char *const bad_ins[] = { "<123@patient.mssante.fr>" };
    struct pl_answer a;

    start();
    plh_rules.forwarding = false;
    a = message(&PLH_LOCAL, LOCAL_MAILBOX, rcpts, 2, NULL, "x\r\n");
    CHECK(a.code == PL_REJECT);
    CHECK_STR(rule_name(a.reply.rule), "outbound-classic-recipient");
    CHECK(c.msg.kept.action == ACT_REJECT);
    CHECK_STR(rule_name(c.msg.kept.rule), "patient-ins-shape");
    CHECK(line_has(" verdict=reject rule=outbound-classic-recipient"));
    CHECK(line_has(" submission=local"));
    pl_close(&c);

    /* the trust space accepts: the other refusal kept applies */
    start();
    a = message(&PLH_LOCAL, LOCAL_MAILBOX, bad_ins, 1, NULL, "x\r\n");
    CHECK(a.code == PL_REJECT);
    CHECK_STR(rule_name(a.reply.rule), "patient-ins-shape");
    pl_close(&c);
}

static void test_no_whitelist(void)
{
    static const char *const rcpt[] = { "<dr@medecin.mssante.fr>" };
    struct pl_answer a;

    start();
    plh_env = NULL;
    CHECK(plh_connect(&c, &PLH_INTERNAL).code == PL_CONTINUE);
    a = plh_mail(&c, &PLH_INTERNAL, LOCAL_MAILBOX);
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(rule_name(a.reply.rule), "no-whitelist");
    pl_close(&c);

    /* a local submission is held: never refused, never let out; the
     * header is signed for its queue id */
    start();
    plh_env = NULL;
    eom_qid = HELD_QID;
    a = message(&PLH_LOCAL, LOCAL_MAILBOX, rcpt, 1, NULL, "x\r\n");
    CHECK(a.code == PL_ACCEPT);
    CHECK(strncmp(plh_mta_log, "add_header X-MSSante-Held: no-whitelist; submission=local; mac=",
                  63) == 0);
    CHECK(held_in_log() == HELD_OURS);
    CHECK(strstr(plh_mta_log, "\nquarantine mssante-milter no-whitelist: ") != NULL);
    CHECK(plh_held_notices == 1);
    CHECK(line_has(" verdict=hold rule=no-whitelist"));
    CHECK(line_has(" reason=\""));
    CHECK(c.msg.fate.action == ACT_HOLD);
    pl_close(&c);

    /* the MTA refusing the hold: 451 4.7.1 */
    pl_close(&c);
    plh_mta_refuses = true;
    a = message(&PLH_LOCAL, LOCAL_MAILBOX, rcpt, 1, NULL, "x\r\n");
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(a.reply.xcode, "4.7.1");
    CHECK(strstr(plh_log, "internal error: cannot add the X-MSSante-Held header") != NULL);
    pl_close(&c);

    /* no key, or no queue id: deferred, never held unsigned */
    start();
    plh_env = NULL;
    eom_qid = HELD_QID;
    plh_svc.held_key = NULL;
    a = message(&PLH_LOCAL, LOCAL_MAILBOX, rcpt, 1, NULL, "x\r\n");
    plh_svc.held_key = plh_held_key;
    CHECK(a.code == PL_TEMPFAIL && strcmp(a.reply.xcode, "4.7.1") == 0);
    CHECK(strstr(plh_log, "no HeldKeyFile key") != NULL);
    CHECK(strstr(plh_mta_log, "quarantine") == NULL);
    pl_close(&c);
    start();
    plh_env = NULL;
    a = message(&PLH_LOCAL, LOCAL_MAILBOX, rcpt, 1, NULL, "x\r\n");
    CHECK(a.code == PL_TEMPFAIL);
    CHECK(strstr(plh_log, "no queue id") != NULL);
    CHECK(strstr(plh_mta_log, "quarantine") == NULL);
    pl_close(&c);
}

/* Only the daemon writes X-MSSante-Held: the ones a message arrives with
 * are deleted, last first, held or not. */
static void test_held_headers(void)
{
    static const char *const rcpt[] = { LOCAL_MAILBOX };
    static const char *const headers[] = {
        "X-MSSante-Held: no-whitelist; submission=local; forged", "Subject: x",
        "x-mssante-held: again", NULL,
    };
    struct pl_answer a;

    start();
    a = message(&PLH_OUTSIDE, "<dr@medecin.mssante.fr>", rcpt, 1, headers, "x\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK_STR(plh_mta_log, "delete_header X-MSSante-Held #2\n"
                           "delete_header X-MSSante-Held #1\n");
    CHECK(strstr(plh_log, "deleted 2 X-MSSante-Held header(s)") != NULL);
    pl_close(&c);

    /* the MTA refusing: deferred */
    start();
    plh_mta_refuses = true;
    a = message(&PLH_OUTSIDE, "<dr@medecin.mssante.fr>", rcpt, 1, headers, "x\r\n");
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(a.reply.xcode, "4.7.1");
    pl_close(&c);
}

static void test_dry_run(void)
{
    static const char *const rcpt[] = { LOCAL_MAILBOX };
    static const char *const classic[] = { "<x@gmail.com>" };
    struct pl_answer a;

    start();
    plh_rules.dry_run = true;
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, "<no-at-sign>").code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, rcpt[0], "smtp").code == PL_CONTINUE);
    CHECK(pl_data(&c).code == PL_CONTINUE);
    plh_content(&c, NULL, "x\r\n");
    CHECK(pl_eom(&c, &plh_mta).code == PL_CONTINUE);
    CHECK_STR(plh_mta_log,
              "add_header X-MSSante-Verdict: reject rule=bad-sender-address (dry run)\n");
    CHECK(line_has(" verdict=accept would=reject rule=bad-sender-address"));
    CHECK(line_has(" dryrun=yes"));
    pl_close(&c);

    /* the first verdict that would have applied is the one said */
    start();
    plh_rules.dry_run = true;
    plh_rules.forwarding = false;
    a = message(&PLH_INTERNAL, LOCAL_MAILBOX, classic, 1, NULL, "x\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK(line_has(" verdict=accept would=reject rule=outbound-classic-recipient"));
    pl_close(&c);

    start();
    plh_rules.dry_run = true;
    a = message(&PLH_OUTSIDE, "<dr@medecin.mssante.fr>", rcpt, 1, NULL, "x\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK_STR(plh_mta_log, "add_header X-MSSante-Verdict: accept (dry run)\n");
    pl_close(&c);
}

/* The 550 of a mixed list carries the hint; a Unicode domain is judged and
 * logged in A-labels, with its form as written after it. */
static void test_hint_and_idn(void)
{
    static const char *const rcpts[] = { "<dr@medecin.mssante.fr>", "<x@medecn.mssante.fr>",
                                         "<y@m\xc3\xa9" "decin.mssante.fr>" };
    struct pl_answer a;

    start();
    CHECK(plh_connect(&c, &PLH_INTERNAL).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_INTERNAL, LOCAL_MAILBOX).code == PL_CONTINUE);
    for (size_t i = 0; i < 3; i++)
        CHECK(pl_rcpt(&c, rcpts[i], "smtp").code == PL_CONTINUE);
    a = pl_data(&c);
    CHECK(a.code == PL_REJECT);
    CHECK(strstr(a.reply.text, "x@medecn.mssante.fr, y@xn--mdecin-bva.mssante.fr. Aide / Help: "
                               "medecn.mssante.fr : vouliez-vous dire / did you mean "
                               "medecin.mssante.fr ?; xn--mdecin-bva.mssante.fr : vouliez-vous "
                               "dire / did you mean medecin.mssante.fr ?") != NULL);
    CHECK(line_has(" rcpt=<y@xn--mdecin-bva.mssante.fr>/classic rcpt_u=<y@m\xc3\xa9"
                   "decin.mssante.fr>"));
    pl_close(&c);
}

static bool always(void)
{
    return true;
}

static void test_stopping(void)
{
    struct pl_answer a;

    start();
    plh_svc.stopping = always;
    a = plh_connect(&c, &PLH_OUTSIDE);
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(a.reply.rcode, "451");
    CHECK_STR(a.reply.xcode, "4.3.2");
    plh_svc.stopping = NULL;

    /* a connection opened before: its next message is deferred */
    start();
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    plh_svc.stopping = always;
    a = plh_mail(&c, &PLH_OUTSIDE, "<dr@medecin.mssante.fr>");
    plh_svc.stopping = NULL;
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(rule_name(a.reply.rule), "shutting-down");
    CHECK(line_has(" verdict=tempfail rule=shutting-down"));
    pl_close(&c);
}

static const struct test_case cases[] = {
    { "inbound message accepted, one verdict line", test_inbound_accepted },
    { "refusal at MAIL ends the transaction with its line", test_refused_at_mail },
    { "refusal at RCPT refuses that recipient only", test_one_recipient_refused },
    { "abort writes the line of the unfinished transaction", test_abort },
    { "local submission: refusals kept for end of message, trust space first",
      test_local_submission_deferred },
    { "no whitelist: SMTP deferred, local submission held", test_no_whitelist },
    { "X-MSSante-Held headers from the sender deleted", test_held_headers },
    { "DryRun: nothing refused, the would-be verdict said", test_dry_run },
    { "a mixed list's 550 carries its hints; IDN judged in A-labels", test_hint_and_idn },
    { "stopping: new connections and messages deferred", test_stopping },
};

TEST_MAIN(cases)
