/*
 * stats_export.c - publish the counters of milter/stats.c: the StatsFile
 * (Prometheus text format, for node_exporter's textfile collector) and the
 * per-node HASH in Redis that "mssantectl stats" reads, every
 * StatsInterval from a thread of their own.
 *
 * Each export starts from one stats_take_snapshot() (milter/stats_snapshot.h)
 * and adds what only it knows of: the whitelist in force, the node name,
 * the time.  After a good round in Redis the thread reads the cluster's
 * notification counters back into stats.c for the next StatsFile.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/atomicfile.h"
#include "common/log.h"
#include "common/stopsignal.h"
#include "milter/service.h"
#include "milter/stats.h"
#include "milter/stats_snapshot.h"
#include "milter/stats_status.h"
#include "whitelist/domainset.h"
#include "whitelist/live.h"
#include "whitelist/store.h"
#include "whitelist/whitelist.h"

#ifndef MSSANTE_VERSION
#define MSSANTE_VERSION "unknown"
#endif

#define N_VERDICTS    STATS_N_VERDICTS
#define RULE_NAME_MAX STATS_RULE_NAME_MAX
#define SLOT_NONE     STATS_SLOT_NONE
#define N_BUCKETS     STATS_N_BUCKETS
#define ERR_MAX       512
#define KEY_MAX       512
#define MIN_TTL_S     60

/* ---- the whitelist in force ------------------------------------------------ */

struct wl_state {
    bool loaded;
    size_t domains, entries;
    long long age;           /* seconds since DateDeGeneration (or the load); -1 unknown */
    char version[64];
};

/* "2025-03-13T14:54:10Z" -> Unix time, or -1. */
static long long parse_generated(const char *s)
{
    struct tm tm;
    int y, mo, d, h, mi, se;
    char z = 0;

    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) < 6)
        return -1;
    if (z != 0 && z != 'Z' && z != '.')
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (long long)timegm(&tm);
}

static void read_whitelist(struct wl_state *st)
{
    const struct whitelist *wl = live_acquire();

    memset(st, 0, sizeof(*st));
    st->age = -1;
    if (wl != NULL) {
        long long when = parse_generated(wl->generated);

        if (when < 0 && wl->loaded_at > 0)
            when = (long long)wl->loaded_at;
        st->loaded = true;
        st->domains = wl->domains != NULL ? domainset_count(wl->domains) : 0;
        st->entries = wl->entries;
        if (when >= 0)
            st->age = (long long)time(NULL) - when;
        snprintf(st->version, sizeof(st->version), "%s", wl->version);
    }
    live_release();
}

/* ---- Prometheus text format ------------------------------------------------- */

/* Label values: backslash, double quote and newline are escaped. */
static void put_label(FILE *fp, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', fp);
        if (*s == '\n')
            fputs("\\n", fp);
        else
            fputc(*s, fp);
    }
}

