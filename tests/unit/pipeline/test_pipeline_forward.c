/*
 * test_pipeline_forward.c - whole messages through the forwarding stage
 * (pipeline/stage_forward.c in its place among the stages), without
 * libmilter and Redis (tests/unit/plharness.h): the recipients the MTA is
 * asked to add and remove, the notices queued, DryRun and no store, a
 * patient's mailbox never forwarded nor named, and a forward re-injected
 * through sendmail.
 */
#include <string.h>

#include "common/log.h"
#include "common/logid.h"
#include "tests/unit/plharness.h"
#include "tests/unit/testlib.h"
#include "tests/unit/pipeline_fixture.h"

static void test_forwarding(void)
{
    static const struct plh_rule rules[] = {
        { "cardio@" PLH_LOCAL_DOMAIN, true, { "dr@medecin.mssante.fr", "x@gmail.com", NULL } },
        { "accueil@" PLH_LOCAL_DOMAIN, false, { "y@gmail.com", NULL } },
        { NULL, false, { NULL } },
    };
    static const char *const rcpts[] = { LOCAL_MAILBOX, "<accueil@" PLH_LOCAL_DOMAIN ">" };
    struct pl_answer a;

    start();
    plh_rules_of = rules;
    a = message(&PLH_OUTSIDE, "<dr.b@medecin.mssante.fr>", rcpts, 2, NULL, "x\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK(strstr(plh_mta_log, "add_rcpt <dr@medecin.mssante.fr>\n") != NULL);
    CHECK(strstr(plh_mta_log, "del_rcpt " LOCAL_MAILBOX "\n") != NULL);
    CHECK(strstr(plh_mta_log, "accueil") == NULL);
    CHECK(plh_notices == 2);
    CHECK(line_has(" fwd_add=1 fwd_del=1 notify=2 hold=no"));
    pl_close(&c);

    /* DryRun: the plan is said, nothing changed or queued */
    start();
    plh_rules_of = rules;
    plh_rules.dry_run = true;
    a = message(&PLH_OUTSIDE, "<dr.b@medecin.mssante.fr>", rcpts, 2, NULL, "x\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK(strstr(plh_mta_log, "_rcpt") == NULL);
    CHECK(plh_notices == 0);
    pl_close(&c);

    /* without the store's forwarding operations: nothing forwarded */
    start();
    plh_rules_of = rules;
    plh_store_without_forwarding();
    a = message(&PLH_OUTSIDE, "<dr.b@medecin.mssante.fr>", rcpts, 2, NULL, "x\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK_STR(plh_mta_log, "");
    pl_close(&c);
}

/* An operator that hosts patients' mailboxes: a patient's address is never
 * a forwarded mailbox (find_local() takes MSSante mailboxes only), so no
 * notice names one (its local part is the INS matricule), and the log
 * shows it as LogPatientId says. */
static void test_forwarding_patient_mailbox(void)
{
    static const char *domains[] = { PLH_LOCAL_DOMAIN, "patient.mssante.fr" };
    static const struct plh_rule rules[] = {
        { "279035121518989@patient.mssante.fr", false, { "proche@gmail.com", NULL } },
        { "cardio@" PLH_LOCAL_DOMAIN, false,
          { "y@gmail.com", "165059900011175@patient.mssante.fr", NULL } },
        { NULL, false, { NULL } },
    };
    static const char *const rcpts[] = { PATIENT, LOCAL_MAILBOX };
    struct pl_answer a;

    start();
    plh_rules_of = rules;
    plh_rules.local_domains.v = (char **)domains;
    plh_rules.local_domains.n = 2;
    logid_set_mode(LOGID_MASK);
    log_set_level(LOGL_DEBUG);      /* the plan's lines too */
    a = message(&PLH_OUTSIDE, "<dr.b@medecin.mssante.fr>", rcpts, 2, NULL, "x\r\n");
    log_set_level(LOGL_INFO);
    CHECK(a.code == PL_CONTINUE);
    CHECK(plh_notices == 1);
    CHECK(strstr(plh_notice_log, "proche@gmail.com") == NULL);
    CHECK(strstr(plh_notice_log, "notice to y@gmail.com about \"cardio@" PLH_LOCAL_DOMAIN "\"\n")
          != NULL);
    CHECK(strstr(plh_notice_log, "279035121518989") == NULL);
    CHECK(strstr(plh_log, "279035121518989") == NULL);
    CHECK(strstr(plh_log, "27903**********@patient.mssante.fr") != NULL);
    CHECK(strstr(plh_log, "165059900011175") == NULL);
    CHECK(strstr(plh_log, "forwarding: add <16505**********@patient.mssante.fr>") != NULL);
    pl_close(&c);
}

/* A forward re-injected through sendmail: the plan takes the place of the
 * outbound-classic refusal. */
static void test_forward_made_elsewhere(void)
{
    static const char *const rcpts[] = { "<dr@medecin.mssante.fr>", "<x@gmail.com>" };
    static const char *const classic[] = { "<x@gmail.com>" };
    struct pl_answer a;

    start();
    a = message(&PLH_LOCAL, LOCAL_MAILBOX, rcpts, 2, NULL, "x\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK_STR(plh_mta_log, "del_rcpt <x@gmail.com>\n");
    CHECK(plh_notices == 1);
    pl_close(&c);

    /* no recipient would be left: held, nothing removed */
    start();
    eom_qid = HELD_QID;
    a = message(&PLH_LOCAL, LOCAL_MAILBOX, classic, 1, NULL, "x\r\n");
    CHECK(a.code == PL_ACCEPT);
    CHECK(strstr(plh_mta_log, "\nquarantine mssante-milter forward-classic-only: ") != NULL);
    CHECK(plh_notices == 0);
    CHECK(line_has(" verdict=hold rule=forward-classic-only"));
    pl_close(&c);

    /* Forwarding off: the trust space refuses it */
    start();
    plh_rules.forwarding = false;
    a = message(&PLH_LOCAL, LOCAL_MAILBOX, rcpts, 2, NULL, "x\r\n");
    CHECK(a.code == PL_REJECT);
    CHECK_STR(rule_name(a.reply.rule), "outbound-classic-recipient");
    pl_close(&c);

    /* Forwarding off, a Sieve redirect of another operator's message: no
     * plan takes the place of the refusal, with Redis and a rule stored or
     * without Redis (issue 13: it used to be sent) */
    for (int no_redis = 0; no_redis < 2; no_redis++) {
        static const struct plh_rule rule[] = {
            { "cardio@" PLH_LOCAL_DOMAIN, true, { "x@gmail.com", NULL } },
            { NULL, false, { NULL } },
        };

        start();
        plh_rules.forwarding = false;
        plh_rules_of = rule;
        if (no_redis)
            plh_store_none();
        a = message(&PLH_LOCAL, "<dr.b@medecin.mssante.fr>", classic, 1, NULL, "x\r\n");
        CHECK(a.code == PL_REJECT);
        CHECK_STR(rule_name(a.reply.rule), "outbound-classic-recipient");
        CHECK(a.reply.xcode[0] == '5');
        CHECK_STR(plh_mta_log, "");
        CHECK(plh_notices == 0 && plh_held_notices == 0);
        CHECK(line_has(" verdict=reject rule=outbound-classic-recipient"));
        pl_close(&c);
    }
}

static const struct test_case cases[] = {
    { "forwarding: targets added, mailbox removed, notices queued", test_forwarding },
    { "forwarding: no notice names a patient, the plan's log lines hide them",
      test_forwarding_patient_mailbox },
    { "forwarding replaces the refusal of a forward made elsewhere",
      test_forward_made_elsewhere },
};

TEST_MAIN(cases)
