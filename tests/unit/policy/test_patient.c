/*
 * test_patient.c - [FIN] detection, pharmacy mailboxes and the patient
 * verdicts (policy/patient.c).  Body emptiness (policy/bodyprobe.c) is in
 * test_bodyprobe.c.
 */
#include <stdio.h>
#include <string.h>

#include "policy/patient.h"
#include "tests/unit/testlib.h"

/* ------------------------------------------------------------------ */
/* [FIN] and X-MSS-MES                                                  */
/* ------------------------------------------------------------------ */

static void expect_fin(const char *subject, enum fin_kind want)
{
    enum fin_kind got = patient_subject_fin(subject);

    CHECK(got == want);
    if (got != want)
        fprintf(stderr, "  subject \"%s\": %s, expected %s\n", subject ? subject : "(null)",
                fin_kind_name(got), fin_kind_name(want));
}

static void test_subject(void)
{
    expect_fin("[FIN]", FIN_EXACT);

    expect_fin("[fin]", FIN_VARIANT);
    expect_fin("[Fin]", FIN_VARIANT);
    expect_fin("[ FIN ]", FIN_VARIANT);
    expect_fin("[\tfin\t]", FIN_VARIANT);
    expect_fin(" [FIN]", FIN_VARIANT);
    expect_fin("[FIN] ", FIN_VARIANT);
    expect_fin("[FIN]\r\n", FIN_VARIANT);
    expect_fin("\r\n [FIN]", FIN_VARIANT);          /* folded */
    expect_fin("Re: [FIN]", FIN_VARIANT);
    expect_fin("RE : [fin]", FIN_VARIANT);
    expect_fin("re:[FIN]", FIN_VARIANT);
    expect_fin("Fwd: [FIN]", FIN_VARIANT);
    expect_fin("Fw: [FIN]", FIN_VARIANT);
    expect_fin("TR: [FIN]", FIN_VARIANT);
    expect_fin("Re: RE: Fwd: [FIN]", FIN_VARIANT);

    expect_fin(NULL, FIN_NONE);
    expect_fin("", FIN_NONE);
    expect_fin("   ", FIN_NONE);
    expect_fin("FIN", FIN_NONE);
    expect_fin("fin", FIN_NONE);
    expect_fin("[FIN] merci", FIN_NONE);
    expect_fin("merci [FIN]", FIN_NONE);
    expect_fin("Fin du traitement", FIN_NONE);
    expect_fin("[FIN][FIN]", FIN_NONE);
    expect_fin("[FINI]", FIN_NONE);
    expect_fin("[FIN", FIN_NONE);
    expect_fin("FIN]", FIN_NONE);
    expect_fin("(FIN)", FIN_NONE);
    expect_fin("Re [FIN]", FIN_NONE);               /* no colon: not a prefix */
    expect_fin("Reponse: [FIN]", FIN_NONE);
    expect_fin("=?UTF-8?Q?=5BFIN=5D?=", FIN_NONE);  /* encoded: not guessed */
    expect_fin("[FIN]\x01", FIN_NONE);

    CHECK_STR(fin_kind_name(FIN_NONE), "none");
    CHECK_STR(fin_kind_name(FIN_EXACT), "exact");
    CHECK_STR(fin_kind_name(FIN_VARIANT), "variant");
}

static void test_mes_header(void)
{
    CHECK(patient_mes_fin("FIN"));
    CHECK(patient_mes_fin("fin"));
    CHECK(patient_mes_fin(" Fin \r\n"));
    CHECK(!patient_mes_fin(NULL));
    CHECK(!patient_mes_fin(""));
    CHECK(!patient_mes_fin("FINI"));
    CHECK(!patient_mes_fin("FIN FIN"));
    CHECK(!patient_mes_fin("OUVERTURE"));
}

/* ------------------------------------------------------------------ */
/* Pharmacies                                                           */
/* ------------------------------------------------------------------ */

