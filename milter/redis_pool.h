/*
 * redis_pool.h - Redis connections for the milter threads.
 *
 * libmilter serves each SMTP connection in its own thread, and a hiredis
 * context must not be shared between threads.  Rather than one connection
 * per thread (they come and go with the SMTP sessions), a small pool of
 * idle connections is shared: a thread takes one for the length of one
 * step, without holding any lock while it talks to Redis, and gives it
 * back.  A connection that failed is closed rather than pooled: after an
 * error it may be out of step with the server.
 *
 * The pool connects with the startup settings (Redis, RedisPassword,
 * RedisTimeout: restart-only keys), so it is the same for every connection
 * whatever a reload changed.
 */
#ifndef MSSANTE_REDIS_POOL_H
#define MSSANTE_REDIS_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/redis.h"

#define REDIS_POOL_MAX 16    /* idle connections kept for reuse */

/* Remember CFG (it must outlive the pool).  Calling it again with the same
 * configuration changes nothing, so every module may call it. */
void redis_pool_init(const struct redis_settings *cfg);

/* Close the idle connections (after smfi_main returns). */
void redis_pool_shutdown(void);

/* An idle connection, or a new one (*reused says which).  NULL + err when
 * Redis is not configured or cannot be reached. */
redisContext *redis_pool_take(bool *reused, struct err *err);

/* Give C back; OK false (or an error on C) closes it instead. */
void redis_pool_give(redisContext *c, bool ok);

/* One unit of work on a connection: >= 0 success, -1 + err failure. */
typedef int (*redis_pool_job)(redisContext *c, void *arg, struct err *err);

/*
 * Run JOB on a pooled connection.  An idle connection may have died since
 * it was pooled (Redis restarted): when JOB fails on a reused connection
 * and RETRY is true, it is run once more on a fresh one.  Pass RETRY only
 * for jobs that are safe to run twice.  Returns JOB's result (-1 + err
 * also when no connection could be made).
 */
int redis_pool_run(redis_pool_job job, void *arg, bool retry, struct err *err);

#endif
