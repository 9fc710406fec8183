/*
 * test_gate.c - the gate between libmilter's steps and what the daemon
 * frees at the stop (milter/gate.c): a step let in is waited for, a step
 * after the close is never let in, and the wait says when a step outlives
 * it.  The steps are plain threads that hold until the case lets them go.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "tests/unit/testlib.h"
#include "common/clock.h"
#include "milter/gate.h"

/* A step on its own thread: in through the gate, holds until RELEASE,
 * marks itself DONE, then leaves. */
struct step {
    pthread_t tid;
    atomic_bool entered, admitted, release, done;
};

static void *step_main(void *arg)
{
    struct step *s = arg;
    bool in = gate_enter();

    atomic_store(&s->admitted, in);
    atomic_store(&s->entered, true);
    if (!in)
        return NULL;
    while (!atomic_load(&s->release))
        sleep_ms(5);
    atomic_store(&s->done, true);
    gate_leave();
    return NULL;
}

static void step_start(struct step *s)
{
    atomic_init(&s->entered, false);
    atomic_init(&s->admitted, false);
    atomic_init(&s->release, false);
    atomic_init(&s->done, false);
    pthread_create(&s->tid, NULL, step_main, s);
    while (!atomic_load(&s->entered))
        sleep_ms(5);
}

/* Lets the step go a little later, from another thread, while the main
 * thread is inside gate_wait_idle(). */
static void *release_later(void *arg)
{
    struct step *s = arg;

    sleep_ms(100);
    atomic_store(&s->release, true);
    return NULL;
}

static void test_open(void)
{
    gate_reset();
    CHECK(gate_enter());
    CHECK(gate_enter());
    gate_leave();
    gate_leave();
    CHECK(gate_close() == 0);
    CHECK(gate_wait_idle(0) == 0);
}

static void test_waits_for_running_step(void)
{
    struct step s;
    pthread_t helper;

    gate_reset();
    step_start(&s);
    CHECK(atomic_load(&s.admitted));
    CHECK(gate_close() == 1);
    /* the step holds: a short wait says it still runs */
    CHECK(gate_wait_idle(30) == -1);
    CHECK(!atomic_load(&s.done));
    /* let it go while waiting: the wait ends only once it is over */
    pthread_create(&helper, NULL, release_later, &s);
    CHECK(gate_wait_idle(60000) == 0);
    CHECK(atomic_load(&s.done));
    pthread_join(helper, NULL);
    pthread_join(s.tid, NULL);
}

static void test_closed_lets_nothing_in(void)
{
    struct step s;

    gate_reset();
    CHECK(gate_close() == 0);
    step_start(&s);
    CHECK(!atomic_load(&s.admitted));
    pthread_join(s.tid, NULL);
    CHECK(!gate_enter());
    /* nothing was counted: no wait, and a second close finds none */
    CHECK(gate_wait_idle(0) == 0);
    CHECK(gate_close() == 0);
}

static void test_leave_without_enter(void)
{
    gate_reset();
    gate_leave();          /* never below zero */
    CHECK(gate_enter());
    CHECK(gate_close() == 1);
    gate_leave();
    CHECK(gate_wait_idle(0) == 0);
}

static const struct test_case cases[] = {
    { "open: steps counted in and out", test_open },
    { "closing waits for a step let in before, until it is over", test_waits_for_running_step },
    { "closed: no step let in, nothing counted", test_closed_lets_nothing_in },
    { "a stray leave never makes the count wrap", test_leave_without_enter },
};

TEST_MAIN(cases)
