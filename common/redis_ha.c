/*
 * redis_ha.c - the process's discovery state for Redis Sentinel (see
 * redis_ha.h), the daemon's watcher and its log lines.
 *
 * DIAGNOSTICS: with the daemon's watcher, a new master is logged as a
 * notice ("Redis master "mymaster" is now 127.0.0.1:6380 (was ...), from
 * sentinel ..."), the watcher's subscription as information and its
 * troubles as warnings (common/sentinel.h words them).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/redis.h"
#include "common/redis_ha.h"
#include "common/sentinel.h"

static pthread_mutex_t ha_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sentinel *ha;          /* under ha_lock until made, then read-only */
static char ha_name[256];            /* the master name it was made for */
static struct redis_addr_list ha_list;   /* and its sentinels (a copy) */

static void log_event(void *arg, enum sentinel_event kind, const char *text)
{
    (void)arg;
    if (kind == SENTINEL_EVENT_MASTER)
        log_notice("%s", text);
    else if (kind == SENTINEL_EVENT_WATCHING)
        log_info("%s", text);
    else
        log_warning("%s", text);
}

/* Do S name the sentinels and master the state was made for?  Under
 * ha_lock, with HA made. */
static bool same_setup(const struct redis_settings *s)
{
    if (s->master_name == NULL || strcmp(s->master_name, ha_name) != 0
        || s->sentinels.n != ha_list.n)
        return false;
    for (size_t i = 0; i < ha_list.n; i++)
        if (!redis_addr_equal(&s->sentinels.v[i], &ha_list.v[i]))
            return false;
    return true;
}

static int copy_setup(const struct redis_settings *s)
{
    ha_list.v = calloc(s->sentinels.n, sizeof(*ha_list.v));
    if (ha_list.v == NULL)
        return -1;
    for (ha_list.n = 0; ha_list.n < s->sentinels.n; ha_list.n++)
        if (redis_addr_copy(&ha_list.v[ha_list.n], &s->sentinels.v[ha_list.n]) < 0)
            return -1;
    snprintf(ha_name, sizeof(ha_name), "%s", s->master_name);
    return 0;
}

/* The state for S, made now if need be (LOGGED: events go to the log). */
static struct sentinel *get(const struct redis_settings *s, bool logged, struct err *err)
{
    struct sentinel_settings set = {
        .master_name = s->master_name, .sentinels = &s->sentinels,
        .sentinel_password = s->sentinel_password,
        .auth = { s->user, s->password, NULL }, .db = s->db, .timeout_ms = s->timeout_ms,
        .on_event = logged ? log_event : NULL, .event_arg = NULL,
    };
    struct sentinel *found;

    pthread_mutex_lock(&ha_lock);
    if (ha == NULL) {
        if ((ha = sentinel_new(&set, err)) != NULL && copy_setup(s) < 0) {
            sentinel_free(ha);
            ha = NULL;
            redis_addr_list_free(&ha_list);
            err_set(err, "out of memory");
        }
    } else if (!same_setup(s)) {
        pthread_mutex_unlock(&ha_lock);
        err_set(err, "Redis Sentinel: this process already follows master \"%s\" "
                "through other sentinels", ha_name);
        return NULL;
    }
    found = ha;
    pthread_mutex_unlock(&ha_lock);
    return found;
}

redisContext *redis_ha_connect(const struct redis_settings *s, struct redis_where *where,
                               struct err *err)
{
    struct sentinel *sn = get(s, false, err);
    struct sentinel_master m;
    redisContext *c;

    if (sn == NULL)
        return NULL;
    if ((c = sentinel_connect(sn, &m, err)) != NULL && where != NULL) {
        snprintf(where->addr, sizeof(where->addr), "%s", m.addr);
        snprintf(where->via, sizeof(where->via), "%s", m.via);
        where->epoch = m.epoch;
    }
    return c;
}

unsigned long redis_ha_epoch(const struct redis_settings *s)
{
    struct sentinel *sn;

    (void)s;
    pthread_mutex_lock(&ha_lock);
    sn = ha;
    pthread_mutex_unlock(&ha_lock);
    return sn != NULL ? sentinel_epoch(sn) : 0;
}

int redis_watch_start(const struct redis_settings *s, struct err *err)
{
    struct sentinel *sn;

    if (!redis_uses_sentinels(s))
        return 0;
    if ((sn = get(s, true, err)) == NULL)
        return -1;
    return sentinel_watch_start(sn, err);
}

void redis_watch_stop(void)
{
    pthread_mutex_lock(&ha_lock);
    sentinel_free(ha);
    ha = NULL;
    redis_addr_list_free(&ha_list);
    ha_name[0] = '\0';
    pthread_mutex_unlock(&ha_lock);
}

void redis_describe_master(const struct redis_settings *s, char *master, size_t mlen,
                           char *order, size_t olen)
{
    struct sentinel *sn = NULL;

    if (mlen > 0)
        master[0] = '\0';
    if (olen > 0)
        order[0] = '\0';
    if (!redis_uses_sentinels(s))
        return;
    pthread_mutex_lock(&ha_lock);
    sn = ha;
    pthread_mutex_unlock(&ha_lock);
    if (sn != NULL)
        sentinel_describe(sn, master, mlen, order, olen);
}
