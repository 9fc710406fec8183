/*
 * store_redis.c - the stages' state in Redis (see store_redis.h): each
 * operation of struct pl_store is one job on a pooled connection.
 */
#include <stdlib.h>

#include "conversation/store.h"
#include "notify/held.h"
#include "pipeline/store_redis.h"

struct redis_store {
    struct pl_store ops;             /* first: the store handed out is this */
    struct redis_pool *pool;
    const char *prefix;
    struct fwd_cache *cache;
    struct notify_worker *worker;
};

/* ---- conversations ------------------------------------------------------ */

struct open_job {
    const char *prefix, *mailbox, *patient;
};

static int job_is_open(redisContext *c, void *arg, struct err *err)
{
    const struct open_job *j = arg;

    return conv_is_open(c, j->prefix, j->mailbox, j->patient, err);
}

static int conv_is_open_op(void *arg, const char *mailbox, const char *patient,
                           struct err *err)
{
    struct redis_store *rs = arg;
    struct open_job j = { rs->prefix, mailbox, patient };

    return redis_pool_run(rs->pool, job_is_open, &j, true, err);
}

struct record_job {
    const char *prefix, *mailbox, *qid;
    const char *const *patients;
    size_t n;
    bool close;
    long long now, ttl;
    int *result;
};

static int job_record(redisContext *c, void *arg, struct err *err)
{
    struct record_job *j = arg;

    for (size_t i = 0; i < j->n; i++) {
        if (j->close)
            j->result[i] = conv_close(c, j->prefix, j->mailbox, j->patients[i], j->qid,
                                      j->now, j->ttl, err);
        else
            j->result[i] = conv_open_or_refresh(c, j->prefix, j->mailbox, j->patients[i],
                                                j->now, j->ttl, err);
        if (j->result[i] < 0)
            return -1;
    }
    return 0;
}

static int conv_record_op(void *arg, bool close, const char *mailbox,
                          const char *const *patients, size_t n, const char *qid,
                          long long now, long long ttl, int *result, struct err *err)
{
    struct redis_store *rs = arg;
    struct record_job j = { rs->prefix, mailbox, qid, patients, n, close, now, ttl, result };

    /* Safe to run twice: refreshes, and closures idempotent per queue id. */
    return redis_pool_run(rs->pool, job_record, &j, true, err);
}

/* ---- forwarding rules and notices ---------------------------------------- */

struct get_job {
    const char *prefix;
    const char *const *mailboxes;
    size_t n;
    struct fwd_rule **rules;
};

static int job_get_rules(redisContext *c, void *arg, struct err *err)
{
    struct get_job *j = arg;

    return fwd_rules_get_many(c, j->prefix, j->mailboxes, j->n, j->rules, err);
}

/* From Redis (and the copy is checked when due), else from the copy. */
static int rules_get_op(void *arg, const char *const *mailboxes, size_t n,
                        struct fwd_rule **rules, bool *from_memory, struct err *err)
{
    struct redis_store *rs = arg;
    struct get_job j = { rs->prefix, mailboxes, n, rules };

    *from_memory = false;
    if (redis_pool_run(rs->pool, job_get_rules, &j, true, err) >= 0) {
        fwd_cache_refresh(rs->cache, false);
        return 0;
    }
    if (fwd_cache_lookup(rs->cache, mailboxes, n, rules) == 0) {
        *from_memory = true;
        return 0;
    }
    return -1;
}

struct queue_job {
    const char *prefix;
    const char *const *mailboxes, *const *targets;
    size_t n;
};

/* Run twice only after a failure on a stale pooled connection, where the
 * first run cannot have reached Redis; at worst a notice is sent twice. */
static int job_queue(redisContext *c, void *arg, struct err *err)
{
    struct queue_job *j = arg;

    return notify_enqueue_many(c, j->prefix, j->mailboxes, j->targets, j->n, 0, err);
}

static int notices_queue_op(void *arg, const char *const *mailboxes,
                            const char *const *targets, size_t n, struct err *err)
{
    struct redis_store *rs = arg;
    struct queue_job j = { rs->prefix, mailboxes, targets, n };

    if (redis_pool_run(rs->pool, job_queue, &j, true, err) < 0)
        return -1;
    notify_worker_kick(rs->worker);
    return 0;
}

struct held_job {
    const char *prefix, *sender, *qid;
};

static int job_held(redisContext *c, void *arg, struct err *err)
{
    const struct held_job *j = arg;

    return notify_enqueue_held(c, j->prefix, j->sender, j->qid, err);
}

/* Not run again on a fresh connection (see pipeline/ports.h); the worker
 * finds it at its next poll. */
static int held_notice_queue_op(void *arg, const char *sender, const char *qid,
                                struct err *err)
{
    struct redis_store *rs = arg;
    struct held_job j = { rs->prefix, sender, qid };

    return redis_pool_run(rs->pool, job_held, &j, false, err);
}

/* ---- the store ---------------------------------------------------------------- */

struct pl_store *pl_store_redis_new(struct redis_pool *pool, const char *prefix,
                                    struct fwd_cache *cache, struct notify_worker *worker)
{
    struct redis_store *rs = calloc(1, sizeof(*rs));

    if (rs == NULL)
        return NULL;
    rs->pool = pool;
    rs->prefix = prefix;
    rs->cache = cache;
    rs->worker = worker;
    rs->ops.conv_is_open = conv_is_open_op;
    rs->ops.conv_record = conv_record_op;
    rs->ops.rules_get = rules_get_op;
    rs->ops.notices_queue = notices_queue_op;
    rs->ops.held_notice_queue = held_notice_queue_op;
    rs->ops.arg = rs;
    return &rs->ops;
}

void pl_store_redis_free(struct pl_store *store)
{
    free(store);     /* the ops are the first member of struct redis_store */
}
