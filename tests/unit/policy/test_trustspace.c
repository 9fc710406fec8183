/*
 * test_trustspace.c - the trust-space rules (policy/trustspace.c): outbound
 * and inbound verdicts, lookalikes, offenders named in the reply, the
 * reply texts they produce (policy/replies.c), and the deferral of a
 * local submission's refusals to end of message (pipeline/pipeline.c).
 * The trust boundary (who is inside, certificates, route forms, system
 * mail) is in test_trustspace_boundary.c.
 */
#include "tests/unit/testlib.h"
#include "tests/unit/trustspace_fixture.h"

static void test_outbound(void)
{
    struct outcome o;
    static const char *const good[] = {
        "<dr.martin@medecin.mssante.fr>", "<Secretariat@CHU-Lille.MSSante.fr.>",
        "<279035121518989@patient.mssante.fr>", "<collegue@hopital-exemple.mssante.fr>",
    };
    static const char *const classic[] = { "<secretaire@outlook.fr>" };
    static const char *const mixed[] = {
        "<dr.martin@medecin.mssante.fr>", "<secretaire@outlook.fr>",
        "<a@mssante.apicrypt.org>", "<b@gmail.com>",
    };

    run(&o, &env, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", good, N(good));
    CHECK_STR(o.step, "none");
    CHECK(o.mp.dir == DIR_OUTBOUND);
    CHECK(o.mp.n_rcpt == 4);
    CHECK(o.mp.n_classic_total == 0);

    run(&o, &env, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", classic, N(classic));
    expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    CHECK(strstr(o.v.text, "secretaire@outlook.fr") != NULL);
    CHECK(strstr(o.v.text, "autre") == NULL);

    /* a mixed list is refused as a whole, naming only the offenders */
    run(&o, &env, &INTERNAL, "<Cardio@Hopital-Exemple.MSSante.FR.>", mixed, N(mixed));
    expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    CHECK(strstr(o.v.text, "secretaire@outlook.fr, b@gmail.com") != NULL);
    CHECK(strstr(o.v.text, "medecin.mssante.fr") == NULL);
    CHECK(strstr(o.v.text, "apicrypt") == NULL);
    CHECK(strstr(o.v.text, "Envoi refuse") == o.v.text);
    CHECK(strstr(o.v.text, "Sending refused") != NULL);
    CHECK(o.mp.n_offenders == 2 && o.mp.n_classic_total == 2);
    /* SMTP mail never parks anything for end of message */
    {
        struct plh_client cl = plh_client_of(&INTERNAL);
        static struct pl_conn c;

        plh_init();
        plh_env = &env;
        CHECK(plh_connect(&c, &cl).code == PL_CONTINUE);
        CHECK(plh_mail(&c, &cl, "<Cardio@Hopital-Exemple.MSSante.FR.>").code == PL_CONTINUE);
        for (unsigned i = 0; i < N(mixed); i++)
            CHECK(pl_rcpt(&c, mixed[i], "smtp").code == PL_CONTINUE);
        CHECK(pl_data(&c).code == PL_REJECT);
        CHECK(c.msg.kept_trust.action == ACT_CONTINUE && c.msg.kept.action == ACT_CONTINUE);
        pl_close(&c);
    }
}

static void test_outbound_lookalikes(void)
{
    static const char *const looks[] = {
        "<a@medecin.mssant\xc3\xa9.fr>", "<a@interop-mssante.apycrypt.org>",
        "<a@apicrypt.org>", "<a@chu-lille.mssante.fr.example.com>",
        "<a@evilmssante.fr>", "<a@outlook.fr>",
    };
    struct outcome o;
    unsigned i;

    for (i = 0; i < N(looks); i++) {
        const char *one[2] = { "<ok@medecin.mssante.fr>", looks[i] };

        run(&o, &env, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", one, 2);
        expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
        CHECK(o.mp.n_classic_total == 1);
    }
    /* the UTF-8 domain is named in ASCII: its A-labels, the form it was judged in */
    run(&o, &env, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", looks, 1);
    CHECK(strstr(o.v.text, "a@medecin.xn--mssant-gva.fr") != NULL);
}

static void test_many_offenders(void)
{
    static const char *const seven[] = {
        "<c1@outlook.fr>", "<c2@gmail.com>", "<ok@medecin.mssante.fr>", "<c3@free.fr>",
        "<c4@orange.fr>", "<c5@laposte.net>", "<c6@yahoo.fr>", "<c7@wanadoo.fr>",
    };
    struct outcome o;

    run(&o, &env, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", seven, N(seven));
    expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    CHECK(o.mp.n_offenders == 5);
    CHECK(o.mp.n_classic_total == 7);
    CHECK(strstr(o.v.text,
                 "c1@outlook.fr, c2@gmail.com, c3@free.fr, c4@orange.fr, c5@laposte.net"
                 " (et 2 autre(s) / and 2 more)") != NULL);
    CHECK(strstr(o.v.text, "c6@") == NULL);
    CHECK(strstr(o.v.text, "c7@") == NULL);
}

static void test_duplicate_offender(void)
{
    static const char *const twice[] = { "<x@outlook.fr>", "<x@Outlook.FR.>", "<y@gmail.com>" };
    struct outcome o;

    run(&o, &env, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", twice, N(twice));
    CHECK(o.mp.n_classic_total == 2);
    CHECK(o.mp.n_offenders == 2);
    CHECK(strstr(o.v.text, "Not MSSante: x@outlook.fr, y@gmail.com") != NULL);
    CHECK(strstr(o.v.text, "more") == NULL);
}

/* Very long addresses: the reply stays within an SMTP line, the rest is counted. */
static void test_long_offenders(void)
{
    static char addr[5][300];
    const char *rcpts[5];
    struct outcome o;
    unsigned i;

    for (i = 0; i < 5; i++) {
        memset(addr[i], 'a' + (int)i, 1 + 200);
        addr[i][0] = '<';
        snprintf(addr[i] + 201, sizeof(addr[i]) - 201, "@outlook.fr>");
        rcpts[i] = addr[i];
    }
    run(&o, &env, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", rcpts, 5);
    expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    CHECK(strlen(o.v.text) <= 450);
    CHECK(strstr(o.v.text, "...") != NULL);
    CHECK(strstr(o.v.text, "aaaaaaaa") != NULL);
    CHECK(strstr(o.v.text, "eeeeeeee") == NULL);
    /* whatever was dropped is counted */
    {
        unsigned named = 0, more = 0;
        const char *p;

        for (i = 0; i < 5; i++) {
            char probe[9];

            memset(probe, 'a' + (int)i, 8);
            probe[8] = '\0';
            if (strstr(o.v.text, probe))
                named++;
        }
        p = strstr(o.v.text, "and ");
        CHECK(p != NULL && sscanf(p, "and %u more", &more) == 1);
        CHECK(named >= 1 && named + more == 5);
    }
}

static void test_authenticated(void)
{
    static const char *const classic[] = { "<x@outlook.fr>" };
    static const char *const local[] = { "<cardio@hopital-exemple.mssante.fr>" };
    struct outcome o;

    /* authenticated with a foreign sender domain: outbound */
    run(&o, &env, &AUTH, "<dr.martin@gmail.com>", classic, 1);
    CHECK(o.mp.dir == DIR_OUTBOUND);
    CHECK(o.mp.inside);
    expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    /* ... and its mail to a local mailbox keeps the sender rule (issue 10:
     * mail to local mailboxes is judged on its sender from inside too) */
    run(&o, &env, &AUTH, "<dr.martin@gmail.com>", local, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "inbound-classic-sender", "550", "5.7.1");
    run(&o, &env, &AUTH, "<dr.martin@hopital-exemple.mssante.fr>", local, 1);
    CHECK_STR(o.step, "none");
    /* the same sender unauthenticated: inbound, relay not our business */
    run(&o, &env, &OUTSIDE, "<dr.martin@gmail.com>", classic, 1);
    CHECK(o.mp.dir == DIR_INBOUND);
    CHECK_STR(o.step, "none");
    /* an authenticated client cannot slip out with the null sender */
    run(&o, &env, &AUTH, "<>", classic, 1);
    CHECK(o.mp.dir == DIR_OUTBOUND);
    expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
}

static void test_inbound(void)
{
    static const char *const local[] = { "<cardio@hopital-exemple.mssante.fr>" };
    static const char *const local_upper[] = { "<Cardio@HOPITAL-EXEMPLE.mssante.fr.>" };
    static const char *const relay[] = { "<someone@medecin.mssante.fr>" };
    static const char *const bad_senders[] = {
        "<x@outlook.fr>", "<x@medecin.mssant\xc3\xa9.fr>", "<x@interop-mssante.apycrypt.org>",
        "<x@apicrypt.org>", "<x@chu-lille.mssante.fr.example.com>", "<x@evilmssante.fr>",
    };
    struct outcome o;
    unsigned i;

    run(&o, &env, &OUTSIDE, "<dr.martin@medecin.mssante.fr>", local, 1);
    CHECK(o.mp.dir == DIR_INBOUND);
    CHECK(o.mp.sender_valid);
    CHECK(o.mp.sender_class == CLASS_MSSANTE);
    CHECK_STR(o.step, "none");
    run(&o, &env, &OUTSIDE, "<Dr.Martin@MEDECIN.MSSANTE.FR.>", local_upper, 1);
    CHECK_STR(o.step, "none");
    run(&o, &env, &OUTSIDE, "<a@interop-mssante.apicrypt.org>", local, 1);
    CHECK_STR(o.step, "none");

    for (i = 0; i < N(bad_senders); i++) {
        run(&o, &env, &OUTSIDE, bad_senders[i], local, 1);
        expect_refusal(&o, "rcpt", ACT_REJECT, "inbound-classic-sender", "550", "5.7.1");
    }
    run(&o, &env, &OUTSIDE, "<x@Outlook.FR>", local, 1);
    CHECK(strstr(o.v.text, "(domaine outlook.fr)") != NULL);
    CHECK(strstr(o.v.text, "(domain outlook.fr)") != NULL);
    CHECK(strstr(o.v.text, "Expediteur") == o.v.text);

    /* bounces and read receipts */
    run(&o, &env, &OUTSIDE, "<>", local, 1);
    CHECK(o.mp.null_sender);
    CHECK(!o.mp.sender_valid);
    CHECK(o.mp.dir == DIR_INBOUND);
    CHECK_STR(o.step, "none");

    /* a patient: not a trust-space refusal, the patient rule decides */
    run(&o, &env, &OUTSIDE, "<279035121518989@patient.mssante.fr>", local, 1);
    CHECK(o.mp.sender_class == CLASS_PATIENT);
    CHECK(o.mp.dir == DIR_INBOUND);
    CHECK_STR(o.step, "none");

    /* not for a local mailbox: Postfix's relay rules decide */
    run(&o, &env, &OUTSIDE, "<x@outlook.fr>", relay, 1);
    CHECK_STR(o.step, "none");
}

static void test_recipient_outputs(void)
{
    struct msg_policy mp;
    struct mailaddr a;
    enum addr_class c;
    struct verdict v;

    msgpol_begin(&mp, &env, &INTERNAL);
    v = msgpol_sender(&mp, "<cardio@hopital-exemple.mssante.fr>");
    CHECK(v.action == ACT_CONTINUE && v.rule == RULE_NONE);
    v = msgpol_recipient(&mp, "<X@Medecin.MSSante.fr>", "smtp", &c, &a);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(c == CLASS_MSSANTE);
    CHECK_STR(a.local, "X");
    CHECK_STR(a.domain, "medecin.mssante.fr");
    v = msgpol_recipient(&mp, "<279035121518989@patient.mssante.fr>", "smtp", &c, NULL);
    CHECK(c == CLASS_PATIENT);
    v = msgpol_recipient(&mp, "<y@outlook.fr>", "smtp", &c, NULL);
    CHECK(v.action == ACT_CONTINUE);
    CHECK(c == CLASS_CLASSIC);
    v = msgpol_recipient(&mp, "<bad recipient@x.fr>", "smtp", &c, NULL);
    CHECK(c == CLASS_INVALID);
    CHECK(v.action == ACT_REJECT);
    CHECK_STR(rule_name(v.rule), "bad-recipient-address");
    CHECK_STR(v.rcode, "550");
    CHECK_STR(v.xcode, "5.1.3");
    CHECK(strstr(v.text, "space or control character") != NULL);
    CHECK(mp.n_rcpt == 4);
    CHECK(mp.n_classic_total == 1);
    CHECK_STR(mp.offenders[0], "y@outlook.fr");
}

static void test_malformed(void)
{
    static const char *const local[] = { "<cardio@hopital-exemple.mssante.fr>" };
    static const char *const nullrcpt[] = { "<>" };
    struct outcome o;

    run(&o, &env, &OUTSIDE, "<no-at-sign>", local, 1);
    expect_refusal(&o, "mail", ACT_REJECT, "bad-sender-address", "550", "5.1.7");
    CHECK(strstr(o.v.text, "missing '@'") != NULL);
    CHECK(!o.mp.sender_valid);

    run(&o, &env, &OUTSIDE, "<dr@medecin.mssante.fr>", nullrcpt, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "bad-recipient-address", "550", "5.1.3");
}

static void test_local_submission(void)
{
    static const char *const mixed[] = { "<ok@medecin.mssante.fr>", "<x@outlook.fr>" };
    static const char *const local[] = { "<cardio@hopital-exemple.mssante.fr>" };
    static const char *const bad_then_local[] = {
        "<no-domain@>", "<cardio@hopital-exemple.mssante.fr>", "<x@outlook.fr>",
    };
    struct outcome o;

    /* outbound mixed list: nothing refused before end of message */
    run(&o, &env, &LOCAL, "<cardio@hopital-exemple.mssante.fr>", mixed, N(mixed));
    expect_refusal(&o, "end", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    CHECK(strstr(o.v.text, "x@outlook.fr") != NULL);

    /* inbound from a classic sender to a local mailbox */
    run(&o, &env, &LOCAL, "<root@server.example.com>", local, 1);
    expect_refusal(&o, "end", ACT_REJECT, "inbound-classic-sender", "550", "5.7.1");

    /* malformed sender */
    run(&o, &env, &LOCAL, "<a b@x.fr>", local, 1);
    expect_refusal(&o, "end", ACT_REJECT, "bad-sender-address", "550", "5.1.7");

    /* the first refusal is the one kept */
    run(&o, &env, &LOCAL, "<root@server.example.com>", bad_then_local, N(bad_then_local));
    expect_refusal(&o, "end", ACT_REJECT, "bad-recipient-address", "550", "5.1.3");
    run(&o, &env, &LOCAL, "<cardio@hopital-exemple.mssante.fr>", bad_then_local,
        N(bad_then_local));
    expect_refusal(&o, "end", ACT_REJECT, "bad-recipient-address", "550", "5.1.3");

    /* sendmail -f '<>': cleanup hands the null sender over as "" */
    run(&o, &env, &LOCAL, "", mixed, N(mixed));
    CHECK(o.mp.null_sender && !o.mp.sender_valid);
    expect_refusal(&o, "end", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    run(&o, &env, &LOCAL, "", local, 1);
    CHECK_STR(o.step, "none");

    /* a clean local submission goes through */
    run(&o, &env, &LOCAL, "<cardio@hopital-exemple.mssante.fr>", local, 1);
    CHECK_STR(o.step, "none");

    /* step by step: every step answers CONTINUE */
    {
        struct plh_client cl = plh_client_of(&LOCAL);
        static struct pl_conn c;
        struct pl_answer a;

        plh_init();
        plh_env = &env;
        plh_rules.forwarding = false;
        CHECK(plh_connect(&c, &cl).code == PL_CONTINUE);
        CHECK(plh_mail(&c, &cl, "<cardio@hopital-exemple.mssante.fr>").code == PL_CONTINUE);
        CHECK(pl_rcpt(&c, "<x@outlook.fr>", NULL).code == PL_CONTINUE);
        CHECK(pl_rcpt(&c, "<bad@@x.fr>", NULL).code == PL_CONTINUE);
        CHECK(c.msg.kept_trust.action == ACT_REJECT);
        CHECK(pl_data(&c).code == PL_CONTINUE);
        plh_content(&c, NULL, NULL);
        a = pl_eom(&c, &plh_mta);
        CHECK(a.code == PL_REJECT);
        CHECK_STR(rule_name(a.reply.rule), "bad-recipient-address");
        pl_close(&c);
    }
}

static void test_no_whitelist(void)
{
    static const char *const rcpts[] = { "<dr@medecin.mssante.fr>" };
    struct outcome o;
    struct msg_policy mp;
    struct verdict v;

    run(&o, &env_nolist, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", rcpts, 1);
    expect_refusal(&o, "mail", ACT_TEMPFAIL, "no-whitelist", "451", "4.3.0");
    run(&o, &env_nolist, &INTERNAL, "<>", rcpts, 1);
    expect_refusal(&o, "mail", ACT_TEMPFAIL, "no-whitelist", "451", "4.3.0");

    /* local submission: held, never refused, never let through */
    run(&o, &env_nolist, &LOCAL, "<cardio@hopital-exemple.mssante.fr>", rcpts, 1);
    expect_refusal(&o, "end", ACT_HOLD, "no-whitelist", "451", "4.3.0");
    run(&o, &env_nolist, &LOCAL, "<not an address>", rcpts, 1);
    expect_refusal(&o, "end", ACT_HOLD, "no-whitelist", "451", "4.3.0");

    /* a milter layer that ignored the tempfail still gets no accept */
    msgpol_begin(&mp, &env_nolist, &INTERNAL);
    (void)msgpol_sender(&mp, "<cardio@hopital-exemple.mssante.fr>");
    CHECK(msgpol_recipient(&mp, rcpts[0], "smtp", NULL, NULL).action == ACT_TEMPFAIL);
    CHECK(msgpol_data(&mp).action == ACT_TEMPFAIL);
    v = msgpol_end(&mp);
    CHECK(v.action == ACT_TEMPFAIL);
    {
        struct plh_client cl = plh_client_of(&INTERNAL);
        static struct pl_conn c;

        plh_init();
        plh_env = &env_nolist;
        CHECK(plh_connect(&c, &cl).code == PL_CONTINUE);
        CHECK(plh_mail(&c, &cl, "<cardio@hopital-exemple.mssante.fr>").code == PL_TEMPFAIL);
        CHECK(c.msg.kept_trust.action == ACT_CONTINUE && c.msg.kept.action == ACT_CONTINUE);
        pl_close(&c);
    }

    /* env == NULL is "no whitelist" too */
    msgpol_begin(&mp, NULL, NULL);
    CHECK(msgpol_sender(&mp, "<a@b.fr>").action == ACT_TEMPFAIL);
}

static void test_replies(void)
{
    struct verdict v;
    const char *addrs[2] = { "a@x.fr", "b@y.fr" };

    reply_internal(&v);
    CHECK(v.action == ACT_TEMPFAIL);
    CHECK_STR(v.rcode, "451");
    CHECK_STR(v.xcode, "4.7.1");
    CHECK(text_ok(v.text));

    reply_no_whitelist(&v);
    CHECK(v.action == ACT_TEMPFAIL);
    CHECK_STR(v.xcode, "4.3.0");
    CHECK(strstr(v.text, "Liste blanche MSSante indisponible") == v.text);

    reply_bad_sender(&v, NULL);
    CHECK(v.action == ACT_REJECT);
    CHECK(text_ok(v.text));

    /* a caller's count may exceed what it could list */
    reply_outbound_classic(&v, addrs, 2, 4);
    CHECK(strstr(v.text, "a@x.fr, b@y.fr (et 2 autre(s) / and 2 more)") != NULL);
    reply_outbound_classic(&v, NULL, 0, 3);
    CHECK(v.action == ACT_REJECT);
    CHECK(strstr(v.text, "3 adresse(s)") != NULL);

    /* '%' stays raw (the milter layer escapes it), control bytes do not */
    verdict_set(&v, RULE_BAD_SENDER, "100%% %s", "a\r\nb");
    CHECK_STR(v.text, "100% a??b");
    reply_inbound_sender(&v, "");
    CHECK(text_ok(v.text));

    CHECK_STR(action_name(ACT_CONTINUE), "accept");
    CHECK_STR(action_name(ACT_REJECT), "reject");
    CHECK_STR(action_name(ACT_TEMPFAIL), "tempfail");
    CHECK_STR(action_name(ACT_HOLD), "hold");
    CHECK_STR(direction_name(DIR_INBOUND), "inbound");
    CHECK_STR(direction_name(DIR_OUTBOUND), "outbound");
}

static const struct test_case cases[] = {
    { "outbound: listed and patient recipients pass, a classic one is refused", test_outbound },
    { "outbound: lookalike domains are classic", test_outbound_lookalikes },
    { "outbound: many offenders named within one reply", test_many_offenders },
    { "outbound: an offender given twice is named once", test_duplicate_offender },
    { "outbound: very long offenders, the reply stays within a line", test_long_offenders },
    { "authenticated client: outbound rules", test_authenticated },
    { "inbound: from the trust space only", test_inbound },
    { "recipient outputs: class and direction", test_recipient_outputs },
    { "malformed addresses are refused", test_malformed },
    { "local submission: refusals kept for end of message", test_local_submission },
    { "no whitelist: deferred, never let through", test_no_whitelist },
    { "replies: codes and FR / EN texts", test_replies },
};
TEST_MAIN(cases)
