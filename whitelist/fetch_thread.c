/*
 * fetch_thread.c - the daemon's whitelist fetch thread and stale-list
 * watch.
 *
 * One thread, two duties on their own schedules:
 *  - every WhitelistRefresh (+-10 % jitter, so that MX nodes restarted
 *    together drift apart) run whitelist_refresh() unless another node
 *    attempted less than half an interval ago (PREFIX wl:fetch
 *    last_attempt): N nodes then cost about one download per interval;
 *  - every min(WhitelistMaxAge / 4, 1 h) check how old the list in force
 *    is, and warn while it is older than WhitelistMaxAge.
 *
 * "How old" is measured from the newer of its DateDeGeneration and the
 * last time a fetch confirmed it as the ANS's current list (a 304 or an
 * identical download).  The ANS does not regenerate its file on a fixed
 * schedule; a list it still serves is not stale, whatever its date, and a
 * broken fetcher shows up as "not confirmed for N days".
 *
 * Shutdown must not wait for a two-minute download: the fetch's cancel
 * hook reads the stop flag.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/stopsignal.h"
#include "whitelist/fetch.h"
#include "whitelist/fetch_publish.h"
#include "whitelist/fetch_thread.h"
#include "whitelist/guard.h"
#include "whitelist/live.h"
#include "whitelist/store.h"

#define AGE_CHECK_MAX_MS   3600000LL      /* at least hourly */
#define STALE_REPEAT_S     (12 * 3600)    /* repeat the warning twice a day */
#define SHORT_REFRESH_MS   300000         /* below this, say it is for tests */
#define FIRST_DELAY_MAX_MS 5000LL         /* first fetch soon after start */

static const struct fetch_settings *rcfg;
static const struct redis_settings *rredis;
static int rpoll_ms;              /* WhitelistPoll */
static pthread_t thread;
static bool running;
static struct stop_signal refresh_stop;   /* raised by fetch_thread_stop() */

/* What the thread keeps between rounds. */
struct watch {
    redisContext *c;
    bool outage;                 /* Redis unreachable, already logged */
    bool stale;                  /* the stale warning is in force */
    time_t last_warned;
    unsigned int seed;           /* rand_r() for the jitter */
};

static int cancel_hook(void *arg)
{
    (void)arg;
    return stop_signal_raised(&refresh_stop) ? 1 : 0;
}

/* INTERVAL +- 10 %. */
static long long jitter(struct watch *w, long long interval)
{
    long long spread = interval / 5;

    if (spread <= 0)
        return interval;
    return interval - spread / 2 + (long long)(rand_r(&w->seed) % (spread + 1));
}

