/*
 * gate.h - what keeps the daemon from freeing what a milter step still
 * uses.
 *
 * smfi_main() returns (SIGTERM after ShutdownTimeout, SIGINT, an error)
 * without waiting for the steps libmilter's worker threads are running:
 * a step held up by Redis at that moment goes on, and so may the next
 * steps its worker finds already waiting on that session (Debian's
 * libmilter serves a session's commands in a loop while they come).
 * Every callback therefore goes through this gate: while it is open the
 * step is counted and may use everything the daemon shares (the
 * configuration, the whitelist, the Redis pool, the notice worker); once
 * it is closed a step is not counted and must touch only its own
 * session (it answers 451 4.3.2 and frees its memory).  main() closes
 * the gate when smfi_main() returns and waits for the steps still
 * counted before it frees anything.
 *
 * No libmilter here: the unit test drives it with plain threads.
 *
 * DIAGNOSTICS: none; milter/main.c says what the wait found.
 */
#ifndef MSSANTE_GATE_H
#define MSSANTE_GATE_H

#include <stdbool.h>

/* A step begins: true when the gate is open (the step is counted, and
 * gate_leave() must follow), false when it is closed (nothing counted). */
bool gate_enter(void);

/* The step that gate_enter() let in is over. */
void gate_leave(void);

/* Close the gate: every later gate_enter() answers false.  Returns how
 * many steps are still running (let in before). */
unsigned gate_close(void);

/* Wait until no step let in is running, at most TIMEOUT_MS.  Returns 0
 * when none is left, -1 when some still run at the deadline. */
int gate_wait_idle(long long timeout_ms);

/* Open the gate again with nothing counted (a new start; the tests). */
void gate_reset(void);

#endif
