/*
 * node.c - this node's counters in Redis: the HASH  PREFIX stats:node:NAME
 * (rewritten whole in one MULTI, with an expiry of a few intervals so that
 * a dead node drops out) and its name in the ZSET  PREFIX stats:nodes.
 * "mssantectl stats" reads them back (stats/node.h is the contract);
 * after a good write the cluster's notification counters (notify/queue.h's
 * keys) are read back for the next StatsFile.
 *
 * DIAGNOSTICS: stats_node_publish() fails with the server's or the
 * connection's error ("out of memory" when the command could not be built).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "stats/node.h"
#include "stats/snapshot.h"
#include "stats/stats.h"
#include "stats/status.h"

#ifndef MSSANTE_VERSION
#define MSSANTE_VERSION "unknown"
#endif

#define N_VERDICTS    STATS_N_VERDICTS
#define RULE_NAME_MAX STATS_RULE_NAME_MAX
#define N_BUCKETS     STATS_N_BUCKETS
#define KEY_MAX       512
#define MIN_TTL_S     60

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
    struct stats_whitelist wl;
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
    stats_read_whitelist(&wl);
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
static int read_replies(redisContext *c, int n, struct err *err)
{
    int rc = 0;

    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;

        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            err_set(err, "%s", c->errstr[0] ? c->errstr : "connection lost");
            return -1;
        }
        if (r != NULL && r->type == REDIS_REPLY_ERROR && rc == 0) {
            err_set(err, "%s", r->str);
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

int stats_node_publish(redisContext *c, const char *prefix, int interval_s, struct err *err)
{
    char node[STATS_NODE_MAX], key[KEY_MAX], nodes[KEY_MAX], score[32], cutoff[32], ttl[32];
    struct fields f = { 0 };
    int rc, ttl_s = interval_s * 4 > MIN_TTL_S ? interval_s * 4 : MIN_TTL_S;
    time_t now = time(NULL);

    if (prefix == NULL)
        prefix = "";
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
        err_set(err, "out of memory");
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
    rc = read_replies(c, 7, err);
    if (rc == 0)
        read_cluster_notify(c, prefix);
    return rc;
}

