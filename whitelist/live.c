/*
 * live.c - the whitelist in force in the daemon, and the thread that keeps
 * it in step with Redis.
 *
 * Concurrency: milter threads hold the read side of a rwlock around their
 * lookups; the only write-side critical section is the pointer swap.  The
 * rwlock prefers writers so that a steady stream of milter callbacks cannot
 * starve a swap (readers never nest, which that kind requires).  The old
 * list is freed after the unlock.  Only live_start() and the poll thread
 * ever install a list, so they can read the version in force without the
 * lock; everyone else goes through live_acquire().
 *
 * Errors talking to Redis are logged once per outage, not once per poll:
 * a Redis restart must not flood the mail log.
 *
 * TLSPolicyFile (whitelist/tlspolicy.h) is rewritten after every install,
 * by the thread that installed the list, never by a milter thread: a slow
 * or full disk delays the table, not the mail.  A failed write leaves the
 * previous table in place for Postfix, is logged once, and is retried at
 * every poll until it succeeds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/stopsignal.h"
#include "whitelist/ansxml.h"
#include "whitelist/live.h"
#include "whitelist/snapshot.h"
#include "whitelist/store.h"
#include "whitelist/tlspolicy.h"


static pthread_rwlock_t live_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static struct whitelist *live_list;           /* guarded by live_lock */

static const struct live_settings *live_cfg;
static const struct redis_settings *live_redis;
/* Identity of the list in force; written by live_start and the poller only. */
static char in_force[sizeof(((struct whitelist *)0)->version)];
static char in_force_sha[sizeof(((struct whitelist *)0)->sha256)];
static bool seed_pending;     /* WhitelistFile not yet offered to Redis */
static bool recheck_pending;  /* compare content even if the version id matches */

/* TLSPolicyFile: not yet written for the list in force, and the last
 * failure (logged once).  Installer threads only. */
static bool policy_pending;
static struct err policy_error;

/* Why each source failed at start, "; "-separated, for the report of a
 * start without a list.  live_start() only. */
static char start_failures[2048];

static pthread_t poll_thread;
static bool poll_running;
static struct stop_signal poll_stop;

const struct whitelist *live_acquire(void)
{
    pthread_rwlock_rdlock(&live_lock);
    return live_list;
}

void live_release(void)
{
    pthread_rwlock_unlock(&live_lock);
}

#define POLICY_WARN_MAX 5   /* dropped CNs named per write; then a count */

static void policy_warn(void *arg, const char *domain, const char *cn)
{
    size_t *n = arg;

    if ((*n)++ >= POLICY_WARN_MAX)
        return;
    if (cn != NULL)
        log_warning("TLSPolicyFile: CN \"%s\" of %s is not a plain host name: left out of"
                    " its match= list", cn, domain);
    else
        log_warning("TLSPolicyFile: %s has no usable CN: not in the table (outbound TLS to"
                    " it follows smtp_tls_security_level)", domain);
}

/* Write TLSPolicyFile for WL, the list in force.  A failure is logged
 * (once for the same error) and retried from the poll loop. */
static void write_tls_policy(const struct whitelist *wl)
{
    const char *path = live_cfg->tls_policy_file;
    enum tls_policy_level level = live_cfg->tls_policy_encrypt ? TLS_POLICY_ENCRYPT
                                                               : TLS_POLICY_SECURE;
    struct tls_policy_stats st;
    struct err err;
    size_t warned = 0;

    if (path == NULL || wl == NULL)
        return;
    if (tls_policy_write(path, wl, level, &st, policy_warn, &warned, &err) < 0) {
        policy_pending = true;
        if (strcmp(err.msg, policy_error.msg) != 0)
            log_error("cannot write TLSPolicyFile %s; Postfix keeps the table it has"
                      " (mail is not affected), retrying every WhitelistPoll", err.msg);
        policy_error = err;
        return;
    }
    if (warned > POLICY_WARN_MAX)
        log_warning("TLSPolicyFile: %zu CNs or domains left out in all", warned);
    if (policy_error.msg[0] != '\0')
        log_notice("TLSPolicyFile %s written again after an error", path);
    policy_pending = false;
    err_clear(&policy_error);
    log_info("TLSPolicyFile %s written: version=%s level=%s domains=%zu cns=%zu"
             " dropped_cns=%zu dropped_domains=%zu", path, wl->version,
             tls_policy_level_name(level), st.domains, st.cns, st.cns_dropped,
             st.domains_dropped);
}

