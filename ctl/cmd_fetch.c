/*
 * cmd_fetch.c - "mssantectl whitelist fetch [--force]",
 * "mssantectl whitelist rollback", and the fetcher's part of
 * "mssantectl whitelist status".
 *
 * fetch runs the same refresh as the daemon's thread
 * (whitelist/fetch_publish.h) once, for cron or by hand.  Its exit status answers one question: is the
 * list in Redis the ANS's current list?  So a fetch that finds another
 * node's fetch in progress waits for it and answers with that fetch's
 * outcome instead of failing: two concurrent fetchers make one
 * publication and both succeed.
 *
 * rollback swaps the current and previous versions: the way back when a
 * list that passed the guard turns out to be wrong.  It remembers which
 * list it removed, so that the fetcher does not publish it again at its
 * next turn while the ANS still serves it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "ctl/ctl.h"
#include "whitelist/fetch_publish.h"
#include "whitelist/snapshot.h"
#include "whitelist/store.h"


static redisContext *connect_or_fail(const struct config *cfg, const char *what, int *status)
{
    struct err err;
    redisContext *c;

    if (!redis_configured(&cfg->redis)) {
        ctl_error("whitelist %s works on Redis, and %s has no Redis setting", what,
                  cfg->path ? cfg->path : "the configuration");
        *status = CTL_USAGE;
        return NULL;
    }
    if ((c = redis_connect(&cfg->redis, &err)) == NULL) {
        ctl_error("%s", err.msg);
        *status = CTL_UNAVAILABLE;
    }
    return c;
}

/* A configured interval the way it is usually written: 6h, 90m, 2s. */
static void format_interval(long long ms, char *buf, size_t size)
{
    if (ms % 86400000 == 0)
        snprintf(buf, size, "%lldd", ms / 86400000);
    else if (ms % 3600000 == 0)
        snprintf(buf, size, "%lldh", ms / 3600000);
    else if (ms % 60000 == 0)
        snprintf(buf, size, "%lldm", ms / 60000);
    else if (ms % 1000 == 0)
        snprintf(buf, size, "%llds", ms / 1000);
    else
        snprintf(buf, size, "%lldms", ms);
}

static void time_and_age(long long t, char *buf, size_t size)
{
    char when[32], age[32];

    if (t <= 0) {
        snprintf(buf, size, "never");
        return;
    }
    format_utc((time_t)t, when, sizeof(when));
    format_age((long long)time(NULL) - t, age, sizeof(age));
    snprintf(buf, size, "%s (%s ago)", when, age);
}

/* ------------------------------------------------------------------ */
/* fetch                                                                */
/* ------------------------------------------------------------------ */

static void fetch_json(const struct ctl *ctl, const struct refresh_result *res,
                       const char *result, const char *by)
{
    const struct config *cfg = ctl->cfg;
    bool ok = refresh_status_ok(res->status) || by != NULL;
    json_t *o = json_object();

    json_object_set_new(o, "result", json_text(result));
    json_object_set_new(o, "ok", json_boolean(ok));
    json_object_set_new(o, "url", json_text(cfg->fetch.url));
    json_object_set_new(o, "version", json_string_or_null(res->version));
    json_object_set_new(o, "previous", json_string_or_null(res->previous));
    json_object_set_new(o, "count", res->count ? json_integer((json_int_t)res->count)
                                               : json_null());
    json_object_set_new(o, "entries", res->entries ? json_integer((json_int_t)res->entries)
                                                   : json_null());
    json_object_set_new(o, "generated", json_string_or_null(res->generated));
    json_object_set_new(o, "sha256", json_string_or_null(res->sha256));
    json_object_set_new(o, "http", res->http_code ? json_integer(res->http_code) : json_null());
    json_object_set_new(o, "error_kind", res->status == REFRESH_FAILED && !res->redis_error
                        ? json_text(fetch_error_name(res->fetch_kind))
                        : res->redis_error ? json_text("redis") : json_null());
    json_object_set_new(o, "reason", json_string_or_null(res->reason));
    json_object_set_new(o, "by", json_string_or_null(by));
    json_object_set_new(o, "snapshot", res->snapshot_written ? json_text(cfg->live.snapshot_file)
                                                             : json_null());
    print_json(o);
}

