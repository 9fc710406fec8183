/*
 * callbacks.h - the libmilter glue: Postfix's milter events in, the
 * pipeline's answers out (pipeline/pipeline.h), as SMTP replies,
 * quarantine, headers and recipients.
 */
#ifndef MSSANTE_CALLBACKS_H
#define MSSANTE_CALLBACKS_H

#include "config/config.h"

/* Register the milter with libmilter (smfi_register).  Returns 0, or -1
 * after logging why. */
int callbacks_register(void);

/*
 * Set up what every connection's pipeline shares, from the startup
 * configuration CFG (which must outlive callbacks_stop()): the whitelist
 * in force and, with Redis, the connection pool, the forwarding rules kept
 * in memory, the notice worker (a thread: after the fork and the privilege
 * drop, before smfi_main) and the store over them.  0, or -1 after logging
 * why.
 */
int callbacks_start(const struct config *cfg);

/* After smfi_main returned: stop the notice worker (before the last
 * counters are published)... */
void callbacks_stop(void);

/* ... and, last, free the store and close the shared connections. */
void callbacks_free(void);

#endif
