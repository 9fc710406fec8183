/*
 * status.h - what the daemon publishes, beside its counters, for
 * "mssantectl status": which process it is, the outcome of the last
 * configuration reload, and which list is in force.
 *
 * Added to the node HASH (stats/node.h; fields are a contract: these
 * are new names, the existing ones are unchanged):
 *   pid                   the daemon's process id
 *   reload:last           none, ok or failed: the most recent reload
 *   reload:time           when it happened (Unix time; 0 when none)
 *   reload:error          why the last reload failed: its first error
 *                         ("FILE:LINE: ..."); "" unless reload:last is failed
 *   whitelist:generated   DateDeGeneration of the list in force ("" when
 *                         none or unknown)
 * and to the StatsFile:
 *   mssante_milter_last_reload_success            1 or 0 (absent: none yet)
 *   mssante_milter_last_reload_timestamp_seconds  when
 *   mssante_milter_whitelist_info{version,generated}  1 while a list is in force
 */
#ifndef MSSANTE_STATS_STATUS_H
#define MSSANTE_STATS_STATUS_H

#include <stdbool.h>
#include <stdio.h>

#define STATS_RELOAD_ERROR_MAX 300

/* A reload was applied (OK) or refused, now. */
void stats_status_reload(bool ok);

/* Why the reload just refused was refused (after stats_status_reload). */
void stats_status_reload_error(const char *why);

/* Every field above: PUT(ARG, NAME, VALUE) for each. */
typedef void (*stats_status_put)(void *arg, const char *name, const char *value);
void stats_status_fields(stats_status_put put, void *arg);

/* The same in the Prometheus text format. */
void stats_status_prometheus(FILE *fp);

/* Forget the last reload (unit tests). */
void stats_status_reset(void);

#endif
