/*
 * stage_forward.c - the forwarding stage of the pipeline: the rules and
 * the content-free notices (the steps are in stage_forward.h).
 *
 * Notes on the choices made here:
 *  - Every change is decided before any is made, and the only step that
 *    can fail for reasons outside the MTA (queuing the notices in Redis)
 *    comes before the first recipient is added: a failure answers 451 and
 *    Postfix discards the milter's changes, so a message is never half
 *    forwarded.  A notice queued for a message that then fails anyway is
 *    sent twice at worst (delivery is at least once, notify/queue.h).
 *  - Rules are read once per message, at DATA, so that the pipeline
 *    knows then whether this stage has anything to do (pipeline/early.h):
 *    from the copy kept in memory while it is fresh, else in one pipelined
 *    round trip for all local recipients; a rule changed with mssantectl
 *    applies on every MX within a second (milter/callbacks.c).  When Redis cannot be read
 *    the store answers from the copy however old (forward/cache.h): mail
 *    to the local mailboxes keeps flowing, under the last rules known.
 *    Only a daemon that never read them answers 451.
 *  - The rules are read before the whitelist is taken, so that no Redis
 *    round trip happens while the list in force is held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "forward/plan.h"
#include "forward/rules.h"
#include "pipeline/stage.h"
#include "pipeline/stage_forward.h"
#include "policy/replies.h"
#include "stats/stats.h"

/* ------------------------------------------------------------------ */
/* Set-up                                                               */
/* ------------------------------------------------------------------ */

const char *forwarding_config_warning(const struct rules_settings *rules, bool redis)
{
    if (!rules->forwarding || redis)
        return NULL;
    return "Redis is not configured: forwarding rules and notices are off, and a locally "
           "submitted message from the trust space to a classic address is held";
}

/* ------------------------------------------------------------------ */
/* Recipients                                                           */
/* ------------------------------------------------------------------ */

static void lookup_free(struct fwd_lookup *lk)
{
    size_t k;

    for (k = 0; lk->rules != NULL && k < lk->n_local; k++)
        fwd_rule_free(lk->rules[k]);
    free(lk->rules);
    free(lk->mailboxes);
    free(lk->mb_ptrs);
    free(lk->mb_of);
    memset(lk, 0, sizeof(*lk));
}

void forwarding_reset(struct fwd_msg *fm)
{
    size_t i;

    for (i = 0; i < fm->n_rcpts; i++)
        free(fm->rcpts[i].raw);
    fm->n_rcpts = 0;
    lookup_free(&fm->lk);
    fm->oom = false;
    fm->log[0] = '\0';
}

void forwarding_free(struct fwd_msg *fm)
{
    forwarding_reset(fm);
    free(fm->rcpts);
    fm->rcpts = NULL;
    fm->cap = 0;
}

void forwarding_rcpt(struct fwd_msg *fm, const char *raw, const struct mailaddr *addr,
                     enum addr_class cls)
{
    struct fwd_msg_rcpt *r;

    if (fm->n_rcpts == fm->cap) {
        size_t cap = fm->cap ? fm->cap * 2 : 8;
        struct fwd_msg_rcpt *grown = realloc(fm->rcpts, cap * sizeof(*grown));

        if (grown == NULL) {
            fm->oom = true;
            return;
        }
        fm->rcpts = grown;
        fm->cap = cap;
    }
    r = &fm->rcpts[fm->n_rcpts];
    if ((r->raw = strdup(raw)) == NULL) {
        fm->oom = true;
        return;
    }
    r->cls = addr != NULL ? cls : CLASS_INVALID;
    if (addr != NULL)
        r->addr = *addr;
    else
        memset(&r->addr, 0, sizeof(r->addr));
    fm->n_rcpts++;
}

/* ------------------------------------------------------------------ */
/* End of message                                                       */
/* ------------------------------------------------------------------ */

/* Rules and notices need the store's two operations (Redis). */
static bool active(const struct rules_settings *rules, const struct pl_store *store)
{
    return rules->forwarding && store != NULL && store->rules_get != NULL
           && store->notices_queue != NULL;
}

static bool trust_space(enum addr_class c)
{
    return c == CLASS_MSSANTE || c == CLASS_PATIENT;
}

/*
 * Without Redis there is no notice queue, and forwarding_eom() holds a
 * forward made elsewhere instead: that too replaces the refusal, but only
 * for a sender that is not ours (the author of a message a mailbox
 * redirected, who must not get a bounce for a recipient it never wrote
 * to).  A local sender's own message to a classic address stays refused.
 */
