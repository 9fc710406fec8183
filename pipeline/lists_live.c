/*
 * lists_live.c - the whitelist in force for the daemon's pipeline: its
 * struct pl_lists (pipeline/ports.h), pl_live_lists, over whitelist/live.h.
 *
 * Apart from pipeline.c, as the Redis store is (store_redis.c): the core
 * only knows the port, so the unit tests and the fuzz target plug in a
 * fixed list of their own, and the daemon this one.  A step holds the
 * list from enter to leave, never longer (ports.h), so that a new version
 * swapped in by the poller is the next step's.
 */
#include "pipeline/ports.h"
#include "whitelist/live.h"
#include "whitelist/whitelist.h"

static void live_enter(void *arg, struct policy_env *env)
{
    const struct whitelist *wl = live_acquire();

    (void)arg;
    env->is_listed = wl != NULL ? whitelist_lookup : NULL;
    env->is_cn_listed = wl != NULL ? whitelist_cn_lookup : NULL;
    env->lookup_ctx = wl;
}

static void live_leave(void *arg, struct policy_env *env)
{
    (void)arg;
    env->is_listed = NULL;
    env->is_cn_listed = NULL;
    env->lookup_ctx = NULL;
    live_release();
}

const struct pl_lists pl_live_lists = { live_enter, live_leave, NULL };