static void test_pharmacy(void)
{
    static const char *const list[] = {
        "pharmacie-martin-59000-lille@lgpi.mssante.fr",
        "@pharmacien.mssante.fr",
        "officine@chu-lille.mssante.fr.",
    };
    size_t n = sizeof(list) / sizeof(list[0]);

    CHECK(patient_is_pharmacy(list, n, "pharmacie-martin-59000-lille", "lgpi.mssante.fr"));
    CHECK(patient_is_pharmacy(list, n, "Pharmacie-Martin-59000-Lille", "lgpi.mssante.fr"));
    CHECK(patient_is_pharmacy(list, n, "pharmacie-martin-59000-lille", "LGPI.mssante.fr."));
    CHECK(patient_is_pharmacy(list, n, "anyone", "pharmacien.mssante.fr"));
    CHECK(patient_is_pharmacy(list, n, "officine", "chu-lille.mssante.fr"));

    CHECK(!patient_is_pharmacy(list, n, "pharmacie-martin-59000", "lgpi.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "pharmacie-martin-59000-lille2", "lgpi.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "dr.martin", "lgpi.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "anyone", "sub.pharmacien.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "anyone", "pharmacien.mssante.fr.example.com"));
    CHECK(!patient_is_pharmacy(list, n, "anyone", "mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, "officine", "chu-lille.mssante.fr.x"));
    CHECK(!patient_is_pharmacy(list, 0, "anyone", "pharmacien.mssante.fr"));
    CHECK(!patient_is_pharmacy(NULL, 3, "anyone", "pharmacien.mssante.fr"));
    CHECK(!patient_is_pharmacy(list, n, NULL, "pharmacien.mssante.fr"));

    CHECK(patient_pharmacy_entry_valid("a@b.fr"));
    CHECK(patient_pharmacy_entry_valid("@b.fr"));
    CHECK(patient_pharmacy_entry_valid("@b.fr."));
    CHECK(!patient_pharmacy_entry_valid("b.fr"));
    CHECK(!patient_pharmacy_entry_valid("a@"));
    CHECK(!patient_pharmacy_entry_valid("@"));
    CHECK(!patient_pharmacy_entry_valid("@."));
    CHECK(!patient_pharmacy_entry_valid("a@b@c.fr"));
    CHECK(!patient_pharmacy_entry_valid("a b@c.fr"));
    CHECK(!patient_pharmacy_entry_valid("a@c.fr,d@e.fr"));
    CHECK(!patient_pharmacy_entry_valid(NULL));
}

/* ------------------------------------------------------------------ */
/* Verdicts                                                             */
/* ------------------------------------------------------------------ */

static void test_outbound_rcpt(void)
{
    struct patient_policy strict, warn;
    struct ins_result ins;
    struct verdict v;

    memset(&strict, 0, sizeof(strict));
    memset(&warn, 0, sizeof(warn));
    warn.ins_warn = true;

    v = patient_outbound_rcpt(&strict, "279035121518989", "279035121518989@patient.mssante.fr",
                              &ins);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(v.rule == RULE_NONE);
    CHECK_STR(ins.normalized, "279035121518989");

    v = patient_outbound_rcpt(&strict, "185052a12345633", NULL, &ins);
    CHECK(v.action == ACT_CONTINUE);
    CHECK_STR(ins.normalized, "185052A12345633");

    v = patient_outbound_rcpt(&strict, "27903512151898", "27903512151898@patient.mssante.fr",
                              &ins);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "patient-ins-shape");
    CHECK_STR(v.rcode, "550");
    CHECK_STR(v.xcode, "5.1.1");
    CHECK(strstr(v.text, "matricule INS mal forme (15 caracteres attendus)") != NULL);
    CHECK(strstr(v.text, " / ") != NULL);
    CHECK(strstr(v.text, "<27903512151898@patient.mssante.fr>") != NULL);

    v = patient_outbound_rcpt(&strict, "185052C12345633", NULL, &ins);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "patient-ins-shape");
    CHECK(strstr(v.text, "position 7") != NULL);
    CHECK(strstr(v.text, "Adresse patient invalide :") != NULL);

    /* Wrong key: the reply says so, and never gives the right key. */
    v = patient_outbound_rcpt(&strict, "279035121518988", "279035121518988@patient.mssante.fr",
                              &ins);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "patient-ins-key");
    CHECK_STR(v.xcode, "5.1.1");
    CHECK(strstr(v.text, "cle de controle INS incorrecte") != NULL);
    CHECK(strstr(v.text, "<279035121518988@patient.mssante.fr>") != NULL);
    CHECK(ins.expected_key == 89);
    v = patient_outbound_rcpt(&strict, "185052A12345600", NULL, &ins);   /* key is 33 */
    CHECK(v.action == ACT_REJECT);
    CHECK(ins.expected_key == 33);
    CHECK(strstr(v.text, "33") == NULL);

    /* Warn: accepted, but the verdict still says what was wrong. */
    v = patient_outbound_rcpt(&warn, "279035121518988", NULL, &ins);
    CHECK(v.action == ACT_CONTINUE);
    CHECK_STR(rule_name(v.rule), "patient-ins-key");
    CHECK(ins.status == INS_BAD_KEY);

    /* A long address is cut so the reply fits one SMTP line. */
    {
        char longaddr[300];

        memset(longaddr, 'a', 250);
        snprintf(longaddr + 250, sizeof(longaddr) - 250, "@patient.mssante.fr");
        v = patient_outbound_rcpt(&strict, "x79035121518989", longaddr, &ins);
        CHECK(v.action == ACT_REJECT);
        CHECK(strlen(v.text) < 450);
    }

    /* No text outside printable ASCII, whatever the address. */
    v = patient_outbound_rcpt(&strict, "\xc3\xa9", "\xc3\xa9@patient.mssante.fr", &ins);
    CHECK(v.action == ACT_REJECT);
    {
        const char *s;
        int ascii = 1;

        for (s = v.text; *s; s++)
            if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
                ascii = 0;
        CHECK(ascii);
    }
}

