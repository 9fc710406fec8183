/*
 * test_message.c - the trust-space rules (policy/trustspace.c), the reply
 * texts they produce (policy/replies.c), and the deferral of a local
 * submission's refusals to end of message (pipeline/pipeline.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/replies.h"
#include "policy/trustspace.h"
#include "tests/unit/plharness.h"
#include "tests/unit/testlib.h"

static const char *const listed[] = {
    "chu-lille.mssante.fr", "medecin.mssante.fr", "pharmacien.mssante.fr",
    "mssante.apicrypt.org", "interop-mssante.apicrypt.org",
};

static bool array_lookup(const void *ctx, const char *domain)
{
    const char *const *names = ctx;
    unsigned i;

    for (i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
        if (strcmp(names[i], domain) == 0)
            return true;
    }
    return false;
}

/* (domain, operator certificate CN) pairs, as the whitelist lists them. */
static const char *const cn_pairs[][2] = {
    { "chu-lille.mssante.fr", "smtp.chu-lille.fr" },
    { "chu-lille.mssante.fr", "smtp2.chu-lille.fr" },
    { "medecin.mssante.fr", "mx.mailiz.example" },
    { "hopital-exemple.mssante.fr", "mx2.hopital-exemple.fr" },
};
static unsigned cn_lookups;

/* policy_env.is_cn_listed: case-insensitive, DOMAIN NULL = any domain. */
static bool pair_lookup(const void *ctx, const char *domain, const char *cn)
{
    unsigned i;

    (void)ctx;
    cn_lookups++;
    for (i = 0; i < sizeof(cn_pairs) / sizeof(cn_pairs[0]); i++) {
        if ((domain == NULL || strcmp(cn_pairs[i][0], domain) == 0)
            && strcasecmp(cn_pairs[i][1], cn) == 0)
            return true;
    }
    return false;
}

static const char *const locals[] = { "hopital-exemple.mssante.fr" };
static const struct policy_env env = {
    array_lookup, listed, locals, 1, "patient.mssante.fr", pair_lookup
};
static const struct policy_env env_nocn = {
    array_lookup, listed, locals, 1, "patient.mssante.fr", NULL
};

/* Clients (msgpol_begin).  OUTSIDE: an Internet client, no certificate. */
static const struct msg_client OUTSIDE = { false, false, false, NULL, CERT_MODE_OFF, NULL };
static const struct msg_client INTERNAL = { false, true, false, NULL, CERT_MODE_OFF, NULL };
static const struct msg_client AUTH = { false, false, true, NULL, CERT_MODE_OFF, NULL };
static const struct msg_client LOCAL = {
    true, false, false, NULL, CERT_MODE_OFF, "MX.Hopital-Exemple.FR."
};

/* An outside client presenting CN (NULL: no certificate) under MODE. */
static struct msg_client outside_cert(const char *cn, enum cert_mode mode)
{
    struct msg_client c = OUTSIDE;

    c.cert_cn = cn;
    c.cert_mode = mode;
    return c;
}
static const struct policy_env env_nolist = {
    NULL, NULL, locals, 1, "patient.mssante.fr", NULL
};

/* What happened to one message fed through every step. */
struct outcome {
    const char *step;      /* "mail", "rcpt", "data", "end" or "none" */
    struct verdict v;      /* the first verdict that was not CONTINUE */
    struct msg_policy mp;  /* state at the end */
};

/* The client CLIENT describes, as the MTA shows it to the pipeline. */
static struct plh_client plh_client_of(const struct msg_client *client)
{
    struct plh_client cl = client->local_submission ? PLH_LOCAL
                           : client->internal_host ? PLH_INTERNAL
                           : client->authenticated ? PLH_AUTH : PLH_OUTSIDE;

    cl.myhostname = client->myhostname;
    cl.cert_cn = client->cert_cn;
    return cl;
}

/*
 * A local submission goes through the pipeline (pipeline/pipeline.c),
 * which keeps its refusals for end of message: every step answers
 * CONTINUE, and the end of message says the message's fate (a refusal,
 * or a hold).  Forwarding is off (it would take over an outbound-classic
 * refusal of a re-injected forward): the trust-space rules alone.
 */
