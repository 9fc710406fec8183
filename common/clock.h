/*
 * clock.h - the one clock module: the monotonic clock for durations,
 * deadlines and timeouts, the wall clock for what is stored or shown.
 *
 * Durations are always measured on CLOCK_MONOTONIC, so that a change of
 * the system time (NTP stepping it, an operator setting it) neither
 * shortens nor stretches a timeout, a poll interval or a latency.  Only
 * times that leave the process (a timestamp written to Redis, a date in
 * a notice) come from the wall clock.
 */
#ifndef MSSANTE_CLOCK_H
#define MSSANTE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* The monotonic clock in milliseconds / microseconds. */
long long monotonic_ms(void);
uint64_t monotonic_us(void);

/* The wall clock in milliseconds since the Epoch. */
long long wallclock_ms(void);

/* The monotonic time DEADLINE_MS as a struct timespec, for waits on a
 * condition variable set to CLOCK_MONOTONIC. */
struct timespec monotonic_timespec(long long deadline_ms);

/* Sleep MS milliseconds (the whole time, even when a signal interrupts). */
void sleep_ms(long long ms);

#endif
