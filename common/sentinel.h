/*
 * sentinel.h - finding the Redis master through Redis Sentinel, and
 * following it when it moves (issue 11: several MX nodes sharing one highly
 * available Redis).
 *
 * Why.  Whitelist versions, patient conversations, forwarding rules and the
 * notice queue live in Redis; with one Redis, its loss means 451 for
 * patient mail until someone repairs it.  Redis Sentinel watches a master
 * and its replicas, promotes a replica when the master fails, and tells
 * clients where the master is.  This module is the client side, following
 * the Sentinel client protocol:
 *   1. ask the sentinels in turn (RedisSentinels, each bounded by
 *      RedisTimeout, AUTH with RedisSentinelPassword when set)
 *      "SENTINEL get-master-addr-by-name RedisMasterName";
 *   2. the first sentinel that names a master moves to the front of the
 *      list, so that the next discovery starts with one known to answer;
 *   3. connect to the master it named, AUTH (RedisUser + RedisPassword,
 *      or RedisPassword alone), SELECT RedisDB, and check ROLE says
 *      "master": during a failover a sentinel may name a server that is
 *      not the master yet (or any more); then ask the next sentinel.
 * Callers look for the master again when a command fails in a way that
 * redis_should_rediscover() (common/redis_server.h) recognises: a
 * connection error, -READONLY, -LOADING.
 *
 * Epochs.  The epoch grows each time the known master changes (a discovery
 * finds another one, or the watcher hears of a switch).  A connection
 * carries the epoch it was opened in (struct sentinel_master); a pool
 * drops idle connections from an older epoch, as the protocol asks of
 * pools: once one user learns that the master moved, no connection to the
 * old one is handed out again.
 *
 * Hearing of a switch (sentinel_watch_start).  The daemon's Redis users
 * are short commands on pooled connections and a few background threads.
 * Most failovers show on those connections by themselves: a dead master
 * gives connection errors, and Sentinel closes the clients of every server
 * it reconfigures.  The one they miss is a failover whose old master stays
 * up (SENTINEL FAILOVER, or a partition only the sentinels see): it goes on
 * accepting writes until Sentinel demotes it, seconds later (~10 s with
 * Redis 7.0), and those writes vanish when it resynchronises.  So one
 * thread per daemon subscribes to +switch-master on one sentinel: the news
 * arrives as soon as Sentinel publishes it, for one idle connection and a
 * PING a second.  Polling get-master-addr-by-name instead would cost a
 * connection and a query per node per period and still leave a window of
 * one period.  After each (re)subscription the watcher also asks once, in
 * case a switch happened while it was not listening.  Sentinels learn of
 * a switch from each other within seconds, and meanwhile the old master
 * still answers ROLE "master": for a while after a +switch-master (15 s,
 * longer than Sentinel takes to demote the old master), a sentinel naming
 * the master it replaced is taken to be behind and skipped, so that a
 * discovery cannot undo the switch.  A short-lived program (mssantectl)
 * needs no watcher: its discovery asks afresh.
 * Durability does not rest on the watcher: a write acknowledged by WAIT
 * (redis_wait_replicas, RedisMinReplicas) is on that many replicas, and a
 * master left behind by a failover has none, so WAIT fails there.
 *
 * Threads.  A struct sentinel is shared by every thread of a process; its
 * functions lock what they change and never hold the lock while talking to
 * a server.  Events are reported from the thread that noticed them.
 *
 * DIAGNOSTICS
 * sentinel_connect() fails with one line naming every sentinel tried and
 * why, e.g.
 *   no Redis master "mymaster" found: sentinel 127.0.0.1:26379: Connection
 *   refused; sentinel 127.0.0.1:26380 named 127.0.0.1:6380: redis
 *   127.0.0.1:6380: AUTH mssante: WRONGPASS invalid username-password pair
 *   or user is disabled.
 * It stops at the first master that refuses AUTH, SELECT or ROLE (every
 * sentinel would lead to the same refusal).  A sentinel behind a switch is
 * noted as "sentinel S named M, the master a +switch-master just
 * replaced: behind, skipped".  A sentinel that wants a
 * password it was not given says so ("NOAUTH ... (is
 * RedisSentinelPassword set?)").  Events (settings.on_event), one line each:
 *   SENTINEL_EVENT_MASTER    Redis master "mymaster" is now 127.0.0.1:6380
 *                            (was 127.0.0.1:6379), from sentinel ...
 *   SENTINEL_EVENT_WATCHING  watching +switch-master on sentinel ...
 *   SENTINEL_EVENT_TROUBLE   the watcher lost its sentinel, or reaches none
 *                            (said once until it subscribes again).
 */
#ifndef MSSANTE_SENTINEL_H
#define MSSANTE_SENTINEL_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/redis_addr.h"
#include "common/redis_server.h"

struct sentinel;

enum sentinel_event {
    SENTINEL_EVENT_MASTER,     /* the master is now another server (a notice) */
    SENTINEL_EVENT_WATCHING,   /* the watcher listens to a sentinel (information) */
    SENTINEL_EVENT_TROUBLE,    /* the watcher cannot listen (a warning) */
};

typedef void sentinel_event_fn(void *arg, enum sentinel_event kind, const char *text);

struct sentinel_settings {
    const char *master_name;                  /* RedisMasterName */
    const struct redis_addr_list *sentinels;  /* RedisSentinels */
    const char *sentinel_password;            /* RedisSentinelPassword; NULL: none */
    struct redis_auth auth;                   /* RedisUser, RedisPassword (the master) */
    int db;                                   /* RedisDB */
    int timeout_ms;                           /* RedisTimeout; <= 0: the default */
    sentinel_event_fn *on_event;              /* may be NULL */
    void *event_arg;
};

/* What a discovery found. */
struct sentinel_master {
    char addr[REDIS_ADDR_TEXT_MAX];     /* the master connected to */
    char via[REDIS_ADDR_TEXT_MAX];      /* the sentinel that named it */
    unsigned long epoch;                /* sentinel_epoch() when it was found */
};

/* Copies everything SET points to.  NULL with ERR when the settings are
 * unusable (no name, no sentinel) or memory runs out. */
struct sentinel *sentinel_new(const struct sentinel_settings *set, struct err *err);

/* Stops the watcher if it runs, then frees S.  S may be NULL. */
void sentinel_free(struct sentinel *s);

/* Discover the master and open a connection to it (steps 1-3 above).
 * FOUND (may be NULL) says which master through which sentinel.  NULL
 * with ERR as in DIAGNOSTICS when no sentinel leads to a usable master. */
redisContext *sentinel_connect(struct sentinel *s, struct sentinel_master *found,
                               struct err *err);

/* The epoch: 0 before any master was found, then one more each time the
 * known master changes. */
unsigned long sentinel_epoch(struct sentinel *s);

/* The last master found or announced ("" when none) and the sentinels in
 * the order the next discovery will try them, comma-separated (for
 * "mssantectl status" and the logs). */
void sentinel_describe(struct sentinel *s, char *master, size_t mlen,
                       char *order, size_t olen);

/* Start the +switch-master watcher thread (see above).  0, or -1 with ERR
 * when the thread cannot start; unreachable sentinels are no error: the
 * watcher keeps trying and reports SENTINEL_EVENT_TROUBLE.  Calling it
 * twice is harmless. */
int sentinel_watch_start(struct sentinel *s, struct err *err);

/* Stop and join the watcher; returns within about RedisTimeout. */
void sentinel_watch_stop(struct sentinel *s);

#endif
