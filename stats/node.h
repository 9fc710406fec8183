/*
 * node.h - this node's counters in Redis, the contract with
 * "mssantectl stats" (ctl/cmd_stats.c reads what stats/node.c writes).
 *
 * Keys (PREFIX is RedisPrefix):
 *   PREFIX stats:node:NAME   HASH, rewritten whole every StatsInterval,
 *                            expiring after four intervals (at least a minute)
 *   PREFIX stats:nodes       ZSET of node names, score: last update (Unix
 *                            time); names not updated for a day are removed
 * Fields of the node HASH:
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
 *   status" (stats/status.h)
 * stats_field_is_counter() tells which fields add up across nodes.
 */
#ifndef MSSANTE_STATS_NODE_H
#define MSSANTE_STATS_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"

#define STATS_NODES_KEY "stats:nodes"      /* after RedisPrefix */
#define STATS_NODE_KEY  "stats:node:"      /* after RedisPrefix, before the node name */
#define STATS_NODE_MAX  128                /* node name length, NUL included */

/* True for the node HASH fields that add up across nodes (counters). */
bool stats_field_is_counter(const char *field);

/* This node's name in Redis: the host name. */
void stats_node_name(char *buf, size_t size);

/* Write this node's HASH (INTERVAL_S: StatsInterval in seconds) under
 * PREFIX, then read the cluster's notification counters back.  0, or
 * -1 + err. */
int stats_node_publish(redisContext *c, const char *prefix, int interval_s, struct err *err);

#endif
