/*
 * cache.h - every forwarding rule, mirrored in memory, for when Redis
 * cannot be read.
 *
 * The rules are read from Redis for every message (pipeline/stage_forward.c),
 * so that a rule changed with mssantectl applies to the next message on
 * every MX.  When Redis cannot be read, mail to the local mailboxes keeps
 * flowing under the last rules known (a redirect still goes where it
 * went), as the whitelist does: this is that copy.  It is checked against
 * the rules' version counter at most every CHECK_EVERY_MS (WhitelistPoll:
 * how often the daemon looks for new versions in Redis), by whichever
 * thread has just read Redis; the others go on with the copy they have.
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

#endif