/* Make WL the list in force (takes ownership) and log the change. */
static void install(struct whitelist *wl, const char *how)
{
    struct whitelist *old;
    char old_version[sizeof(in_force)];

    snprintf(old_version, sizeof(old_version), "%s", in_force);
    snprintf(in_force, sizeof(in_force), "%s", wl->version);
    snprintf(in_force_sha, sizeof(in_force_sha), "%s", wl->sha256);

    pthread_rwlock_wrlock(&live_lock);
    old = live_list;
    live_list = wl;
    pthread_rwlock_unlock(&live_lock);

    whitelist_free(old);
    log_info("whitelist %s: version=%s old=%s domains=%zu entries=%zu operator_cns=%zu"
             " generated=%s source=%s",
             how, wl->version, old_version[0] ? old_version : "none",
             domainset_count(wl->domains), wl->entries, certset_pairs(wl->certs),
             wl->generated[0] ? wl->generated : "unknown", wl->source);
    write_tls_policy(wl);
}

static void save_snapshot(const struct whitelist *wl)
{
    struct err err;

    if (live_cfg->snapshot_file == NULL)
        return;
    if (snapshot_write(live_cfg->snapshot_file, wl, &err) < 0)
        log_warning("cannot write snapshot %s: %s", live_cfg->snapshot_file, err.msg);
}

/* Entries of the file at PATH that the list goes without, by name. */
static void log_skipped(const char *path, const struct ans_list *list)
{
    char text[ANS_SKIPPED_NAMED * (ANS_SKIPPED_TEXT + 24) + 64];

    if (list->skipped + list->cn_skipped == 0)
        return;
    ans_list_skipped_text(list, text, sizeof(text));
    log_warning("whitelist %s: %zu entr%s skipped: %s", path, list->skipped + list->cn_skipped,
                list->skipped + list->cn_skipped == 1 ? "y" : "ies", text);
}

/* One more source that gave no list at start: WHAT and why. */
static void start_failed(const char *what, const char *why)
{
    size_t used = strlen(start_failures);

    snprintf(start_failures + used, sizeof(start_failures) - used, "%s%s: %s",
             used ? "; " : "", what, why);
}

static struct whitelist *load_file(const char *path)
{
    struct err err;
    struct ans_list *list = ans_parse_file(path, &err);
    struct whitelist *wl;
    char what[600];

    if (list == NULL) {
        log_error("cannot load whitelist file %s: %s", path, err.msg);
        snprintf(what, sizeof(what), "WhitelistFile %.500s", path);
        start_failed(what, err.msg);
        return NULL;
    }
    log_skipped(path, list);
    wl = ans_list_take_whitelist(list);
    if (wl != NULL) {
        snprintf(wl->version, sizeof(wl->version), "file");
        if (wl->loaded_at == 0)
            wl->loaded_at = time(NULL);
    }
    return wl;
}

static struct whitelist *load_snapshot(void)
{
    const char *path = live_cfg->snapshot_file;
    struct err err;
    struct whitelist *wl;
    struct stat st;
    char what[600];

    if (path == NULL) {
        start_failed("SnapshotFile", "not set");
        return NULL;
    }
    if ((wl = snapshot_read(path, &err)) == NULL) {
        log_error("cannot use snapshot %s: %s", path, err.msg);
        snprintf(what, sizeof(what), "SnapshotFile %.500s", path);
        start_failed(what, err.msg);
        return NULL;
    }
    if (stat(path, &st) == 0)
        log_notice("using snapshot %s: version %s generated %s, written %lds ago",
                   path, wl->version, wl->generated[0] ? wl->generated : "unknown",
                   (long)(time(NULL) - st.st_mtime));
    if (wl->certs == NULL)
        log_warning("snapshot %s was written by an older version (format 1) and holds no"
                    " operator certificate CNs: no CN is listed until a list is loaded"
                    " from Redis", path);
    return wl;
}