bool forwarding_replaces(const struct rules_settings *rules, const struct pl_store *store,
                         const struct msg_policy *mp, const struct verdict *v)
{
    if (!rules->forwarding || !mp->local_submission || !mp->sender_valid
        || !trust_space(mp->sender_class) || v->action != ACT_REJECT
        || v->rule != RULE_OUTBOUND_CLASSIC)
        return false;
    return active(rules, store) || !strlist_contains(&rules->local_domains, mp->sender.domain);
}

/* The state of one end-of-message run (the rules: fm->lk). */
struct eom {
    struct fwd_msg *fm;
    const char *qid;
    struct fwd_rcpt *in;               /* the plan's view of the recipients */
    const char *patient_domain;        /* PatientDomain: addresses never shown in clear */
};

static void eom_free(struct eom *e)
{
    free(e->in);
}

static int eom_alloc(struct eom *e)
{
    e->in = calloc(e->fm->n_rcpts, sizeof(*e->in));
    return e->in != NULL ? 0 : -1;
}

static int lookup_alloc(struct fwd_lookup *lk, size_t n)
{
    lk->mailboxes = calloc(n, sizeof(*lk->mailboxes));
    lk->mb_ptrs = calloc(n, sizeof(*lk->mb_ptrs));
    lk->mb_of = calloc(n, sizeof(*lk->mb_of));
    lk->rules = calloc(n, sizeof(*lk->rules));
    return lk->mailboxes && lk->mb_ptrs && lk->mb_of && lk->rules ? 0 : -1;
}

/* Which recipients are local mailboxes, whose rules apply. */
static void find_local(const struct fwd_msg *fm, struct fwd_lookup *lk,
                       const struct policy_env *base)
{
    size_t i;

    for (i = 0; i < fm->n_rcpts; i++) {
        const struct fwd_msg_rcpt *r = &fm->rcpts[i];
        char text[FWD_ADDR_MAX];

        lk->mb_of[i] = -1;
        if (r->cls != CLASS_MSSANTE || !policy_is_local_domain(base, r->addr.domain))
            continue;
        addr_format(&r->addr, text, sizeof(text));
        if (fwd_normalize_mailbox(text, lk->mailboxes[lk->n_local], FWD_ADDR_MAX, NULL) < 0)
            continue;
        lk->mb_ptrs[lk->n_local] = lk->mailboxes[lk->n_local];
        lk->mb_of[i] = (long)lk->n_local++;
    }
}

/*
 * The rules of the local recipients into fm->lk, once: from the store
 * (the copy in memory while fresh, Redis, or the copy however old: then
 * lk.from_memory, and ERR says why Redis could not be read).  0, or -1
 * with ERR set, fm->lk left empty (to be tried again).
 */
static int lookup(struct fwd_msg *fm, const struct pl_store *store,
                  const struct policy_env *base, struct err *err)
{
    struct fwd_lookup *lk = &fm->lk;
    size_t k;

    err_clear(err);
    if (lk->done)
        return 0;
    lookup_free(lk);
    if (fm->oom || lookup_alloc(lk, fm->n_rcpts) < 0) {
        lookup_free(lk);
        err_set(err, "out of memory");
        return -1;
    }
    find_local(fm, lk, base);
    if (lk->n_local > 0
        && store->rules_get(store->arg, lk->mb_ptrs, lk->n_local, lk->rules, &lk->from_memory,
                            err) < 0) {
        lookup_free(lk);
        return -1;
    }
    for (k = 0; k < lk->n_local; k++)
        lk->n_rules += lk->rules[k] != NULL;
    lk->done = true;
    return 0;
}

void forwarding_data(struct fwd_msg *fm, const struct rules_settings *rules,
                     const struct pl_store *store, const struct policy_env *base,
                     const char *qid)
{
    struct err err;

    if (!active(rules, store) || fm->n_rcpts == 0)
        return;
    if (lookup(fm, store, base, &err) < 0) {
        log_debug("%s: forwarding rules not read at DATA (%s): tried again at end of message",
                  pl_qid(qid), err.msg);
        return;
    }
    if (fm->lk.from_memory) {
        log_warning("%s: forwarding rules unavailable (%s): the copy in memory applies",
                    pl_qid(qid), err.msg);
        snprintf(fm->log, sizeof(fm->log), " fwd=memory");
    }
}

bool forwarding_pending(const struct fwd_msg *fm, const struct rules_settings *rules,
                        const struct pl_store *store, const struct msg_policy *mp)
{
    if (!rules->forwarding || fm->n_rcpts == 0)
        return false;
    if (fm->oom)
        return true;
    if (!active(rules, store))
        return mp->local_submission;
    return !fm->lk.done || fm->lk.n_rules > 0;
}

/* Compute the plan against the whitelist in force (LISTS).  0, 1 (no
 * list: V says so) or -1 (out of memory). */
