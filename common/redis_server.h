/*
 * redis_server.h - one Redis server, as the highly available set-up needs
 * it: opening an authenticated connection (AUTH with an ACL user or the
 * password alone, SELECT), asking whether it is the master (ROLE), telling
 * from a failed command whether the master must be looked for again, and
 * waiting until replicas hold a write (WAIT).
 *
 * Sentinel discovery (common/sentinel.h) opens both sentinels and the
 * master with redis_open(); a plain "Redis HOST:PORT" or "unix:/path"
 * endpoint can use it too, so that both paths authenticate the same way.
 *
 * DIAGNOSTICS
 * Errors are one line in ERR naming the server and the command, in the
 * wording of common/redis.h ("redis 127.0.0.1:6380: AUTH mssante:
 * WRONGPASS invalid username-password pair or user is disabled.").  A
 * password never appears: AUTH is named by its user alone.  A server that
 * is not a master says what it is ("a replica of 127.0.0.1:6379").
 */
#ifndef MSSANTE_REDIS_SERVER_H
#define MSSANTE_REDIS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/redis_addr.h"

/* When the configuration gives no RedisTimeout. */
#define REDIS_DEFAULT_TIMEOUT_MS 2000

struct redis_auth {
    const char *user;        /* RedisUser (Redis 6+ ACL); NULL or "" for none */
    const char *password;    /* RedisPassword; NULL or "" for none */
};

/* Connect to A, with TIMEOUT_MS (<= 0: the default) bounding the connection
 * and then every command; AUTH as AUTH says (with a user: "AUTH user
 * password", else "AUTH password" when there is a password); SELECT DB
 * when DB is not 0.  Returns the connection, or NULL with ERR set.  The
 * same as redis_connect_addr() then redis_handshake(). */
redisContext *redis_open(const struct redis_addr *a, const struct redis_auth *auth, int db,
                         int timeout_ms, struct err *err);

/* The two halves of redis_open(), for a caller that must tell "could not
 * reach it" (another server may do) from "it refused us" (AUTH, SELECT:
 * a configuration problem that another server would repeat).  After a
 * failed handshake the caller frees C. */
redisContext *redis_connect_addr(const struct redis_addr *a, int timeout_ms,
                                 struct err *err);
int redis_handshake(redisContext *c, const struct redis_auth *auth, int db,
                    struct err *err);

/* ROLE: 1 when C is a master, 0 when it is something else (ERR says what:
 * "a replica of 127.0.0.1:6379", "a sentinel"), -1 when the command failed
 * (ERR; an ACL user without +role gets a hint). */
int redis_is_master(redisContext *c, struct err *err);

/* Does this failure mean "the server behind C is not, or no longer, the
 * master to use: find the master again"?  R is the reply to a command on C
 * (NULL when none came).  Yes for a connection error or a timeout (the
 * master may be gone), -READONLY (a demoted master or a replica),
 * -LOADING (a restarted server still reading its data), -MASTERDOWN (a
 * replica that lost its master).  No for a successful reply and for other
 * error replies (a wrong command, a wrong type, -NOAUTH, -NOREPLICAS...:
 * another master would answer the same). */
bool redis_should_rediscover(const redisContext *c, const redisReply *r);

/* redis_should_rediscover(), and when it says yes while C itself is still
 * healthy (an error reply), mark C failed, as hiredis does after an I/O
 * error: every later command on C fails at once, and a pool that keeps
 * only connections without an error (c->err == 0) drops it. */
bool redis_retire_if_stale(redisContext *c, const redisReply *r);

enum redis_wait_result {
    REDIS_WAIT_ERROR = -1,   /* WAIT failed: connection, or an error reply */
    REDIS_WAIT_TOO_FEW = 0,  /* fewer replicas than asked acknowledged in time */
    REDIS_WAIT_OK = 1,       /* at least REPLICAS acknowledged */
};

/* WAIT REPLICAS TIMEOUT_MS: have at least REPLICAS replicas acknowledged
 * every write sent on C so far?  REPLICAS <= 0 asks nothing (REDIS_WAIT_OK,
 * *ACKED = 0).  TIMEOUT_MS (<= 0: the default) must be the command timeout
 * C was opened with: it bounds the WAIT, and the read of its answer is
 * allowed that much more before C is considered dead.  *ACKED (may be NULL)
 * gets the number of replicas that acknowledged.  On TOO_FEW and ERROR,
 * ERR says how many of how many, or why; an error reply retires C (see
 * redis_retire_if_stale): WAIT refused means C is no master to write to. */
enum redis_wait_result redis_wait_replicas(redisContext *c, int replicas, int timeout_ms,
                                           int *acked, struct err *err);

#endif
