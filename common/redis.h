/*
 * redis.h - the Redis error plumbing shared by every module that talks to
 * Redis (whitelist store and refresh, conversations, forwarding rules,
 * the notice queue).
 *
 * One place decides how a failed command is worded, so that an operator
 * reads the same kind of line whichever module failed:
 * "redis 127.0.0.1:6379: GET mssante:wl:current: timed out".
 * Connecting stays in whitelist/store.c (store_connect), which owns the
 * configuration side of an endpoint.
 */
#ifndef MSSANTE_COMMON_REDIS_H
#define MSSANTE_COMMON_REDIS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"

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
