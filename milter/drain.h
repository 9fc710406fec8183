/*
 * drain.h - the graceful stop (SIGTERM).
 *
 * New connections and new messages are deferred (451 4.3.2, the
 * pipeline's "shutting-down": pl_services.stopping), the messages in
 * flight are given up to ShutdownTimeout to be answered, then libmilter is
 * stopped (smfi_stop) and smfi_main returns.  SIGINT still aborts at once
 * (libmilter's own handling).
 *
 * DIAGNOSTICS: "stop requested (SIGTERM)" at notice; the messages waited
 * for at notice; the ones still in progress at the deadline at warning
 * (Postfix then applies milter_default_action to them).
 */
#ifndef MSSANTE_DRAIN_H
#define MSSANTE_DRAIN_H

#include <stdbool.h>

/* True once a stop was asked for. */
bool drain_stopping(void);

/* Stop as described above (the signal thread calls it; again: nothing).
 * SOCKET is the milter socket (Socket), which the stop connects to so
 * that libmilter's accept loop lets go of its lock at once. */
void drain_stop(const char *socket);

/* smfi_main returned (an error, SIGINT): a stop in progress waits no
 * more. */
void drain_quit(void);

/* Forget a previous stop (a new start). */
void drain_reset(void);

#endif
