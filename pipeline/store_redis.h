/*
 * store_redis.h - the stages' state in Redis: the daemon's struct pl_store
 * (pipeline/ports.h).
 *
 * Conversations (conversation/store.h), forwarding rules (forward/rules.h,
 * with forward/cache.h as the copy for when Redis cannot be read) and the
 * notice queue (notify/queue.h, whose worker is woken after a queuing;
 * notify/held.h), all through the connections the milter threads share
 * (common/redis_pool.h).  Every operation but the held notice is run
 * again on a fresh connection when a pooled one turns out dead (Redis
 * restarted): each is safe to run twice.
 */
#ifndef MSSANTE_STORE_REDIS_H
#define MSSANTE_STORE_REDIS_H

#include "common/redis_pool.h"
#include "forward/cache.h"
#include "notify/queue.h"
#include "pipeline/ports.h"

/* The store over POOL under PREFIX; CACHE (may be NULL: no copy) answers
 * when Redis cannot; WORKER (may be NULL: another node sends) is woken
 * after a queuing.  All must outlive it.  NULL when out of memory. */
struct pl_store *pl_store_redis_new(struct redis_pool *pool, const char *prefix,
                                    struct fwd_cache *cache, struct notify_worker *worker);

void pl_store_redis_free(struct pl_store *store);    /* NULL is fine */

#endif
