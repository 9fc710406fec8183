/*
 * test_trustspace_boundary.c - the trust boundary of policy/trustspace.c
 * (issue 10): from the inside the outbound rule holds whatever the
 * sender, the operator's own domain forged from the outside, the
 * operator certificate (OperatorCertificate log / enforce), route-form
 * addresses from both sides, and system recipients delivered here.
 */
#include "tests/unit/testlib.h"
#include "tests/unit/trustspace_fixture.h"

/* Issue 10: from the inside, the outbound rule holds whatever the sender. */
static void test_inside_any_sender(void)
{
    static const char *const classic[] = { "<secretaire@outlook.fr>" };
    static const char *const mixed[] = { "<ok@medecin.mssante.fr>", "<secretaire@outlook.fr>" };
    static const char *const fine[] = { "<ok@medecin.mssante.fr>", "<c@hopital-exemple.mssante.fr>" };
    static const char *const senders[] = {
        "<>", "<app@gmail.com>", "<dr.durand@chu-lille.mssante.fr>",
        "<cardio@hopital-exemple.mssante.fr>",
    };
    const struct msg_client *smtp_clients[] = { &INTERNAL, &AUTH };
    struct outcome o;
    unsigned i, k;

    for (i = 0; i < N(senders); i++) {
        for (k = 0; k < N(smtp_clients); k++) {
            run(&o, &env, smtp_clients[k], senders[i], classic, 1);
            expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
            CHECK(o.mp.dir == DIR_OUTBOUND);
            run(&o, &env, smtp_clients[k], senders[i], mixed, N(mixed));
            expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
            CHECK(strstr(o.v.text, "secretaire@outlook.fr") != NULL);
            CHECK(strstr(o.v.text, "ok@medecin") == NULL);
        }
        /* sendmail -f: the same refusal, at end of message */
        run(&o, &env, &LOCAL, senders[i], classic, 1);
        expect_refusal(&o, "end", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    }
    /* the null sender and a listed sender may still write inside the trust space */
    run(&o, &env, &INTERNAL, "<>", fine, N(fine));
    CHECK_STR(o.step, "none");
    run(&o, &env, &INTERNAL, "<dr.durand@chu-lille.mssante.fr>", fine, N(fine));
    CHECK_STR(o.step, "none");
    /* a foreign classic sender from the inside: the outbound rule for the
     * others, the sender rule for the local mailbox */
    run(&o, &env, &INTERNAL, "<app@gmail.com>", fine, N(fine));
    expect_refusal(&o, "rcpt", ACT_REJECT, "inbound-classic-sender", "550", "5.7.1");
    /* the same messages from the outside are not outbound */
    run(&o, &env, &OUTSIDE, "<app@gmail.com>", classic, 1);
    CHECK(o.mp.dir == DIR_INBOUND && !o.mp.inside);
    CHECK_STR(o.step, "none");
    run(&o, &env, &OUTSIDE, "<>", classic, 1);
    CHECK_STR(o.step, "none");
}

static void test_own_domain_forged(void)
{
    static const char *const local[] = { "<cardio@hopital-exemple.mssante.fr>" };
    static const char *const out[] = { "<ok@medecin.mssante.fr>", "<x@gmail.com>" };
    static const enum cert_mode modes[] = { CERT_MODE_OFF, CERT_MODE_LOG, CERT_MODE_ENFORCE };
    struct msg_client cl;
    struct outcome o;
    unsigned i;

    for (i = 0; i < N(modes); i++) {
        /* no certificate, whatever the mode: 550, never the enforce 450 */
        cl = outside_cert(NULL, modes[i]);
        run(&o, &env, &cl, "<directeur@hopital-exemple.mssante.fr>", local, 1);
        expect_refusal(&o, "rcpt", ACT_REJECT, "own-domain-forged", "550", "5.7.1");
        CHECK(strstr(o.v.text, "hopital-exemple.mssante.fr") != NULL);
        CHECK(o.mp.cert == CERT_NONE);
        CHECK(o.mp.dir == DIR_INBOUND);
        /* a verified certificate of another operator */
        cl = outside_cert("smtp.chu-lille.fr", modes[i]);
        run(&o, &env, &cl, "<directeur@Hopital-Exemple.MSSante.fr.>", local, 1);
        expect_refusal(&o, "rcpt", ACT_REJECT, "own-domain-forged", "550", "5.7.1");
        CHECK(o.mp.cert == CERT_MISMATCH);
        /* our own operator's other MTA (CN compared case-insensitively) */
        cl = outside_cert("MX2.Hopital-Exemple.FR", modes[i]);
        run(&o, &env, &cl, "<directeur@hopital-exemple.mssante.fr>", local, 1);
        CHECK_STR(o.step, "none");
        CHECK(o.mp.cert == CERT_OK);
        CHECK(o.mp.dir == DIR_OUTBOUND);
        /* ... whose mail to the rest of the world is outbound as it always was */
        run(&o, &env, &cl, "<directeur@hopital-exemple.mssante.fr>", out, N(out));
        expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    }
    /* no CN lookup available (no list of CNs): never let in */
    cl = outside_cert("mx2.hopital-exemple.fr", CERT_MODE_LOG);
    run(&o, &env_nocn, &cl, "<directeur@hopital-exemple.mssante.fr>", local, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "own-domain-forged", "550", "5.7.1");
    /* from the inside the same sender is the ordinary case */
    run(&o, &env, &INTERNAL, "<directeur@hopital-exemple.mssante.fr>", local, 1);
    CHECK_STR(o.step, "none");
    CHECK(o.mp.cert == CERT_NOT_CHECKED);
    /* sendmail: at end of message */
    run(&o, &env, &LOCAL, "<directeur@hopital-exemple.mssante.fr>", local, 1);
    CHECK_STR(o.step, "none");
}

static void test_operator_certificate(void)
{
    static const char *const local[] = { "<cardio@hopital-exemple.mssante.fr>" };
    static const char *const two[] = {
        "<cardio@hopital-exemple.mssante.fr>", "<accueil@hopital-exemple.mssante.fr>",
    };
    const char *sender = "<dr.durand@chu-lille.mssante.fr>";
    char long_cn[MSG_CERT_CN_MAX + 40];
    struct msg_client cl;
    struct outcome o;
    unsigned before;

    /* off: nothing looked at */
    cl = outside_cert(NULL, CERT_MODE_OFF);
    before = cn_lookups;
    run(&o, &env, &cl, sender, local, 1);
    CHECK_STR(o.step, "none");
    CHECK(o.mp.cert == CERT_NOT_CHECKED);
    CHECK(cn_lookups == before);
    cl = outside_cert("smtp.intrus.example", CERT_MODE_OFF);
    run(&o, &env, &cl, sender, local, 1);
    CHECK_STR(o.step, "none");

    /* log: never refused, the finding is kept for the verdict line */
    cl = outside_cert(NULL, CERT_MODE_LOG);
    run(&o, &env, &cl, sender, local, 1);
    CHECK_STR(o.step, "none");
    CHECK(o.mp.cert == CERT_NONE);
    CHECK_STR(cert_status_name(o.mp.cert), "none");
    cl = outside_cert("smtp.intrus.example", CERT_MODE_LOG);
    run(&o, &env, &cl, sender, local, 1);
    CHECK_STR(o.step, "none");
    CHECK(o.mp.cert == CERT_MISMATCH);
    CHECK_STR(o.mp.cert_cn, "smtp.intrus.example");
    CHECK_STR(cert_status_name(o.mp.cert), "mismatch");
    cl = outside_cert("smtp2.chu-lille.fr", CERT_MODE_LOG);
    run(&o, &env, &cl, sender, local, 1);
    CHECK(o.mp.cert == CERT_OK);
    CHECK_STR(cert_status_name(o.mp.cert), "ok");

    /* enforce: no certificate, 450 4.7.1 naming the domain, on every recipient */
    cl = outside_cert(NULL, CERT_MODE_ENFORCE);
    run(&o, &env, &cl, sender, two, N(two));
    expect_refusal(&o, "rcpt", ACT_TEMPFAIL, "operator-certificate-missing", "450", "4.7.1");
    CHECK(strstr(o.v.text, "chu-lille.mssante.fr") != NULL);
    CHECK(strstr(o.v.text, "IGC-Sante") != NULL);
    cl = outside_cert("", CERT_MODE_ENFORCE);   /* Postfix's empty macro */
    run(&o, &env, &cl, sender, local, 1);
    expect_refusal(&o, "rcpt", ACT_TEMPFAIL, "operator-certificate-missing", "450", "4.7.1");
    /* enforce: a CN not listed for the domain (even one listed for another) */
    cl = outside_cert("smtp.intrus.example", CERT_MODE_ENFORCE);
    run(&o, &env, &cl, sender, local, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "operator-certificate-mismatch", "550", "5.7.1");
    CHECK(strstr(o.v.text, "smtp.intrus.example") != NULL);
    CHECK(strstr(o.v.text, "chu-lille.mssante.fr") != NULL);
    cl = outside_cert("mx.mailiz.example", CERT_MODE_ENFORCE);
    run(&o, &env, &cl, sender, local, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "operator-certificate-mismatch", "550", "5.7.1");
    /* enforce: a listed CN, any case */
    cl = outside_cert("SMTP.CHU-LILLE.FR", CERT_MODE_ENFORCE);
    run(&o, &env, &cl, sender, local, 1);
    CHECK_STR(o.step, "none");

    /* the null sender: a CN listed for any domain of the list */
    cl = outside_cert(NULL, CERT_MODE_ENFORCE);
    run(&o, &env, &cl, "<>", local, 1);
    expect_refusal(&o, "rcpt", ACT_TEMPFAIL, "operator-certificate-missing", "450", "4.7.1");
    cl = outside_cert("mx.mailiz.example", CERT_MODE_ENFORCE);
    run(&o, &env, &cl, "<>", local, 1);
    CHECK_STR(o.step, "none");
    CHECK(o.mp.cert == CERT_OK);
    cl = outside_cert("smtp.intrus.example", CERT_MODE_ENFORCE);
    run(&o, &env, &cl, "<>", local, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "operator-certificate-mismatch", "550", "5.7.1");
    CHECK(strstr(o.v.text, "smtp.intrus.example") != NULL);

    /* a sender off the list: the certificate rule does not apply, the
     * sender rule refuses (550, not the 450 that would invite a retry) */
    cl = outside_cert(NULL, CERT_MODE_ENFORCE);
    run(&o, &env, &cl, "<x@gmail.com>", local, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "inbound-classic-sender", "550", "5.7.1");
    CHECK(o.mp.cert == CERT_NOT_CHECKED);
    /* from the inside: not applied */
    cl = INTERNAL;
    cl.cert_mode = CERT_MODE_ENFORCE;
    run(&o, &env, &cl, sender, local, 1);
    CHECK_STR(o.step, "none");
    CHECK(o.mp.cert == CERT_NOT_CHECKED);

    /* a CN from the network: shown printable in the reply, never matched
     * past what was kept */
    cl = outside_cert("evil\r\n250 ok\x01\xc3\xa9", CERT_MODE_ENFORCE);
    run(&o, &env, &cl, sender, local, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "operator-certificate-mismatch", "550", "5.7.1");
    CHECK(strstr(o.v.text, "evil??250 ok??? ") != NULL);
    memset(long_cn, 'a', sizeof(long_cn) - 1);
    long_cn[sizeof(long_cn) - 1] = '\0';
    cl = outside_cert(long_cn, CERT_MODE_ENFORCE);
    run(&o, &env, &cl, sender, local, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "operator-certificate-mismatch", "550", "5.7.1");
    CHECK(o.mp.cert_cn_cut);
    CHECK(strlen(o.mp.cert_cn) == MSG_CERT_CN_MAX);
    /* no CN lookup: a certificate cannot be vouched for */
    cl = outside_cert("smtp.chu-lille.fr", CERT_MODE_ENFORCE);
    run(&o, &env_nocn, &cl, sender, local, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "operator-certificate-mismatch", "550", "5.7.1");
}

static void test_route_addresses(void)
{
    static const char *const forms[] = {
        "<dr.martin%hopital-exemple.mssante.fr@[127.0.0.1]>",
        "<dr.martin%hopital-exemple.mssante.fr@localhost>",
        "<hopital-exemple.mssante.fr!dr.martin@[127.0.0.1]>",
        "<\"dr.martin@hopital-exemple.mssante.fr\"@[127.0.0.1]>",
        "<\"dr.martin@hopital-exemple.mssante.fr\"@mx.example.fr>",
        "<dr.martin@[192.0.2.10]>",
        "<dr.martin@[IPv6:2001:db8::10]>",
        "<victim%gmail.com@hopital-exemple.mssante.fr>",
        "<gmail.com!victim@hopital-exemple.mssante.fr>",
    };
    const struct msg_client *clients[] = { &OUTSIDE, &INTERNAL, &AUTH };
    struct msg_client enforce_ok = outside_cert("smtp.chu-lille.fr", CERT_MODE_ENFORCE);
    struct outcome o;
    unsigned i, k;

    for (i = 0; i < N(forms); i++) {
        const char *one[1] = { forms[i] };
        const char *sender_local[1] = { "<cardio@hopital-exemple.mssante.fr>" };

        for (k = 0; k < N(clients); k++) {
            const char *sender = clients[k] == &OUTSIDE ? "<dr@chu-lille.mssante.fr>"
                                                        : "<cardio@hopital-exemple.mssante.fr>";

            run(&o, &env, clients[k], sender, one, 1);
            expect_refusal(&o, "rcpt", ACT_REJECT, "route-address", "550", "5.1.3");
            CHECK(strstr(o.v.text, "Route addresses are not accepted in the MSSante trust "
                                   "space") != NULL);
            CHECK(strstr(o.v.text, "recipient") != NULL);
            /* as the sender: refused at RCPT too, inside and outside */
            run(&o, &env, clients[k], forms[i], sender_local, 1);
            expect_refusal(&o, "rcpt", ACT_REJECT, "route-address", "550", "5.1.3");
            CHECK(strstr(o.v.text, "(sender ") != NULL);
        }
        /* with a good certificate too */
        run(&o, &env, &enforce_ok, "<dr@chu-lille.mssante.fr>", one, 1);
        expect_refusal(&o, "rcpt", ACT_REJECT, "route-address", "550", "5.1.3");
        /* sendmail: at end of message */
        run(&o, &env, &LOCAL, "<cardio@hopital-exemple.mssante.fr>", one, 1);
        expect_refusal(&o, "end", ACT_REJECT, "route-address", "550", "5.1.3");
        run(&o, &env, &LOCAL, forms[i], sender_local, 1);
        expect_refusal(&o, "end", ACT_REJECT, "route-address", "550", "5.1.3");
    }
    /* the route form wins over the forgery and certificate refusals */
    run(&o, &env, &OUTSIDE, "<x%gmail.com@hopital-exemple.mssante.fr>", forms, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "route-address", "550", "5.1.3");
    /* a source route is not a route address: judged on its final domain */
    {
        const char *one[1] = { "<@relay.example:ok@medecin.mssante.fr>" };

        run(&o, &env, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", one, 1);
        CHECK_STR(o.step, "none");
    }
}

static void test_system_recipient(void)
{
    static const char *const root[] = { "=<root@localhost>" };
    static const char *const root_fqdn[] = { "=<root@mx.hopital-exemple.fr>" };
    static const char *const root_and_classic[] = { "=<root@localhost>", "<x@gmail.com>" };
    static const char *const local_here[] = { "=<cardio@hopital-exemple.mssante.fr>" };
    struct msg_client cl;
    struct outcome o;

    /* cron, logwatch: sendmail to a recipient Postfix delivers here */
    run(&o, &env, &LOCAL, "<root@mx.hopital-exemple.fr>", root, 1);
    CHECK_STR(o.step, "none");
    CHECK(o.mp.n_classic_total == 0);
    run(&o, &env, &LOCAL, "<>", root_fqdn, 1);
    CHECK_STR(o.step, "none");
    /* ... which does not excuse a classic recipient beside it */
    run(&o, &env, &LOCAL, "<root@mx.hopital-exemple.fr>", root_and_classic, 2);
    expect_refusal(&o, "end", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    CHECK(strstr(o.v.text, "root@localhost") == NULL);
    /* from the outside: refused, whatever the sender and the certificate */
    run(&o, &env, &OUTSIDE, "<dr@chu-lille.mssante.fr>", root, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "system-recipient", "550", "5.7.1");
    CHECK(strstr(o.v.text, "root@localhost") != NULL);
    run(&o, &env, &OUTSIDE, "<>", root, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "system-recipient", "550", "5.7.1");
    cl = outside_cert("smtp.chu-lille.fr", CERT_MODE_ENFORCE);
    run(&o, &env, &cl, "<dr@chu-lille.mssante.fr>", root, 1);
    expect_refusal(&o, "rcpt", ACT_REJECT, "system-recipient", "550", "5.7.1");
    /* an SMTP client inside: not system mail, a classic recipient */
    run(&o, &env, &INTERNAL, "<cardio@hopital-exemple.mssante.fr>", root, 1);
    expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    run(&o, &env, &AUTH, "<cardio@hopital-exemple.mssante.fr>", root, 1);
    expect_refusal(&o, "data", ACT_REJECT, "outbound-classic-recipient", "550", "5.7.1");
    /* sendmail: Postfix gives no {rcpt_mailer}; localhost and $myhostname are here */
    {
        static const char *const plain[] = {
            "<root@localhost>", "<root@mx.hopital-exemple.fr>", "<logwatch@MX.Hopital-Exemple.fr.>",
        };
        static const char *const not_here[] = {
            "<root@localhost.gmail.com>", "<root@hopital-exemple.fr>", "<root@[127.0.0.1]>",
        };
        struct msg_policy mp;
        struct mailaddr a;
        unsigned i;

        for (i = 0; i < N(plain); i++) {
            const char *one[1] = { plain[i] };

            run(&o, &env, &LOCAL, "<>", one, 1);
            CHECK_STR(o.step, "none");
        }
        for (i = 0; i < N(not_here); i++) {
            const char *one[1] = { not_here[i] };

            run(&o, &env, &LOCAL, "<>", one, 1);
            CHECK_STR(o.step, "end");
            CHECK(o.v.action == ACT_REJECT);
        }
        /* the macro, when there is one, is what counts */
        msgpol_begin(&mp, &env, &LOCAL);
        CHECK(addr_parse("<root@localhost>", &a, NULL) == ADDR_OK);
        CHECK(msgpol_delivered_here(&mp, &a, NULL));
        CHECK(!msgpol_delivered_here(&mp, &a, "smtp"));
        CHECK(msgpol_delivered_here(&mp, &a, "local"));
        CHECK(addr_parse("<root@elsewhere.example>", &a, NULL) == ADDR_OK);
        CHECK(msgpol_delivered_here(&mp, &a, "local"));
        CHECK(!msgpol_delivered_here(&mp, &a, ""));
        /* no j macro: only localhost */
        msgpol_begin(&mp, &env, &OUTSIDE);
        CHECK(addr_parse("<root@mx.hopital-exemple.fr>", &a, NULL) == ADDR_OK);
        CHECK(!msgpol_delivered_here(&mp, &a, NULL));
    }
    /* from the outside with no {rcpt_mailer} (an MTA that sent no macro):
     * the domain decides, and refuses */
    {
        static const char *const one[1] = { "<root@localhost>" };
        struct msg_policy mp;

        msgpol_begin(&mp, &env, &OUTSIDE);
        CHECK(msgpol_sender(&mp, "<dr@chu-lille.mssante.fr>").action == ACT_CONTINUE);
        CHECK(msgpol_recipient(&mp, one[0], NULL, NULL, NULL).action == ACT_REJECT);
    }
    /* a mailbox of LocalDomains delivered by local(8) is a local mailbox */
    run(&o, &env, &LOCAL, "<root@mx.hopital-exemple.fr>", local_here, 1);
    expect_refusal(&o, "end", ACT_REJECT, "inbound-classic-sender", "550", "5.7.1");
    run(&o, &env, &OUTSIDE, "<dr@chu-lille.mssante.fr>", local_here, 1);
    CHECK_STR(o.step, "none");
}

static const struct test_case cases[] = {
    { "inside: the outbound rule holds whatever the sender", test_inside_any_sender },
    { "outside: the operator's own domain forged", test_own_domain_forged },
    { "operator certificate: off, log, enforce", test_operator_certificate },
    { "route-form addresses from both sides", test_route_addresses },
    { "system recipients delivered on this machine", test_system_recipient },
};
TEST_MAIN(cases)
