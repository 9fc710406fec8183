/*
 * cmd_stats.c - "mssantectl stats": every node's counters and the cluster
 * total, as the nodes published them to Redis (stats/node.h documents
 * the HASH); "stats --nodes": one line per node (when it last published,
 * the whitelist version it serves, its verdicts, the Redis master it
 * follows), to see that several MX nodes agree.
 *
 * Each daemon rewrites PREFIX stats:node:<NodeName> every StatsInterval, with
 * an expiry of a few intervals, and lists itself in PREFIX stats:nodes: a
 * node that stopped publishing (down, or cut off from Redis) drops out of
 * the total when its HASH expires, and is named as such.  Counters only
 * grow while a daemon runs and start again from zero when it restarts, so
 * the total is "since each node last started".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "ctl/ctl.h"
#include "stats/node.h"
#include "whitelist/store.h"

#define KEY_MAX    512
#define MAX_FIELDS 512

struct field {
    char *name;
    char *value;
};

struct node {
    char name[STATS_NODE_MAX];
    struct field *fields;
    size_t n;
};

static const char *const verdicts[] = { "accept", "reject", "tempfail", "hold", "abort" };

static void free_node(struct node *nd)
{
    for (size_t i = 0; i < nd->n; i++) {
        free(nd->fields[i].name);
        free(nd->fields[i].value);
    }
    free(nd->fields);
    nd->fields = NULL;
    nd->n = 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct field *)a)->name, ((const struct field *)b)->name);
}

static const char *get(const struct node *nd, const char *name)
{
    for (size_t i = 0; i < nd->n; i++)
        if (strcmp(nd->fields[i].name, name) == 0)
            return nd->fields[i].value;
    return NULL;
}

static long long get_num(const struct node *nd, const char *name)
{
    const char *v = get(nd, name);

    return v != NULL ? atoll(v) : 0;
}

/* HGETALL of one node.  1 read, 0 expired, -1 error. */
static int read_node(redisContext *c, const char *prefix, struct node *nd, struct err *err)
{
    redisReply *r = redisCommand(c, "HGETALL %s" STATS_NODE_KEY "%s", prefix, nd->name);

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        err_set(err, "HGETALL %s" STATS_NODE_KEY "%s: %s", prefix, nd->name,
                r == NULL ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str
                                                                      : "unexpected reply");
        freeReplyObject(r);
        return -1;
    }
    nd->n = 0;
    if (r->elements > 0 && (nd->fields = calloc(r->elements / 2, sizeof(*nd->fields))) == NULL) {
        freeReplyObject(r);
        err_set(err, "out of memory");
        return -1;
    }
    for (size_t i = 0; i + 1 < r->elements && nd->n < MAX_FIELDS; i += 2) {
        if (r->element[i]->type != REDIS_REPLY_STRING
            || r->element[i + 1]->type != REDIS_REPLY_STRING)
            continue;
        nd->fields[nd->n].name = strdup(r->element[i]->str);
        nd->fields[nd->n].value = strdup(r->element[i + 1]->str);
        if (nd->fields[nd->n].name == NULL || nd->fields[nd->n].value == NULL) {
            nd->n++;
            freeReplyObject(r);
            err_set(err, "out of memory");
            return -1;
        }
        nd->n++;
    }
    freeReplyObject(r);
    if (nd->n > 1)
        qsort(nd->fields, nd->n, sizeof(*nd->fields), by_name);
    return nd->n > 0 ? 1 : 0;
}

/* Add NAME += VALUE into the total (a node of its own). */
static int add_total(struct node *total, const char *name, long long value)
{
    char num[32];

    for (size_t i = 0; i < total->n; i++)
        if (strcmp(total->fields[i].name, name) == 0) {
            snprintf(num, sizeof(num), "%lld", atoll(total->fields[i].value) + value);
            free(total->fields[i].value);
            return (total->fields[i].value = strdup(num)) != NULL ? 0 : -1;
        }
    if (total->n % 64 == 0) {
        struct field *grown = realloc(total->fields, (total->n + 64) * sizeof(*grown));
        if (grown == NULL)
            return -1;
        total->fields = grown;
    }
    snprintf(num, sizeof(num), "%lld", value);
    total->fields[total->n].name = strdup(name);
    total->fields[total->n].value = strdup(num);
    total->n++;
    return total->fields[total->n - 1].name != NULL && total->fields[total->n - 1].value != NULL
           ? 0 : -1;
}

static int sum_into(struct node *total, const struct node *nd)
{
    for (size_t i = 0; i < nd->n; i++)
        if (stats_field_is_counter(nd->fields[i].name)
            && add_total(total, nd->fields[i].name, atoll(nd->fields[i].value)) < 0)
            return -1;
    return 0;
}

