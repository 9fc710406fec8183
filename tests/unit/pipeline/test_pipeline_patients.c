/*
 * test_pipeline_patients.c - whole messages to and from patients through
 * the pipeline (pipeline/stage_patients.c in its place among the stages),
 * without libmilter and Redis (tests/unit/plharness.h): [FIN] closures
 * rewritten, the conversation state recorded only once a message is
 * accepted, the store's answers and its absence, PatientInbound log and
 * PharmacyMailboxes.  What needs no store is test_stage_patients.c.
 */
#include <stdbool.h>
#include <string.h>

#include "tests/unit/plharness.h"
#include "tests/unit/testlib.h"
#include "tests/unit/pipeline_fixture.h"

static void test_patient_closure(void)
{
    static const char *const rcpt[] = { PATIENT };
    static const char *const headers[] = { "Subject: Re: [fin]", NULL };
    static const char *const exact[] = { "Subject: [FIN]", NULL };
    static const char *const mes[] = { "Subject: Suivi", "X-MSS-MES: FIN", NULL };
    struct pl_answer a;

    start();
    a = message(&PLH_INTERNAL, LOCAL_MAILBOX, rcpt, 1, headers, "\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK_STR(plh_mta_log, "change_header Subject #1: [FIN]\n"
                           "add_header X-MSS-MES: FIN\n");
    CHECK(plh_closures == 1);
    CHECK(line_has(" conv=close:279035121518989"));
    pl_close(&c);

    /* content in a closure: refused, nothing recorded */
    start();
    a = message(&PLH_INTERNAL, LOCAL_MAILBOX, rcpt, 1, exact, "Cordialement\r\n");
    CHECK(a.code == PL_REJECT);
    CHECK_STR(rule_name(a.reply.rule), "fin-with-content");
    CHECK(plh_records == 0);
    pl_close(&c);

    /* an ordinary message opens the conversation; the body is not read */
    start();
    CHECK(plh_connect(&c, &PLH_INTERNAL).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_INTERNAL, LOCAL_MAILBOX).code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, PATIENT, "smtp").code == PL_CONTINUE);
    CHECK(pl_data(&c).code == PL_CONTINUE);
    plh_content(&c, NULL, NULL);
    CHECK(pl_body(&c, "Bonjour\r\n", 9).code == PL_SKIP);
    CHECK(pl_eom(&c, &plh_mta).code == PL_CONTINUE);
    CHECK(plh_records == 1 && plh_closures == 0);
    CHECK(line_has(" conv=open:279035121518989"));
    pl_close(&c);

    /* X-MSS-MES: FIN with an empty body is a closure already said */
    start();
    a = message(&PLH_INTERNAL, LOCAL_MAILBOX, rcpt, 1, mes, "\r\n");
    CHECK(a.code == PL_CONTINUE);
    CHECK(plh_closures == 1);
    pl_close(&c);

    /* the MTA refusing the rewrite: 451 4.7.1, and nothing written (the
     * state is recorded only for a message that is accepted) */
    start();
    plh_mta_refuses = true;
    a = message(&PLH_INTERNAL, LOCAL_MAILBOX, rcpt, 1, headers, "\r\n");
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(a.reply.rcode, "451");
    CHECK_STR(a.reply.xcode, "4.7.1");
    CHECK(plh_closures == 0 && plh_records == 0);
    pl_close(&c);
}

/*
 * A conversation opened or closed only by a message whose verdict is
 * final (issue 13): here the forwarding step, after the patient step,
 * defers the message because the notice for a copy to a classic address
 * cannot be queued.  Postfix retries a message that was never accepted:
 * it must have changed nothing, or a [FIN] would lock the patient out.
 */
static void test_state_once_final(void)
{
    static const struct plh_rule rules[] = {
        { "accueil@" PLH_LOCAL_DOMAIN, false, { "y@gmail.com", NULL } },
        { NULL, false, { NULL } },
    };
    static const char *const rcpts[] = { PATIENT, "<accueil@" PLH_LOCAL_DOMAIN ">" };
    static const char *const fin[] = { "Subject: [FIN]", NULL };
    static const char *const open[] = { "Subject: Suivi", NULL };
    const char *const *headers[] = { open, fin };
    struct pl_answer a;

    for (int i = 0; i < 2; i++) {
        const char *body = i == 0 ? "Bonjour\r\n" : "\r\n";

        start();
        plh_rules_of = rules;
        plh_notices_refused = true;
        a = message(&PLH_INTERNAL, LOCAL_MAILBOX, rcpts, 2, headers[i], body);
        CHECK(a.code == PL_TEMPFAIL);
        CHECK(a.reply.rcode[0] == '4');
        CHECK(plh_records == 0 && plh_closures == 0);
        CHECK(line_has(" verdict=tempfail"));
        CHECK(line_has(" conv=not-recorded"));
        pl_close(&c);

        /* the same once the notice can be queued: recorded */
        start();
        plh_rules_of = rules;
        a = message(&PLH_INTERNAL, LOCAL_MAILBOX, rcpts, 2, headers[i], body);
        CHECK(a.code == PL_CONTINUE);
        CHECK(plh_records == 1 && plh_closures == (unsigned)i);
        CHECK(plh_notices == 1);
        CHECK(line_has(i == 0 ? " conv=open:279035121518989" : " conv=close:279035121518989"));
        pl_close(&c);
    }
}

