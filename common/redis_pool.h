/*
 * redis_pool.h - Redis connections shared by threads that come and go.
 *
 * libmilter serves each SMTP connection in a thread of its own, and a
 * hiredis context must not be shared between threads.  Rather than one
 * connection per thread (they come and go with the SMTP sessions), a small
 * pool of idle connections is shared: a thread takes one for the length
 * of one step, without holding any lock while it talks to Redis, and gives
 * it back.  A connection that failed is closed rather than pooled: after an
 * error it may be out of step with the server.
 *
 * New connections come from redis_connect() (common/redis.h) with the
 * settings the pool was made with, so the pool is the same for every
 * connection whatever a reload changed.  With Redis Sentinel, an idle
 * connection opened before the master last moved (an older epoch) is
 * closed, not handed out, and a connection whose command met -READONLY
 * or -LOADING is closed when given back (redis_command_error marks it):
 * the next connection asks the sentinels where the master is.
 *
 * DIAGNOSTICS: the functions fail with the connector's or the job's error;
 * each failure is also reported to the pool's ON_ERROR hook (the daemon
 * counts them), nothing is logged here.
 */
#ifndef MSSANTE_REDIS_POOL_H
#define MSSANTE_REDIS_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/redis.h"

#define REDIS_POOL_MAX 16    /* idle connections kept for reuse */

struct redis_pool;

/* A pool connecting as S says (S must outlive it); ON_ERROR (may be NULL)
 * is called once per failed connection or job.  NULL when out of memory. */
struct redis_pool *redis_pool_new(const struct redis_settings *s, void (*on_error)(void));

/* The settings P connects with. */
const struct redis_settings *redis_pool_settings(const struct redis_pool *p);

/* Close the idle connections and free the pool (NULL is fine). */
void redis_pool_free(struct redis_pool *p);

/* One unit of work on a connection: >= 0 success, -1 + err failure. */
typedef int (*redis_pool_job)(redisContext *c, void *arg, struct err *err);

/*
 * Run JOB on a pooled connection.  An idle connection may have died since
 * it was pooled (Redis restarted): when JOB fails on a reused connection
 * and RETRY is true, it is run once more on a fresh one.  Pass RETRY only
 * for jobs that are safe to run twice.  Returns JOB's result (-1 + err
 * also when no connection could be made).
 */
int redis_pool_run(struct redis_pool *p, redis_pool_job job, void *arg, bool retry,
                   struct err *err);

#endif