/* ---- text ------------------------------------------------------------------- */

/* "verdict:rule" fields under PREFIX ("messages:", "would:"), e.g.
 * " reject/outbound-classic-recipient=2"; " (none)" when there is none. */
static void print_by_rule(const struct node *nd, const char *prefix, bool skip_none)
{
    size_t plen = strlen(prefix);
    bool any = false;

    for (size_t i = 0; i < nd->n; i++) {
        const char *f = nd->fields[i].name, *colon;

        if (strncmp(f, prefix, plen) != 0 || (colon = strchr(f + plen, ':')) == NULL)
            continue;
        if (skip_none && strcmp(colon + 1, "none") == 0)
            continue;
        printf(" %.*s/%s=%s", (int)(colon - f - plen), f + plen, colon + 1,
               nd->fields[i].value);
        any = true;
    }
    if (!any)
        printf(" (none)");
}

static long long verdict_total(const struct node *nd, const char *verdict)
{
    char prefix[64];
    size_t plen;
    long long sum = 0;

    plen = (size_t)snprintf(prefix, sizeof(prefix), "messages:%s:", verdict);
    for (size_t i = 0; i < nd->n; i++)
        if (strncmp(nd->fields[i].name, prefix, plen) == 0)
            sum += atoll(nd->fields[i].value);
    return sum;
}

/* The smallest bucket bound ("0.05") holding fraction Q of the COUNT
 * messages, or NULL when only +Inf does.  Fields are sorted by name, not
 * by bound, hence the full scan. */
static const char *quantile(const struct node *nd, double q, long long count)
{
    const char *best = NULL;
    double best_bound = 0;

    for (size_t i = 0; i < nd->n; i++) {
        const char *f = nd->fields[i].name;
        double bound;

        if (strncmp(f, "latency:le:", 11) != 0 || strcmp(f + 11, "+Inf") == 0)
            continue;
        bound = atof(f + 11);
        if ((double)atoll(nd->fields[i].value) >= q * (double)count
            && (best == NULL || bound < best_bound)) {
            best = f + 11;
            best_bound = bound;
        }
    }
    return best;
}

static void print_latency(const struct node *nd)
{
    long long count = get_num(nd, "latency:count");
    static const double qs[] = { 0.5, 0.9, 0.99 };
    static const char *const qn[] = { "p50", "p90", "p99" };

    printf("  latency         count=%lld", count);
    if (count > 0) {
        printf(" mean=%.1fms", (double)get_num(nd, "latency:sum_us") / 1000.0 / (double)count);
        for (int i = 0; i < 3; i++) {
            const char *b = quantile(nd, qs[i], count);
            printf(" %s%s%ss", qn[i], b != NULL ? "<=" : ">", b != NULL ? b : "60");
        }
    }
    printf("\n");
}

static void print_counters(const struct node *nd)
{
    printf("  messages       ");
    for (size_t v = 0; v < sizeof(verdicts) / sizeof(verdicts[0]); v++)
        printf(" %s=%lld", verdicts[v], verdict_total(nd, verdicts[v]));
    printf("\n  by rule        ");
    print_by_rule(nd, "messages:", true);
    printf("\n");
    for (size_t i = 0; i < nd->n; i++)
        if (strncmp(nd->fields[i].name, "would:", 6) == 0) {
            printf("  dry run, would");
            print_by_rule(nd, "would:", false);
            printf("\n");
            break;
        }
    print_latency(nd);
    printf("  connections     total=%lld", get_num(nd, "connections:total"));
    if (get(nd, "connections:open") != NULL)
        printf(" open=%lld", get_num(nd, "connections:open"));
    printf("\n  redis errors    %lld\n", get_num(nd, "redis_errors"));
    printf("  notifications   queued=%lld sent=%lld failed=%lld\n", get_num(nd, "notify:queued"),
           get_num(nd, "notify:sent"), get_num(nd, "notify:failed"));
    printf("  reloads         ok=%lld failed=%lld\n", get_num(nd, "reloads:ok"),
           get_num(nd, "reloads:failed"));
}

