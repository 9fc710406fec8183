/*
 * redis_pool.c - a small pool of idle Redis connections (see redis_pool.h
 * for why).
 *
 * A plain array under one mutex: the lock is held only to push or pop a
 * pointer, never while talking to Redis.  Connections beyond
 * REDIS_POOL_MAX are simply closed when given back.
 */
#include <pthread.h>
#include <stdlib.h>

#include "common/redis_pool.h"

struct redis_pool {
    pthread_mutex_t lock;
    const struct redis_settings *settings;
    void (*on_error)(void);
    redisContext *idle[REDIS_POOL_MAX];    /* under lock */
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

void redis_pool_free(struct redis_pool *p)
{
    if (p == NULL)
        return;
    while (p->n_idle > 0)
        redisFree(p->idle[--p->n_idle]);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static void failed(const struct redis_pool *p)
{
    if (p->on_error != NULL)
        p->on_error();
}

static redisContext *connect_new(struct redis_pool *p, struct err *err)
{
    redisContext *c = redis_connect(p->settings, err);

    if (c == NULL)
        failed(p);
    return c;
}

/* An idle connection, or a new one (*reused says which). */
static redisContext *take(struct redis_pool *p, bool *reused, struct err *err)
{
    redisContext *c = NULL;

    pthread_mutex_lock(&p->lock);
    if (p->n_idle > 0)
        c = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->lock);
    *reused = c != NULL;
    return c != NULL ? c : connect_new(p, err);
}

/* Give C back; OK false (or an error on C) closes it instead. */
static void give(struct redis_pool *p, redisContext *c, bool ok)
{
    if (ok && c->err == 0) {
        pthread_mutex_lock(&p->lock);
        if (p->n_idle < REDIS_POOL_MAX) {
            p->idle[p->n_idle++] = c;
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
    bool reused;
    redisContext *c = take(p, &reused, err);
    int rc;

    if (c == NULL)
        return -1;
    rc = job(c, arg, err);
    if (rc < 0 && reused && retry) {
        redisFree(c);
        if ((c = connect_new(p, err)) == NULL)
            return -1;
        rc = job(c, arg, err);
    }
    if (rc < 0)
        failed(p);
    give(p, c, rc >= 0);
    return rc;
}
