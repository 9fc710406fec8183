/*
 * cfgref.h - the configuration in force, and its reload.
 *
 * Each milter connection takes a reference to the configuration in force
 * at connect (cfgref_acquire) and gives it back at close, so a reload
 * (SIGHUP or SIGUSR1: milter/signals.h) applies to new connections while
 * the ones in flight finish on the configuration they started with.  A
 * reloaded file is checked completely first; with any error, every error
 * is logged and the running configuration stays.  Keys read only at start
 * (the socket, the user, Redis, the whitelist sources...) keep their
 * running value and a change to them is logged as "needs a restart".
 *
 * DIAGNOSTICS: a refused reload logs each error of the file ("reload:
 * FILE:LINE: ...") and then "reload: FILE has errors: the running
 * configuration stays in force"; an accepted one logs "reloaded FILE".
 */
#ifndef MSSANTE_CFGREF_H
#define MSSANTE_CFGREF_H

#include "config/config.h"

/* Applied to a reloaded configuration before it is compared with the
 * running one: command-line overrides, relative paths made absolute as at
 * start.  Returns 0, or -1 after logging why. */
typedef int (*cfgref_finish_fn)(struct config *cfg);

/* Make STARTUP the configuration in force; FINISH (may be NULL) is
 * applied to every reloaded one.  STARTUP stays the caller's: it must
 * outlive cfgref_free() (the modules started with it keep using it).
 * Returns 0, or -1 after logging why. */
int cfgref_init(const struct config *startup, cfgref_finish_fn finish);

/* A reference to the configuration in force (NULL before cfgref_init). */
const struct config *cfgref_acquire(void);
void cfgref_release(const struct config *cfg);

/* The configuration the daemon started with (NULL before cfgref_init). */
const struct config *cfgref_startup(void);

/* Reload now (SIGHUP).  Returns 0 when the new configuration is in force,
 * -1 when it was refused. */
int cfgref_reload(void);

/* A LocalDomains entry of CFG the list in force does not know: other
 * operators refuse its mail.  Said at start, and again after a reload. */
void cfgref_warn_unlisted(const struct config *cfg);

/* After smfi_main returned: free the reloaded configurations no
 * connection holds any more. */
void cfgref_free(void);

#endif
