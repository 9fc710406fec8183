/*
 * queue.c - the durable notice queue in Redis (layout, claiming and retry
 * rules in queue.h): queueing, the counters, and claiming, finishing or
 * rescheduling one item for the worker (worker.c).
 *
 * Every state change of an item is one Lua script, so that "is it due /
 * is it still mine" and the change happen in one step inside Redis even
 * with several workers on several MX nodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/redis.h"
#include "notify/queue_internal.h"

#define ENQUEUE_MAX     1000          /* notices per call: one message's worth */

/* KEYS: seq, queue, stats.  ARGV: item key prefix, now, then mailbox,
 * target pairs.  Returns the number queued. */
static const char enqueue_lua[] =
    "local n = 0\n"
    "for i = 3, #ARGV, 2 do\n"
    "  local id = redis.call('INCR', KEYS[1])\n"
    "  redis.call('HSET', ARGV[1] .. id, 'mailbox', ARGV[i], 'target', ARGV[i + 1],\n"
    "             'created', ARGV[2], 'attempts', '0')\n"
    "  redis.call('ZADD', KEYS[2], ARGV[2], id)\n"
    "  n = n + 1\n"
    "end\n"
    "redis.call('HINCRBY', KEYS[3], 'enqueued', n)\n"
    "return n\n";

/* KEYS: queue.  ARGV: item key prefix, now, lease end, token.
 * Returns nil, or {id, mailbox, target, created, attempts, kind, ref}
 * (kind "" for a forwarding notice, "held": notify/held.h).  An id whose
 * hash is gone (deleted by hand) is dropped from the queue. */
static const char claim_lua[] =
    "while true do\n"
    "  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, 1)\n"
    "  if #ids == 0 then return false end\n"
    "  local id = ids[1]\n"
    "  local k = ARGV[1] .. id\n"
    "  local f = redis.call('HMGET', k, 'mailbox', 'target', 'created', 'attempts', 'kind', 'ref')\n"
    "  if f[2] then\n"
    "    redis.call('ZADD', KEYS[1], ARGV[3], id)\n"
    "    redis.call('HSET', k, 'claim', ARGV[4])\n"
    "    return {id, f[1] or '', f[2], f[3] or '0', f[4] or '0', f[5] or '', f[6] or ''}\n"
    "  end\n"
    "  redis.call('ZREM', KEYS[1], id)\n"
    "end\n";

/* KEYS: queue, item, stats.  ARGV: id, token, counter.  The item is
 * deleted (sent or given up) only by the worker that holds it.
 * Returns 1 done, 0 not ours any more. */
const char nq_finish_lua[] =
    "if redis.call('HGET', KEYS[2], 'claim') ~= ARGV[2] then return 0 end\n"
    "redis.call('DEL', KEYS[2])\n"
    "redis.call('ZREM', KEYS[1], ARGV[1])\n"
    "redis.call('HINCRBY', KEYS[3], ARGV[3], 1)\n"
    "return 1\n";

/* KEYS: queue, item, stats.  ARGV: id, token, next attempt, error, "1" to
 * count a failed attempt ("0": handed back untried).  Returns 1 or 0. */
const char nq_retry_lua[] =
    "if redis.call('HGET', KEYS[2], 'claim') ~= ARGV[2] then return 0 end\n"
    "redis.call('HDEL', KEYS[2], 'claim')\n"
    "if ARGV[5] == '1' then\n"
    "  redis.call('HINCRBY', KEYS[2], 'attempts', 1)\n"
    "  redis.call('HSET', KEYS[2], 'last_error', ARGV[4])\n"
    "  redis.call('HINCRBY', KEYS[3], 'retried', 1)\n"
    "end\n"
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])\n"
    "return 1\n";

/* "redis: WHAT: why" for a failed command (R NULL: I/O). */
static void redis_error(const redisContext *c, const redisReply *r, const char *what,
                        struct err *err)
{
    err_set(err, "redis: %s: %s", what, redis_failure(c, r));
}

/* ------------------------------------------------------------------ */
/* Keys                                                                 */
/* ------------------------------------------------------------------ */

