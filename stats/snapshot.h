/*
 * snapshot.h - the counters of stats/counters.c as the exports read them
 * (internal to stats/).
 *
 * counters.c owns the counters and fills a struct stats_snapshot on
 * demand; prometheus.c and node.c turn a snapshot into the StatsFile and
 * the node HASH, and node.c hands back what it learnt from Redis (the
 * cluster's notification counters).  A snapshot is read one counter at a
 * time, not atomically as a whole: see counters.c.  gauges.c adds what
 * the counters do not hold: the whitelist in force.
 */
#ifndef MSSANTE_STATS_SNAPSHOT_H
#define MSSANTE_STATS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_N_VERDICTS    5    /* accept, reject, tempfail, hold, abort */
#define STATS_MAX_RULES     64
#define STATS_RULE_NAME_MAX 48
#define STATS_SLOT_NONE     0    /* the rule "none": no rule applied */
#define STATS_N_BUCKETS     14   /* latency buckets, +Inf included */
#define STATS_N_NOTIFY      3    /* queued, sent, failed */

extern const char *const stats_verdict_names[STATS_N_VERDICTS];
extern const char *const stats_notify_names[STATS_N_NOTIFY];

/* Upper bounds of the latency buckets, in microseconds (+Inf is implied). */
extern const uint64_t stats_bucket_us[STATS_N_BUCKETS - 1];

/* Cluster-wide notification counters, read from Redis by the publisher. */
struct stats_cluster_notify {
    bool known;
    long long enqueued, sent, retried, failed, pending;
};

struct stats_rule_counts {
    char name[STATS_RULE_NAME_MAX];
    unsigned long long messages[STATS_N_VERDICTS];
    unsigned long long would[STATS_N_VERDICTS];
    unsigned long long tempfail;
};

struct stats_snapshot {
    unsigned n_rules;                          /* "none" and "other" first */
    struct stats_rule_counts rules[STATS_MAX_RULES];
    unsigned long long latency_bucket[STATS_N_BUCKETS];   /* not cumulative */
    unsigned long long latency_sum_us, latency_count;
    unsigned long long redis_errors, conn_total, reloads_ok, reloads_failed;
    unsigned long long notify[STATS_N_NOTIFY];
    unsigned conn_open, in_flight;
    long long started_at;                      /* Unix time, 0 before stats_start() */
    struct stats_cluster_notify cluster;
};

/* Read every counter into SNAP. */
void stats_take_snapshot(struct stats_snapshot *snap);

/* The publisher read the cluster's counters (stats_reset() forgets them). */
void stats_set_cluster_notify(const struct stats_cluster_notify *cn);

/* The daemon starts: note the time and create the fixed rule slots. */
void stats_mark_started(void);

/* The whitelist in force, for the exports (gauges.c). */
struct stats_whitelist {
    bool loaded;
    size_t domains, entries;
    long long age;           /* seconds since DateDeGeneration (or the load); -1 unknown */
    char version[64];
};

void stats_read_whitelist(struct stats_whitelist *st);

#endif