static void test_inbound_rcpt(void)
{
    struct verdict v;

    v = patient_inbound_rcpt(false, 1);
    CHECK(v.action == ACT_CONTINUE);
    v = patient_inbound_rcpt(true, 0);
    CHECK(v.action == ACT_CONTINUE);
    v = patient_inbound_rcpt(true, -1);    /* a pharmacy needs no state */
    CHECK(v.action == ACT_CONTINUE);

    v = patient_inbound_rcpt(false, 0);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(v.rcode, "550");
    CHECK_STR(v.xcode, "5.7.1");
    CHECK_STR(rule_name(v.rule), "patient-no-conversation");
    CHECK(strstr(v.text, "ne peut pas ouvrir ni reprendre") != NULL);
    CHECK(strstr(v.text, "cannot start or resume") != NULL);

    v = patient_inbound_rcpt(false, -1);
    CHECK(v.action == ACT_TEMPFAIL);
    CHECK_STR(v.rcode, "451");
    CHECK_STR(v.xcode, "4.3.0");
    CHECK_STR(rule_name(v.rule), "conversation-state-unavailable");
}

/* PatientInbound: enforce refuses, log admits with the refusal kept. */
static void test_inbound_mode(void)
{
    struct patient_policy pp;
    struct verdict v;

    memset(&pp, 0, sizeof(pp));
    v = patient_inbound_decide(&pp, false, 0);
    CHECK(v.action == ACT_REJECT && v.rule == RULE_PATIENT_NO_CONVERSATION);
    v = patient_inbound_decide(NULL, false, 0);
    CHECK(v.action == ACT_REJECT);

    pp.inbound_log = true;
    v = patient_inbound_decide(&pp, false, 0);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(v.rule == RULE_PATIENT_NO_CONVERSATION);
    CHECK(rule_action(v.rule) == ACT_REJECT);
    CHECK(strstr(v.text, "cannot start or resume") != NULL);
    v = patient_inbound_decide(&pp, false, 1);
    CHECK(v.action == ACT_CONTINUE && v.rule == RULE_NONE);
    v = patient_inbound_decide(&pp, true, 0);
    CHECK(v.action == ACT_CONTINUE && v.rule == RULE_NONE);
    /* the store cannot answer: deferred whatever the mode */
    v = patient_inbound_decide(&pp, false, -1);
    CHECK(v.action == ACT_TEMPFAIL);
    CHECK_STR(rule_name(v.rule), "conversation-state-unavailable");
}

