/*
 * gate.c - the count of the milter steps running, and the gate that
 * stops counting them (see gate.h).
 *
 * One mutex guards both the state and the count, so that a step is
 * either counted before the gate closes (and waited for) or sees it
 * closed: there is no moment when a step has looked at an open gate
 * without being counted yet.  The wait polls, as the drain does
 * (milter/drain.c): it runs once per process, at the stop.
 */
#include <pthread.h>
#include <stdbool.h>

#include "common/clock.h"
#include "milter/gate.h"

#define POLL_MS 20

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool closed;          /* guarded by lock */
static unsigned running;     /* steps let in and not over; guarded by lock */

bool gate_enter(void)
{
    bool open;

    pthread_mutex_lock(&lock);
    open = !closed;
    if (open)
        running++;
    pthread_mutex_unlock(&lock);
    return open;
}

void gate_leave(void)
{
    pthread_mutex_lock(&lock);
    if (running > 0)
        running--;
    pthread_mutex_unlock(&lock);
}

unsigned gate_close(void)
{
    unsigned n;

    pthread_mutex_lock(&lock);
    closed = true;
    n = running;
    pthread_mutex_unlock(&lock);
    return n;
}

static unsigned still_running(void)
{
    unsigned n;

    pthread_mutex_lock(&lock);
    n = running;
    pthread_mutex_unlock(&lock);
    return n;
}

int gate_wait_idle(long long timeout_ms)
{
    long long deadline = monotonic_ms() + (timeout_ms > 0 ? timeout_ms : 0);

    while (still_running() > 0) {
        if (monotonic_ms() >= deadline)
            return -1;
        sleep_ms(POLL_MS);
    }
    return 0;
}

void gate_reset(void)
{
    pthread_mutex_lock(&lock);
    closed = false;
    running = 0;
    pthread_mutex_unlock(&lock);
}
