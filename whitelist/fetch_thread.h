/*
 * fetch_thread.h - the daemon's background thread for the whitelist fetcher
 * (WhitelistRefresh) and the stale-list warning (WhitelistMaxAge).
 *
 * It never touches the milter callbacks: it publishes to Redis with its own
 * connection, and the live poller (whitelist/live.h) installs the new
 * version within WhitelistPoll, like any other publication.  Every node
 * may run it: the Redis lock lets one fetch at a time, and a node skips
 * its turn when another attempted less than half an interval ago.
 */
#ifndef MSSANTE_FETCH_THREAD_H
#define MSSANTE_FETCH_THREAD_H

#include "common/redis.h"
#include "whitelist/fetch.h"

/* Start the thread when WhitelistRefresh or WhitelistMaxAge (in FS) asks
 * for it (otherwise do nothing), with Redis as RS says; POLL_MS is
 * WhitelistPoll, how soon the poller installs what a fetch published.
 * Call after live_start(); FS and RS must outlive fetch_thread_stop().  0, or
 * -1 when the thread cannot be created. */
int fetch_thread_start(const struct fetch_settings *fs, const struct redis_settings *rs,
                    int poll_ms);

/* Stop it, cancelling a download in progress; safe if never started. */
void fetch_thread_stop(void);

#endif
