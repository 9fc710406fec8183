/*
 * rules_internal.h - what the parts of the forwarding rules share (not a
 * public interface: only forward/rules*.c include it).
 *
 * The rules are split by job: rules.c reads them from Redis (and owns the
 * in-memory rule helpers and the key names); rules_write.c writes them;
 * rules_json.c turns a set of rules into the
 * import/export JSON document and back, checking every element, and
 * writes an imported set through the public rules.h calls.
 */
#ifndef MSSANTE_FWD_RULES_INTERNAL_H
#define MSSANTE_FWD_RULES_INTERNAL_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "forward/rules.h"

#define DEFAULT_PREFIX "mssante:"
#define PREFIX_MAX     100
#define KEY_MAX        (PREFIX_MAX + FWD_ADDR_MAX + 16)

/*
 * Append a copy of T to the array *TARGETS of *N entries unless it is
 * already there (compared case-insensitively).  1 appended, 0 present,
 * -1 no memory (the array is left as it was).
 */
int fwd_append_target(char ***targets, size_t *n, const char *t);

/* "redis HOST:PORT: VERB KEY: why" for a failed command into ERR (R NULL:
 * I/O; a reply of the wrong type is "unexpected reply"). */
void fwd_redis_error(const redisContext *c, const redisReply *r, const char *verb,
                     const char *key, struct err *err);

/* Run ARGV; the reply, or NULL + err (an error reply is freed). */
redisReply *fwd_command(redisContext *c, int argc, const char **argv, struct err *err);

/* KEY = PREFIX (NULL: the default) SUFFIX MAILBOX (may be NULL).  0, or
 * -1 + err when the prefix is too long. */
int fwd_make_key(char *key, size_t size, const char *prefix, const char *suffix,
                 const char *mailbox, struct err *err);

/* An HMGET mode targets reply as a rule: 1 rule, 0 no rule, -1 + err. */
int fwd_rule_from_reply(const redisReply *r, const char *mailbox, struct fwd_rule **out,
                        struct err *err);

/* "[\"a@b\",\"c@d\"]", malloc'd; NULL when out of memory. */
char *fwd_targets_to_json(char *const *targets, size_t n);

#endif