static struct verdict eom(bool accept_content, enum fin_kind subj, bool mes, bool empty,
                          struct patient_plan *plan)
{
    struct patient_policy pp;
    struct patient_msg m;

    memset(&pp, 0, sizeof(pp));
    pp.fin_content_accept = accept_content;
    m.subject_fin = subj;
    m.mes_fin = mes;
    m.body_empty = empty;
    return patient_outbound_eom(&pp, &m, plan);
}

static void test_outbound_eom(void)
{
    struct patient_plan plan;
    struct patient_msg m;
    struct verdict v;

    /* Ordinary message: open or refresh, body not looked at. */
    v = eom(false, FIN_NONE, false, false, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_OPEN);
    CHECK(!plan.rewrite_subject && !plan.add_mes_header && !plan.content_lost);
    m.subject_fin = FIN_NONE;
    m.mes_fin = false;
    CHECK(!patient_closure_candidate(&m));
    m.mes_fin = true;
    CHECK(patient_closure_candidate(&m));
    m.mes_fin = false;
    m.subject_fin = FIN_VARIANT;
    CHECK(patient_closure_candidate(&m));

    /* Exact [FIN], empty: close, nothing rewritten. */
    v = eom(false, FIN_EXACT, false, true, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(!plan.rewrite_subject && !plan.add_mes_header);

    /* X-MSS-MES: FIN, any subject, empty: close. */
    v = eom(false, FIN_NONE, true, true, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(!plan.rewrite_subject && !plan.add_mes_header);

    /* Variant, empty: close, rewrite, add the header (once). */
    v = eom(false, FIN_VARIANT, false, true, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(plan.rewrite_subject && plan.add_mes_header);
    CHECK(plan.note != NULL && strstr(plan.note, "rewritten") != NULL);
    v = eom(false, FIN_VARIANT, true, true, &plan);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(plan.rewrite_subject && !plan.add_mes_header);

    /* Exact [FIN] or the header, with content: refused, nothing recorded. */
    v = eom(false, FIN_EXACT, false, false, &plan);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "fin-with-content");
    CHECK_STR(v.rcode, "550");
    CHECK_STR(v.xcode, "5.7.1");
    CHECK(strstr(v.text, "[FIN]") != NULL && strstr(v.text, " / ") != NULL);
    CHECK(plan.op == PATOP_NONE);
    v = eom(false, FIN_NONE, true, false, &plan);
    CHECK(v.action == ACT_REJECT);
    CHECK(plan.op == PATOP_NONE);
    v = eom(false, FIN_VARIANT, true, false, &plan);
    CHECK(v.action == ACT_REJECT);

    /* FinWithContent accept: closed anyway, flagged. */
    v = eom(true, FIN_EXACT, false, false, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_CLOSE);
    CHECK(plan.content_lost);

    /* Variant with content: an ordinary message the patient will read. */
    v = eom(false, FIN_VARIANT, false, false, &plan);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(plan.op == PATOP_OPEN);
    CHECK(!plan.rewrite_subject && !plan.add_mes_header);

    reply_conversation_unavailable(&v);
    CHECK(v.action == ACT_TEMPFAIL);
    CHECK_STR(v.rcode, "451");
    CHECK_STR(v.xcode, "4.3.0");
}

static const struct test_case cases[] = {
    { "[FIN] in the subject and its variants", test_subject },
    { "X-MSS-MES header", test_mes_header },
    { "pharmacy mailboxes", test_pharmacy },
    { "outbound recipients: patient addresses", test_outbound_rcpt },
    { "inbound recipients: patient addresses", test_inbound_rcpt },
    { "PatientInbound enforce and log", test_inbound_mode },
    { "end of message: conversation opened, refreshed, closed by [FIN]", test_outbound_eom },
};
TEST_MAIN(cases)
