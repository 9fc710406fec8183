/*
 * store_internal.h - helpers shared by the two halves of the whitelist
 * store: whitelist/store.c (reading) and
 * whitelist/store_publish.c (publishing, rollback).  Not an API: other
 * modules use whitelist/store.h, where the Redis key layout is described.
 *
 * Each helper that can fail returns NULL or -1 and leaves a one-line
 * message in err (which may be NULL for the key builders when the caller
 * only cares about success).
 */
#ifndef MSSANTE_STORE_INTERNAL_H
#define MSSANTE_STORE_INTERNAL_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"

#define KEY_MAX          600       /* size of every key buffer */

/* Run one command, naming it by its verb and key in errors.  The caller
 * frees the reply. */
redisReply *wls_run(redisContext *c, struct err *err, int argc, const char **argv);

/* wls_run() for a verb with at most one argument (a1 may be NULL). */
redisReply *wls_run1(redisContext *c, struct err *err, const char *cmd,
                     const char *a1);

/* Run for effect only: 0 or -1 + err. */
int wls_run_ok(redisContext *c, struct err *err, int argc, const char **argv);

/* PREFIX wl:NAME and PREFIX wl:v:ID:PART into buf (KEY_MAX bytes): 0, or
 * -1 + err when the prefix is too long. */
int wls_key_global(char *buf, const char *prefix, const char *name,
                   struct err *err);
int wls_key_version(char *buf, const char *prefix, const char *id, const char *part,
                    struct err *err);

/* Copy LEN bytes of SRC and a NUL into DST: 0, or -1 if it does not fit. */
int wls_copy_str(char *dst, size_t size, const char *src, size_t len);

/* GET KEY into out ("" when the key does not exist).  0 or -1. */
int wls_get_string(redisContext *c, const char *key, char *out, size_t size,
                   struct err *err);

#endif