static void print_node(const struct node *nd, time_t now)
{
    char age[32], up[32], started[32];
    long long updated = get_num(nd, "updated"), start = get_num(nd, "started");

    /* Seconds matter here: a node updates every StatsInterval. */
    if (now - updated < 120)
        snprintf(age, sizeof(age), "%llds", (long long)(now - updated));
    else
        format_age(now - updated, age, sizeof(age));
    format_age(now - start, up, sizeof(up));
    format_utc((time_t)start, started, sizeof(started));
    printf("node %s: updated %s ago, up %s (since %s), version %s\n", nd->name, age, up,
           started, get(nd, "version") ? get(nd, "version") : "unknown");
    printf("  whitelist       version=%s domains=%lld", get(nd, "whitelist:version")
           ? get(nd, "whitelist:version") : "none", get_num(nd, "whitelist:domains"));
    if (get(nd, "whitelist:age") != NULL) {
        format_age(get_num(nd, "whitelist:age"), age, sizeof(age));
        printf(" age=%s", age);
    }
    printf("\n");
    print_counters(nd);
}

/* --nodes: one line per node, to see at a glance that every node is up,
 * serves the same whitelist version and follows the same Redis master. */
static void print_node_line(const struct node *nd, time_t now)
{
    long long updated = get_num(nd, "updated");

    printf("%s updated=%llds whitelist=%s messages", nd->name, (long long)(now - updated),
           get(nd, "whitelist:version") ? get(nd, "whitelist:version") : "none");
    for (size_t v = 0; v < sizeof(verdicts) / sizeof(verdicts[0]); v++)
        printf(" %s=%lld", verdicts[v], verdict_total(nd, verdicts[v]));
    printf(" redis_errors=%lld redis_master=%s\n", get_num(nd, "redis_errors"),
           get(nd, "redis:master") ? get(nd, "redis:master") : "unknown");
}

/* ---- JSON ------------------------------------------------------------------- */

/* A field's value: a number when it is one, else a string. */
static json_t *json_value(const char *v)
{
    char *end;
    long long n = strtoll(v, &end, 10);

    if (*v != '\0' && *end == '\0')
        return json_integer((json_int_t)n);
    return json_text(v);
}

static json_t *json_fields(const struct node *nd)
{
    json_t *o = json_object();

    for (size_t i = 0; i < nd->n; i++)
        json_object_set_new(o, nd->fields[i].name, json_value(nd->fields[i].value));
    return o;
}

/* ---- the command ------------------------------------------------------------ */

/* The cluster's notification queue (notify/queue.h's keys), or NULL. */
static json_t *cluster_notify(redisContext *c, const char *prefix)
{
    static const char *const names[] = { "enqueued", "sent", "retried", "failed" };
    redisReply *r = redisCommand(c, "HMGET %snotify:stats enqueued sent retried failed",
                                 prefix);
    json_t *o = NULL;

    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        bool any = false;

        o = json_object();
        for (size_t i = 0; i < 4; i++) {
            long long v = 0;
            if (r->element[i]->type == REDIS_REPLY_STRING) {
                v = atoll(r->element[i]->str);
                any = true;
            }
            json_object_set_new(o, names[i], json_integer((json_int_t)v));
        }
        if (!any) {
            json_decref(o);
            o = NULL;
        }
    }
    freeReplyObject(r);
    if (o != NULL && (r = redisCommand(c, "ZCARD %snotify:queue", prefix)) != NULL) {
        if (r->type == REDIS_REPLY_INTEGER)
            json_object_set_new(o, "pending", json_integer((json_int_t)r->integer));
        freeReplyObject(r);
    }
    return o;
}