static void fetch_text(const struct refresh_result *res)
{
    switch (res->status) {
    case REFRESH_PUBLISHED:
        printf("published version %s (previous %s): %zu domains (%zu entries), generated %s, "
               "sha256 %s\n", res->version, res->previous[0] ? res->previous : "none",
               res->count, res->entries, res->generated[0] ? res->generated : "unknown",
               res->sha256);
        break;
    case REFRESH_NOT_MODIFIED:
        printf("not modified (HTTP 304): version %s is the ANS's current list\n", res->version);
        break;
    case REFRESH_UNCHANGED:
        printf("unchanged: the download is identical to version %s (%zu domains, generated %s)\n",
               res->version, res->count, res->generated);
        break;
    default:
        break;
    }
}

/* Another fetch holds the lock: wait for it, then judge by its outcome.
 * The lock holds that fetch's token, and wl:fetch records the token of
 * the attempt whose outcome it holds. */
static int wait_for_other(const struct ctl *ctl, redisContext *c, struct refresh_result *res,
                          long long started)
{
    const struct config *cfg = ctl->cfg;
    struct refresh_state st;
    struct err err;
    char holder[sizeof(res->holder)];
    int rc;

    snprintf(holder, sizeof(holder), "%s", res->holder);
    if (!ctl->json)
        ctl_warn("another fetch is in progress (%s): waiting for its outcome",
                 holder[0] ? holder : "just finished");
    rc = refresh_wait_unlocked(c, cfg->redis.prefix, refresh_lock_ttl_ms(&cfg->fetch), holder,
                               sizeof(holder), &err);
    if (rc == 1) {
        ctl_error("the other fetch (%s) still holds the lock after %llds", holder,
                  refresh_lock_ttl_ms(&cfg->fetch) / 1000);
        return CTL_FAIL;
    }
    if (rc == 0 && refresh_read_state(c, cfg->redis.prefix, &st, &err) < 0)
        rc = -1;
    if (rc < 0) {
        ctl_error("%s", err.msg);
        return CTL_UNAVAILABLE;
    }
    /* Its outcome, if it recorded one; an attempt that died holding the
     * lock recorded nothing, and an older outcome says nothing about now. */
    if (!(holder[0] != '\0' ? strcmp(st.last_token, holder) == 0
                            : st.last_attempt >= started)) {
        ctl_error("the other fetch (%s) ended without recording an outcome; run the fetch again",
                  holder[0] ? holder : "unknown");
        return CTL_FAIL;
    }
    if (store_current_version(c, cfg->redis.prefix, res->version, sizeof(res->version),
                              &err) < 0)
        res->version[0] = '\0';
    snprintf(res->reason, sizeof(res->reason), "%s",
             st.last_error_at >= st.last_attempt && st.last_error[0] ? st.last_error
                                                                      : st.last_result);
    if (strcmp(st.last_result, "published") == 0 || strcmp(st.last_result, "not-modified") == 0
        || strcmp(st.last_result, "unchanged") == 0) {
        if (ctl->json)
            fetch_json(ctl, res, st.last_result, holder);
        else
            printf("%s by another fetch (%s): version %s is current\n", st.last_result,
                   holder[0] ? holder : st.node, res->version[0] ? res->version : "?");
        return CTL_OK;
    }
    if (ctl->json)
        fetch_json(ctl, res, st.last_result, NULL);
    ctl_error("the concurrent fetch (%s) %s, version %s stays in force: %s",
              holder[0] ? holder : st.node, st.last_result,
              res->version[0] ? res->version : "none", st.last_error);
    return CTL_FAIL;
}

