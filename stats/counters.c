/*
 * counters.c - the daemon's counters: messages by verdict and rule, the
 * latency histogram, connections, reloads, Redis errors, notifications,
 * and the snapshot of all of them that the exports read (stats/prometheus.c
 * writes the StatsFile, stats/node.c the node HASH).
 *
 * Hot path: every counter is a relaxed atomic.  Counters by rule live in a
 * fixed table of slots, looked up without a lock (rule ids are a handful of
 * constant strings); a rule seen for the first time takes a mutex once to
 * claim its slot, and the slot count is published with release/acquire so
 * a reader never sees a half-written name.  Should more distinct rules
 * appear than the table holds, they are counted under "other".
 *
 * The numbers a round publishes are read one counter at a time, not as one
 * consistent snapshot: a message finishing during a round may show in one
 * counter and not yet in another until the next round.  Counters only grow,
 * which is what Prometheus' rate() and the cluster sums need.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "stats/snapshot.h"
#include "stats/stats.h"
#include "stats/status.h"

#define N_VERDICTS    STATS_N_VERDICTS
#define V_ABORT       4
#define MAX_RULES     STATS_MAX_RULES
#define RULE_NAME_MAX STATS_RULE_NAME_MAX
#define SLOT_NONE     STATS_SLOT_NONE
#define SLOT_OTHER    1          /* the table is full */
#define N_BUCKETS     STATS_N_BUCKETS

const char *const stats_verdict_names[STATS_N_VERDICTS] = {
    "accept", "reject", "tempfail", "hold", "abort"
};

const char *const stats_notify_names[STATS_N_NOTIFY] = { "queued", "sent", "failed" };

const uint64_t stats_bucket_us[STATS_N_BUCKETS - 1] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
    10000000, 30000000, 60000000,
};

struct rule_slot {
    char name[RULE_NAME_MAX];
    atomic_ullong messages[N_VERDICTS];
    atomic_ullong would[N_VERDICTS];
    atomic_ullong tempfail;
};

static struct rule_slot slots[MAX_RULES];
static atomic_uint n_slots;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;

static atomic_ullong latency_bucket[N_BUCKETS];   /* not cumulative */
static atomic_ullong latency_sum_us, latency_count;
static atomic_int in_flight, conn_open;
static atomic_ullong conn_total, redis_errors, reloads_ok, reloads_failed;
static atomic_ullong notify_count[STATS_N_NOTIFY];
static atomic_llong started_at;

static pthread_mutex_t cluster_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats_cluster_notify cluster;

#define INC(x) atomic_fetch_add_explicit(&(x), 1, memory_order_relaxed)
#define ADD(x, n) atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)
#define GET(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* ---- rule slots -------------------------------------------------------- */

static void init_fixed_slots(void)
{
    snprintf(slots[SLOT_NONE].name, RULE_NAME_MAX, "none");
    snprintf(slots[SLOT_OTHER].name, RULE_NAME_MAX, "other");
    atomic_store_explicit(&n_slots, 2, memory_order_release);
}

static struct rule_slot *find_slot(const char *rule)
{
    unsigned n = atomic_load_explicit(&n_slots, memory_order_acquire);
    struct rule_slot *s;

    if (n == 0) {
        pthread_mutex_lock(&slots_lock);
        if (atomic_load_explicit(&n_slots, memory_order_acquire) == 0)
            init_fixed_slots();
        pthread_mutex_unlock(&slots_lock);
        n = atomic_load_explicit(&n_slots, memory_order_acquire);
    }
    if (rule == NULL || rule[0] == '\0')
        return &slots[SLOT_NONE];
    for (unsigned i = 0; i < n; i++)
        if (strncmp(slots[i].name, rule, RULE_NAME_MAX) == 0)
            return &slots[i];

