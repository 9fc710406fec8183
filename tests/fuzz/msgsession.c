/*
 * msgsession.c - the pipeline (pipeline/pipeline.h) as the session of
 * fuzz_message.c: the daemon's code, but for the world around it (see
 * msgsession.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "pipeline/pipeline.h"
#include "policy/held.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/msgsession.h"

static char *pharmacies[] = { PHARMACY, NULL };
static const unsigned char held_key[HELD_KEY_BYTES] = { 0x6d, 0x73, 0x73 };
static char *local_domains[] = { FUZZ_LOCAL_DOMAIN, NULL };

static void lists_enter(void *arg, struct policy_env *env)
{
    const struct policy_env *fixed = fuzz_policy_env();

    (void)arg;
    env->is_listed = fixed->is_listed;
    env->is_cn_listed = fixed->is_cn_listed;
    env->lookup_ctx = fixed->lookup_ctx;
}

static void lists_leave(void *arg, struct policy_env *env)
{
    (void)arg;
    env->is_listed = NULL;
    env->is_cn_listed = NULL;
    env->lookup_ctx = NULL;
}

static int conv_is_open(void *arg, const char *mailbox, const char *patient, struct err *err)
{
    const struct pipe_session *s = arg;

    (void)mailbox;
    (void)patient;
    if (s->world->conv == CONV_DOWN)
        err_set(err, "the script says the store is down");
    return (int)s->world->conv;
}

static int conv_record(void *arg, bool close, const char *mailbox, const char *const *patients,
                       size_t n, const char *qid, long long now, long long ttl, int *result,
                       struct err *err)
{
    const struct pipe_session *s = arg;

    (void)close;
    (void)mailbox;
    (void)patients;
    (void)qid;
    (void)now;
    (void)ttl;
    if (s->world->conv == CONV_DOWN) {
        err_set(err, "the script says the store is down");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        result[i] = 1;
    return 0;
}

static int rules_get(void *arg, const char *const *mailboxes, size_t n, struct fwd_rule **rules,
                     bool *from_memory, struct err *err)
{
    (void)arg;
    (void)mailboxes;
    (void)err;
    *from_memory = false;
    for (size_t i = 0; i < n; i++)
        rules[i] = NULL;
    return 0;
}

static int notices_queue(void *arg, const char *const *mailboxes, const char *const *targets,
                         size_t n, struct err *err)
{
    (void)arg;
    (void)mailboxes;
    (void)targets;
    (void)n;
    (void)err;
    return 0;
}

static int mta_header(void *ctx, const char *name, const char *value)
{
    (void)ctx;
    (void)name;
    (void)value;
    return 0;
}

static int mta_change_header(void *ctx, const char *name, int index, const char *value)
{
    (void)index;
    return mta_header(ctx, name, value);
}

static int mta_rcpt(void *ctx, const char *rcpt)
{
    (void)ctx;
    (void)rcpt;
    return 0;
}

static int mta_del_rcpt(void *ctx, const char *rcpt)
{
    struct pipe_session *s = ctx;

    if (s->n_removed < MAX_RCPT)
        snprintf(s->removed[s->n_removed++], ARG_MAX, "%s", rcpt);
    return 0;
}

static int mta_quarantine(void *ctx, const char *reason)
{
    return mta_rcpt(ctx, reason);
}

/* The pipeline's answer as the verdict the driver reads: a hold is no
 * acceptance. */
static struct verdict verdict_of(const struct pl_answer *a)
{
    struct verdict v = verdict_continue();

    if (a->code == PL_REJECT || a->code == PL_TEMPFAIL)
        v = a->reply;
    else if (a->code == PL_ACCEPT)
        v.action = ACT_HOLD;
    return v;
}

static void log_discard(enum log_level level, const char *text, void *arg)
{
    (void)level;
    (void)text;
    (void)arg;
}

