/*
 * redis.h - the one Redis connector, and the error plumbing of every
 * module that talks to Redis (whitelist store, poller and fetcher,
 * conversations, forwarding rules, the notice queue and worker, the
 * stats publisher, mssantectl).
 *
 * Connecting: redis_connect() is the only place that turns the settings
 * (Redis, RedisPassword, RedisTimeout) into a connection: connect with the
 * timeout, apply it to commands, AUTH, PING.  Whatever a later version
 * adds to how a server is found or entered (Sentinel discovery, a user
 * name, a database number, another endpoint form) is a field of struct
 * redis_settings and a step of redis_connect(); no caller changes.
 * Connections are not shared between threads: each thread has its own, or
 * takes one from a pool (common/redis_pool.h).
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

/* One server: HOST:PORT, [IPV6]:PORT, or a unix socket. */
struct redis_endpoint {
    char *host;                  /* NULL when unix_path is set */
    int port;
    char *unix_path;             /* the path of "unix:/path" */
};

/* Redis, RedisPassword, RedisTimeout, RedisPrefix (config/keys.c points
 * into it).  Every field is read at start only: a reload keeps them. */
struct redis_settings {
    struct redis_endpoint server;    /* Redis; neither host nor path: no Redis */
    char *password;                  /* RedisPassword; NULL: no AUTH */
    int timeout_ms;                  /* RedisTimeout, connect and every command */
    char *prefix;                    /* RedisPrefix, in front of every key */
};

/* Is a server configured? */
bool redis_configured(const struct redis_settings *s);

/* Parse "HOST:PORT", "[v6]:PORT" or "unix:/path" into EP (whose old
 * strings are not freed).  0, or -1 when TEXT is none of these. */
int redis_endpoint_parse(const char *text, struct redis_endpoint *ep);

void redis_endpoint_free(struct redis_endpoint *ep);

/* "host:port", "[v6]:port" or "unix:/path", for messages. */
void redis_endpoint_format(const struct redis_endpoint *ep, char *buf, size_t size);

/* Connect, apply the timeout, AUTH when a password is set, PING.  NULL +
 * err ("Redis is not configured", or "redis ENDPOINT: why"). */
redisContext *redis_connect(const struct redis_settings *s, struct err *err);

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
 * number is then given). */
void redis_command_error(const redisContext *c, const redisReply *r, const char *verb,
                         const char *key, struct err *err);

/* Run a command given as argv (no format string: keys and values may hold
 * any byte).  Returns the reply, or NULL with ERR set as by
 * redis_command_error(c, r, WHAT, NULL, ...) on a connection error or an
 * error reply.  WHAT names the command in that error: give the verb and
 * key, never a value that must stay secret. */
redisReply *redis_run_argv(redisContext *c, const char *what, struct err *err,
                           int argc, const char **argv);

#endif
