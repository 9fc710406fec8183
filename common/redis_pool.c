/*
 * redis_pool.c - a small pool of idle Redis connections (see redis_pool.h
 * for why).
 *
 * A plain array under one mutex: the lock is held only to push or pop a
 * pointer, never while talking to Redis.  Connections beyond
 * REDIS_POOL_MAX are simply closed when given back.  Each idle connection
 * keeps the epoch it was opened in (common/redis.h): one from before the
 * master moved is closed when taken, never handed out.
 */
#include <pthread.h>
#include <stdlib.h>

#include "common/redis_pool.h"

struct redis_pool {
    pthread_mutex_t lock;
    const struct redis_settings *settings;
    void (*on_error)(void);
    struct idle {
        redisContext *c;
        unsigned long epoch;
    } idle[REDIS_POOL_MAX];                /* under lock */
    size_t n_idle;
};

struct redis_pool *redis_pool_new(const struct redis_settings *s, void (*on_error)(void))
{
    struct redis_pool *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p);
        return NULL;
    }
    p->settings = s;
    p->on_error = on_error;
    return p;
}

const struct redis_settings *redis_pool_settings(const struct redis_pool *p)
{
    return p->settings;
}

void redis_pool_free(struct redis_pool *p)
{
    if (p == NULL)
        return;
    while (p->n_idle > 0)
        redisFree(p->idle[--p->n_idle].c);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void failed(const struct redis_pool *p)
{
    if (p->on_error != NULL)
        p->on_error();
}

static redisContext *connect_new(struct redis_pool *p, unsigned long *epoch, struct err *err)
{
    struct redis_where where;
    redisContext *c = redis_connect_where(p->settings, &where, err);

    if (c == NULL)
        failed(p);
    else
        *epoch = where.epoch;
    return c;
}

/* An idle connection of the current epoch, or a new one (*reused says
 * which); idle ones to an old master are closed on the way. */
static redisContext *take(struct redis_pool *p, bool *reused, unsigned long *epoch,
                          struct err *err)
{
    unsigned long now = redis_epoch(p->settings);
    struct idle stale[REDIS_POOL_MAX];
    redisContext *c = NULL;
    size_t n_stale = 0;

    pthread_mutex_lock(&p->lock);
    while (c == NULL && p->n_idle > 0) {
        struct idle it = p->idle[--p->n_idle];

        if (it.epoch == now) {
            c = it.c;
            *epoch = it.epoch;
        } else {
            stale[n_stale++] = it;
        }
    }
    pthread_mutex_unlock(&p->lock);
    while (n_stale > 0)
        redisFree(stale[--n_stale].c);
    *reused = c != NULL;
    return c != NULL ? c : connect_new(p, epoch, err);
}

/* Give C (of EPOCH) back; OK false (or an error on C) closes it instead. */
static void give(struct redis_pool *p, redisContext *c, unsigned long epoch, bool ok)
{
    if (ok && c->err == 0) {
        pthread_mutex_lock(&p->lock);
        if (p->n_idle < REDIS_POOL_MAX) {
            p->idle[p->n_idle].c = c;
            p->idle[p->n_idle++].epoch = epoch;
            c = NULL;
        }
        pthread_mutex_unlock(&p->lock);
    }
    if (c != NULL)
        redisFree(c);
}

int redis_pool_run(struct redis_pool *p, redis_pool_job job, void *arg, bool retry,
                   struct err *err)
{
    unsigned long epoch = 0;
    bool reused;
    redisContext *c = take(p, &reused, &epoch, err);
    int rc;

    if (c == NULL)
        return -1;
    rc = job(c, arg, err);
    if (rc < 0 && reused && retry) {
        redisFree(c);
        if ((c = connect_new(p, &epoch, err)) == NULL)
            return -1;
        rc = job(c, arg, err);
    }
    if (rc < 0)
        failed(p);
    give(p, c, epoch, rc >= 0);
    return rc;
}
