/*
 * forwarding.c - the forwarding rules and notices inside the daemon (the
 * steps are in forwarding.h).
 *
 * Notes on the choices made here:
 *  - Every change is decided before any is made, and the only step that
 *    can fail for reasons outside libmilter (queuing the notices in Redis)
 *    comes before the first smfi_addrcpt: a failure answers 451 and
 *    Postfix discards the milter's changes, so a message is never half
 *    forwarded.  A notice queued for a message that then fails anyway is
 *    sent twice at worst (delivery is at least once, notify/queue.h).
 *  - Rules are read for every message (one pipelined round trip for all
 *    local recipients): a rule changed with mssantectl applies to the next
 *    message, on every MX.  A copy of all the rules is kept in memory for
 *    when Redis cannot be read, as the whitelist is: mail to the local
 *    mailboxes keeps flowing, under the last rules known (a redirect still
 *    goes where it went).  Only a daemon that never read them answers
 *    451.  The copy is checked against the rules' version counter at most
 *    every WhitelistPoll (how often the daemon looks for new versions in
 *    Redis), by the milter thread that has just read Redis.
 *  - The rules are read before the whitelist is taken (live_acquire), so
 *    that no Redis round trip happens while the list in force is held.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "forward/plan.h"
#include "forward/rules.h"
#include "milter/forwarding.h"
#include "common/redis_pool.h"
#include "notify/queue.h"
#include "policy/replies.h"
#include "stats/stats.h"
#include "whitelist/live.h"
#include "whitelist/store.h"
#include "whitelist/whitelist.h"

#define LEASE_MIN_MS (5 * 60 * 1000LL)   /* notice claim lease, notify/queue.h */

#define RULE_RULES_DOWN  "forward-rules-unavailable"
#define RULE_QUEUE_DOWN  "forward-notify-queue"
#define RULE_HOLD        "forward-classic-only"
#define RULE_NO_REDIS    "forward-no-notify-queue"
#define POLICY_OUTBOUND_CLASSIC "outbound-classic-recipient"   /* policy/replies.c */

static const struct config *fcfg;        /* the startup configuration */
static struct redis_pool *pool;          /* NULL without Redis */
static struct notify_worker *worker;     /* set before smfi_main, read by every thread */

/* Every rule as last read, for when Redis cannot be read. */
static struct {
    pthread_mutex_t lock;
    struct fwd_rules rules;              /* sorted by mailbox (fwd_rules_list) */
    bool loaded;
    long long version;                   /* fwd-version when they were read */
    long long checked_ms;                /* monotonic time of the last check */
    bool refreshing;                     /* a thread is checking: others need not */
} cache = { PTHREAD_MUTEX_INITIALIZER, { NULL, 0 }, false, 0, 0, false };

/* ------------------------------------------------------------------ */
/* The rules in memory                                                  */
/* ------------------------------------------------------------------ */

/* Check the version and, when it moved, read every rule (redis_pool_job). */
struct refresh_job {
    bool force;
    struct fwd_rules fresh;
    long long version;
    bool changed;
};

static int refresh_rules(redisContext *c, void *arg, struct err *err)
{
    struct refresh_job *j = arg;
    bool loaded;
    long long known;

    pthread_mutex_lock(&cache.lock);
    loaded = cache.loaded;
    known = cache.version;
    pthread_mutex_unlock(&cache.lock);
    if ((j->version = fwd_rules_version(c, fcfg->redis.prefix, err)) < 0)
        return -1;
    if (loaded && !j->force && j->version == known)
        return 0;
    fwd_rules_clear(&j->fresh);
    if (fwd_rules_list(c, fcfg->redis.prefix, &j->fresh, err) < 0)
        return -1;
    j->changed = true;
    return 0;
}

/* Bring the copy up to date when it is due (or FORCE).  Only one thread
 * at a time; the others go on with the copy they have. */