static void test_patient_store(void)
{
    static const char *const rcpt[] = { PATIENT };
    struct pl_answer a;

    /* the store down: 451 4.3.0, never a guess */
    start();
    plh_conv = -1;
    a = message(&PLH_INTERNAL, LOCAL_MAILBOX, rcpt, 1, NULL, "x\r\n");
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(rule_name(a.reply.rule), "conversation-state-unavailable");
    CHECK_STR(a.reply.xcode, "4.3.0");
    pl_close(&c);

    start();
    plh_conv = -1;
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, PATIENT).code == PL_CONTINUE);
    a = pl_rcpt(&c, LOCAL_MAILBOX, "smtp");
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(rule_name(a.reply.rule), "conversation-state-unavailable");
    pl_close(&c);

    /* a patient's reply: into an open conversation only */
    start();
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, PATIENT).code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, LOCAL_MAILBOX, "smtp").code == PL_CONTINUE);
    plh_conv = 0;
    a = pl_rcpt(&c, "<secretariat@" PLH_LOCAL_DOMAIN ">", "smtp");
    CHECK(a.code == PL_REJECT);
    CHECK_STR(rule_name(a.reply.rule), "patient-no-conversation");
    pl_close(&c);

    /* no store at all (no Redis): deferred */
    start();
    plh_store_none();
    CHECK(plh_connect(&c, &PLH_INTERNAL).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_INTERNAL, LOCAL_MAILBOX).code == PL_CONTINUE);
    a = pl_rcpt(&c, PATIENT, "smtp");
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(a.reply.xcode, "4.3.0");
    pl_close(&c);
}

/* PatientInbound log (issue 15): a patient without an open conversation
 * is admitted, and the line says what enforce would have done. */
static void test_patient_inbound_log(void)
{
    struct pl_answer a;

    start();
    plh_rules.patient_inbound_log = true;
    plh_conv = 0;
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, PATIENT).code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, LOCAL_MAILBOX, "smtp").code == PL_CONTINUE);
    CHECK(pl_data(&c).code == PL_CONTINUE);
    plh_content(&c, NULL, "Bonjour docteur\r\n");
    a = pl_eom(&c, &plh_mta);
    CHECK(a.code == PL_CONTINUE);
    CHECK(line_has(" verdict=accept would=reject rule=patient-no-conversation"));
    CHECK(line_has(" conv=unsolicited:<cardio@" PLH_LOCAL_DOMAIN ">"));
    CHECK(strstr(plh_log, "patient 279035121518989 wrote to <cardio@" PLH_LOCAL_DOMAIN
                          "> without an open conversation: admitted (PatientInbound log)")
          != NULL);
    CHECK(strstr(plh_mta_log, "X-MSSante-Verdict") == NULL);   /* not DryRun */
    pl_close(&c);

    /* an open conversation: nothing to say */
    start();
    plh_rules.patient_inbound_log = true;
    plh_conv = 1;
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, PATIENT).code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, LOCAL_MAILBOX, "smtp").code == PL_CONTINUE);
    CHECK(pl_data(&c).code == PL_CONTINUE);
    plh_content(&c, NULL, "x\r\n");
    CHECK(pl_eom(&c, &plh_mta).code == PL_CONTINUE);
    CHECK(!line_has("would=") && line_has(" conv=reply:"));
    pl_close(&c);

    /* the store down: deferred in log mode too (whether it may write is unknown) */
    start();
    plh_rules.patient_inbound_log = true;
    plh_conv = -1;
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, PATIENT).code == PL_CONTINUE);
    a = pl_rcpt(&c, LOCAL_MAILBOX, "smtp");
    CHECK(a.code == PL_TEMPFAIL);
    CHECK_STR(a.reply.xcode, "4.3.0");
    pl_close(&c);
}

/* PharmacyMailboxes patterns reach the patient stage. */
static void test_pharmacy_pattern(void)
{
    static char *entries[] = { "pharmacie-*@" PLH_LOCAL_DOMAIN };

    start();
    plh_rules.pharmacy_mailboxes.v = entries;
    plh_rules.pharmacy_mailboxes.n = 1;
    plh_conv = 0;
    CHECK(plh_connect(&c, &PLH_OUTSIDE).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &PLH_OUTSIDE, PATIENT).code == PL_CONTINUE);
    CHECK(pl_rcpt(&c, "<Pharmacie-Martin-59000@" PLH_LOCAL_DOMAIN ">", "smtp").code
          == PL_CONTINUE);
    CHECK(pl_rcpt(&c, "<pharmacien@" PLH_LOCAL_DOMAIN ">", "smtp").code == PL_REJECT);
    pl_close(&c);
    plh_rules.pharmacy_mailboxes.v = NULL;
    plh_rules.pharmacy_mailboxes.n = 0;
}

static const struct test_case cases[] = {
    { "patients: [FIN] closure rewritten, the state recorded once accepted", test_patient_closure },
    { "patients: nothing recorded when a later step defers the message",
      test_state_once_final },
    { "patients: the store's answers, and no store", test_patient_store },
    { "PatientInbound log: admitted, would=reject on the line", test_patient_inbound_log },
    { "PharmacyMailboxes: a pattern lets a patient write first", test_pharmacy_pattern },
};

TEST_MAIN(cases)