static int whitelist_fetch(const struct ctl *ctl, bool force)
{
    const struct config *cfg = ctl->cfg;
    struct refresh_options opt;
    struct refresh_result *res;
    redisContext *c;
    long long started = (long long)time(NULL);
    int status = CTL_OK;

    if ((c = connect_or_fail(cfg, "fetch", &status)) == NULL)
        return status;
    if ((res = malloc(sizeof(*res))) == NULL) {
        ctl_error("out of memory");
        redisFree(c);
        return CTL_UNAVAILABLE;
    }
    refresh_options_init(&opt);
    opt.force = force;
    opt.snapshot_file = cfg->live.snapshot_file;
    /* An empty holder: the lock was released between our SET and GET;
     * nobody is left to wait for, so try again. */
    for (int attempt = 0; attempt < 3; attempt++) {
        if (whitelist_refresh(&cfg->fetch, &cfg->redis, c, &opt, res) != REFRESH_BUSY || res->holder[0] != '\0')
            break;
    }

    if (res->status == REFRESH_BUSY) {
        status = wait_for_other(ctl, c, res, started);
    } else if (refresh_status_ok(res->status)) {
        if (ctl->json)
            fetch_json(ctl, res, refresh_status_name(res->status), NULL);
        else
            fetch_text(res);
        if (force && res->status == REFRESH_PUBLISHED && strstr(res->reason, "--force"))
            ctl_warn("%s", res->reason);
    } else {
        if (ctl->json)
            fetch_json(ctl, res, refresh_status_name(res->status), NULL);
        if (res->status == REFRESH_REFUSED)
            ctl_error("download refused, version %s stays in force: %s",
                      res->version[0] ? res->version : "none", res->reason);
        else
            ctl_error("fetch failed (%s), version %s stays in force: %s",
                      res->redis_error ? "redis" : fetch_error_name(res->fetch_kind),
                      res->version[0] ? res->version : "none", res->reason);
        status = res->redis_error ? CTL_UNAVAILABLE : CTL_FAIL;
    }
    if (res->warning[0] != '\0')
        ctl_warn("%s", res->warning);
    free(res);
    redisFree(c);
    return status;
}

int cmd_whitelist_fetch(const struct ctl *ctl, int argc, char **argv)
{
    bool force = false;
    int i;

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0) {
            force = true;
        } else {
            ctl_error("usage: mssantectl whitelist fetch [--force] (unexpected \"%s\")", argv[i]);
            return CTL_USAGE;
        }
    }
    return whitelist_fetch(ctl, force);
}

/* ------------------------------------------------------------------ */
/* rollback                                                             */
/* ------------------------------------------------------------------ */

/* The node's snapshot follows the rollback, as it follows a load. */
static bool rollback_snapshot(const struct config *cfg, redisContext *c, const char *id)
{
    struct err err;
    struct whitelist *wl;
    bool ok;

    if (cfg->live.snapshot_file == NULL)
        return false;
    wl = store_load_version(c, cfg->redis.prefix, id, &err);
    ok = wl != NULL && snapshot_write(cfg->live.snapshot_file, wl, &err) == 0;
    if (!ok)
        ctl_warn("rolled back, but SnapshotFile not written: %s", err.msg);
    whitelist_free(wl);
    return ok;
}

int cmd_whitelist_rollback(const struct ctl *ctl, int argc, char **argv)
{
    const struct config *cfg = ctl->cfg;
    struct err err;
    char cur[64], prev[64];
    struct store_meta now, removed;
    redisContext *c;
    int status = CTL_OK;
    bool snap;

    (void)argv;
    if (argc != 2) {
        ctl_error("usage: mssantectl whitelist rollback");
        return CTL_USAGE;
    }
    if ((c = connect_or_fail(cfg, "rollback", &status)) == NULL)
        return status;
    if (store_rollback(c, cfg->redis.prefix, cur, prev, sizeof(cur), &err) < 0) {
        ctl_error("nothing rolled back: %s", err.msg);
        status = c->err ? CTL_UNAVAILABLE : CTL_FAIL;
        redisFree(c);
        return status;
    }
    if (store_read_meta(c, cfg->redis.prefix, cur, &now, &err) <= 0)
        memset(&now, 0, sizeof(now));
    if (store_read_meta(c, cfg->redis.prefix, prev, &removed, &err) == 1
        && removed.sha256[0] != '\0'
        && refresh_note_rollback(c, cfg->redis.prefix, removed.sha256, &err) < 0)
        ctl_warn("the fetcher may publish version %s's list again: %s", prev, err.msg);
    snap = rollback_snapshot(cfg, c, cur);
    redisFree(c);

    if (ctl->json) {
        json_t *o = json_object();

        json_object_set_new(o, "version", json_text(cur));
        json_object_set_new(o, "previous", json_text(prev));
        json_object_set_new(o, "generated", json_string_or_null(now.generated));
        json_object_set_new(o, "count", json_integer((json_int_t)now.count));
        json_object_set_new(o, "snapshot", snap ? json_text(cfg->live.snapshot_file) : json_null());
        return print_json(o) == 0 ? CTL_OK : CTL_UNAVAILABLE;
    }
    printf("rolled back: version %s is current again (%zu domains, generated %s); "
           "version %s is previous (rollback again to undo)\n", cur, now.count,
           now.generated[0] ? now.generated : "unknown", prev);
    return CTL_OK;
}

