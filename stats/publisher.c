/*
 * publisher.c - the thread that publishes the counters every
 * StatsInterval: the StatsFile (stats/prometheus.c) and, with Redis, this
 * node's HASH (stats/node.c), and once more when the daemon stops so that
 * a stopped node's totals are complete.
 *
 * StatsFile and StatsInterval are read from the configuration in force at
 * every round (a reload changes them), through the source the daemon
 * gives; Redis is the startup one.
 *
 * DIAGNOSTICS: an outage of Redis is logged once ("stats: cannot publish
 * to Redis: ...") and its end once; a StatsFile error once per distinct
 * error.  Each failure counts as a Redis error where Redis failed.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/stopsignal.h"
#include "stats/node.h"
#include "stats/snapshot.h"
#include "stats/stats.h"

static const struct stats_settings *pub_startup;
static const struct redis_settings *pub_redis;
static char pub_node[STATS_NODE_MAX];        /* NodeName, or the host name */
static struct stats_source pub_source;
static pthread_t pub_thread;
static bool pub_running;
static struct stop_signal pub_stop;

struct pub_state {
    redisContext *redis;
    unsigned long epoch;         /* of the master it leads to (common/redis.h) */
    bool redis_down;             /* an outage was logged */
    struct err file_error;    /* last StatsFile error logged */
};

static void publish_round(struct pub_state *ps, const struct stats_settings *cfg)
{
    int interval_s = cfg->interval_ms / 1000;
    struct err err;

    if (redis_configured(pub_redis)) {
        struct redis_where where;

        if (ps->redis != NULL && redis_moved(pub_redis, ps->epoch)) {
            redisFree(ps->redis);           /* to the old master: its writes would be lost */
            ps->redis = NULL;
        }
        if (ps->redis == NULL) {
            if ((ps->redis = redis_connect_where(pub_redis, &where, &err)) == NULL)
                stats_redis_error();
            else
                ps->epoch = where.epoch;
        }
        if (ps->redis != NULL
            && stats_node_publish(ps->redis, pub_redis->prefix, pub_node, interval_s,
                                  &err) < 0) {
            stats_redis_error();
            redisFree(ps->redis);
            ps->redis = NULL;
        }
        if (ps->redis == NULL && !ps->redis_down)
            log_warning("stats: cannot publish to Redis: %s", err.msg);
        else if (ps->redis != NULL && ps->redis_down)
            log_notice("stats: publishing to Redis again");
        ps->redis_down = ps->redis == NULL;
    }
    if (cfg->file != NULL) {
        if (stats_write_file(cfg->file, &err) < 0) {
            if (strcmp(err.msg, ps->file_error.msg) != 0)
                log_warning("stats: cannot write StatsFile: %s", err.msg);
            ps->file_error = err;
        } else {
            err_clear(&ps->file_error);
        }
    }
}

/* StatsFile and StatsInterval from the configuration in force. */
static const struct stats_settings *current_config(void)
{
    const struct stats_settings *cfg = NULL;

    if (pub_source.acquire != NULL)
        cfg = pub_source.acquire(pub_source.arg);
    return cfg != NULL ? cfg : pub_startup;
}

static void release_config(const struct stats_settings *cfg)
{
    if (cfg != pub_startup && pub_source.release != NULL)
        pub_source.release(pub_source.arg, cfg);
}

static void *pub_main(void *arg)
{
    struct pub_state ps = { 0 };
    const struct stats_settings *cfg;
    bool stop = false;

    (void)arg;
    while (!stop) {
        int interval;

        cfg = current_config();
        publish_round(&ps, cfg);
        interval = cfg->interval_ms;
        release_config(cfg);
        stop = stop_signal_wait_ms(&pub_stop, interval);
    }
    /* The last numbers, so that a stopped node's totals are complete. */
    cfg = current_config();
    publish_round(&ps, cfg);
    release_config(cfg);
    if (ps.redis != NULL)
        redisFree(ps.redis);
    return NULL;
}

int stats_start(const struct stats_settings *startup, const struct redis_settings *rs,
                const struct stats_source *source)
{
    int rc;

    stats_mark_started();
    pub_startup = startup;
    pub_redis = rs;
    stats_node_name(startup->node_name, pub_node, sizeof(pub_node));
    if (source != NULL)
        pub_source = *source;
    if ((rc = stop_signal_init(&pub_stop)) != 0) {
        log_error("cannot start the stats thread: %s", strerror(rc));
        return -1;
    }
    if ((rc = pthread_create(&pub_thread, NULL, pub_main, NULL)) != 0) {
        log_error("cannot start the stats thread: %s", strerror(rc));
        stop_signal_destroy(&pub_stop);
        return -1;
    }
    pub_running = true;
    return 0;
}

void stats_stop(void)
{
    if (!pub_running)
        return;
    stop_signal_raise(&pub_stop);
    pthread_join(pub_thread, NULL);
    stop_signal_destroy(&pub_stop);
    pub_running = false;
}
