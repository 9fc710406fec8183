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

/*
 * An ISO 8601 time as Unix time: "2025-03-13T14:54:10Z" ('T', 't' or a
 * space between date and time), fractional seconds ignored, a zone of
 * "Z", "+hh:mm", "-hhmm" or none (UTC, which is what the ANS writes), or a
 * bare date "2025-03-13" (midnight UTC).  0, or -1 for anything else.
 */
int iso8601_to_time(const char *text, time_t *out);

/* Sleep MS milliseconds (the whole time, even when a signal interrupts). */
void sleep_ms(long long ms);

#endif