    pthread_mutex_lock(&slots_lock);
    n = atomic_load_explicit(&n_slots, memory_order_acquire);
    s = NULL;
    for (unsigned i = 0; i < n && s == NULL; i++)
        if (strncmp(slots[i].name, rule, RULE_NAME_MAX) == 0)
            s = &slots[i];
    if (s == NULL && n < MAX_RULES) {
        s = &slots[n];
        snprintf(s->name, RULE_NAME_MAX, "%s", rule);
        atomic_store_explicit(&n_slots, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&slots_lock);
    return s != NULL ? s : &slots[SLOT_OTHER];
}

static unsigned verdict_index(const struct stats_verdict *v)
{
    if (v == NULL)
        return V_ABORT;
    switch (v->action) {
    case ACT_CONTINUE: return 0;
    case ACT_REJECT:   return 1;
    case ACT_TEMPFAIL: return 2;
    case ACT_HOLD:     return 3;
    }
    return 0;
}

/* ---- hot path ------------------------------------------------------------ */

uint64_t stats_message_begin(void)
{
    atomic_fetch_add_explicit(&in_flight, 1, memory_order_relaxed);
    return monotonic_us();
}

void stats_message_end(const struct stats_verdict *final, const struct stats_verdict *would,
                       uint64_t started)
{
    unsigned vi = verdict_index(final);
    const char *rule = final != NULL && final->action != ACT_CONTINUE ? final->rule : NULL;
    struct rule_slot *s = find_slot(rule);

    INC(s->messages[vi]);
    if (final != NULL && final->action == ACT_TEMPFAIL)
        INC(s->tempfail);
    if (would != NULL)
        INC(find_slot(would->rule)->would[verdict_index(would)]);

    /* An abandoned transaction says nothing about how fast we decide. */
    if (final != NULL && started != 0) {
        uint64_t now = monotonic_us(), us = now > started ? now - started : 0;
        size_t b = 0;

        while (b < N_BUCKETS - 1 && us > stats_bucket_us[b])
            b++;
        INC(latency_bucket[b]);
        ADD(latency_sum_us, us);
        INC(latency_count);
    }
    if (atomic_fetch_sub_explicit(&in_flight, 1, memory_order_relaxed) <= 0)
        atomic_fetch_add_explicit(&in_flight, 1, memory_order_relaxed);
}

void stats_connection_open(void)
{
    atomic_fetch_add_explicit(&conn_open, 1, memory_order_relaxed);
    INC(conn_total);
}

void stats_connection_close(void)
{
    if (atomic_fetch_sub_explicit(&conn_open, 1, memory_order_relaxed) <= 0)
        atomic_fetch_add_explicit(&conn_open, 1, memory_order_relaxed);
}

void stats_redis_error(void)
{
    INC(redis_errors);
}

void stats_notify(enum stats_notify_event ev, unsigned n)
{
    if ((unsigned)ev < STATS_N_NOTIFY)
        ADD(notify_count[ev], n);
}

void stats_reload(bool ok)
{
    if (ok)
        INC(reloads_ok);
    else
        INC(reloads_failed);
    stats_status_reload(ok);
}

unsigned stats_in_flight(void)
{
    int n = atomic_load(&in_flight);
    return n > 0 ? (unsigned)n : 0;
}

unsigned stats_open_connections(void)
{
    int n = atomic_load(&conn_open);
    return n > 0 ? (unsigned)n : 0;
}

void stats_reset(void)
{
    unsigned n = atomic_load(&n_slots);

    for (unsigned i = 0; i < n && i < MAX_RULES; i++) {
        for (unsigned v = 0; v < N_VERDICTS; v++) {
            atomic_store(&slots[i].messages[v], 0);
            atomic_store(&slots[i].would[v], 0);
        }
        atomic_store(&slots[i].tempfail, 0);
    }
    for (size_t b = 0; b < N_BUCKETS; b++)
        atomic_store(&latency_bucket[b], 0);
    atomic_store(&latency_sum_us, 0);
    atomic_store(&latency_count, 0);
    atomic_store(&in_flight, 0);
    atomic_store(&conn_open, 0);
    atomic_store(&conn_total, 0);
    atomic_store(&redis_errors, 0);
    atomic_store(&reloads_ok, 0);
    atomic_store(&reloads_failed, 0);
    stats_status_reset();
    for (int i = 0; i < STATS_N_NOTIFY; i++)
        atomic_store(&notify_count[i], 0);
    pthread_mutex_lock(&cluster_lock);
    memset(&cluster, 0, sizeof(cluster));
    pthread_mutex_unlock(&cluster_lock);
}

/* ---- for the exports (stats/snapshot.h) --------------------------------------- */

void stats_take_snapshot(struct stats_snapshot *snap)
{
    unsigned n;

    memset(snap, 0, sizeof(*snap));
    (void)find_slot(NULL);          /* the fixed slots exist from the start */
    n = atomic_load_explicit(&n_slots, memory_order_acquire);
    snap->n_rules = n;
    for (unsigned i = 0; i < n; i++) {
        struct stats_rule_counts *r = &snap->rules[i];

        memcpy(r->name, slots[i].name, RULE_NAME_MAX);
        for (unsigned v = 0; v < N_VERDICTS; v++) {
            r->messages[v] = GET(slots[i].messages[v]);
            r->would[v] = GET(slots[i].would[v]);
        }
        r->tempfail = GET(slots[i].tempfail);
    }
    for (size_t b = 0; b < N_BUCKETS; b++)
        snap->latency_bucket[b] = GET(latency_bucket[b]);
    snap->latency_sum_us = GET(latency_sum_us);
    snap->latency_count = GET(latency_count);
    snap->redis_errors = GET(redis_errors);
    snap->conn_total = GET(conn_total);
    snap->reloads_ok = GET(reloads_ok);
    snap->reloads_failed = GET(reloads_failed);
    for (int i = 0; i < STATS_N_NOTIFY; i++)
        snap->notify[i] = GET(notify_count[i]);
    snap->conn_open = stats_open_connections();
    snap->in_flight = stats_in_flight();
    snap->started_at = atomic_load(&started_at);
    pthread_mutex_lock(&cluster_lock);
    snap->cluster = cluster;
    pthread_mutex_unlock(&cluster_lock);
}

void stats_set_cluster_notify(const struct stats_cluster_notify *cn)
{
    pthread_mutex_lock(&cluster_lock);
    cluster = *cn;
    pthread_mutex_unlock(&cluster_lock);
}

void stats_mark_started(void)
{
    atomic_store(&started_at, (long long)time(NULL));
    (void)find_slot(NULL);
}
