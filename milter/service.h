/*
 * service.h - the daemon as a service: the configuration in force and its
 * reload, the signals, and the graceful stop.
 *
 * Configuration in force: each milter connection takes a reference to it
 * at connect (service_config_acquire) and gives it back at close, so a
 * reload (SIGHUP or SIGUSR1) applies to new connections while the ones in
 * flight finish on the configuration they started with.  A reloaded file
 * is checked completely first; with any error, every error is logged and
 * the running configuration stays.  Keys read only at start (the socket,
 * the user, Redis, the whitelist sources...) keep their running value and
 * a change to them is logged as "needs a restart".
 *
 * Stop (SIGTERM): new connections and new messages are deferred (451
 * 4.3.2), the messages in flight are given up to ShutdownTimeout to be
 * answered, then libmilter is stopped (smfi_stop) and smfi_main returns.
 * SIGINT still aborts at once (libmilter's own handling).
 */
#ifndef MSSANTE_SERVICE_H
#define MSSANTE_SERVICE_H

#include <stdbool.h>

#include "config/config.h"
#include "policy/trustspace.h"

/* Applied to a reloaded configuration before it is compared with the
 * running one: command-line overrides, relative paths made absolute as at
 * start.  Returns 0, or -1 after logging why. */
typedef int (*service_finish_fn)(struct config *cfg);

/*
 * Make STARTUP the configuration in force and start the thread that
 * handles SIGHUP, SIGUSR1 and SIGTERM.  STARTUP stays the caller's: it
 * must outlive service_stop() (the modules started with it keep using it).
 * Those signals must be blocked in every thread: call
 * service_block_signals() before creating any.  Returns 0, or -1 after
 * logging why.
 */
int service_start(const struct config *startup, service_finish_fn finish);

/* Block the signals the service thread waits for, in the calling thread
 * (and so in every thread it creates afterwards). */
void service_block_signals(void);

/* A reference to the configuration in force (NULL before service_start). */
const struct config *service_config_acquire(void);
void service_config_release(const struct config *cfg);

/* Reload now, as on SIGHUP (the signal thread calls it).  Returns 0 when
 * the new configuration is in force, -1 when it was refused. */
int service_reload(void);

/* True once a stop was asked for: refuse new sessions and messages with
 * service_stopping_reply() (451 4.3.2, rule "shutting-down"). */
bool service_stopping(void);
void service_stopping_reply(struct verdict *v);

/* After smfi_main returned: stop the signal thread and free the reloaded
 * configurations no connection holds any more. */
void service_stop(void);

#endif