static void cache_refresh(bool force)
{
    struct refresh_job j;
    struct err err;
    long long now = monotonic_ms();
    size_t n = 0;

    pthread_mutex_lock(&cache.lock);
    if (cache.refreshing
        || (!force && cache.loaded && now - cache.checked_ms < fcfg->live.poll_ms)) {
        pthread_mutex_unlock(&cache.lock);
        return;
    }
    cache.refreshing = true;
    pthread_mutex_unlock(&cache.lock);

    memset(&j, 0, sizeof(j));
    j.force = force;
    if (redis_pool_run(pool, refresh_rules, &j, true, &err) < 0)
        log_warning("forwarding: cannot refresh the rules kept in memory: %s", err.msg);

    pthread_mutex_lock(&cache.lock);
    if (j.changed) {
        fwd_rules_clear(&cache.rules);
        cache.rules = j.fresh;             /* the copy takes the list over */
        memset(&j.fresh, 0, sizeof(j.fresh));
        cache.version = j.version;
        cache.loaded = true;
        n = cache.rules.n;
    }
    cache.checked_ms = now;
    cache.refreshing = false;
    pthread_mutex_unlock(&cache.lock);
    if (j.changed)
        log_debug("forwarding: %zu rule(s) kept in memory (version %lld)", n, j.version);
    fwd_rules_clear(&j.fresh);
}

static int cmp_rule(const void *key, const void *elem)
{
    return strcmp(key, ((const struct fwd_rule *)elem)->mailbox);
}

static struct fwd_rule *rule_dup(const struct fwd_rule *r)
{
    struct fwd_rule *d = calloc(1, sizeof(*d));
    size_t i;

    if (d == NULL || (d->mailbox = strdup(r->mailbox)) == NULL
        || (r->n_targets > 0 && (d->targets = calloc(r->n_targets, sizeof(char *))) == NULL))
        goto fail;
    d->mode = r->mode;
    for (i = 0; i < r->n_targets; i++) {
        if ((d->targets[i] = strdup(r->targets[i])) == NULL)
            goto fail;
        d->n_targets++;
    }
    return d;
fail:
    fwd_rule_free(d);
    return NULL;
}

/* The rules of MAILBOXES from the copy, as fwd_rules_get_many would give
 * them.  0, or -1 when there is no copy (or no memory). */