static int compute(struct eom *e, const struct pl_lists *lists, const struct policy_env *base,
                   const struct msg_policy *mp, struct fwd_plan *plan, struct verdict *v)
{
    struct policy_env env = *base;
    struct fwd_plan_input pin;
    size_t i;
    int rc;

    memset(plan, 0, sizeof(*plan));
    lists->enter(lists->arg, &env);
    if (env.is_listed == NULL) {
        lists->leave(lists->arg, &env);
        reply_no_whitelist(v);
        return 1;
    }
    for (i = 0; i < e->fm->n_rcpts; i++) {
        const struct fwd_msg_rcpt *r = &e->fm->rcpts[i];

        e->in[i].raw = r->raw;
        e->in[i].addr = r->cls != CLASS_INVALID ? &r->addr : NULL;
        e->in[i].cls = r->cls;
        e->in[i].rule = e->fm->lk.mb_of != NULL && e->fm->lk.mb_of[i] >= 0
                        ? e->fm->lk.rules[e->fm->lk.mb_of[i]] : NULL;
    }
    memset(&pin, 0, sizeof(pin));
    pin.env = &env;
    pin.local_submission = mp->local_submission;
    pin.sender = mp->sender_valid ? &mp->sender : NULL;
    pin.rcpts = e->in;
    pin.n_rcpts = e->fm->n_rcpts;
    rc = fwd_plan_compute(&pin, plan);
    lists->leave(lists->arg, &env);
    return rc;
}

/* ADDR for the log: a patient's as LogPatientId says (common/logid.h). */
static const char *shown(const struct eom *e, const char *addr, char *buf, size_t size)
{
    pl_log_patients(buf, size, addr, e->patient_domain);
    return buf;
}

/* What the plan does, at debug level (the verdict line has the counts). */
static void log_plan(const struct eom *e, const struct fwd_plan *p, bool dry_run)
{
    const char *q = pl_qid(e->qid), *how = dry_run ? " (dry run)" : "";
    char a[FWD_ADDR_MAX + 64], b[FWD_ADDR_MAX + 64];
    size_t i;

    for (i = 0; i < p->n_add; i++)
        log_debug("%s: forwarding: add <%s>%s", q, shown(e, p->add[i], a, sizeof(a)), how);
    for (i = 0; i < p->n_remove; i++)
        log_debug("%s: forwarding: remove %s%s", q, shown(e, p->remove[i], a, sizeof(a)), how);
    for (i = 0; i < p->n_notices; i++)
        log_debug("%s: forwarding: notify <%s> about %s%s", q,
                  shown(e, p->notices[i].target, a, sizeof(a)),
                  p->notices[i].mailbox[0] ? shown(e, p->notices[i].mailbox, b, sizeof(b))
                                           : "(forward made elsewhere)", how);
    for (i = 0; i < p->n_skipped; i++)
        log_warning("%s: forwarding: rule of %s: target \"%s\" is not usable, skipped", q,
                    shown(e, p->skipped[i].mailbox, a, sizeof(a)),
                    shown(e, p->skipped[i].target, b, sizeof(b)));
}

/* Make the changes: every one was decided, the notices are queued. */
static struct verdict apply_plan(const struct pl_mta *mta, const struct eom *e,
                                 const struct fwd_plan *p)
{
    char bracketed[FWD_ADDR_MAX + 2];
    struct verdict v = verdict_continue();
    size_t i;

    for (i = 0; i < p->n_add; i++) {
        snprintf(bracketed, sizeof(bracketed), "<%s>", p->add[i]);
        if (mta->add_rcpt(mta->ctx, bracketed) < 0) {
            log_error("%s: forwarding: smfi_addrcpt %s failed", pl_qid(e->qid), bracketed);
            reply_internal(&v);
            return v;
        }
    }
    for (i = 0; i < p->n_remove; i++) {
        if (mta->del_rcpt(mta->ctx, p->remove[i]) < 0) {
            log_error("%s: forwarding: smfi_delrcpt %s failed", pl_qid(e->qid),
                      p->remove[i]);
            reply_internal(&v);
            return v;
        }
    }
    return v;
}

/* Without Redis: no rules, no notices; a forward made elsewhere is held. */
static struct verdict without_redis(struct eom *e, const struct pl_lists *lists,
                                    const struct policy_env *base, const struct msg_policy *mp)
{
    struct fwd_plan plan;
    struct verdict v = verdict_continue();
    int rc = compute(e, lists, base, mp, &plan, &v);

    if (rc < 0) {
        reply_internal(&v);
        return v;
    }
    if (rc == 0 && plan.n_reinjected > 0) {
        snprintf(e->fm->log, sizeof(e->fm->log), " fwd=no-redis");
        reply_forward_no_redis(&v);
    }
    fwd_plan_free(&plan);
    return v;
}