/* Each node's name and fields, for --json. */
static json_t *json_nodes(const struct node *nodes, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();

        json_object_set_new(o, "node", json_text(nodes[i].name));
        json_object_set_new(o, "fields", json_fields(&nodes[i]));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* The nodes whose statistics expired, for --json. */
static json_t *json_gone(char **gone, size_t n_gone)
{
    json_t *g = json_array();

    for (size_t i = 0; i < n_gone; i++)
        json_array_append_new(g, json_text(gone[i]));
    return g;
}

/* stats --nodes: the per-node part only. */
static int report_nodes(const struct ctl *ctl, struct node *nodes, size_t n, char **gone,
                        size_t n_gone)
{
    time_t now = time(NULL);

    if (ctl->json) {
        json_t *root = json_object();

        json_object_set_new(root, "nodes", json_nodes(nodes, n));
        json_object_set_new(root, "expired", json_gone(gone, n_gone));
        return print_json(root) < 0 ? CTL_UNAVAILABLE : CTL_OK;
    }
    if (n == 0)
        printf("no node has published statistics (is mssante-milter running with Redis?)\n");
    for (size_t i = 0; i < n; i++)
        print_node_line(&nodes[i], now);
    for (size_t i = 0; i < n_gone; i++)
        printf("%s expired (stopped, or cannot reach Redis)\n", gone[i]);
    return CTL_OK;
}

static int report(const struct ctl *ctl, struct node *nodes, size_t n, const struct node *total,
                  char **gone, size_t n_gone, json_t *notify)
{
    time_t now = time(NULL);

    if (ctl->json) {
        json_t *root = json_object();

        json_object_set_new(root, "nodes", json_nodes(nodes, n));
        json_object_set_new(root, "total", json_fields(total));
        json_object_set_new(root, "expired", json_gone(gone, n_gone));
        json_object_set_new(root, "notifications", notify != NULL ? json_incref(notify)
                                                                  : json_null());
        return print_json(root) < 0 ? CTL_UNAVAILABLE : CTL_OK;
    }
    if (n == 0)
        printf("no node has published statistics (is mssante-milter running with Redis?)\n");
    for (size_t i = 0; i < n; i++)
        print_node(&nodes[i], now);
    for (size_t i = 0; i < n_gone; i++)
        printf("node %s: no recent statistics (stopped, or cannot reach Redis)\n", gone[i]);
    if (n > 1) {
        printf("total (%zu nodes)\n", n);
        print_counters(total);
    }
    if (notify != NULL)
        printf("notification queue (cluster): enqueued=%lld sent=%lld retried=%lld "
               "failed=%lld pending=%lld\n",
               (long long)json_integer_value(json_object_get(notify, "enqueued")),
               (long long)json_integer_value(json_object_get(notify, "sent")),
               (long long)json_integer_value(json_object_get(notify, "retried")),
               (long long)json_integer_value(json_object_get(notify, "failed")),
               (long long)json_integer_value(json_object_get(notify, "pending")));
    return CTL_OK;
}

int cmd_stats(const struct ctl *ctl, int argc, char **argv)
{
    const char *prefix = ctl->cfg->redis.prefix != NULL ? ctl->cfg->redis.prefix : "";
    struct node *nodes = NULL, total = { "total", NULL, 0 };
    struct err err;
    char **gone = NULL;
    size_t n = 0, n_gone = 0;
    json_t *notify = NULL;
    redisContext *c;
    redisReply *r;
    int status = CTL_UNAVAILABLE;

    bool per_node = argc == 2 && strcmp(argv[1], "--nodes") == 0;

    if (argc != 1 && !per_node) {
        ctl_error("usage: mssantectl stats [--nodes] [--json]");
        return CTL_USAGE;
    }
    if (!redis_configured(&ctl->cfg->redis)) {
        ctl_error("stats are gathered in Redis and %s sets no Redis "
                  "(a node without Redis writes its numbers to StatsFile)", ctl->cfg->path);
        return CTL_USAGE;
    }
    if ((c = redis_connect(&ctl->cfg->redis, &err)) == NULL) {
        ctl_error("%s", err.msg);
        return CTL_UNAVAILABLE;
    }
    r = redisCommand(c, "ZRANGE %s" STATS_NODES_KEY " 0 -1", prefix);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        ctl_error("ZRANGE %s" STATS_NODES_KEY ": %s", prefix,
                  r == NULL ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str
                                                                       : "unexpected reply");
        goto out;
    }
    if (r->elements > 0) {
        nodes = calloc(r->elements, sizeof(*nodes));
        gone = calloc(r->elements, sizeof(*gone));
        if (nodes == NULL || gone == NULL) {
            ctl_error("out of memory");
            goto out;
        }
    }
    for (size_t i = 0; i < r->elements; i++) {
        struct node *nd = &nodes[n];
        int rc;

        if (r->element[i]->type != REDIS_REPLY_STRING)
            continue;
        snprintf(nd->name, sizeof(nd->name), "%s", r->element[i]->str);
        if ((rc = read_node(c, prefix, nd, &err)) < 0) {
            ctl_error("%s", err.msg);
            goto out;
        }
        if (rc == 0) {
            free_node(nd);
            gone[n_gone++] = r->element[i]->str;
            continue;
        }
        if (sum_into(&total, nd) < 0) {
            ctl_error("out of memory");
            goto out;
        }
        n++;
    }
    if (total.n > 1)
        qsort(total.fields, total.n, sizeof(*total.fields), by_name);
    if (per_node) {
        status = report_nodes(ctl, nodes, n, gone, n_gone);
        goto out;
    }
    notify = cluster_notify(c, prefix);
    status = report(ctl, nodes, n, &total, gone, n_gone, notify);
out:
    for (size_t i = 0; nodes != NULL && i <= n && r != NULL && i < r->elements; i++)
        free_node(&nodes[i]);
    free(nodes);
    free(gone);
    free_node(&total);
    json_decref(notify);
    freeReplyObject(r);
    redisFree(c);
    return status;
}
