/*
 * stats.h - the daemon's numbers: what it decided, how fast, and how
 * healthy its sources are.
 *
 * The milter threads only bump counters (relaxed atomics, no lock on the
 * hot path).  A background thread turns them, every StatsInterval, into
 *  - the StatsFile, in the Prometheus text exposition format (for
 *    node_exporter's textfile collector), written to a temporary file and
 *    renamed so that a scrape never reads half a file;
 *  - with Redis, the HASH  PREFIX stats:node:<node>  (expires after a few
 *    intervals, so a dead node drops out) and its name in the ZSET
 *    PREFIX stats:nodes (score: last update, Unix time), which
 *    "mssantectl stats" reads to show every node and the cluster total.
 *
 * The node HASH's fields are in stats/node.h, the contract with mssantectl.
 */
#ifndef MSSANTE_STATS_H
#define MSSANTE_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "common/redis.h"
#include "policy/replies.h"

/* StatsFile and StatsInterval (config/keys.c points into it); both are
 * applied again at a reload. */
struct stats_settings {
    char *file;                  /* StatsFile: the Prometheus text file; NULL = none */
    int interval_ms;             /* StatsInterval */
};

/* Where the publisher reads StatsFile and StatsInterval at each round:
 * ACQUIRE gives the settings in force (NULL: the startup ones), RELEASE
 * gives them back. */
struct stats_source {
    const struct stats_settings *(*acquire)(void *arg);
    void (*release)(void *arg, const struct stats_settings *s);
    void *arg;
};

/* ---- hot path: called by the milter threads ---------------------------- */

/* A transaction starts (MAIL FROM): counts it in flight and returns its
 * start time, to hand back to stats_message_end(). */
uint64_t stats_message_begin(void);

/* A verdict as the counters see it: its action and its rule's stable id
 * (policy/replies.h's rule_name(); NULL or "" when no rule applied). */
struct stats_verdict {
    enum action action;
    const char *rule;
};

/*
 * A message is done: the verdict line was written.  FINAL is the verdict
 * that applied (NULL: the transaction was abandoned, "abort"); WOULD, when
 * not NULL, is what DryRun kept from being applied.  STARTED comes from
 * stats_message_begin().
 */
void stats_message_end(const struct stats_verdict *final, const struct stats_verdict *would,
                       uint64_t started);

void stats_connection_open(void);
void stats_connection_close(void);

/* A Redis command or connection failed (any module may call this). */
void stats_redis_error(void);

/* Notifications (forwarding): N notices queued, sent or given up. */
enum stats_notify_event { STATS_NOTIFY_QUEUED = 0, STATS_NOTIFY_SENT, STATS_NOTIFY_FAILED };
void stats_notify(enum stats_notify_event ev, unsigned n);

/* A configuration reload was applied (ok) or refused. */
void stats_reload(bool ok);

/* Messages in flight and open connections (for the graceful stop). */
unsigned stats_in_flight(void);
unsigned stats_open_connections(void);

/* ---- publishing -------------------------------------------------------- */

/*
 * Start the publishing thread.  STARTUP holds the StatsFile and
 * StatsInterval used when SOURCE (may be NULL) gives none; RS is Redis
 * (read at start only).  A round without StatsFile or Redis does nothing.
 * STARTUP and RS must outlive stats_stop().  0 or -1.
 */
int stats_start(const struct stats_settings *startup, const struct redis_settings *rs,
                const struct stats_source *source);

/* Publish one last time (the final numbers) and stop the thread. */
void stats_stop(void);

/* The whole state in the Prometheus text format.  0, or -1 on a write error. */
int stats_write_prometheus(FILE *fp);

/* Write it to PATH (temporary file + rename).  0, or -1 + err. */
int stats_write_file(const char *path, struct err *err);

/* Forget every count (unit tests). */
void stats_reset(void);

#endif
