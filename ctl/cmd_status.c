/*
 * cmd_status.c - "mssantectl status": one command for a monitoring system,
 * in the manner of a Nagios plugin.
 *
 *   MSSANTE-MILTER WARNING - 2 message(s) held by the daemon (mssantectl held list) | held=2 ...
 *   daemon     OK        running, pid 4242, up 2d 3h
 *   whitelist  OK        version 12, generated 2026-03-01T06:00:00Z, 1d 2h old
 *   ...
 *
 * Exit status, and the thresholds (README "mssantectl status"):
 *   2 CRITICAL  the daemon is not running (no pid file, a dead pid, a pid
 *               that is not mssante-milter); it has no whitelist in force
 *               (every message is deferred)
 *   1 WARNING   the list in force is older than WhitelistMaxAge (since its
 *               DateDeGeneration or the last fetch that confirmed it);
 *               Redis is configured and does not answer, or its master
 *               has fewer replicas online than RedisMinReplicas; the last
 *               configuration reload failed; the daemon has held messages;
 *               the daemon stopped publishing its state (hung?)
 *   3 UNKNOWN   something could not be told: PidFile not set, no state
 *               published (no StatsFile and no Redis), Postfix's tools
 *               missing; also a bad command line or configuration file
 *   0 OK        none of these
 * The worst wins, CRITICAL before WARNING before UNKNOWN.  The notice
 * queue depth is reported, never judged: its own counters say whether
 * notices fail (mssantectl notify status).
 *
 * Held messages are counted through Postfix's tools (ctl/heldq.h); as
 * root only the daemon's count, otherwise the whole hold queue (the
 * headers that tell them apart are root's to read), and the line says so.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/redis.h"
#include "common/redis_server.h"
#include "ctl/ctl.h"
#include "ctl/heldq.h"
#include "ctl/ptools.h"
#include "ctl/status.h"
#include "notify/queue.h"
#include "whitelist/fetch_publish.h"
#include "whitelist/store.h"

#define N_CHECKS   6
#define STATUS_UNKNOWN_EXIT 3

enum level { L_OK = 0, L_WARNING = 1, L_CRITICAL = 2, L_UNKNOWN = 3 };

static const char *const level_names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

/* CRITICAL before WARNING before UNKNOWN before OK. */
static int rank(enum level l)
{
    static const int ranks[] = { 0, 2, 3, 1 };

    return ranks[l];
}

struct check {
    const char *name;
    enum level level;
    char text[768];
    json_t *data;                 /* owned: the facts behind the line */
};

struct report {
    struct check c[N_CHECKS];
    size_t n;
    long long now;
    /* for the summary and the performance data */
    long long uptime, wl_age, held, pending;
    char version[64];
};

