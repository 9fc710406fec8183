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
 * Fields of the node HASH (the contract with mssantectl):
 *   messages:VERDICT:RULE   counter: messages by final verdict (accept,
 *                           reject, tempfail, hold, abort) and rule
 *                           ("none" when no rule applied)
 *   would:VERDICT:RULE      counter: DryRun, what would have been done
 *   tempfail:CAUSE          counter: temporary failures by cause (the rule)
 *   redis_errors            counter
 *   notify:EVENT            counter: queued, sent, failed (this node)
 *   latency:le:BOUND        counter: messages done within BOUND seconds
 *                           (cumulative, as Prometheus buckets; +Inf last)
 *   latency:sum_us, latency:count   counters
 *   connections:total       counter; connections:open  gauge
 *   reloads:ok, reloads:failed      counters
 *   whitelist:domains, whitelist:entries, whitelist:age (seconds since the
 *   list's DateDeGeneration), whitelist:version, started, updated (Unix
 *   time), interval (seconds), version (of the daemon): gauges
 *   pid, reload:last, reload:time, whitelist:generated: for "mssantectl
 *   status" (milter/stats_status.h)
 * stats_field_is_counter() tells which fields add up across nodes.
 */
#ifndef MSSANTE_STATS_H
#define MSSANTE_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "milter/config.h"
#include "policy/message.h"

#define STATS_NODES_KEY "stats:nodes"      /* after RedisPrefix */
#define STATS_NODE_KEY  "stats:node:"      /* after RedisPrefix, before the node name */
#define STATS_NODE_MAX  128                /* node name length, NUL included */

/* ---- hot path: called by the milter threads ---------------------------- */

/* A transaction starts (MAIL FROM): counts it in flight and returns its
 * start time, to hand back to stats_message_end(). */
uint64_t stats_message_begin(void);

/*
 * A message is done: the verdict line was written.  FINAL is the verdict
 * that applied (NULL: the transaction was abandoned, "abort"); WOULD, when
 * not NULL, is what DryRun kept from being applied.  STARTED comes from
 * stats_message_begin().
 */
void stats_message_end(const struct verdict *final, const struct verdict *would,
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
 * Start the publishing thread.  STARTUP gives Redis (read at start only);
 * StatsFile and StatsInterval are read from the configuration in force
 * (milter/service.h) at every round, so a reload changes them.  A round
 * without StatsFile or Redis does nothing.  0 or -1.
 */
int stats_start(const struct config *startup);

/* Publish one last time (the final numbers) and stop the thread. */
void stats_stop(void);

/* The whole state in the Prometheus text format.  0, or -1 on a write error. */
int stats_write_prometheus(FILE *fp);

/* Write it to PATH (temporary file + rename).  0, or -1 + err. */
int stats_write_file(const char *path, char *err, size_t errlen);

/* True for the node HASH fields that add up across nodes (counters). */
bool stats_field_is_counter(const char *field);

/* This node's name in Redis: the host name. */
void stats_node_name(char *buf, size_t size);

/* Forget every count (unit tests). */
void stats_reset(void);

#endif