static void header(FILE *fp, const char *name, const char *type, const char *help)
{
    fprintf(fp, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void prom_messages(FILE *fp, const struct stats_snapshot *s)
{
    unsigned n = s->n_rules;

    header(fp, "mssante_milter_messages_total", "counter",
           "Messages by final verdict and the rule that decided it (rule=\"none\": no rule).");
    for (unsigned i = 0; i < n; i++)
        for (unsigned v = 0; v < N_VERDICTS; v++) {
            unsigned long long c = s->rules[i].messages[v];
            if (c == 0 && i != SLOT_NONE)
                continue;
            fprintf(fp, "mssante_milter_messages_total{verdict=\"%s\",rule=\"",
                    stats_verdict_names[v]);
            put_label(fp, s->rules[i].name);
            fprintf(fp, "\"} %llu\n", c);
        }
    header(fp, "mssante_milter_dryrun_would_total", "counter",
           "DryRun: messages that would have been refused, by verdict and rule.");
    for (unsigned i = 0; i < n; i++)
        for (unsigned v = 0; v < N_VERDICTS; v++) {
            unsigned long long c = s->rules[i].would[v];
            if (c == 0)
                continue;
            fprintf(fp, "mssante_milter_dryrun_would_total{verdict=\"%s\",rule=\"",
                    stats_verdict_names[v]);
            put_label(fp, s->rules[i].name);
            fprintf(fp, "\"} %llu\n", c);
        }
    header(fp, "mssante_milter_tempfail_total", "counter",
           "Messages deferred (4xx) by cause.");
    for (unsigned i = 0; i < n; i++) {
        unsigned long long c = s->rules[i].tempfail;
        if (c == 0)
            continue;
        fputs("mssante_milter_tempfail_total{cause=\"", fp);
        put_label(fp, s->rules[i].name);
        fprintf(fp, "\"} %llu\n", c);
    }
}

static void prom_latency(FILE *fp, const struct stats_snapshot *s)
{
    unsigned long long cumulative = 0;

    header(fp, "mssante_milter_message_duration_seconds", "histogram",
           "Time from MAIL FROM to the verdict, per message.");
    for (size_t b = 0; b < N_BUCKETS; b++) {
        cumulative += s->latency_bucket[b];
        if (b < N_BUCKETS - 1)
            fprintf(fp, "mssante_milter_message_duration_seconds_bucket{le=\"%g\"} %llu\n",
                    (double)stats_bucket_us[b] / 1e6, cumulative);
        else
            fprintf(fp, "mssante_milter_message_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                    cumulative);
    }
    fprintf(fp, "mssante_milter_message_duration_seconds_sum %.6f\n",
            (double)s->latency_sum_us / 1e6);
    fprintf(fp, "mssante_milter_message_duration_seconds_count %llu\n", s->latency_count);
}

static void prom_whitelist(FILE *fp)
{
    struct wl_state wl;

    read_whitelist(&wl);
    header(fp, "mssante_milter_whitelist_loaded", "gauge",
           "1 when a whitelist is in force, 0 when mail is deferred for lack of one.");
    fprintf(fp, "mssante_milter_whitelist_loaded %d\n", wl.loaded ? 1 : 0);
    header(fp, "mssante_milter_whitelist_domains", "gauge",
           "Distinct domains on the whitelist in force.");
    fprintf(fp, "mssante_milter_whitelist_domains %zu\n", wl.domains);
    header(fp, "mssante_milter_whitelist_entries", "gauge",
           "Entries (domain, operator certificate) of the whitelist in force.");
    fprintf(fp, "mssante_milter_whitelist_entries %zu\n", wl.entries);
    if (wl.age >= 0) {
        header(fp, "mssante_milter_whitelist_age_seconds", "gauge",
               "Seconds since the whitelist in force was generated by the ANS.");
        fprintf(fp, "mssante_milter_whitelist_age_seconds %lld\n", wl.age);
    }
}

static void prom_notify(FILE *fp, const struct stats_snapshot *s)
{
    const struct stats_cluster_notify *cn = &s->cluster;

    header(fp, "mssante_milter_notifications_total", "counter",
           "Notifications of forwarded mail handled by this node, by event.");
    for (int i = 0; i < STATS_N_NOTIFY; i++)
        fprintf(fp, "mssante_milter_notifications_total{event=\"%s\"} %llu\n",
                stats_notify_names[i], s->notify[i]);
    if (!cn->known)
        return;
    header(fp, "mssante_milter_cluster_notifications_total", "counter",
           "Notification queue counters of the whole cluster (Redis): the same on every node.");
    fprintf(fp, "mssante_milter_cluster_notifications_total{state=\"enqueued\"} %lld\n"
                "mssante_milter_cluster_notifications_total{state=\"sent\"} %lld\n"
                "mssante_milter_cluster_notifications_total{state=\"retried\"} %lld\n"
                "mssante_milter_cluster_notifications_total{state=\"failed\"} %lld\n",
            cn->enqueued, cn->sent, cn->retried, cn->failed);
    header(fp, "mssante_milter_cluster_notifications_pending", "gauge",
           "Notifications waiting in the cluster's queue (Redis).");
    fprintf(fp, "mssante_milter_cluster_notifications_pending %lld\n", cn->pending);
}

int stats_write_prometheus(FILE *fp)
{
    struct stats_snapshot s;

    stats_take_snapshot(&s);
    prom_messages(fp, &s);
    prom_latency(fp, &s);
    header(fp, "mssante_milter_redis_errors_total", "counter",
           "Redis commands or connections that failed.");
    fprintf(fp, "mssante_milter_redis_errors_total %llu\n", s.redis_errors);
    prom_whitelist(fp);
    prom_notify(fp, &s);
    header(fp, "mssante_milter_connections_open", "gauge", "Milter connections open now.");
    fprintf(fp, "mssante_milter_connections_open %u\n", s.conn_open);
    header(fp, "mssante_milter_connections_total", "counter", "Milter connections accepted.");
    fprintf(fp, "mssante_milter_connections_total %llu\n", s.conn_total);
    header(fp, "mssante_milter_messages_in_flight", "gauge",
           "Messages between MAIL FROM and their verdict now.");
    fprintf(fp, "mssante_milter_messages_in_flight %u\n", s.in_flight);
    header(fp, "mssante_milter_config_reloads_total", "counter",
           "Configuration reloads, applied (ok) or refused (failed).");
    fprintf(fp, "mssante_milter_config_reloads_total{result=\"ok\"} %llu\n"
                "mssante_milter_config_reloads_total{result=\"failed\"} %llu\n",
            s.reloads_ok, s.reloads_failed);
    header(fp, "mssante_milter_start_time_seconds", "gauge",
           "When the daemon started (Unix time).");
    fprintf(fp, "mssante_milter_start_time_seconds %lld\n", s.started_at);
    stats_status_prometheus(fp);
    header(fp, "mssante_milter_build_info", "gauge", "The daemon's version.");
    fputs("mssante_milter_build_info{version=\"", fp);
    put_label(fp, MSSANTE_VERSION);
    fputs("\"} 1\n", fp);
    return ferror(fp) ? -1 : 0;
}

int stats_write_file(const char *path, char *err, size_t errlen)
{
    struct atomic_file af;

    /* 0644: node_exporter runs as another user. */
    if (atomic_file_open(&af, path, 0644, err, errlen) < 0)
        return -1;
    if (stats_write_prometheus(af.fp) < 0) {
        atomic_file_abort(&af);
        snprintf(err, errlen, "%s: write error", path);
        return -1;
    }
    return atomic_file_commit(&af, err, errlen);
}

/* ---- the node HASH ------------------------------------------------------------ */

bool stats_field_is_counter(const char *field)
{
    static const char *const prefixes[] = {
        "messages:", "would:", "tempfail:", "notify:", "latency:", "reloads:",
    };

    if (field == NULL)
        return false;
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
        if (strncmp(field, prefixes[i], strlen(prefixes[i])) == 0)
            return true;
    return strcmp(field, "redis_errors") == 0 || strcmp(field, "connections:total") == 0;
}

void stats_node_name(char *buf, size_t size)
{
    char host[STATS_NODE_MAX];

    if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            *p = '_';
    snprintf(buf, size, "%s", host);
}

/* argv for HSET KEY FIELD VALUE ..., each string owned. */
struct fields {
    char **argv;
    size_t n, cap;
    bool failed;
};

static void add_arg(struct fields *f, const char *s)
{
    if (f->failed)
        return;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        char **grown = realloc(f->argv, cap * sizeof(*grown));
        if (grown == NULL) {
            f->failed = true;
            return;
        }
        f->argv = grown;
        f->cap = cap;
    }
    if ((f->argv[f->n] = strdup(s)) == NULL) {
        f->failed = true;
        return;
    }
    f->n++;
}

static void add_field(struct fields *f, const char *name, unsigned long long value)
{
    char num[32];

    snprintf(num, sizeof(num), "%llu", value);
    add_arg(f, name);
    add_arg(f, num);
}

static void add_field_s(struct fields *f, const char *name, const char *value)
{
    add_arg(f, name);
    add_arg(f, value);
}

/* stats_status_fields() callback. */
static void put_status_field(void *arg, const char *name, const char *value)
{
    add_field_s(arg, name, value);
}

static void free_fields(struct fields *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->argv[i]);
    free(f->argv);
}

/* Every field of this node's HASH after "HSET KEY". */
static void node_fields(struct fields *f, int interval_s)
{
    struct stats_snapshot snap;
    const struct stats_snapshot *s = &snap;
    unsigned long long cumulative = 0;
    struct wl_state wl;
    char name[160];
    unsigned n;

    stats_take_snapshot(&snap);
    n = s->n_rules;

    for (unsigned i = 0; i < n; i++)
        for (unsigned v = 0; v < N_VERDICTS; v++) {
            unsigned long long c = s->rules[i].messages[v], w = s->rules[i].would[v];
            if (c > 0) {
                snprintf(name, sizeof(name), "messages:%s:%.*s", stats_verdict_names[v],
                         RULE_NAME_MAX, s->rules[i].name);
                add_field(f, name, c);
            }
            if (w > 0) {
                snprintf(name, sizeof(name), "would:%s:%.*s", stats_verdict_names[v],
                         RULE_NAME_MAX, s->rules[i].name);
                add_field(f, name, w);
            }
            if (v == 0 && s->rules[i].tempfail > 0) {
                snprintf(name, sizeof(name), "tempfail:%.*s", RULE_NAME_MAX, s->rules[i].name);
                add_field(f, name, s->rules[i].tempfail);
            }
        }
    for (size_t b = 0; b < N_BUCKETS; b++) {
        cumulative += s->latency_bucket[b];
        if (b < N_BUCKETS - 1)
            snprintf(name, sizeof(name), "latency:le:%g", (double)stats_bucket_us[b] / 1e6);
        else
            snprintf(name, sizeof(name), "latency:le:+Inf");
        add_field(f, name, cumulative);
    }
    add_field(f, "latency:sum_us", s->latency_sum_us);
    add_field(f, "latency:count", s->latency_count);
    add_field(f, "redis_errors", s->redis_errors);
    for (int i = 0; i < STATS_N_NOTIFY; i++) {
        snprintf(name, sizeof(name), "notify:%s", stats_notify_names[i]);
        add_field(f, name, s->notify[i]);
    }
    add_field(f, "connections:total", s->conn_total);
    add_field(f, "connections:open", s->conn_open);
    add_field(f, "reloads:ok", s->reloads_ok);
    add_field(f, "reloads:failed", s->reloads_failed);
    read_whitelist(&wl);
    add_field(f, "whitelist:domains", wl.domains);
    add_field(f, "whitelist:entries", wl.entries);
    if (wl.age >= 0)
        add_field(f, "whitelist:age", (unsigned long long)wl.age);
    add_field_s(f, "whitelist:version", wl.loaded ? wl.version : "none");
    add_field(f, "started", (unsigned long long)s->started_at);
    add_field(f, "updated", (unsigned long long)time(NULL));
    add_field(f, "interval", (unsigned long long)interval_s);
    add_field_s(f, "version", MSSANTE_VERSION);
    stats_status_fields(put_status_field, f);
}

/* Read the replies of N pipelined commands; -1 + err on the first failure. */
static int read_replies(redisContext *c, int n, char *err, size_t errlen)
{
    int rc = 0;

    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;

        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            snprintf(err, errlen, "%s", c->errstr[0] ? c->errstr : "connection lost");
            return -1;
        }
        if (r != NULL && r->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf(err, errlen, "%s", r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

/* The cluster's notification counters (notify/queue.h's keys). */
static void read_cluster_notify(redisContext *c, const char *prefix)
{
    struct stats_cluster_notify cn = { 0 };
    redisReply *r;

    r = redisCommand(c, "HMGET %snotify:stats enqueued sent retried failed", prefix);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        long long *dst[4] = { &cn.enqueued, &cn.sent, &cn.retried, &cn.failed };
        for (size_t i = 0; i < 4; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING)
                *dst[i] = atoll(r->element[i]->str);
        cn.known = true;
    }
    freeReplyObject(r);
    if (cn.known) {
        r = redisCommand(c, "ZCARD %snotify:queue", prefix);
        if (r != NULL && r->type == REDIS_REPLY_INTEGER)
            cn.pending = r->integer;
        freeReplyObject(r);
    }
    stats_set_cluster_notify(&cn);
}

static int publish_redis(redisContext *c, const struct config *startup, int interval_s,
                         char *err, size_t errlen)
{
    char node[STATS_NODE_MAX], key[KEY_MAX], nodes[KEY_MAX], score[32], cutoff[32], ttl[32];
    const char *prefix = startup->redis_prefix != NULL ? startup->redis_prefix : "";
    struct fields f = { 0 };
    int rc, ttl_s = interval_s * 4 > MIN_TTL_S ? interval_s * 4 : MIN_TTL_S;
    time_t now = time(NULL);

    stats_node_name(node, sizeof(node));
    snprintf(key, sizeof(key), "%s" STATS_NODE_KEY "%s", prefix, node);
    snprintf(nodes, sizeof(nodes), "%s" STATS_NODES_KEY, prefix);
    snprintf(score, sizeof(score), "%lld", (long long)now);
    snprintf(cutoff, sizeof(cutoff), "(%lld", (long long)now - 86400);
    snprintf(ttl, sizeof(ttl), "%d", ttl_s);

    add_arg(&f, "HSET");
    add_arg(&f, key);
    node_fields(&f, interval_s);
    if (f.failed) {
        free_fields(&f);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* One MULTI: a reader never sees the HASH half rewritten or without
     * its expiry.  DEL first, so a counter that went back to zero (a new
     * rule slot order after a restart) does not linger. */
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "DEL %s", key);
    redisAppendCommandArgv(c, (int)f.n, (const char **)f.argv, NULL);
    redisAppendCommand(c, "EXPIRE %s %s", key, ttl);
    redisAppendCommand(c, "ZADD %s %s %s", nodes, score, node);
    /* Nodes gone for a day are forgotten. */
    redisAppendCommand(c, "ZREMRANGEBYSCORE %s -inf %s", nodes, cutoff);
    redisAppendCommand(c, "EXEC");
    free_fields(&f);
    rc = read_replies(c, 7, err, errlen);
    if (rc == 0)
        read_cluster_notify(c, prefix);
    return rc;
}

/* ---- the publishing thread ---------------------------------------------------- */

static const struct config *pub_startup;
static pthread_t pub_thread;
static bool pub_running;
static struct stop_signal pub_stop;

struct pub_state {
    redisContext *redis;
    bool redis_down;             /* an outage was logged */
    char file_error[ERR_MAX];    /* last StatsFile error logged */
};

static void publish_round(struct pub_state *ps, const struct config *cfg)
{
    int interval_s = cfg->stats_interval_ms / 1000;
    char err[ERR_MAX];

    if (pub_startup->redis_enabled) {
        if (ps->redis == NULL && (ps->redis = store_connect(pub_startup, err, sizeof(err))) == NULL)
            stats_redis_error();
        if (ps->redis != NULL && publish_redis(ps->redis, pub_startup, interval_s, err,
                                               sizeof(err)) < 0) {
            stats_redis_error();
            redisFree(ps->redis);
            ps->redis = NULL;
        }
        if (ps->redis == NULL && !ps->redis_down)
            log_warning("stats: cannot publish to Redis: %s", err);
        else if (ps->redis != NULL && ps->redis_down)
            log_notice("stats: publishing to Redis again");
        ps->redis_down = ps->redis == NULL;
    }
    if (cfg->stats_file != NULL) {
        if (stats_write_file(cfg->stats_file, err, sizeof(err)) < 0) {
            if (strcmp(err, ps->file_error) != 0)
                log_warning("stats: cannot write StatsFile: %s", err);
            snprintf(ps->file_error, sizeof(ps->file_error), "%s", err);
        } else {
            ps->file_error[0] = '\0';
        }
    }
}

/* StatsFile and StatsInterval from the configuration in force. */
static const struct config *current_config(void)
{
    const struct config *cfg = service_config_acquire();

    return cfg != NULL ? cfg : pub_startup;
}

static void release_config(const struct config *cfg)
{
    if (cfg != pub_startup)
        service_config_release(cfg);
}

static void *pub_main(void *arg)
{
    struct pub_state ps = { 0 };
    const struct config *cfg;
    bool stop = false;

    (void)arg;
    while (!stop) {
        int interval;

        cfg = current_config();
        publish_round(&ps, cfg);
        interval = cfg->stats_interval_ms;
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

int stats_start(const struct config *startup)
{
    int rc;

    stats_mark_started();
    pub_startup = startup;
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