void pipe_init(struct pipe_session *s, const struct world *w)
{
    memset(s, 0, sizeof(*s));
    s->world = w;
    s->rules.local_domains.v = local_domains;
    s->rules.local_domains.n = 1;
    s->rules.patient_domain = FUZZ_PATIENT_DOMAIN;
    s->rules.operator_certificate = CERT_MODE_OFF;
    s->rules.forwarding = true;
    s->rules.pharmacy_mailboxes.v = pharmacies;
    s->rules.pharmacy_mailboxes.n = 1;
    s->rules.conversation_ttl = 30 * 86400;
    s->store = (struct pl_store){
        .conv_is_open = conv_is_open,
        .conv_record = conv_record,
        .rules_get = rules_get,
        .notices_queue = notices_queue,
        .arg = s,
    };
    s->svc.lists = (struct pl_lists){ lists_enter, lists_leave, NULL };
    s->svc.store = &s->store;
    s->svc.held_key = held_key;         /* a message held is marked as the daemon does */
    log_set_sink(log_discard, NULL);
}

/* The SET lines apply from the next step on (the patient keys are read at
 * each step, like a configuration in force). */
static struct pipe_session *pipe_of(void *p)
{
    struct pipe_session *s = p;

    s->rules.patient_key_warn = s->world->ins_warn;
    s->rules.fin_content_accept = s->world->fin_accept;
    return s;
}

void pipe_close(struct pipe_session *s)
{
    if (s->open)
        pl_close(&s->c);
    s->open = false;
}

static void pipe_connect(void *p, bool local_submission)
{
    struct pipe_session *s = pipe_of(p);
    struct sockaddr_in sin;
    struct pl_answer a;

    pipe_close(s);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(local_submission ? INADDR_LOOPBACK : 0xc0000201u);
    sin.sin_port = htons(local_submission ? 0 : 40000);
    a = pl_connect(&s->c, &s->svc, &s->rules, false,
                   local_submission ? "localhost" : "client.example",
                   (const struct sockaddr *)&sin, NULL);
    s->open = a.code == PL_CONTINUE;
}

static struct verdict pipe_mail(void *p, const char *arg, bool authenticated)
{
    struct pipe_session *s = pipe_of(p);
    /* a queue id, as Postfix gives: a hold is signed with it */
    struct pl_mail_in in = { arg, "4FUZZ0QID", authenticated ? "user" : NULL, NULL, NULL };
    struct pl_answer a = pl_mail(&s->c, &in);

    s->n_removed = 0;
    return verdict_of(&a);
}

/* No {rcpt_mailer}: the recipient's domain says whether it is delivered
 * here (localhost only: no $myhostname). */
static struct verdict pipe_rcpt(void *p, const char *arg)
{
    struct pl_answer a = pl_rcpt(&pipe_of(p)->c, arg, NULL);

    return verdict_of(&a);
}

static struct verdict pipe_data(void *p)
{
    struct pl_answer a = pl_data(&pipe_of(p)->c);

    return verdict_of(&a);
}

static void pipe_header(void *p, const char *name, const char *value)
{
    pl_header(&pipe_of(p)->c, name, value);
}

static void pipe_eoh(void *p)
{
    pl_eoh(&pipe_of(p)->c);
}

static void pipe_body(void *p, const void *buf, size_t len)
{
    (void)pl_body(&pipe_of(p)->c, buf, len);
}

static struct verdict pipe_eom(void *p)
{
    struct pipe_session *s = pipe_of(p);
    const struct pl_mta mta = {
        mta_header, mta_change_header, mta_rcpt, mta_del_rcpt, mta_quarantine, s,
    };
    struct pl_answer a = pl_eom(&s->c, &mta);

    return verdict_of(&a);
}

static void pipe_abort(void *p)
{
    pl_abort(&pipe_of(p)->c);
}

static bool pipe_removed(void *p, const char *rcpt)
{
    const struct pipe_session *s = p;

    for (unsigned i = 0; i < s->n_removed; i++)
        if (strcmp(s->removed[i], rcpt) == 0)
            return true;
    return false;
}

const struct session_ops pipe_ops = {
    pipe_connect, pipe_mail, pipe_rcpt, pipe_data, pipe_header, pipe_eoh, pipe_body,
    pipe_eom, pipe_abort, pipe_removed,
};