static void run_local(struct outcome *o, const struct policy_env *e,
                      const struct msg_client *client, const char *sender,
                      const char *const *rcpts, unsigned n)
{
    struct plh_client cl = plh_client_of(client);
    static struct pl_conn c;
    struct pl_answer a;
    unsigned i;

    plh_init();
    plh_env = e;
    plh_rules.operator_certificate = client->cert_mode;
    plh_rules.forwarding = false;
    CHECK(plh_connect(&c, &cl).code == PL_CONTINUE);
    CHECK(plh_mail(&c, &cl, sender).code == PL_CONTINUE);
    for (i = 0; i < n; i++) {
        bool here = rcpts[i][0] == '=';

        CHECK(pl_rcpt(&c, rcpts[i] + (here ? 1 : 0), here ? "local" : NULL).code
              == PL_CONTINUE);
    }
    CHECK(pl_data(&c).code == PL_CONTINUE);
    plh_content(&c, NULL, NULL);
    a = pl_eom(&c, &plh_mta);
    o->mp = c.msg.mp;
    if (a.code == PL_REJECT || a.code == PL_TEMPFAIL) {
        o->step = "end";
        o->v = a.reply;
    } else if (a.code == PL_ACCEPT) {
        CHECK(c.msg.fate.action == ACT_HOLD);
        o->step = "end";
        o->v = c.msg.fate;
    }
    pl_close(&c);
}

/*
 * Feed a message like the milter does: stop at the first refusal (as
 * Postfix would), except that a refused RCPT only drops that recipient.
 * A recipient written "=addr" is one Postfix delivers on this machine
 * ({rcpt_mailer} local); the others get "smtp" from an SMTP client and no
 * {rcpt_mailer} at all from a local submission, as Postfix does.
 */
static void run(struct outcome *o, const struct policy_env *e, const struct msg_client *client,
                const char *sender, const char *const *rcpts, unsigned n)
{
    struct verdict v;
    unsigned i, accepted = 0;

    memset(o, 0, sizeof(*o));
    o->step = "none";
    if (client != NULL && client->local_submission) {
        run_local(o, e, client, sender, rcpts, n);
        return;
    }
    msgpol_begin(&o->mp, e, client);
    v = msgpol_sender(&o->mp, sender);
    if (v.action != ACT_CONTINUE) {
        o->step = "mail";
        o->v = v;
        return;
    }
    for (i = 0; i < n; i++) {
        bool here = rcpts[i][0] == '=';
        const char *mailer = here ? "local" : "smtp";

        v = msgpol_recipient(&o->mp, rcpts[i] + (here ? 1 : 0), mailer, NULL, NULL);
        if (v.action == ACT_CONTINUE) {
            accepted++;
        } else if (strcmp(o->step, "none") == 0) {
            o->step = "rcpt";
            o->v = v;
        }
    }
    if (accepted == 0)
        return;
    v = msgpol_data(&o->mp);
    if (v.action != ACT_CONTINUE) {
        o->step = "data";
        o->v = v;
        return;
    }
    v = msgpol_end(&o->mp);
    if (v.action != ACT_CONTINUE && strcmp(o->step, "none") == 0) {
        o->step = "end";
        o->v = v;
    }
}

static bool text_ok(const char *t)
{
    const unsigned char *p = (const unsigned char *)t;

    for (; *p; p++) {
        if (*p < 0x20 || *p > 0x7e)
            return false;
    }
    return strstr(t, " / ") != NULL && strlen(t) <= 450;
}

static void expect_refusal(const struct outcome *o, const char *step, enum action a,
                           const char *rule, const char *rcode, const char *xcode)
{
    CHECK_STR(o->step, step);
    CHECK(o->v.action == a);
    CHECK_STR(rule_name(o->v.rule), rule);
    CHECK_STR(o->v.rcode, rcode);
    CHECK_STR(o->v.xcode, xcode);
    CHECK(text_ok(o->v.text));
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

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

int main(void)
{
    test_outbound();
    test_outbound_lookalikes();
    test_many_offenders();
    test_duplicate_offender();
    test_long_offenders();
    test_authenticated();
    test_inbound();
    test_recipient_outputs();
    test_malformed();
    test_local_submission();
    test_no_whitelist();
    test_replies();
    test_inside_any_sender();
    test_own_domain_forged();
    test_operator_certificate();
    test_route_addresses();
    test_system_recipient();
    TEST_DONE();
}