/* "3d 4h", "5h 12m", "7m 3s", "12s". */
static void format_span(long long s, char *buf, size_t size)
{
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(buf, size, "%lldd %lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(buf, size, "%lldh %lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(buf, size, "%lldm %llds", s / 60, s % 60);
    else
        snprintf(buf, size, "%llds", s);
}

/* ------------------------------------------------------------------ */
/* Redis connection                                                     */
/* ------------------------------------------------------------------ */

static redisContext *redis(struct watch *w)
{
    struct err err;

    if (w->c != NULL)
        return w->c;
    w->c = redis_connect(rredis, &err);
    if (w->c == NULL) {
        if (!w->outage)
            log_warning("whitelist refresh: Redis unreachable: %s", err.msg);
        w->outage = true;
        return NULL;
    }
    if (w->outage)
        log_notice("whitelist refresh: Redis reachable again");
    w->outage = false;
    return w->c;
}

/* After an error: reconnect next time if the connection itself failed. */
static void redis_check(struct watch *w)
{
    if (w->c != NULL && w->c->err) {
        redisFree(w->c);
        w->c = NULL;
    }
}

/* ------------------------------------------------------------------ */
/* Fetching                                                             */
/* ------------------------------------------------------------------ */

static const char *or_none(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "none";
}

static void log_outcome(const struct refresh_result *res)
{
    switch (res->status) {
    case REFRESH_PUBLISHED:
        log_notice("whitelist fetch: published version %s (previous %s), %zu domains, "
                   "generated %s: %s", res->version, or_none(res->previous), res->count,
                   res->generated, res->reason);
        break;
    case REFRESH_NOT_MODIFIED:
        log_info("whitelist fetch: not modified (HTTP 304), version %s is current",
                 res->version);
        break;
    case REFRESH_UNCHANGED:
        log_info("whitelist fetch: downloaded list identical to version %s", res->version);
        break;
    case REFRESH_BUSY:
        log_info("whitelist fetch: skipped, %s", res->reason);
        break;
    case REFRESH_REFUSED:
        log_warning("whitelist fetch refused, keeping version %s: %s",
                    or_none(res->version), res->reason);
        break;
    case REFRESH_FAILED:
        log_error("whitelist fetch failed (%s), keeping version %s: %s",
                  res->redis_error ? "redis" : fetch_error_name(res->fetch_kind),
                  or_none(res->version), res->reason);
        break;
    }
    if (res->warning[0] != '\0')
        log_warning("whitelist fetch: %s", res->warning);
}

/* One turn: true when the list in Redis is (still) the ANS's. */
static bool refresh_turn(struct watch *w)
{
    struct refresh_options opt;
    struct refresh_result *res;
    struct refresh_state st;
    struct err err;
    redisContext *c = redis(w);
    long long since;
    bool ok;

    if (c == NULL)
        return false;
    if (refresh_read_state(c, rredis->prefix, &st, &err) < 0) {
        log_warning("whitelist refresh: %s", err.msg);
        redis_check(w);
        return false;
    }
    since = (long long)time(NULL) - st.last_attempt;
    if (st.last_attempt > 0 && since >= 0 && since * 1000 < rcfg->refresh_ms / 2) {
        log_debug("whitelist fetch: skipped, %s attempted %llds ago (%s)",
                  or_none(st.node), since, or_none(st.last_result));
        return false;
    }
    /* The result holds a 1 KiB reason: keep it off this thread's stack. */
    if ((res = malloc(sizeof(*res))) == NULL) {
        log_error("whitelist fetch: out of memory");
        return false;
    }
    refresh_options_init(&opt);
    opt.cancel = cancel_hook;
    whitelist_refresh(rcfg, rredis, c, &opt, res);
    if (!(res->status == REFRESH_FAILED && res->fetch_kind == FETCH_ERR_CANCELLED))
        log_outcome(res);
    ok = refresh_status_ok(res->status);
    free(res);
    redis_check(w);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Age of the list in force                                             */
/* ------------------------------------------------------------------ */

static void age_turn(struct watch *w)
{
    const struct whitelist *wl = live_acquire();
    char version[64], generated[40], confirmed[32] = "never", age[32], max[32];
    struct refresh_state st;
    time_t gen, now = time(NULL);
    long long fresh = 0;
    struct err err;

    if (wl == NULL) {            /* live.c already says there is no list */
        live_release();
        return;
    }
    snprintf(version, sizeof(version), "%s", wl->version);
    snprintf(generated, sizeof(generated), "%s", wl->generated);
    live_release();

    if (guard_parse_time(generated, &gen) == 0)
        fresh = (long long)gen;
    if (redis_configured(rredis) && redis(w) != NULL) {
        int rc = refresh_read_state(w->c, rredis->prefix, &st, &err);

        if (rc < 0) {
            redis_check(w);
        } else if (rc == 1 && st.last_success > 0
                   && strcmp(st.checked_version, version) == 0) {
            format_span(now - st.last_success, confirmed, sizeof(confirmed));
            snprintf(confirmed + strlen(confirmed), sizeof(confirmed) - strlen(confirmed),
                     " ago");
            if (st.last_success > fresh)
                fresh = st.last_success;
        }
    }
    if (fresh == 0)              /* no date at all: nothing to measure */
        return;
    format_span(now - fresh, age, sizeof(age));
    format_span(rcfg->max_age_ms / 1000, max, sizeof(max));
    if ((long long)(now - fresh) * 1000 > rcfg->max_age_ms) {
        if (!w->stale || now - w->last_warned >= STALE_REPEAT_S) {
            log_warning("whitelist version %s is stale: generated %s, last confirmed by a fetch "
                        "%s; %s old, more than WhitelistMaxAge %s (mssantectl whitelist status)",
                        version, generated[0] ? generated : "unknown", confirmed, age, max);
            w->last_warned = now;
        }
        w->stale = true;
    } else if (w->stale) {
        log_notice("whitelist version %s is no longer stale (%s old)", version, age);
        w->stale = false;
    }
}

/* ------------------------------------------------------------------ */
/* The thread                                                           */
/* ------------------------------------------------------------------ */

static void *fetch_thread_main(void *arg)
{
    struct watch w = { .c = NULL };
    long long refresh_ms = rcfg->refresh_ms, max_age_ms = rcfg->max_age_ms;
    long long age_every = max_age_ms / 4, now = monotonic_ms();
    long long next_refresh = LLONG_MAX, next_age = LLONG_MAX;

    (void)arg;
    w.seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
    if (age_every > AGE_CHECK_MAX_MS)
        age_every = AGE_CHECK_MAX_MS;
    if (age_every < 1000)
        age_every = 1000;
    if (refresh_ms > 0)
        next_refresh = now + rand_r(&w.seed) % (refresh_ms < FIRST_DELAY_MAX_MS
                                                ? refresh_ms : FIRST_DELAY_MAX_MS);
    if (max_age_ms > 0)
        next_age = now;

    while (!stop_signal_wait_until(&refresh_stop,
                                   next_refresh < next_age ? next_refresh : next_age)) {
        now = monotonic_ms();
        if (now >= next_refresh) {
            bool ok = refresh_turn(&w);

            now = monotonic_ms();
            next_refresh = now + jitter(&w, refresh_ms);
            /* Let the poller install what was just confirmed before
             * judging the age of the list in force. */
            if (ok && max_age_ms > 0 && next_age < now + rpoll_ms + 1000)
                next_age = now + rpoll_ms + 1000;
        }
        if (stop_signal_raised(&refresh_stop))
            break;
        if (now >= next_age) {
            age_turn(&w);
            next_age = monotonic_ms() + age_every;
        }
    }
    if (w.c != NULL)
        redisFree(w.c);
    return NULL;
}

static void announce(const struct fetch_settings *cfg)
{
    char every[32], max[32];

    format_span(cfg->max_age_ms / 1000, max, sizeof(max));
    if (cfg->refresh_ms <= 0) {
        log_info("whitelist: no refresh thread (WhitelistRefresh 0); stale warning after %s",
                 max);
        return;
    }
    format_span(cfg->refresh_ms / 1000, every, sizeof(every));
    log_notice("whitelist refresh every %s from %s (CA %s%s%s)", every,
               cfg->url, cfg->ca_file ? cfg->ca_file
                                                          : "system bundle",
               cfg->client_cert ? ", client certificate " : "",
               cfg->client_cert ? cfg->client_cert : "");
    if (cfg->refresh_ms < SHORT_REFRESH_MS)
        log_warning("WhitelistRefresh %s: the ANS server is asked that often; meant for tests",
                    every);
}

int fetch_thread_start(const struct fetch_settings *cfg, const struct redis_settings *rs,
                    int poll_ms)
{
    int rc;

    if (cfg->refresh_ms <= 0 && cfg->max_age_ms <= 0)
        return 0;
    rcfg = cfg;
    rredis = rs;
    rpoll_ms = poll_ms;
    if ((rc = stop_signal_init(&refresh_stop)) != 0) {
        log_error("cannot start the whitelist refresh thread: %s", strerror(rc));
        return -1;
    }
    announce(cfg);
    if ((rc = pthread_create(&thread, NULL, fetch_thread_main, NULL)) != 0) {
        log_error("cannot start the whitelist refresh thread: %s", strerror(rc));
        stop_signal_destroy(&refresh_stop);
        return -1;
    }
    running = true;
    return 0;
}

void fetch_thread_stop(void)
{
    if (!running)
        return;
    stop_signal_raise(&refresh_stop);
    pthread_join(thread, NULL);
    stop_signal_destroy(&refresh_stop);
    running = false;
}
