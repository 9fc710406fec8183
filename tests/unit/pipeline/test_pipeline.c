/*
 * test_pipeline.c - whole messages through the pipeline
 * (pipeline/pipeline.c and its stages), without libmilter and Redis
 * (tests/unit/plharness.h): what the MTA is answered at each step, what it
 * is asked to change at end of message, and the verdict line.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/logid.h"
#include "policy/held.h"
#include "tests/unit/plharness.h"
#include "tests/unit/testlib.h"

#define LOCAL_MAILBOX "<cardio@" PLH_LOCAL_DOMAIN ">"
#define PATIENT       "<279035121518989@patient.mssante.fr>"

static bool listed(const void *ctx, const char *domain)
{
    (void)ctx;
    return strcmp(domain, "medecin.mssante.fr") == 0;
}

static const char *const locals[] = { PLH_LOCAL_DOMAIN };
static const struct policy_env whitelist = {
    listed, NULL, locals, 1, "patient.mssante.fr", NULL
};

static struct pl_conn c;

#define HELD_QID "4F3A2B1C0D"
static const char *eom_qid;        /* the queue id the MTA gives at end of message */

/* A fresh harness with the whitelist in force. */
static void start(void)
{
    plh_init();
    plh_env = &whitelist;
    eom_qid = NULL;
}

/* The X-MSSante-Held header the MTA was asked to add, checked with the
 * harness's key for HELD_QID. */
static enum held_check held_in_log(void)
{
    const char *p = strstr(plh_mta_log, "add_header X-MSSante-Held: ");
    char value[HELD_VALUE_MAX + 64];
    struct held_mark m;

    if (p == NULL)
        return HELD_MALFORMED;
    p += strlen("add_header X-MSSante-Held: ");
    snprintf(value, sizeof(value), "%.*s", (int)strcspn(p, "\n"), p);
    return held_header_check(value, plh_held_key, HELD_QID, &m);
}

/* Is NEEDLE in the last verdict line? */
static bool line_has(const char *needle)
{
    return strstr(plh_verdict_line(), needle) != NULL;
}

/* One message from CL: SENDER to the N RCPTS (each expected to get
 * CONTINUE), the HEADERS and BODY; the end-of-message answer. */
static struct pl_answer message(const struct plh_client *cl, const char *sender,
                                const char *const *rcpts, size_t n, const char *const *headers,
                                const char *body)
{
    const char *mailer = cl->port == 0 ? NULL : "smtp";

    CHECK(plh_connect(&c, cl).code == PL_CONTINUE);
    CHECK(plh_mail(&c, cl, sender).code == PL_CONTINUE);
    for (size_t i = 0; i < n; i++)
        CHECK(pl_rcpt(&c, rcpts[i], mailer).code == PL_CONTINUE);
    CHECK(pl_data(&c).code == PL_CONTINUE);
    plh_content(&c, headers, body);
    pl_queue_id(&c, eom_qid);
    return pl_eom(&c, &plh_mta);
}

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
    { "patients: [FIN] closure rewritten, the state recorded once accepted", test_patient_closure },
    { "patients: nothing recorded when a later step defers the message",
      test_state_once_final },
    { "patients: the store's answers, and no store", test_patient_store },
    { "PatientInbound log: admitted, would=reject on the line", test_patient_inbound_log },
    { "PharmacyMailboxes: a pattern lets a patient write first", test_pharmacy_pattern },
    { "a mixed list's 550 carries its hints; IDN judged in A-labels", test_hint_and_idn },
    { "forwarding: targets added, mailbox removed, notices queued", test_forwarding },
    { "forwarding: no notice names a patient, the plan's log lines hide them",
      test_forwarding_patient_mailbox },
    { "forwarding replaces the refusal of a forward made elsewhere",
      test_forward_made_elsewhere },
    { "stopping: new connections and messages deferred", test_stopping },
};

TEST_MAIN(cases)
