/*
 * stopsignal.c - let a background thread sleep, and wake it to stop.
 * See stopsignal.h.
 */
#include <errno.h>
#include <time.h>

#include "common/clock.h"
#include "common/stopsignal.h"

int stop_signal_init(struct stop_signal *s)
{
    pthread_condattr_t attr;
    int rc;

    atomic_store(&s->raised, false);
    if ((rc = pthread_mutex_init(&s->mutex, NULL)) != 0)
        return rc;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        pthread_mutex_destroy(&s->mutex);
    return rc;
}

void stop_signal_destroy(struct stop_signal *s)
{
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mutex);
}

void stop_signal_raise(struct stop_signal *s)
{
    pthread_mutex_lock(&s->mutex);
    atomic_store(&s->raised, true);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mutex);
}

bool stop_signal_raised(struct stop_signal *s)
{
    return atomic_load(&s->raised);
}

bool stop_signal_wait_until(struct stop_signal *s, long long deadline_ms)
{
    struct timespec until = monotonic_timespec(deadline_ms);
    bool raised;

    pthread_mutex_lock(&s->mutex);
    while (!atomic_load(&s->raised)) {
        if (pthread_cond_timedwait(&s->cond, &s->mutex, &until) == ETIMEDOUT)
            break;
    }
    raised = atomic_load(&s->raised);
    pthread_mutex_unlock(&s->mutex);
    return raised;
}

bool stop_signal_wait_ms(struct stop_signal *s, long long ms)
{
    return stop_signal_wait_until(s, monotonic_ms() + ms);
}