/* ------------------------------------------------------------------ */
/* status                                                               */
/* ------------------------------------------------------------------ */

/* 1 with ST filled, 0 nothing to show (no Redis, never fetched), -1
 * Redis could not be read (warned: status still shows the list). */
static int read_fetch_state(const struct config *cfg, struct refresh_state *st)
{
    struct err err;
    redisContext *c;
    int rc;

    if (!redis_configured(&cfg->redis))
        return 0;
    if ((c = redis_connect(&cfg->redis, &err)) == NULL)
        return -1;      /* wl_find has said so already */
    rc = refresh_read_state(c, cfg->redis.prefix, st, &err);
    if (rc < 0)
        ctl_warn("fetch state unreadable: %s", err.msg);
    redisFree(c);
    return rc;
}

static json_t *unix_or_null(long long t)
{
    return t > 0 ? json_integer((json_int_t)t) : json_null();
}

static json_t *utc_or_null(long long t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    format_utc((time_t)t, buf, sizeof(buf));
    return json_text(buf);
}

json_t *fetch_status_json(const struct config *cfg)
{
    struct refresh_state st;
    json_t *o;
    int rc = read_fetch_state(cfg, &st);

    if (rc < 0)
        return json_null();
    if (rc == 0)
        memset(&st, 0, sizeof(st));
    o = json_object();
    json_object_set_new(o, "url", json_text(cfg->fetch.url));
    json_object_set_new(o, "refresh_seconds", json_integer(cfg->fetch.refresh_ms / 1000));
    json_object_set_new(o, "last_success", utc_or_null(st.last_success));
    json_object_set_new(o, "last_success_unix", unix_or_null(st.last_success));
    json_object_set_new(o, "last_attempt", utc_or_null(st.last_attempt));
    json_object_set_new(o, "last_attempt_unix", unix_or_null(st.last_attempt));
    json_object_set_new(o, "last_result", json_string_or_null(st.last_result));
    json_object_set_new(o, "node", json_string_or_null(st.node));
    json_object_set_new(o, "checked_version", json_string_or_null(st.checked_version));
    json_object_set_new(o, "last_error", json_string_or_null(st.last_error));
    json_object_set_new(o, "last_error_kind", json_string_or_null(st.last_error_kind));
    json_object_set_new(o, "last_error_at", utc_or_null(st.last_error_at));
    json_object_set_new(o, "last_error_at_unix", unix_or_null(st.last_error_at));
    return o;
}

void fetch_status_text(const struct config *cfg)
{
    struct refresh_state st;
    char when[96];
    int rc = read_fetch_state(cfg, &st);

    if (rc < 0)
        return;
    if (rc == 0)
        memset(&st, 0, sizeof(st));
    printf("fetch url:    %s\n", cfg->fetch.url);
    if (cfg->fetch.refresh_ms > 0) {
        char every[32];

        format_interval(cfg->fetch.refresh_ms, every, sizeof(every));
        printf("refresh:      every %s (WhitelistRefresh)\n", every);
    } else
        printf("refresh:      off in this configuration (WhitelistRefresh)\n");
    time_and_age(st.last_success, when, sizeof(when));
    if (st.last_success > 0 && st.checked_version[0] != '\0')
        printf("last success: %s, version %s confirmed\n", when, st.checked_version);
    else
        printf("last success: %s\n", when);
    time_and_age(st.last_attempt, when, sizeof(when));
    if (st.last_attempt > 0)
        printf("last attempt: %s by %s: %s\n", when, st.node[0] ? st.node : "?",
               st.last_result[0] ? st.last_result : "in progress");
    else
        printf("last attempt: never\n");
    time_and_age(st.last_error_at, when, sizeof(when));
    /* The kind, unless the reason starts with it ("refused: ..."). */
    if (st.last_error_at > 0 && strncmp(st.last_error, st.last_error_kind,
                                        strlen(st.last_error_kind)) == 0)
        printf("last error:   %s: %s\n", when, st.last_error);
    else if (st.last_error_at > 0)
        printf("last error:   %s: %s: %s\n", when, st.last_error_kind, st.last_error);
    else
        printf("last error:   none\n");
}