/* The rules of the local recipients, unless read at DATA.  -1 with V
 * set (451) when neither Redis nor the copy in memory can answer. */
static int read_rules(struct eom *e, const struct pl_store *store,
                      const struct policy_env *base, struct verdict *v)
{
    const char *q = pl_qid(e->qid);
    bool before = e->fm->lk.done;
    struct err err;

    if (lookup(e->fm, store, base, &err) == 0) {
        if (!before && e->fm->lk.from_memory)
            log_warning("%s: forwarding rules unavailable (%s): the copy in memory applies", q,
                        err.msg);
        return 0;
    }
    log_warning("%s: forwarding rules unavailable: %s", q, err.msg);
    snprintf(e->fm->log, sizeof(e->fm->log), " fwd=unavailable");
    reply_forward_rules_down(v);
    return -1;
}

/* Queue the plan's notices before any change.  0, or -1 with V set (451). */
static int queue_notices(const struct eom *e, const struct pl_store *store,
                         const struct fwd_plan *p, struct verdict *v)
{
    const char **mailboxes = calloc(p->n_notices, sizeof(*mailboxes));
    const char **targets = calloc(p->n_notices, sizeof(*targets));
    struct err err;
    size_t i;
    int rc = -1;

    if (mailboxes == NULL || targets == NULL) {
        err_set(&err, "out of memory");
    } else {
        for (i = 0; i < p->n_notices; i++) {
            mailboxes[i] = p->notices[i].mailbox;
            targets[i] = p->notices[i].target;
        }
        rc = store->notices_queue(store->arg, mailboxes, targets, p->n_notices, &err);
    }
    free(mailboxes);
    free(targets);
    if (rc < 0) {
        log_warning("%s: cannot queue %zu notice(s): %s", pl_qid(e->qid), p->n_notices,
                    err.msg);
        reply_forward_queue_down(v);
        return -1;
    }
    stats_notify(STATS_NOTIFY_QUEUED, (unsigned)p->n_notices);
    return 0;
}

/* The plan's fields on the verdict line, and its details at debug level. */
static void note_plan(struct eom *e, const struct fwd_plan *plan, bool from_memory,
                      bool dry_run)
{
    struct fwd_msg *fm = e->fm;

    if (!fwd_plan_empty(plan)) {
        fwd_plan_summary(plan, fm->log + 1, sizeof(fm->log) - 1);
        fm->log[0] = ' ';
        log_plan(e, plan, dry_run);
    }
    if (from_memory)
        snprintf(fm->log + strlen(fm->log), sizeof(fm->log) - strlen(fm->log),
                 " fwd=memory");
}

/* 1. the rules, 2. the plan, 3. the notices, 4. the recipients. */
static struct verdict forward(struct eom *e, const struct fwd_eom_ctx *x)
{
    struct verdict v = verdict_continue();
    struct fwd_plan plan;
    int rc;

    if (read_rules(e, x->store, x->base, &v) < 0)
        return v;
    if ((rc = compute(e, x->lists, x->base, x->mp, &plan, &v)) != 0) {
        if (rc < 0)
            reply_internal(&v);
        return v;
    }
    note_plan(e, &plan, e->fm->lk.from_memory, x->rules->dry_run);
    if (!x->rules->dry_run && !fwd_plan_empty(&plan)
        && (plan.n_notices == 0 || queue_notices(e, x->store, &plan, &v) == 0)
        && !plan.hold)
        v = apply_plan(x->mta, e, &plan);
    if (plan.hold && v.action == ACT_CONTINUE)
        reply_forward_hold(&v, plan.hold_reason);
    fwd_plan_free(&plan);
    return v;
}

struct verdict forwarding_eom(struct fwd_msg *fm, const struct fwd_eom_ctx *x)
{
    struct verdict v = verdict_continue();
    struct eom e;

    fm->log[0] = '\0';
    if (!x->rules->forwarding || fm->n_rcpts == 0)
        return v;
    if (fm->oom) {
        reply_internal(&v);
        return v;
    }
    memset(&e, 0, sizeof(e));
    e.fm = fm;
    e.qid = x->qid;
    e.patient_domain = x->base->patient_domain;
    if (eom_alloc(&e) < 0) {
        eom_free(&e);
        reply_internal(&v);
        return v;
    }
    v = active(x->rules, x->store) ? forward(&e, x) : without_redis(&e, x->lists, x->base, x->mp);
    eom_free(&e);
    return v;
}

const char *forwarding_log(const struct fwd_msg *fm)
{
    return fm->log;
}