static int cache_lookup(const char *const *mailboxes, size_t n, struct fwd_rule **out)
{
    size_t i;
    int rc = 0;

    pthread_mutex_lock(&cache.lock);
    if (!cache.loaded)
        rc = -1;
    for (i = 0; rc == 0 && i < n; i++) {
        const struct fwd_rule *r = bsearch(mailboxes[i], cache.rules.v, cache.rules.n,
                                           sizeof(*cache.rules.v), cmp_rule);

        out[i] = NULL;
        if (r != NULL && (out[i] = rule_dup(r)) == NULL)
            rc = -1;
    }
    pthread_mutex_unlock(&cache.lock);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                       */
/* ------------------------------------------------------------------ */

void forwarding_init(const struct config *cfg, struct redis_pool *p)
{
    fcfg = cfg;
    pool = p;
}

const char *forwarding_config_warning(const struct config *cfg)
{
    if (!cfg->rules.forwarding || redis_configured(&cfg->redis))
        return NULL;
    return "Redis is not configured: forwarding rules and notices are off, and a locally "
           "submitted message from the trust space to a classic address is held";
}

/* NotifySender, or no-reply@ the first LocalDomain. */
static void notice_sender(const struct config *cfg, char *buf, size_t size)
{
    if (cfg->notify.sender != NULL)
        snprintf(buf, size, "%s", cfg->notify.sender);
    else if (cfg->rules.local_domains.n > 0)
        snprintf(buf, size, "no-reply@%s", cfg->rules.local_domains.v[0]);
    else
        buf[0] = '\0';
}

/* The worker's outcomes, into this node's counters (stats/stats.h). */
static void worker_event(void *arg, enum notify_event ev)
{
    (void)arg;
    if (ev == NOTIFY_EVENT_SENT)
        stats_notify(STATS_NOTIFY_SENT, 1);
    else if (ev == NOTIFY_EVENT_FAILED)
        stats_notify(STATS_NOTIFY_FAILED, 1);
}

int forwarding_start(const struct config *cfg)
{
    struct notify_worker_params p;
    struct err err;
    char sender[FWD_ADDR_MAX];
    long long lease;

    /* The rules in memory, for when Redis cannot be read later. */
    if (redis_configured(&cfg->redis) && cfg->rules.forwarding)
        cache_refresh(true);
    if (!redis_configured(&cfg->redis) || !cfg->notify.worker) {
        if (redis_configured(&cfg->redis))
            log_info("notify: NotifyWorker is off: notices queued here are sent by "
                     "another node's worker");
        return 0;
    }
    notice_sender(cfg, sender, sizeof(sender));
    notify_worker_params_init(&p);
    p.prefix = cfg->redis.prefix;
    p.smtp_url = cfg->notify.smtp;
    p.sender = sender;
    p.tmpl = cfg->notify.tmpl.t;
    p.redis = &cfg->redis;
    p.on_redis_error = stats_redis_error;
    p.on_event = worker_event;
    p.retry_min_ms = cfg->notify.retry_ms;
    p.retry_max_ms = cfg->notify.retry_max_ms;
    p.max_age_ms = cfg->notify.max_age_ms;
    p.max_attempts = (unsigned)cfg->notify.max_attempts;
    p.smtp_timeout_ms = cfg->notify.timeout_ms;
    /* The lease must outlast one SMTP transaction by a good margin. */
    lease = 2 * p.smtp_timeout_ms + 60000;
    p.lease_ms = lease > LEASE_MIN_MS ? lease : LEASE_MIN_MS;
    if ((worker = notify_worker_start(&p, &err)) == NULL) {
        log_error("cannot start the notice worker: %s", err.msg);
        return -1;
    }
    return 0;
}

void forwarding_stop(void)
{
    notify_worker_stop(worker);
    worker = NULL;
    pthread_mutex_lock(&cache.lock);
    fwd_rules_clear(&cache.rules);
    cache.loaded = false;
    pthread_mutex_unlock(&cache.lock);
}

/* ------------------------------------------------------------------ */
/* Recipients                                                           */
/* ------------------------------------------------------------------ */

void forwarding_reset(struct fwd_msg *fm)
{
    size_t i;

    for (i = 0; i < fm->n_rcpts; i++)
        free(fm->rcpts[i].raw);
    fm->n_rcpts = 0;
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

static bool active(const struct config *cfg)
{
    return cfg->rules.forwarding && fcfg != NULL && redis_configured(&fcfg->redis);
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
bool forwarding_replaces(const struct config *cfg, const struct msg_policy *mp,
                         const struct verdict *v)
{
    if (!cfg->rules.forwarding || !mp->local_submission || !mp->sender_valid
        || !trust_space(mp->sender_class) || v->action != ACT_REJECT || v->rule == NULL
        || strcmp(v->rule, POLICY_OUTBOUND_CLASSIC) != 0)
        return false;
    return active(cfg) || !config_is_local_domain(cfg, mp->sender.domain);
}

static struct verdict verdict_ok(void)
{
    struct verdict v;

    memset(&v, 0, sizeof(v));
    v.action = ACT_CONTINUE;
    return v;
}

static const char *qid_or_noqueue(const char *qid)
{
    return qid != NULL && qid[0] != '\0' ? qid : "NOQUEUE";
}

/* Reading the rules (redis_pool_job).  Safe to run twice. */
struct get_job {
    const char *const *mailboxes;
    size_t n;
    struct fwd_rule **rules;
};

static int get_rules(redisContext *c, void *arg, struct err *err)
{
    struct get_job *j = arg;

    return fwd_rules_get_many(c, fcfg->redis.prefix, j->mailboxes, j->n, j->rules, err);
}

/* Queuing the notices (redis_pool_job).  Run twice only after a failure
 * on a stale pooled connection, where the first run cannot have reached
 * Redis; at worst a notice is sent twice. */
struct queue_job {
    const struct fwd_plan *plan;
};

static int queue_notices(redisContext *c, void *arg, struct err *err)
{
    const struct fwd_plan *p = ((struct queue_job *)arg)->plan;
    const char **mailboxes = calloc(p->n_notices, sizeof(*mailboxes));
    const char **targets = calloc(p->n_notices, sizeof(*targets));
    size_t i;
    int rc = -1;

    if (mailboxes == NULL || targets == NULL) {
        err_set(err, "out of memory");
    } else {
        for (i = 0; i < p->n_notices; i++) {
            mailboxes[i] = p->notices[i].mailbox;
            targets[i] = p->notices[i].target;
        }
        rc = notify_enqueue_durable(c, &fcfg->redis, mailboxes, targets, p->n_notices, err);
    }
    free(mailboxes);
    free(targets);
    return rc;
}

/* The state of one end-of-message run. */
struct eom {
    struct fwd_msg *fm;
    const char *qid;
    char (*mailboxes)[FWD_ADDR_MAX];   /* the local recipients, normalised */
    const char **mb_ptrs;
    long *mb_of;                       /* recipient -> index in mailboxes, or -1 */
    size_t n_local;
    struct fwd_rule **rules;           /* rules[k]: the rule of mailboxes[k] */
    struct fwd_rcpt *in;               /* the plan's view of the recipients */
};

static void eom_free(struct eom *e)
{
    size_t k;

    for (k = 0; e->rules != NULL && k < e->n_local; k++)
        fwd_rule_free(e->rules[k]);
    free(e->rules);
    free(e->mailboxes);
    free(e->mb_ptrs);
    free(e->mb_of);
    free(e->in);
}

static int eom_alloc(struct eom *e)
{
    size_t n = e->fm->n_rcpts;

    e->mailboxes = calloc(n, sizeof(*e->mailboxes));
    e->mb_ptrs = calloc(n, sizeof(*e->mb_ptrs));
    e->mb_of = calloc(n, sizeof(*e->mb_of));
    e->rules = calloc(n, sizeof(*e->rules));
    e->in = calloc(n, sizeof(*e->in));
    return e->mailboxes && e->mb_ptrs && e->mb_of && e->rules && e->in ? 0 : -1;
}

/* Which recipients are local mailboxes, whose rules apply. */
static void find_local(struct eom *e, const struct policy_env *base)
{
    size_t i;

    for (i = 0; i < e->fm->n_rcpts; i++) {
        const struct fwd_msg_rcpt *r = &e->fm->rcpts[i];
        char text[FWD_ADDR_MAX];

        e->mb_of[i] = -1;
        if (r->cls != CLASS_MSSANTE || !policy_is_local_domain(base, r->addr.domain))
            continue;
        addr_format(&r->addr, text, sizeof(text));
        if (fwd_normalize_mailbox(text, e->mailboxes[e->n_local], FWD_ADDR_MAX, NULL) < 0)
            continue;
        e->mb_ptrs[e->n_local] = e->mailboxes[e->n_local];
        e->mb_of[i] = (long)e->n_local++;
    }
}

static void tempfail(struct verdict *v, const char *rule, const char *fr, const char *en)
{
    verdict_set(v, ACT_TEMPFAIL, rule, "451", "4.3.0", "%s / %s", fr, en);
}

/* Compute the plan against the whitelist in force.  0, 1 (no list: V
 * says so) or -1 (out of memory). */
static int compute(struct eom *e, const struct policy_env *base, const struct msg_policy *mp,
                   struct fwd_plan *plan, struct verdict *v)
{
    const struct whitelist *wl = live_acquire();
    struct policy_env env = *base;
    struct fwd_plan_input pin;
    size_t i;
    int rc;

    memset(plan, 0, sizeof(*plan));
    if (wl == NULL) {
        live_release();
        reply_no_whitelist(v);
        return 1;
    }
    env.is_listed = whitelist_lookup;
    env.is_cn_listed = whitelist_cn_lookup;
    env.lookup_ctx = wl;
    for (i = 0; i < e->fm->n_rcpts; i++) {
        const struct fwd_msg_rcpt *r = &e->fm->rcpts[i];

        e->in[i].raw = r->raw;
        e->in[i].addr = r->cls != CLASS_INVALID ? &r->addr : NULL;
        e->in[i].cls = r->cls;
        e->in[i].rule = e->mb_of[i] >= 0 ? e->rules[e->mb_of[i]] : NULL;
    }
    memset(&pin, 0, sizeof(pin));
    pin.env = &env;
    pin.local_submission = mp->local_submission;
    pin.sender = mp->sender_valid ? &mp->sender : NULL;
    pin.rcpts = e->in;
    pin.n_rcpts = e->fm->n_rcpts;
    rc = fwd_plan_compute(&pin, plan);
    live_release();
    return rc;
}

/* What the plan does, at debug level (the verdict line has the counts). */
static void log_plan(const struct eom *e, const struct fwd_plan *p, bool dry_run)
{
    const char *q = qid_or_noqueue(e->qid), *how = dry_run ? " (dry run)" : "";
    size_t i;

    for (i = 0; i < p->n_add; i++)
        log_debug("%s: forwarding: add <%s>%s", q, p->add[i], how);
    for (i = 0; i < p->n_remove; i++)
        log_debug("%s: forwarding: remove %s%s", q, p->remove[i], how);
    for (i = 0; i < p->n_notices; i++)
        log_debug("%s: forwarding: notify <%s> about %s%s", q, p->notices[i].target,
                  p->notices[i].mailbox[0] ? p->notices[i].mailbox : "(forward made elsewhere)",
                  how);
    for (i = 0; i < p->n_skipped; i++)
        log_warning("%s: forwarding: rule of %s: target \"%s\" is not usable, skipped", q,
                    p->skipped[i].mailbox, p->skipped[i].target);
}

/* Make the changes: every one was decided, the notices are queued. */
static struct verdict apply_plan(SMFICTX *ctx, const struct eom *e, const struct fwd_plan *p)
{
    char bracketed[FWD_ADDR_MAX + 2];
    struct verdict v = verdict_ok();
    size_t i;

    for (i = 0; i < p->n_add; i++) {
        snprintf(bracketed, sizeof(bracketed), "<%s>", p->add[i]);
        if (smfi_addrcpt(ctx, bracketed) != MI_SUCCESS) {
            log_error("%s: forwarding: smfi_addrcpt %s failed", qid_or_noqueue(e->qid),
                      bracketed);
            reply_internal(&v);
            return v;
        }
    }
    for (i = 0; i < p->n_remove; i++) {
        if (smfi_delrcpt(ctx, (char *)p->remove[i]) != MI_SUCCESS) {
            log_error("%s: forwarding: smfi_delrcpt %s failed", qid_or_noqueue(e->qid),
                      p->remove[i]);
            reply_internal(&v);
            return v;
        }
    }
    return v;
}

static struct verdict hold_verdict(const char *rule, const char *reason)
{
    struct verdict v;

    verdict_set(&v, ACT_HOLD, rule, "451", "4.7.1", "%s", reason);
    return v;
}

/* Without Redis: no rules, no notices; a forward made elsewhere is held. */
static struct verdict without_redis(struct eom *e, const struct policy_env *base,
                                    const struct msg_policy *mp)
{
    struct fwd_plan plan;
    struct verdict v = verdict_ok();
    int rc = compute(e, base, mp, &plan, &v);

    if (rc < 0) {
        reply_internal(&v);
        return v;
    }
    if (rc == 0 && plan.n_reinjected > 0) {
        snprintf(e->fm->log, sizeof(e->fm->log), " fwd=no-redis");
        v = hold_verdict(RULE_NO_REDIS, "classic recipients of a locally submitted message "
                         "from the MSSante trust space, and no Redis to queue their notices; "
                         "held instead of being sent");
    }
    fwd_plan_free(&plan);
    return v;
}

/* The rules of the local recipients into e->rules: from Redis, else from
 * the copy in memory (*from_memory).  -1 with V set (451) when neither. */
static int read_rules(struct eom *e, bool *from_memory, struct verdict *v)
{
    struct get_job j = { e->mb_ptrs, e->n_local, e->rules };
    const char *q = qid_or_noqueue(e->qid);
    struct err err;

    if (e->n_local == 0)
        return 0;
    if (redis_pool_run(pool, get_rules, &j, true, &err) >= 0) {
        cache_refresh(false);
        return 0;
    }
    if (cache_lookup(e->mb_ptrs, e->n_local, e->rules) == 0) {
        log_warning("%s: forwarding rules unavailable (%s): the copy in memory applies", q,
                    err.msg);
        *from_memory = true;
        return 0;
    }
    log_warning("%s: forwarding rules unavailable: %s", q, err.msg);
    snprintf(e->fm->log, sizeof(e->fm->log), " fwd=unavailable");
    tempfail(v, RULE_RULES_DOWN, "Regles de transfert indisponibles, nouvel essai plus tard",
             "Forwarding rules unavailable, please try again later");
    return -1;
}

struct verdict forwarding_eom(SMFICTX *ctx, struct fwd_msg *fm, const struct config *cfg,
                              const struct msg_policy *mp, const struct policy_env *base,
                              const char *qid)
{
    struct eom e;
    struct fwd_plan plan;
    struct verdict v = verdict_ok();
    bool fwd_memory = false;
    struct err err;
    int rc;

    fm->log[0] = '\0';
    if (!cfg->rules.forwarding || fm->n_rcpts == 0)
        return v;
    if (fm->oom) {
        reply_internal(&v);
        return v;
    }
    memset(&e, 0, sizeof(e));
    e.fm = fm;
    e.qid = qid;
    if (eom_alloc(&e) < 0) {
        eom_free(&e);
        reply_internal(&v);
        return v;
    }
    find_local(&e, base);
    if (!active(cfg)) {
        v = without_redis(&e, base, mp);
        eom_free(&e);
        return v;
    }

    /* 1. The rules. */
    if (read_rules(&e, &fwd_memory, &v) < 0) {
        eom_free(&e);
        return v;
    }

    /* 2. The plan. */
    if ((rc = compute(&e, base, mp, &plan, &v)) != 0) {
        if (rc < 0)
            reply_internal(&v);
        eom_free(&e);
        return v;
    }
    if (!fwd_plan_empty(&plan)) {
        fwd_plan_summary(&plan, fm->log + 1, sizeof(fm->log) - 1);
        fm->log[0] = ' ';
        log_plan(&e, &plan, cfg->rules.dry_run);
    }
    if (fwd_memory)
        snprintf(fm->log + strlen(fm->log), sizeof(fm->log) - strlen(fm->log),
                 " fwd=memory");
    if (cfg->rules.dry_run || fwd_plan_empty(&plan))
        goto done;

    /* 3. The notices, before any change. */
    if (plan.n_notices > 0) {
        struct queue_job j = { &plan };

        if (redis_pool_run(pool, queue_notices, &j, true, &err) < 0) {
            log_warning("%s: cannot queue %zu notice(s): %s", qid_or_noqueue(qid),
                        plan.n_notices, err.msg);
            tempfail(&v, RULE_QUEUE_DOWN, "Notification de transfert impossible, nouvel "
                     "essai plus tard", "Cannot queue the forwarding notice, please try "
                     "again later");
            goto done;
        }
        stats_notify(STATS_NOTIFY_QUEUED, (unsigned)plan.n_notices);
        notify_worker_kick(worker);
    }

    /* 4. The recipients. */
    if (!plan.hold)
        v = apply_plan(ctx, &e, &plan);
done:
    if (plan.hold && v.action == ACT_CONTINUE)
        v = hold_verdict(RULE_HOLD, plan.hold_reason);
    fwd_plan_free(&plan);
    eom_free(&e);
    return v;
}

const char *forwarding_log(const struct fwd_msg *fm)
{
    return fm->log;
}
