/*
 * sentinel_internal.h - what discovery (sentinel.c) and the +switch-master
 * watcher (sentinel_watch.c) share; not for other modules (its unit test,
 * tests/unit/test_sentinel.c, excepted).
 */
#ifndef MSSANTE_SENTINEL_INTERNAL_H
#define MSSANTE_SENTINEL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "common/sentinel.h"
#include "common/stopsignal.h"

struct sentinel {
    /* Settings, copied at creation, read-only afterwards. */
    char *name;                           /* RedisMasterName */
    struct redis_addr_list sentinels;     /* as configured */
    char *sentinel_password;              /* NULL: none */
    char *user, *password;                /* for the master; NULL: none */
    int db;
    int timeout_ms;
    sentinel_event_fn *on_event;
    void *event_arg;

    pthread_mutex_t lock;                 /* guards the next five */
    size_t order[REDIS_ADDR_LIST_MAX];    /* indexes into sentinels, preferred first */
    struct redis_addr master;             /* last known; host NULL when none */
    unsigned long epoch;
    struct redis_addr replaced;           /* the master before the last +switch-master */
    long long switched_ms;                /* when it was heard (monotonic), 0: never */

    /* The watcher (sentinel_watch.c); started and stopped by one thread. */
    struct stop_signal stop;
    pthread_t thread;
    bool watching;
};

/* The current preference order (a copy of s->order, s->sentinels.n long). */
void sentinel_order_copy(struct sentinel *s, size_t *order);

/* Sentinel I answered: make it the first to ask. */
void sentinel_promote(struct sentinel *s, size_t i);

/* Sentinel I as text, for messages. */
void sentinel_name(const struct sentinel *s, size_t i, char *buf, size_t size);

/* A connection to sentinel I, authenticated when a sentinel password is
 * set; NULL with WHY ("sentinel HOST:PORT: why"). */
redisContext *sentinel_open(struct sentinel *s, size_t i, struct err *why);

/* Ask sentinel I for the master's address: 0 with OUT (to free), or -1
 * with WHY ("sentinel HOST:PORT: why"). */
int sentinel_ask(struct sentinel *s, size_t i, struct redis_addr *out,
                 struct err *why);

/* How long after a +switch-master a sentinel naming the master it
 * replaced is taken to be behind: sentinels learn a new configuration from
 * each other within seconds, and Sentinel demotes the old master (after
 * which ROLE tells) about 10 s after the switch. */
#define SENTINEL_STALE_MS 15000

/* M is the master now, according to sentinel VIA: announced by a
 * +switch-master (ANNOUNCED) or named on request.  When it differs from the
 * known one, remember it, advance the epoch and report
 * SENTINEL_EVENT_MASTER; a request naming the master that the last
 * +switch-master replaced is ignored (see sentinel_is_stale).  Returns the
 * epoch after the change, or 0 when M was ignored. */
unsigned long sentinel_note_master(struct sentinel *s, const struct redis_addr *m,
                                   bool announced, const char *via);

/* Is M the master that a +switch-master replaced less than
 * SENTINEL_STALE_MS before NOW_MS (monotonic)?  A sentinel naming it is
 * behind: during that time the old master may still say it is one. */
bool sentinel_is_stale(struct sentinel *s, const struct redis_addr *m, long long now_ms);

/* Report an event to settings.on_event, if any (printf-like). */
void sentinel_event(struct sentinel *s, enum sentinel_event kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