static struct check *add(struct report *r, const char *name, enum level l, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static struct check *add(struct report *r, const char *name, enum level l, const char *fmt, ...)
{
    struct check *c = &r->c[r->n++];
    va_list ap;

    c->name = name;
    c->level = l;
    c->data = json_object();
    va_start(ap, fmt);
    vsnprintf(c->text, sizeof(c->text), fmt, ap);
    va_end(ap);
    return c;
}

static void set_int(struct check *c, const char *key, long long v)
{
    json_object_set_new(c->data, key, json_integer((json_int_t)v));
}

static void set_str(struct check *c, const char *key, const char *v)
{
    json_object_set_new(c->data, key, json_string_or_null(v));
}

static void set_time(struct check *c, const char *key, long long t)
{
    char buf[32];

    format_utc((time_t)t, buf, sizeof(buf));
    json_object_set_new(c->data, key, t > 0 ? json_string(buf) : json_null());
}

/* ---- the checks -------------------------------------------------------------- */

static void check_daemon(struct report *r, const struct st_daemon *d)
{
    char up[32];
    struct check *c;

    if (!d->pidfile_set) {
        c = add(r, "daemon", L_UNKNOWN, "%s", d->why);
    } else if (!d->running) {
        c = add(r, "daemon", L_CRITICAL, "%s", d->why);
    } else if (d->started > 0) {
        r->uptime = r->now - d->started;
        format_age(r->uptime, up, sizeof(up));
        c = add(r, "daemon", L_OK, "running, pid %ld, up %s", d->pid, up);
        set_int(c, "uptime_seconds", r->uptime);
    } else {
        c = add(r, "daemon", L_OK, "running, pid %ld", d->pid);
    }
    json_object_set_new(c->data, "running", json_boolean(d->running));
    if (d->pid > 0)
        set_int(c, "pid", d->pid);
    set_time(c, "started", d->running ? d->started : 0);
}

/* Replicas that take part in WAIT: connected and streaming. */
static int replicas_online(const struct redis_replication *rep)
{
    int n = 0;

    for (size_t i = 0; i < rep->n; i++)
        if (strcmp(rep->replicas[i].state, "online") == 0)
            n++;
    return n;
}

/* Redis: configured, and does it answer?  Found as the daemon finds it
 * (through the sentinels when configured): which master, named by which
 * sentinel, and whether it has the replicas RedisMinReplicas asks for.
 * *C: the connection (NULL when not configured or unreachable). */
static void check_redis(struct report *r, const struct config *cfg, redisContext **cp)
{
    const struct redis_settings *rs = &cfg->redis;
    struct redis_replication rep;
    struct redis_where w;
    struct err err;
    redisContext *c;
    struct check *k;
    char via[REDIS_ADDR_TEXT_MAX + 40] = "";
    int online = -1;

    *cp = NULL;
    if (!redis_configured(rs)) {
        k = add(r, "redis", L_OK, "not configured");
        json_object_set_new(k->data, "configured", json_false());
        return;
    }
    if ((c = redis_connect_where(rs, &w, &err)) != NULL
        && redis_replication(c, &rep, &err) == 0)
        online = replicas_online(&rep);
    if (c != NULL && c->err != 0) {
        redisFree(c);
        c = NULL;
    }
    if (c != NULL && w.via[0] != '\0')
        snprintf(via, sizeof(via), " (named by sentinel %s)", w.via);
    if (c == NULL)
        k = add(r, "redis", L_WARNING, "unreachable: %s (the daemon serves the list it has; "
                "patients and forwarding defer mail)", err.msg);
    else if (online >= 0 && online < rs->min_replicas)
        k = add(r, "redis", L_WARNING, "master %s%s has %d replica(s) online, RedisMinReplicas "
                "is %d: patient conversations and forwarding notices get 451", w.addr, via,
                online, rs->min_replicas);
    else if (online >= 0)
        k = add(r, "redis", L_OK, "reachable: master %s%s, %d replica(s) online", w.addr, via,
                online);
    else
        k = add(r, "redis", L_OK, "reachable: master %s%s (replication state unknown: %s)",
                w.addr, via, err.msg);
    json_object_set_new(k->data, "configured", json_true());
    json_object_set_new(k->data, "reachable", json_boolean(c != NULL));
    if (c != NULL) {
        set_str(k, "master", w.addr);
        set_str(k, "via_sentinel", w.via);
        if (online >= 0)
            set_int(k, "replicas_online", online);
        set_int(k, "min_replicas", rs->min_replicas);
    }
    *cp = c;
}

/* Since when the list in force is known to be current: its generation,
 * or a later fetch that confirmed it.  0 when unknown. */
static long long list_fresh_since(const struct st_published *p, redisContext *c,
                                  const struct config *cfg, long long *confirmed)
{
    struct refresh_state st;
    struct err err;
    time_t gen;
    long long fresh = 0;

    *confirmed = 0;
    if (iso8601_to_time(p->generated, &gen) == 0)
        fresh = (long long)gen;
    else if (p->age >= 0)
        fresh = p->updated - p->age;
    if (c != NULL && refresh_read_state(c, cfg->redis.prefix, &st, &err) == 1
        && st.last_success > 0 && strcmp(st.checked_version, p->version) == 0) {
        *confirmed = st.last_success;
        if (st.last_success > fresh)
            fresh = st.last_success;
    }
    return fresh;
}

static void check_whitelist(struct report *r, const struct config *cfg,
                            const struct st_daemon *d, const struct st_published *p,
                            redisContext *c)
{
    char age[32], max[32];
    long long fresh, confirmed;
    struct check *k;

    if (!d->running) {
        add(r, "whitelist", L_UNKNOWN, "not checked: the daemon is not running");
        return;
    }
    if (p->source == ST_FROM_NONE) {
        /* A publication that stopped: the daemon may be hung. */
        add(r, "whitelist", p->stale ? L_WARNING : L_UNKNOWN, "the list in force is unknown: "
            "%s%s", p->why, p->stale ? " (the daemon stopped publishing its state: hung?)" : "");
        return;
    }
    if (!p->list_loaded) {
        k = add(r, "whitelist", L_CRITICAL, "no whitelist in force: every message is deferred "
                "(451 4.3.0) until one is loaded");
        json_object_set_new(k->data, "loaded", json_false());
        return;
    }
    snprintf(r->version, sizeof(r->version), "%s", p->version);
    fresh = list_fresh_since(p, c, cfg, &confirmed);
    r->wl_age = fresh > 0 ? r->now - fresh : -1;
    format_age(r->wl_age, age, sizeof(age));
    format_age(cfg->fetch.max_age_ms / 1000, max, sizeof(max));
    if (fresh > 0 && cfg->fetch.max_age_ms > 0
        && r->wl_age * 1000 > (long long)cfg->fetch.max_age_ms)
        k = add(r, "whitelist", L_WARNING, "version %s is stale: %s old, more than "
                "WhitelistMaxAge %s (generated %s, %s)", p->version[0] ? p->version : "?",
                age, max, p->generated[0] ? p->generated : "unknown",
                confirmed > 0 ? "confirmed by a fetch since" : "never confirmed by a fetch");
    else
        k = add(r, "whitelist", L_OK, "version %s, generated %s, %s old", p->version,
                p->generated[0] ? p->generated : "unknown", fresh > 0 ? age : "?");
    json_object_set_new(k->data, "loaded", json_true());
    set_str(k, "version", p->version);
    set_str(k, "generated", p->generated);
    set_time(k, "confirmed", confirmed);
    if (r->wl_age >= 0)
        set_int(k, "age_seconds", r->wl_age);
    set_int(k, "max_age_seconds", cfg->fetch.max_age_ms / 1000);
}

static void check_reload(struct report *r, const struct st_daemon *d,
                         const struct st_published *p)
{
    char when[32];
    struct check *k;

    if (!d->running || p->source == ST_FROM_NONE) {
        add(r, "reload", L_UNKNOWN, "not known: %s",
            !d->running ? "the daemon is not running" : p->why);
        return;
    }
    format_utc((time_t)p->reload_time, when, sizeof(when));
    if (strcmp(p->reload_last, "failed") == 0 && p->reload_error[0] != '\0')
        k = add(r, "reload", L_WARNING, "the last reload (%s) failed: %s; the previous "
                "configuration stays in force (mssante-milter -n checks the file)", when,
                p->reload_error);
    else if (strcmp(p->reload_last, "failed") == 0)
        k = add(r, "reload", L_WARNING, "the last reload (%s) failed: the configuration "
                "file has errors and the previous one stays in force (see the daemon's log; "
                "mssante-milter -n)", when);
    else if (strcmp(p->reload_last, "ok") == 0)
        k = add(r, "reload", L_OK, "last reload %s: applied", when);
    else
        k = add(r, "reload", L_OK, "no reload since the start");
    set_str(k, "last", p->reload_last);
    set_time(k, "time", p->reload_time);
    if (p->reload_error[0] != '\0')
        set_str(k, "error", p->reload_error);
}

/* The daemon's HeldKeyFile key into KEY, as root: 1, or 0 when the file
 * does not exist (the daemon never made it: none of the held messages
 * can be its own), -1 when it cannot be read (said on stderr). */
static int status_held_key(const struct config *cfg, unsigned char key[HELD_KEY_BYTES])
{
    struct stat st;

    if (cfg->held.key_file != NULL && lstat(cfg->held.key_file, &st) < 0 && errno == ENOENT)
        return 0;
    return heldq_key(cfg, key) < 0 ? -1 : 1;
}

static void check_held(struct report *r, const struct config *cfg)
{
    unsigned char key[HELD_KEY_BYTES];
    struct held_queue q;
    struct ptools pt;
    struct check *k;
    int have_key = 0;
    size_t n;

    if (ptools_init(&pt, false) != 0 || (pt.root && (have_key = status_held_key(cfg, key)) < 0)
        || heldq_scan(&pt, pt.root, have_key > 0 ? key : NULL, &q) < 0) {
        add(r, "held", L_UNKNOWN, "the hold queue could not be read: %s%s", ctl_last_error(),
            !pt.root && pt.config_dir[0] != '\0'
            ? " (as a user other than root, Postfix's tools only take a MAIL_CONFIG listed in "
              "alternate_config_directories of the default main.cf)" : "");
        return;
    }
    n = pt.root ? q.n_ours : q.n;
    heldq_free(&q);
    r->held = (long long)n;
    if (n == 0)
        k = add(r, "held", L_OK, "no message held%s%s", pt.root ? " by the daemon" : "",
                pt.root && have_key == 0 ? " (HeldKeyFile does not exist yet: the daemon "
                "never held one)" : "");
    else if (pt.root)
        k = add(r, "held", L_WARNING, "%zu message(s) held by the daemon: mssantectl held list",
                n);
    else
        k = add(r, "held", L_WARNING, "%zu message(s) in the hold queue (not root: cannot tell "
                "which the daemon held): mssantectl held list", n);
    set_int(k, "count", (long long)n);
    json_object_set_new(k->data, "daemon_only", json_boolean(pt.root));
}

static void check_notices(struct report *r, const struct config *cfg, redisContext *c)
{
    struct notify_stats st;
    struct err err;
    struct check *k;

    if (!redis_configured(&cfg->redis)) {
        add(r, "notices", L_OK, "no notice queue (no Redis)");
        return;
    }
    if (c == NULL || notify_get_stats(c, cfg->redis.prefix, &st, &err) < 0) {
        add(r, "notices", L_UNKNOWN, "queue depth unknown: Redis %s",
            c == NULL ? "unreachable" : err.msg);
        return;
    }
    r->pending = st.pending;
    k = add(r, "notices", L_OK, "%lld pending (queued %lld, sent %lld, failed %lld)",
            st.pending, st.enqueued, st.sent, st.failed);
    set_int(k, "pending", st.pending);
    set_int(k, "queued", st.enqueued);
    set_int(k, "sent", st.sent);
    set_int(k, "failed", st.failed);
}

/* ---- output ---------------------------------------------------------------------- */

static enum level overall(const struct report *r)
{
    enum level worst = L_OK;

    for (size_t i = 0; i < r->n; i++)
        if (rank(r->c[i].level) > rank(worst))
            worst = r->c[i].level;
    return worst;
}

/* The one-line summary, without the status word: the problems, or when
 * there are none the main facts. */
static void summary(const struct report *r, enum level l, char *buf, size_t size)
{
    char up[32] = "", age[32] = "?";
    size_t len = 0;

    if (l == L_OK) {
        if (r->uptime > 0)
            format_age(r->uptime, up + 1, sizeof(up) - 1), up[0] = ' ';
        if (r->wl_age >= 0)
            format_age(r->wl_age, age, sizeof(age));
        snprintf(buf, size, "running%s%s, whitelist %s (%s old), %lld held, %lld notice(s) "
                 "pending", up[0] ? ", up" : "", up, r->version, age, r->held, r->pending);
        return;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < r->n && len + 1 < size; i++) {
        const struct check *c = &r->c[i];

        if (c->level == L_OK)
            continue;
        len += (size_t)snprintf(buf + len, size - len, "%s%s: %s", len ? "; " : "", c->name,
                                c->text);
    }
    if (len >= size)
        buf[size - 1] = '\0';
}

static void perfdata(const struct report *r, char *buf, size_t size)
{
    int n = snprintf(buf, size, "held=%lld notices_pending=%lld", r->held, r->pending);

    if (r->wl_age >= 0 && n > 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, " whitelist_age=%llds", r->wl_age);
    if (r->uptime > 0 && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " uptime=%llds", r->uptime);
}

static int print_report(const struct ctl *ctl, struct report *r)
{
    enum level l = overall(r);
    char sum[2048], perf[256];

    summary(r, l, sum, sizeof(sum));
    perfdata(r, perf, sizeof(perf));
    if (ctl->json) {
        json_t *root = json_object(), *checks = json_array();

        for (size_t i = 0; i < r->n; i++) {
            json_t *o = r->c[i].data;

            json_object_set_new(o, "name", json_string(r->c[i].name));
            json_object_set_new(o, "status", json_string(level_names[r->c[i].level]));
            json_object_set_new(o, "text", json_text(r->c[i].text));
            json_array_append(checks, o);
        }
        json_object_set_new(root, "status", json_string(level_names[l]));
        json_object_set_new(root, "exit_code", json_integer(l));
        json_object_set_new(root, "summary", json_text(sum));
        json_object_set_new(root, "checks", checks);
        if (print_json(root) < 0)
            return STATUS_UNKNOWN_EXIT;
        return (int)l;
    }
    printf("MSSANTE-MILTER %s - %s | %s\n", level_names[l], sum, perf);
    for (size_t i = 0; i < r->n; i++)
        printf("%-10s %-9s %s\n", r->c[i].name, level_names[r->c[i].level], r->c[i].text);
    return (int)l;
}

int cmd_status(const struct ctl *ctl, int argc, char **argv)
{
    struct report r;
    struct st_daemon d;
    struct st_published p;
    redisContext *c;
    int rc;

    (void)argv;
    if (argc != 1) {
        ctl_error("usage: mssantectl [-c FILE] [--json] status");
        return STATUS_UNKNOWN_EXIT;
    }
    memset(&r, 0, sizeof(r));
    r.now = (long long)time(NULL);
    r.wl_age = -1;
    status_daemon(ctl->cfg, &d);
    check_daemon(&r, &d);
    check_redis(&r, ctl->cfg, &c);
    status_published(ctl->cfg, c, &d, r.now, &p);
    check_whitelist(&r, ctl->cfg, &d, &p, c);
    check_reload(&r, &d, &p);
    check_held(&r, ctl->cfg);
    check_notices(&r, ctl->cfg, c);
    if (c != NULL)
        redisFree(c);
    rc = print_report(ctl, &r);
    for (size_t i = 0; i < r.n; i++)
        json_decref(r.c[i].data);
    return rc;
}
