/*
 * queue.h - the durable queue of notices, and the worker that sends them.
 *
 * The milter never sends a notice itself: at end of message it queues one
 * item per (mailbox, classic target) in Redis (one EVAL round trip), and a
 * worker thread sends them later with libcurl's SMTP client to NotifySMTP
 * (a loopback Postfix listener without milters).  Because the queue lives
 * in Redis it survives a daemon restart, and every MX node of an operator
 * can run a worker on the same queue.
 *
 * Layout (PREFIX is RedisPrefix, "mssante:" by default):
 *   PREFIX notify:seq        INCR: item ids
 *   PREFIX notify:queue      ZSET id -> time (ms) of the next attempt
 *   PREFIX notify:item:ID    HASH mailbox, target, created (ms), attempts,
 *                            last_error, claim (token of the worker on it)
 *   PREFIX notify:stats      HASH enqueued, sent, retried, failed
 *
 * Claiming: a Lua script takes the first due item and pushes its score to
 * now + lease in the same step, so another worker (this node or another)
 * does not see it as due while it is being sent; the item records the
 * claimer's token, and only that claimer may then delete it (sent, or
 * given up) or reschedule it.  A worker that dies mid-send leaves the item
 * to come due again when the lease runs out: delivery is at least once,
 * never lost, and two workers never hold the same item at the same time.
 *
 * Failures: a 5xx answer is permanent (counted failed at once); anything
 * else (connection refused, timeout, 4xx) is retried after
 * retry_min * 2^(attempts-1), capped at retry_max, until max_attempts
 * attempts or max_age after queuing (then counted failed and logged).
 * "retried" counts reschedulings.
 */
#ifndef MSSANTE_NOTIFY_QUEUE_H
#define MSSANTE_NOTIFY_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/redis.h"
#include "notify/notice.h"

struct notify_stats {
    long long enqueued, sent, retried, failed;
    long long pending;         /* items in the queue now (due or not) */
};

/*
 * Queue N notices: mailboxes[i] ("" or NULL when unknown) and targets[i],
 * at NOW_MS (Unix time in ms; 0 = now).  One round trip.  Every address is
 * checked first (nothing is queued when one is unusable).  Returns 0 or -1
 * + err.
 */
int notify_enqueue_many(redisContext *c, const char *prefix, const char *const *mailboxes,
                        const char *const *targets, size_t n, long long now_ms,
                        struct err *err);

/* One notice. */
int notify_enqueue(redisContext *c, const char *prefix, const char *mailbox,
                   const char *target, struct err *err);

/* The counters and the queue length. */
int notify_get_stats(redisContext *c, const char *prefix, struct notify_stats *out,
                     struct err *err);

/* NotifyWorker, NotifySMTP, NotifySender, NotifyTemplate, NotifyRetry,
 * NotifyRetryMax, NotifyMaxAge, NotifyMaxAttempts, NotifyTimeout
 * (config/keys.c points into it).  Read at start only. */
struct notify_settings {
    bool worker;                       /* NotifyWorker: run the worker on this node */
    char *smtp;                        /* NotifySMTP: smtp:// or smtps:// URL */
    char *sender;                      /* NotifySender; NULL = no-reply@ the first
                                        * LocalDomain */
    struct notify_template_file tmpl;  /* NotifyTemplate */
    int retry_ms;                      /* NotifyRetry: first delay */
    int retry_max_ms;                  /* NotifyRetryMax: longest delay */
    int max_age_ms;                    /* NotifyMaxAge: give up after */
    int max_attempts;                  /* NotifyMaxAttempts; 0 = no limit */
    int timeout_ms;                    /* NotifyTimeout: one SMTP transaction */
};

/* What became of one attempt, for the caller's own counters. */
enum notify_event { NOTIFY_EVENT_SENT = 0, NOTIFY_EVENT_RETRIED, NOTIFY_EVENT_FAILED };
typedef void (*notify_event_fn)(void *arg, enum notify_event ev);

struct notify_worker_params {
    const char *prefix;            /* RedisPrefix (copied) */
    const char *smtp_url;          /* NotifySMTP, smtp:// or smtps:// (copied) */
    const char *sender;            /* NotifySender (copied) */
    const char *helo;              /* EHLO name, NULL: libcurl's default (copied) */
    const struct notify_template *tmpl;   /* NULL: built-in; must outlive the worker */
    const struct redis_settings *redis;   /* the worker's own connection (common/redis.h);
                                          * must outlive the worker */
    void (*on_redis_error)(void);  /* NULL, or called when a connection fails */
    long long poll_ms;             /* idle look-up interval, default 1000 */
    long long retry_min_ms;        /* first retry delay, default 30 s */
    long long retry_max_ms;        /* cap of the delay, default 1 h */
    long long max_age_ms;          /* give up this long after queuing, default 2 days */
    unsigned max_attempts;         /* give up after that many, default 50; 0 = no limit */
    long long smtp_timeout_ms;     /* one SMTP transaction, default 30 s */
    long long lease_ms;            /* claim lease, default 5 min; > smtp_timeout_ms */
    notify_event_fn on_event;      /* NULL, or called by the worker after each outcome */
    void *event_arg;
};

/* Fill P with the defaults (no prefix, URL, sender or Redis). */
void notify_worker_params_init(struct notify_worker_params *p);

/* Check the URL of NotifySMTP: 0, or -1 + err (for the config parser). */
int notify_check_smtp_url(const char *url, struct err *err);

struct notify_worker;

/* Start the worker thread.  NULL + err when a parameter is wrong. */
struct notify_worker *notify_worker_start(const struct notify_worker_params *p,
                                          struct err *err);

/* Something was queued: look now rather than at the next poll. */
void notify_worker_kick(struct notify_worker *w);

/*
 * Stop and free the worker.  A notice being sent is abandoned (the SMTP
 * transaction is aborted) and handed back to the queue, due at once, so
 * that this or another node sends it; no attempt is counted.
 */
void notify_worker_stop(struct notify_worker *w);

#endif
