/*
 * cache.h - every forwarding rule, mirrored in memory, for when Redis
 * cannot be read.
 *
 * Two uses.  The rules of a message's local recipients are read from this
 * copy while it is fresh (checked against the rules' version counter less
 * than CHECK_EVERY_MS ago: one second in the daemon, WhitelistPoll when
 * shorter), so that ordinary mail costs no Redis round trip
 * (pipeline/stage_forward.c); once it is older they are read from Redis,
 * and whichever thread has just read Redis checks the version (the others
 * go on meanwhile).  A rule changed with mssantectl thus applies on every
 * MX within that second.  And when Redis cannot be read, mail to the
 * local mailboxes keeps flowing under the last rules known (a redirect
 * still goes where it went), as the whitelist does.
 *
 * DIAGNOSTICS: a refresh that fails logs a warning ("forwarding: cannot
 * refresh the rules kept in memory: ..."); a new copy is logged at debug.
 */
#ifndef MSSANTE_FORWARD_CACHE_H
#define MSSANTE_FORWARD_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/redis_pool.h"
#include "forward/rules.h"

struct fwd_cache;

/* An empty copy, refreshed through POOL from the keys under PREFIX (both
 * must outlive it).  NULL when out of memory. */
struct fwd_cache *fwd_cache_new(struct redis_pool *pool, const char *prefix,
                                long long check_every_ms);

void fwd_cache_free(struct fwd_cache *fc);     /* NULL is fine */

/* Bring the copy up to date when it is due (FORCE: now).  One thread at a
 * time; a thread that finds another at it returns at once. */
void fwd_cache_refresh(struct fwd_cache *fc, bool force);

/* The rules of MAILBOXES from the copy, as fwd_rules_get_many() would give
 * them (OUT[i] NULL: no rule; the caller frees the others).  0, or -1 when
 * there is no copy yet (or no memory). */
int fwd_cache_lookup(struct fwd_cache *fc, const char *const *mailboxes, size_t n,
                     struct fwd_rule **out);

/* The same, but only from a copy checked against Redis's version counter
 * less than CHECK_EVERY_MS ago: -1 as well when it is older (the caller
 * then reads Redis, which brings the copy up to date when due). */
int fwd_cache_lookup_fresh(struct fwd_cache *fc, const char *const *mailboxes, size_t n,
                           struct fwd_rule **out);

#endif