int nq_make_keys(struct qkeys *k, const char *prefix, struct err *err)
{
    const char *p = prefix != NULL ? prefix : DEFAULT_PREFIX;

    if (strlen(p) > PREFIX_MAX) {
        err_set(err, "notify: redis key prefix too long");
        return -1;
    }
    snprintf(k->seq, sizeof(k->seq), "%snotify:seq", p);
    snprintf(k->queue, sizeof(k->queue), "%snotify:queue", p);
    snprintf(k->stats, sizeof(k->stats), "%snotify:stats", p);
    snprintf(k->item, sizeof(k->item), "%snotify:item:", p);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Queueing                                                             */
/* ------------------------------------------------------------------ */

int nq_check_addr(const char *what, const char *a, bool may_be_empty, struct err *err)
{
    struct mailaddr m;
    const char *why = NULL;

    if ((a == NULL || a[0] == '\0') && may_be_empty)
        return 0;
    if (a == NULL || strpbrk(a, "\r\n<>,;") != NULL || addr_parse(a, &m, &why) != ADDR_OK) {
        err_set(err, "notify: %s \"%s\": %s", what, a ? a : "",
                why ? why : "not a plain address");
        return -1;
    }
    return 0;
}

int notify_enqueue_many(redisContext *c, const char *prefix, const char *const *mailboxes,
                        const char *const *targets, size_t n, long long when_ms,
                        struct err *err)
{
    struct qkeys k;
    const char **argv;
    char now[32];
    redisReply *r;
    size_t i, argc;
    int rc = -1;

    if (n == 0)
        return 0;
    if (c == NULL) {
        err_set(err, "notify: no Redis connection");
        return -1;
    }
    if (n > ENQUEUE_MAX) {
        err_set(err, "notify: more than %d notices at once", ENQUEUE_MAX);
        return -1;
    }
    if (nq_make_keys(&k, prefix, err) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (nq_check_addr("mailbox", mailboxes ? mailboxes[i] : NULL, true, err) < 0
            || nq_check_addr("target", targets[i], false, err) < 0)
            return -1;
    }
    snprintf(now, sizeof(now), "%lld", when_ms > 0 ? when_ms : wallclock_ms());
    argc = 8 + 2 * n;
    if ((argv = calloc(argc, sizeof(*argv))) == NULL) {
        err_set(err, "notify: out of memory");
        return -1;
    }
    argv[0] = "EVAL";
    argv[1] = enqueue_lua;
    argv[2] = "3";
    argv[3] = k.seq;
    argv[4] = k.queue;
    argv[5] = k.stats;
    argv[6] = k.item;
    /* ARGV[1] is the item key prefix (argv[6]), ARGV[2] the time, then
     * the (mailbox, target) pairs. */
    argc = 7;
    argv[argc++] = now;
    for (i = 0; i < n; i++) {
        argv[argc++] = mailboxes && mailboxes[i] ? mailboxes[i] : "";
        argv[argc++] = targets[i];
    }
    r = redisCommandArgv(c, (int)argc, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        redis_error(c, r, "EVAL enqueue", err);
    else
        rc = 0;
    if (r != NULL)
        freeReplyObject(r);
    free(argv);
    return rc;
}

int notify_enqueue(redisContext *c, const char *prefix, const char *mailbox,
                   const char *target, struct err *err)
{
    const char *m[1] = { mailbox }, *t[1] = { target };

    return notify_enqueue_many(c, prefix, m, t, 1, 0, err);
}

int notify_get_stats(redisContext *c, const char *prefix, struct notify_stats *out,
                     struct err *err)
{
    const char *hgetall[2], *zcard[2];
    redisReply *rs = NULL, *rz = NULL;
    struct qkeys k;
    size_t i;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (c == NULL) {
        err_set(err, "notify: no Redis connection");
        return -1;
    }
    if (nq_make_keys(&k, prefix, err) < 0)
        return -1;
    hgetall[0] = "HGETALL";
    hgetall[1] = k.stats;
    zcard[0] = "ZCARD";
    zcard[1] = k.queue;
    if (redisAppendCommandArgv(c, 2, hgetall, NULL) != REDIS_OK
        || redisAppendCommandArgv(c, 2, zcard, NULL) != REDIS_OK) {
        redis_error(c, NULL, "HGETALL", err);
        return -1;
    }
    /* Read both replies before looking at either, so that the connection
     * stays in step whatever the first one says. */
    if (redisGetReply(c, (void **)&rs) != REDIS_OK)
        rs = NULL;
    if (rs != NULL && redisGetReply(c, (void **)&rz) != REDIS_OK)
        rz = NULL;
    if (rs == NULL || rs->type != REDIS_REPLY_ARRAY) {
        redis_error(c, rs, "HGETALL", err);
        goto out;
    }
    if (rz == NULL || rz->type != REDIS_REPLY_INTEGER) {
        redis_error(c, rz, "ZCARD", err);
        goto out;
    }
    for (i = 0; i + 1 < rs->elements; i += 2) {
        const char *f = rs->element[i]->str, *v = rs->element[i + 1]->str;
        long long n = v ? strtoll(v, NULL, 10) : 0;

        if (f == NULL)
            continue;
        if (strcmp(f, "enqueued") == 0)
            out->enqueued = n;
        else if (strcmp(f, "sent") == 0)
            out->sent = n;
        else if (strcmp(f, "retried") == 0)
            out->retried = n;
        else if (strcmp(f, "failed") == 0)
            out->failed = n;
    }
    out->pending = rz->integer;
    rc = 0;
out:
    if (rs != NULL)
        freeReplyObject(rs);
    if (rz != NULL)
        freeReplyObject(rz);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Claiming and rescheduling (for the worker)                           */
/* ------------------------------------------------------------------ */

static void copy_field(char *dst, size_t size, const redisReply *e)
{
    snprintf(dst, size, "%s", e != NULL && e->type == REDIS_REPLY_STRING ? e->str : "");
}

/* Claim the first due item: 1 claimed, 0 none due, -1 Redis error. */
int nq_claim(struct notify_worker *w, redisContext *c, struct item *it,
             struct err *err)
{
    char now[32], until[32];
    const char *argv[8];
    redisReply *r;
    long long t = wallclock_ms();
    char buf[32];
    int rc = -1;

    memset(it, 0, sizeof(*it));
    snprintf(it->token, sizeof(it->token), "%s:%llu", w->token_base, ++w->claims);
    snprintf(now, sizeof(now), "%lld", t);
    snprintf(until, sizeof(until), "%lld", t + w->p.lease_ms);
    argv[0] = "EVAL";
    argv[1] = claim_lua;
    argv[2] = "1";
    argv[3] = w->k.queue;
    argv[4] = w->k.item;
    argv[5] = now;
    argv[6] = until;
    argv[7] = it->token;
    r = redisCommandArgv(c, 8, argv, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        redis_error(c, r, "EVAL claim", err);
    } else if (r->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 7) {
        copy_field(it->id, sizeof(it->id), r->element[0]);
        copy_field(it->mailbox, sizeof(it->mailbox), r->element[1]);
        copy_field(it->target, sizeof(it->target), r->element[2]);
        copy_field(buf, sizeof(buf), r->element[3]);
        it->created = strtoll(buf, NULL, 10);
        copy_field(buf, sizeof(buf), r->element[4]);
        it->attempts = strtoll(buf, NULL, 10);
        copy_field(it->kind, sizeof(it->kind), r->element[5]);
        copy_field(it->ref, sizeof(it->ref), r->element[6]);
        rc = 1;
    } else {
        redis_error(c, r, "EVAL claim", err);
    }
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

/* Run one of the item scripts.  1 done, 0 the item was not ours, -1 error. */
int nq_item_script(struct notify_worker *w, redisContext *c, const struct item *it,
                   const char *script, const char *what, const char *a3,
                   const char *a4, const char *a5, struct err *err)
{
    char key[KEY_MAX + 32];
    const char *argv[11];
    redisReply *r;
    int argc = 0, rc = -1;

    snprintf(key, sizeof(key), "%s%s", w->k.item, it->id);
    argv[argc++] = "EVAL";
    argv[argc++] = script;
    argv[argc++] = "3";
    argv[argc++] = w->k.queue;
    argv[argc++] = key;
    argv[argc++] = w->k.stats;
    argv[argc++] = it->id;
    argv[argc++] = it->token;
    argv[argc++] = a3;
    if (a4 != NULL) {
        argv[argc++] = a4;
        argv[argc++] = a5;
    }
    r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        redis_error(c, r, what, err);
    else
        rc = r->integer == 1 ? 1 : 0;
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}
