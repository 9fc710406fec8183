/*
 * trustspace_fixture.h - what the trust-space tests of tests/unit/policy/
 * share (test_trustspace.c, test_trustspace_boundary.c): a small whitelist
 * with operator certificate CNs, the clients, and run(), which feeds one
 * message through policy/trustspace.c step by step as the milter would
 * (or, for a local submission, through the whole pipeline).
 *
 * Everything is static: each test program has its own copy, and CHECK()
 * counts in that program's testlib.h.  Include it after testlib.h.
 */
#ifndef MSSANTE_TESTS_TRUSTSPACE_FIXTURE_H
#define MSSANTE_TESTS_TRUSTSPACE_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/replies.h"
#include "policy/trustspace.h"
#include "tests/unit/plharness.h"
#include "tests/unit/testlib.h"

/* A program uses only some of what is here. */
#define TS_UNUSED __attribute__((unused))

static TS_UNUSED const char *const listed[] = {
    "chu-lille.mssante.fr", "medecin.mssante.fr", "pharmacien.mssante.fr",
    "mssante.apicrypt.org", "interop-mssante.apicrypt.org",
};

static TS_UNUSED bool array_lookup(const void *ctx, const char *domain)
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
static TS_UNUSED const char *const cn_pairs[][2] = {
    { "chu-lille.mssante.fr", "smtp.chu-lille.fr" },
    { "chu-lille.mssante.fr", "smtp2.chu-lille.fr" },
    { "medecin.mssante.fr", "mx.mailiz.example" },
    { "hopital-exemple.mssante.fr", "mx2.hopital-exemple.fr" },
};
static TS_UNUSED unsigned cn_lookups;

/* policy_env.is_cn_listed: case-insensitive, DOMAIN NULL = any domain. */
static TS_UNUSED bool pair_lookup(const void *ctx, const char *domain, const char *cn)
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

static TS_UNUSED const char *const locals[] = { "hopital-exemple.mssante.fr" };
static TS_UNUSED const struct policy_env env = {
    array_lookup, listed, locals, 1, "patient.mssante.fr", pair_lookup
};
static TS_UNUSED const struct policy_env env_nocn = {
    array_lookup, listed, locals, 1, "patient.mssante.fr", NULL
};

/* Clients (msgpol_begin).  OUTSIDE: an Internet client, no certificate. */
static TS_UNUSED const struct msg_client OUTSIDE = {
    false, false, false, NULL, CERT_MODE_OFF, NULL
};
static TS_UNUSED const struct msg_client INTERNAL = {
    false, true, false, NULL, CERT_MODE_OFF, NULL
};
static TS_UNUSED const struct msg_client AUTH = {
    false, false, true, NULL, CERT_MODE_OFF, NULL
};
static TS_UNUSED const struct msg_client LOCAL = {
    true, false, false, NULL, CERT_MODE_OFF, "MX.Hopital-Exemple.FR."
};

/* An outside client presenting CN (NULL: no certificate) under MODE. */
static TS_UNUSED struct msg_client outside_cert(const char *cn, enum cert_mode mode)
{
    struct msg_client c = OUTSIDE;

    c.cert_cn = cn;
    c.cert_mode = mode;
    return c;
}
static TS_UNUSED const struct policy_env env_nolist = {
    NULL, NULL, locals, 1, "patient.mssante.fr", NULL
};

/* What happened to one message fed through every step. */
struct outcome {
    const char *step;      /* "mail", "rcpt", "data", "end" or "none" */
    struct verdict v;      /* the first verdict that was not CONTINUE */
    struct msg_policy mp;  /* state at the end */
};

/* The client CLIENT describes, as the MTA shows it to the pipeline. */
static TS_UNUSED struct plh_client plh_client_of(const struct msg_client *client)
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
static TS_UNUSED void run_local(struct outcome *o, const struct policy_env *e,
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
    pl_queue_id(&c, "4F3A2B1C0D");   /* cleanup's queue id: a hold is signed with it */
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
static TS_UNUSED void run(struct outcome *o, const struct policy_env *e,
                          const struct msg_client *client, const char *sender,
                          const char *const *rcpts, unsigned n)
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

static TS_UNUSED bool text_ok(const char *t)
{
    const unsigned char *p = (const unsigned char *)t;

    for (; *p; p++) {
        if (*p < 0x20 || *p > 0x7e)
            return false;
    }
    return strstr(t, " / ") != NULL && strlen(t) <= 450;
}

static TS_UNUSED void expect_refusal(const struct outcome *o, const char *step,
                                     enum action a, const char *rule, const char *rcode,
                                     const char *xcode)
{
    CHECK_STR(o->step, step);
    CHECK(o->v.action == a);
    CHECK_STR(rule_name(o->v.rule), rule);
    CHECK_STR(o->v.rcode, rcode);
    CHECK_STR(o->v.xcode, xcode);
    CHECK(text_ok(o->v.text));
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

#endif