/* Publish WhitelistFile as the first version when Redis has none. */
static int seed_redis(redisContext *c, struct err *err)
{
    const char *file = live_cfg->file;
    char version[64];
    struct ans_list *list;
    bool published = false;
    int rc;

    seed_pending = false;
    if ((list = ans_parse_file(file, err)) == NULL) {
        log_error("Redis holds no whitelist and %s cannot seed it: %s", file, err->msg);
        return 0;
    }
    log_skipped(file, list);
    rc = store_publish(c, live_redis->prefix, list, true, &published, version,
                       sizeof(version), err);
    ans_list_free(list);
    if (rc < 0)
        return -1;
    if (published)
        log_notice("Redis held no whitelist: published %s as version %s", file, version);
    return 0;
}

/*
 * Bring the list in force up to Redis's current version.
 *
 * Version ids come from a Redis counter: a Redis that lost its data counts
 * from 1 again, so an id equal to the one in force does not prove the same
 * list.  After a reconnection, or after Redis was seen empty, the next
 * current version is therefore loaded whatever its id (recheck_pending) and
 * replaces the list in force only if its content (sha256) differs.
 *
 * Returns 1 when a new list was installed, 0 when there is nothing new (or
 * Redis holds no list), -1 on error with err filled in.
 */
static int refresh_from_redis(redisContext *c, const char *how, struct err *err)
{
    char version[64];
    struct whitelist *wl;
    int rc;

    rc = store_current_version(c, live_redis->prefix, version, sizeof(version),
                               err);
    if (rc == 0 && seed_pending && live_cfg->file != NULL) {
        if (seed_redis(c, err) < 0)
            return -1;
        rc = store_current_version(c, live_redis->prefix, version, sizeof(version),
                                   err);
    }
    if (rc < 0)
        return rc;
    /* Seed only a Redis that never held a list since we started: one that
     * lost its data later must not get an older file pushed back into it. */
    seed_pending = false;
    if (rc == 0) {
        recheck_pending = true;
        return 0;
    }
    if (!recheck_pending && strcmp(version, in_force) == 0)
        return 0;

    wl = store_load_version(c, live_redis->prefix, version, err);
    if (wl == NULL)
        return -1;
    if (wl->version[0] == '\0')
        snprintf(wl->version, sizeof(wl->version), "%s", version);
    recheck_pending = false;
    if (strcmp(wl->version, in_force) == 0 && strcmp(wl->sha256, in_force_sha) == 0) {
        whitelist_free(wl);    /* the very list in force */
        return 0;
    }
    install(wl, how);
    save_snapshot(wl);
    return 1;
}

static void start_without_redis(void)
{
    struct whitelist *wl = live_cfg->file != NULL ? load_file(live_cfg->file) : NULL;

    if (wl != NULL) {
        install(wl, "loaded");
        save_snapshot(wl);
        return;
    }
    /* The file is broken: the last good list, if any, is still better than none. */
    if ((wl = load_snapshot()) != NULL)
        install(wl, "loaded");
}

static void start_with_redis(void)
{
    struct err err;
    redisContext *c = redis_connect(live_redis, &err);
    struct whitelist *wl;
    int rc = -1;

    if (c == NULL) {
        log_error("Redis unreachable at start: %s", err.msg);
        start_failed("Redis", err.msg);
    } else {
        rc = refresh_from_redis(c, "loaded", &err);
        if (rc < 0) {
            log_error("cannot load the whitelist from Redis: %s", err.msg);
            start_failed("Redis", err.msg);
        } else if (rc == 0) {
            log_warning("Redis holds no whitelist yet (mssantectl whitelist load FILE)");
            start_failed("Redis", live_cfg->file != NULL
                         ? "holds no list, and WhitelistFile could not seed it"
                         : "holds no list yet (mssantectl whitelist load FILE)");
        }
        redisFree(c);
    }
    if (rc == 1)
        return;
    if ((wl = load_snapshot()) != NULL)
        install(wl, "loaded");
}

