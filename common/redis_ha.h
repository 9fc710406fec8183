/*
 * redis_ha.h - the one struct sentinel of a process (internal to the
 * connector: callers use common/redis.h).
 *
 * Every part of a process that talks to Redis asks the same discovery
 * state, so that when one of them learns that the master moved (a
 * discovery finds another one, the watcher hears +switch-master), the
 * epoch moves for all of them and no connection to the old master is
 * used again.  It is made from the first settings with RedisSentinels
 * that reach it: the daemon does so at start (redis_watch_start(), which
 * also logs its events and starts the watcher); mssantectl, the tests and
 * the benches on their first connection, without the watcher (a short-
 * lived program asks the sentinels afresh at each connection anyway).
 * Redis settings are read at start only, so a process has one set of
 * them; settings naming other sentinels or another master are refused.
 */
#ifndef MSSANTE_REDIS_HA_H
#define MSSANTE_REDIS_HA_H

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/redis.h"

/* Discovery through the process's sentinel (made from S if need be). */
redisContext *redis_ha_connect(const struct redis_settings *s, struct redis_where *where,
                               struct err *err);

/* Its epoch (0 before it exists). */
unsigned long redis_ha_epoch(const struct redis_settings *s);

#endif
