/*
 * redis_pool.c - a small pool of idle Redis connections shared by the
 * milter threads (see redis_pool.h for why).
 *
 * A plain array under one mutex: the lock is held only to push or pop a
 * pointer, never while talking to Redis.  Connections beyond
 * REDIS_POOL_MAX are simply closed when given back.
 */
#include <pthread.h>
#include <stdio.h>

#include "common/err.h"
#include "milter/redis_pool.h"
#include "stats/stats.h"

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct redis_settings *pool_cfg;  /* under pool_lock */
static redisContext *pool[REDIS_POOL_MAX];
static size_t pool_n;

void redis_pool_init(const struct redis_settings *cfg)
{
    pthread_mutex_lock(&pool_lock);
    if (pool_cfg == NULL)
        pool_cfg = cfg;
    pthread_mutex_unlock(&pool_lock);
}

void redis_pool_shutdown(void)
{
    pthread_mutex_lock(&pool_lock);
    while (pool_n > 0)
        redisFree(pool[--pool_n]);
    pthread_mutex_unlock(&pool_lock);
}

static redisContext *connect_new(struct err *err)
{
    const struct redis_settings *cfg;
    redisContext *c;

    pthread_mutex_lock(&pool_lock);
    cfg = pool_cfg;
    pthread_mutex_unlock(&pool_lock);
    if (cfg == NULL) {
        err_set(err, "Redis is not configured");
        return NULL;
    }
    if ((c = redis_connect(cfg, err)) == NULL)
        stats_redis_error();
    return c;
}

redisContext *redis_pool_take(bool *reused, struct err *err)
{
    redisContext *c = NULL;

    pthread_mutex_lock(&pool_lock);
    if (pool_n > 0)
        c = pool[--pool_n];
    pthread_mutex_unlock(&pool_lock);
    *reused = c != NULL;
    return c != NULL ? c : connect_new(err);
}

void redis_pool_give(redisContext *c, bool ok)
{
    if (c == NULL)
        return;
    if (ok && c->err == 0) {
        pthread_mutex_lock(&pool_lock);
        if (pool_n < REDIS_POOL_MAX) {
            pool[pool_n++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&pool_lock);
    }
    if (c != NULL)
        redisFree(c);
}

int redis_pool_run(redis_pool_job job, void *arg, bool retry, struct err *err)
{
    bool reused;
    redisContext *c = redis_pool_take(&reused, err);
    int rc;

    if (c == NULL)
        return -1;
    rc = job(c, arg, err);
    if (rc < 0 && reused && retry) {
        redisFree(c);
        if ((c = connect_new(err)) == NULL)
            return -1;
        rc = job(c, arg, err);
    }
    if (rc < 0)
        stats_redis_error();
    redis_pool_give(c, rc >= 0);
    return rc;
}
