/*
 * live.h - the whitelist in force in the daemon.
 *
 * One pointer, read by every milter thread and replaced when a new version
 * shows up in Redis.  Readers bracket their lookups with live_acquire() /
 * live_release() (a read lock); the poller's write side only swaps the
 * pointer, and the old list is freed after the lock is released, so a swap
 * never holds up a lookup for longer than a pointer assignment.
 *
 * Sources, by configuration:
 *  - no Redis: WhitelistFile, parsed once at start (version "file");
 *  - Redis: the current version in Redis (WhitelistFile is only a seed,
 *    published when Redis holds no list yet), re-checked every
 *    WhitelistPoll by a background thread; SnapshotFile is the fallback for
 *    a cold start while Redis is unreachable and is rewritten after every
 *    successful load.
 * With no usable source the daemon runs with no list and the policy answers
 * 451 4.3.0 until one appears.
 */
#ifndef MSSANTE_LIVE_H
#define MSSANTE_LIVE_H

#include <stdbool.h>

#include "common/redis.h"
#include "whitelist/whitelist.h"

/* WhitelistFile, SnapshotFile, WhitelistPoll, TLSPolicyFile, TLSPolicyLevel
 * (config/keys.c points into it).  Read at start only. */
struct live_settings {
    char *file;                  /* WhitelistFile: the ANS XML (a seed with Redis) */
    char *snapshot_file;         /* SnapshotFile: the cold-start copy */
    int poll_ms;                 /* WhitelistPoll: how often Redis is looked at */
    char *tls_policy_file;       /* TLSPolicyFile; NULL = not written */
    bool tls_policy_encrypt;     /* TLSPolicyLevel encrypt (default secure) */
};

/* Initial load, then (with Redis) start the poll thread.  LS and RS must
 * outlive live_stop().  Returns 0, or -1 when the poll thread cannot be
 * started, or when there is no Redis and no list could be loaded (from
 * WhitelistFile, then SnapshotFile): nothing would ever bring one.  With
 * Redis, starting without a list is logged (a warning naming each source
 * and why it failed) and is not an error: Redis may come up later. */
int live_start(const struct live_settings *ls, const struct redis_settings *rs);

/* After live_start(): why each source failed ("WhitelistFile PATH: why;
 * SnapshotFile: not set"), or "" when a list is in force. */
const char *live_start_failures(void);

/* The list in force (NULL when none), valid until live_release().  Take it
 * once per milter callback; do not nest. */
const struct whitelist *live_acquire(void);
void live_release(void);

/* Stop the poll thread and free the list in force. */
void live_stop(void);

#endif
