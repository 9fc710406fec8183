/*
 * redis.h - the one Redis connector, and the error plumbing of every
 * module that talks to Redis (whitelist store, poller and fetcher,
 * conversations, forwarding rules, the notice queue and worker, the
 * stats publisher, mssantectl).
 *
 * Connecting: redis_connect() is the only place that turns the settings
 * into a connection, so every part of the daemon and mssantectl finds and
 * enters the server the same way:
 *   - "Redis HOST:PORT | [IPv6]:PORT | unix:/path": that server;
 *   - "RedisSentinels" + "RedisMasterName": the master the sentinels name,
 *     checked with ROLE (common/sentinel.h), through the one struct
 *     sentinel of the process (common/redis_ha.c);
 * then AUTH (RedisUser + RedisPassword, or RedisPassword alone), SELECT
 * RedisDB, with RedisTimeout bounding the connection and every command.
 * Connections are not shared between threads: each thread has its own, or
 * takes one from a pool (common/redis_pool.h).
 *
 * Following the master: with sentinels, a connection belongs to an epoch
 * (redis_epoch()), which grows each time the master is known to have
 * moved; a connection from an older epoch leads to a server that is no
 * longer the master, and is closed rather than used (redis_moved()).  A
 * failed command whose reply says the server is no master any more
 * (-READONLY, -LOADING, -MASTERDOWN) marks its connection failed
 * (redis_command_error() does it), so that it is closed, and the next
 * connection asks the sentinels again.
 *
 * Errors: one place decides how a failed command is worded, so that an
 * operator reads the same kind of line whichever module failed:
 * "redis 127.0.0.1:6379: GET mssante:wl:current: timed out".  A password
 * never appears in one.
 */
#ifndef MSSANTE_COMMON_REDIS_H
#define MSSANTE_COMMON_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/redis_addr.h"

/* Redis, RedisSentinels, RedisMasterName, RedisUser, RedisPassword,
 * RedisSentinelPassword, RedisDB, RedisTimeout, RedisMinReplicas,
 * RedisPrefix (config/keys.c points into it).  Every field is read at
 * start only: a reload keeps them. */
struct redis_settings {
    struct redis_addr server;          /* Redis; host and unix_path NULL: none */
    struct redis_addr_list sentinels;  /* RedisSentinels; n == 0: none */
    char *master_name;                 /* RedisMasterName */
    char *user;                        /* RedisUser (Redis 6 ACL); NULL: none */
    char *password;                    /* RedisPassword; NULL: no AUTH */
    char *sentinel_password;           /* RedisSentinelPassword; NULL: none */
    int db;                            /* RedisDB */
    int timeout_ms;                    /* RedisTimeout, connect and every command */
    int min_replicas;                  /* RedisMinReplicas: WAIT after durable writes */
    char *prefix;                      /* RedisPrefix, in front of every key */
};

/* Is a server, or a set of sentinels, configured? */
bool redis_configured(const struct redis_settings *s);

/* Is the master found through sentinels? */
bool redis_uses_sentinels(const struct redis_settings *s);

/* Where a connection leads. */
struct redis_where {
    char addr[REDIS_ADDR_TEXT_MAX];  /* the server: "host:port", "[v6]:port", "unix:/path" */
    char via[REDIS_ADDR_TEXT_MAX];   /* the sentinel that named it; "" without sentinels */
    unsigned long epoch;             /* see redis_epoch() */
};

/* Connect as the settings say (see above) and check the server answers
 * (PING; with sentinels, ROLE says master).  NULL + err ("Redis is not
 * configured", "redis ENDPOINT: why", or, with sentinels, "no Redis master
 * "NAME" found: ..." naming every sentinel tried). */
redisContext *redis_connect(const struct redis_settings *s, struct err *err);

/* The same, and WHERE (may be NULL) says where the connection leads. */
redisContext *redis_connect_where(const struct redis_settings *s, struct redis_where *where,
                                  struct err *err);

/* The epoch of the master S leads to: 0 without sentinels (or before the
 * first discovery), then one more each time the master moved. */
unsigned long redis_epoch(const struct redis_settings *s);

/* Has the master moved since a connection of epoch EPOCH was opened? */
bool redis_moved(const struct redis_settings *s, unsigned long epoch);

/* The daemon's start: with sentinels, create the process's discovery
 * state now, log its events (a new master, the +switch-master watcher's
 * troubles), and start the watcher (common/sentinel.h says why one is
 * needed).  Nothing to do without sentinels.  0, or -1 + err. */
int redis_watch_start(const struct redis_settings *s, struct err *err);

/* Stop the watcher and forget the discovery state (the daemon's end). */
void redis_watch_stop(void);

/* The master last found or announced ("" when none) and the sentinels in
 * the order the next discovery asks them ("" without sentinels). */
void redis_describe_master(const struct redis_settings *s, char *master, size_t mlen,
                           char *order, size_t olen);

/*
 * hiredis makes room for every element of an array reply as soon as it
 * reads the header ("*N"), before any element arrived: a server (or
 * anything on the way) announcing 10^9 elements would cost 8 GB.  Every
 * connection made here refuses an array of more than this many elements
 * (the largest real one, the mailboxes with a forwarding rule, is far
 * below); the command then fails, redis_context_error() saying why.
 */
#define REDIS_REPLY_ELEMENTS_MAX (1 << 22)

/* Put that bound on C's replies (redis_connect() does; for contexts
 * made elsewhere, such as common/redis_server.c's). */
void redis_bound_replies(redisContext *c);

/* The server C is connected to, for messages: "host:port", "[v6]:port"
 * or "unix:/path". */
void redis_endpoint_name(const redisContext *c, char *buf, size_t size);

/* Why C failed to deliver a reply.  hiredis words a command timeout as
 * strerror(EAGAIN), which tells an operator nothing: say "timed out". */
const char *redis_context_error(const redisContext *c);

/* Why a command failed in one short phrase: R's error text, "unexpected
 * reply" for any other reply, or redis_context_error() when R is NULL. */
const char *redis_failure(const redisContext *c, const redisReply *r);

/* Record in ERR why the command VERB KEY failed ("redis ENDPOINT: VERB KEY:
 * why"); KEY may be NULL to name the command by VERB alone.  R is NULL on a
 * connection error, an error reply, or a reply of the wrong type (its type
 * number is then given).  An error reply saying C's server is no master
 * any more marks C failed (redis_retire_if_stale, common/redis_server.h):
 * whoever holds C closes it and connects again, to the master. */
void redis_command_error(redisContext *c, const redisReply *r, const char *verb,
                         const char *key, struct err *err);

/* Run a command given as argv (no format string: keys and values may hold
 * any byte).  Returns the reply, or NULL with ERR set as by
 * redis_command_error(c, r, WHAT, NULL, ...) on a connection error or an
 * error reply.  WHAT names the command in that error: give the verb and
 * key, never a value that must stay secret. */
redisReply *redis_run_argv(redisContext *c, const char *what, struct err *err,
                           int argc, const char **argv);

/* WAIT until RedisMinReplicas replicas hold every write sent on C so far,
 * bounded by RedisTimeout: for the writes a later verdict depends on
 * (conversation/store.h, notify/queue.h).  0 at once when S asks for no
 * replica; 0 when enough acknowledged; -1 + err ("... 0 of 1 replica(s)
 * acknowledged in time", or why WAIT failed) otherwise. */
int redis_wait_durable(redisContext *c, const struct redis_settings *s, struct err *err);

#endif
