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
 * drop, before smfi_main) and the store over them; HELD_KEY
 * (HELD_KEY_BYTES, policy/held.h, kept by the caller until
 * callbacks_free()) signs the X-MSSante-Held header of a held message.
 * 0, or -1 after logging why.
 */
int callbacks_start(const struct config *cfg, const unsigned char *held_key);

/*
 * After smfi_main returned, first: from now on a step libmilter still
 * runs defers its message (451 4.3.2) and touches nothing shared
 * (milter/gate.h); wait up to TIMEOUT_MS for the steps that started
 * before.  0 when none runs any more: everything may be stopped and
 * freed.  -1 when one still runs: nothing it may use (this file's state,
 * the configuration, the whitelist, the counters) may be freed.
 */
int callbacks_close(long long timeout_ms);

/* Then: stop the notice worker (before the last
 * counters are published)... */
void callbacks_stop(void);

/* ... and, last, free the store and close the shared connections. */
void callbacks_free(void);

#endif