static void *poll_main(void *arg)
{
    struct err err;
    char failed[64] = "";
    redisContext *c = NULL;
    struct redis_where where = { "", "", 0 };
    bool outage = false;

    (void)arg;
    while (!stop_signal_wait_ms(&poll_stop, live_cfg->poll_ms)) {
        int rc;

        /* The poller is the only installer now: live_list is ours to read. */
        if (policy_pending)
            write_tls_policy(live_list);

        /* The master moved (Redis Sentinel): read the new one. */
        if (c != NULL && redis_moved(live_redis, where.epoch)) {
            redisFree(c);
            c = NULL;
        }
        if (c == NULL) {
            if ((c = redis_connect_where(live_redis, &where, &err)) == NULL) {
                if (!outage)
                    log_warning("Redis unreachable: %s; keeping whitelist version %s",
                                err.msg, in_force[0] ? in_force : "none");
                outage = true;
                continue;
            }
            /* Whatever happened while we were not connected, look at the
             * content of the next version once. */
            recheck_pending = true;
        }
        rc = refresh_from_redis(c, "swapped", &err);
        if (rc >= 0 || c->err == 0) {
            if (outage)
                log_notice("Redis reachable again");
            outage = false;
        }
        if (rc >= 0) {
            failed[0] = '\0';
            continue;
        }
        if (c->err != 0) {
            /* Connection-level failure: reconnect on the next poll. */
            if (!outage)
                log_warning("Redis error: %s; keeping whitelist version %s",
                            err.msg, in_force[0] ? in_force : "none");
            outage = true;
            redisFree(c);
            c = NULL;
        } else if (strcmp(failed, err.msg) != 0) {
            /* Bad data: say it once, keep the list in force. */
            log_error("cannot load the current whitelist from Redis: %s; keeping version %s",
                      err.msg, in_force[0] ? in_force : "none");
            snprintf(failed, sizeof(failed), "%.63s", err.msg);
        }
    }
    if (c != NULL)
        redisFree(c);
    return NULL;
}

static int start_poller(void)
{
    int rc;

    if ((rc = stop_signal_init(&poll_stop)) != 0) {
        log_error("cannot start the whitelist poll thread: %s", strerror(rc));
        return -1;
    }
    if ((rc = pthread_create(&poll_thread, NULL, poll_main, NULL)) != 0) {
        log_error("cannot start the whitelist poll thread: %s", strerror(rc));
        stop_signal_destroy(&poll_stop);
        return -1;
    }
    poll_running = true;
    return 0;
}

int live_start(const struct live_settings *ls, const struct redis_settings *rs)
{
    live_cfg = ls;
    live_redis = rs;
    in_force[0] = '\0';
    in_force_sha[0] = '\0';
    seed_pending = true;
    recheck_pending = false;
    policy_pending = false;
    err_clear(&policy_error);
    start_failures[0] = '\0';

    if (!redis_configured(rs))
        start_without_redis();
    else
        start_with_redis();

    if (in_force[0] != '\0')
        start_failures[0] = '\0';
    if (!redis_configured(rs)) {
        if (in_force[0] != '\0')
            return 0;
        /* Nothing will ever bring a list: refuse to start rather than
         * defer every message until someone notices. */
        log_error("no whitelist in force, and none can come without Redis: %s; not starting",
                  start_failures);
        return -1;
    }
    if (in_force[0] == '\0')
        log_warning("no whitelist in force: %s; mail is deferred (451 4.3.0) until a list "
                    "reaches Redis (mssantectl whitelist load FILE), looked for every "
                    "WhitelistPoll", start_failures);
    return start_poller();
}

void live_stop(void)
{
    struct whitelist *old;

    if (poll_running) {
        stop_signal_raise(&poll_stop);
        pthread_join(poll_thread, NULL);
        stop_signal_destroy(&poll_stop);
        poll_running = false;
    }
    pthread_rwlock_wrlock(&live_lock);
    old = live_list;
    live_list = NULL;
    pthread_rwlock_unlock(&live_lock);
    whitelist_free(old);
    in_force[0] = '\0';
    in_force_sha[0] = '\0';
}

const char *live_start_failures(void)
{
    return start_failures;
}
