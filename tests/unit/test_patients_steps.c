/*
 * test_patients_steps.c - the patient stage (pipeline/stage_patients.c)
 * for what needs no store: an outbound message from the null sender (an
 * authenticated client's DSN, a system message) to a patient.  No conversation can be recorded for it, but a [FIN] with
 * content must still be refused: the patient's operator discards it.
 */
#include <stdbool.h>
#include <string.h>

#include "config/config.h"
#include "pipeline/stage_patients.h"
#include "tests/unit/testlib.h"

static const char *const locals[] = { "chu-test.mssante.fr" };

static bool lookup(const void *ctx, const char *domain)
{
    (void)ctx;
    return strcmp(domain, "medecin.mssante.fr") == 0;
}

static const struct policy_env env = {
    lookup, NULL, locals, 1, "patient.mssante.fr", NULL
};

/* One message from the authenticated null sender to a patient: its
 * verdict at end of message.  CONTENT_TYPE may be NULL. */
static struct verdict null_sender_message(const struct config *cfg, const char *subject,
                                          const char *content_type, const char *body)
{
    static struct pat_msg pm;
    struct msg_policy mp;
    struct mailaddr rcpt;
    enum addr_class cls;
    struct msg_client client = { .authenticated = true };
    struct verdict v;

    patients_reset(&pm);
    msgpol_begin(&mp, &env, &client);
    v = msgpol_sender(&mp, "<>");
    CHECK(v.action == ACT_CONTINUE && mp.dir == DIR_OUTBOUND);
    v = msgpol_recipient(&mp, "<279035121518989@patient.mssante.fr>", NULL, &cls, &rcpt);
    CHECK(v.action == ACT_CONTINUE && cls == CLASS_PATIENT);
    v = patients_rcpt(&pm, &cfg->rules, NULL, &mp, &rcpt, cls, "");
    CHECK(v.action == ACT_CONTINUE);
    patients_header(&pm, "Subject", subject);
    if (content_type != NULL)
        patients_header(&pm, "Content-Type", content_type);
    patients_eoh(&pm);
    patients_body(&pm, body, strlen(body));
    /* No store, no MTA: nothing here may record or rewrite. */
    return patients_eom(&pm, &cfg->rules, NULL, NULL, &mp, "");
}

static void test_null_sender_fin(void)
{
    struct config *cfg = config_defaults();
    struct verdict v;

    CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    v = null_sender_message(cfg, "[FIN]", NULL, "Cordialement\r\n");
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "fin-with-content");
    CHECK_STR(v.xcode, "5.7.1");
    v = null_sender_message(cfg, "[FIN]", "multipart/mixed; boundary=\"A\"; boundary=\"B\"",
                            "--B\r\n\r\nsecret\r\n--B--\r\n--A\r\n\r\n--A--\r\n");
    CHECK(v.action == ACT_REJECT);
    /* Empty: accepted, nothing recorded (there is no mailbox). */
    v = null_sender_message(cfg, "[FIN]", NULL, "\r\n");
    CHECK(v.action == ACT_CONTINUE);
    /* Not a closure: an ordinary message. */
    v = null_sender_message(cfg, "Undelivered Mail Returned to Sender", NULL, "text\r\n");
    CHECK(v.action == ACT_CONTINUE);
    /* FinWithContent accept: closes (nothing to record), content lost. */
    cfg->rules.fin_content_accept = true;
    v = null_sender_message(cfg, "[FIN]", NULL, "Cordialement\r\n");
    CHECK(v.action == ACT_CONTINUE);
    config_free(cfg);
}

int main(void)
{
    test_null_sender_fin();
    TEST_DONE();
}
