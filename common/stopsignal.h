/*
 * stopsignal.h - let a background thread sleep, and wake it to stop.
 *
 * The daemon's background threads (whitelist poller, fetcher, stats
 * publisher) sleep between rounds; at shutdown they must wake at once
 * rather than finish their sleep.  The condition variable uses the
 * monotonic clock so that a change of wall-clock time neither shortens
 * nor stretches a sleep.
 */
#ifndef MSSANTE_STOPSIGNAL_H
#define MSSANTE_STOPSIGNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct stop_signal {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    atomic_bool raised;
};

/* Returns 0, or an errno value.  The signal starts lowered. */
int stop_signal_init(struct stop_signal *s);
void stop_signal_destroy(struct stop_signal *s);

/* Raise the signal and wake the sleeper. */
void stop_signal_raise(struct stop_signal *s);

/* Cheap check, safe from any thread (e.g. a libcurl progress callback). */
bool stop_signal_raised(struct stop_signal *s);

/* Sleep MS milliseconds, or until the monotonic time DEADLINE_MS
 * (common/clock.h's monotonic_ms()); both return true when the signal
 * was raised. */
bool stop_signal_wait_ms(struct stop_signal *s, long long ms);
bool stop_signal_wait_until(struct stop_signal *s, long long deadline_ms);

#endif
