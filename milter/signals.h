/*
 * signals.h - the daemon's own signal thread: SIGHUP and SIGUSR1 reload
 * the configuration (milter/cfgref.h), SIGTERM stops gracefully
 * (milter/drain.h).  SIGINT is left to libmilter (an immediate abort).
 *
 * Those signals must be blocked in every thread: call signals_block()
 * before creating any.
 */
#ifndef MSSANTE_SIGNALS_H
#define MSSANTE_SIGNALS_H

/* Block the signals the thread waits for, in the calling thread (and so
 * in every thread it creates afterwards). */
void signals_block(void);

/* Start the thread; SOCKET is the milter socket (Socket), for the stop.
 * Returns 0, or -1 after logging why. */
int signals_start(const char *socket);

/* After smfi_main returned: end a stop in progress and the thread. */
void signals_stop(void);

#endif
