/*
 * callbacks.h - the libmilter layer: turns Postfix's milter events into
 * calls to the pure policy (policy/message.h), and its verdicts into SMTP
 * replies, quarantine, headers and one log line per message.
 */
#ifndef MSSANTE_CALLBACKS_H
#define MSSANTE_CALLBACKS_H

#include "config/config.h"

/* Register the milter with libmilter (smfi_register).  CFG must outlive
 * smfi_main().  Returns 0, or -1 after logging why. */
int callbacks_register(const struct config *cfg);

/* After smfi_main returned: close the Redis connections the callbacks
 * shared. */
void callbacks_shutdown(void);

#endif
