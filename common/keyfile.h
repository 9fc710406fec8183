/*
 * keyfile.h - a secret key kept in a file of its own: 32 random bytes
 * written as 64 hex digits, made at the daemon's first start when the
 * file is missing (mode 0600, owned by the user the daemon runs as), then
 * only read.  Root and that user can read it, so mssantectl run by either
 * uses the daemon's key.
 *
 * Two keys are kept this way: LogPatientIdKeyFile (common/logid.h: the
 * patients' ids in the log) and HeldKeyFile (policy/held.h: the daemon's
 * X-MSSante-Held header).  Each says, in its struct keyfile_use, the
 * configuration key that names it, what a new key would cost, and what
 * someone who can read it can do, so that every message about it is
 * specific.
 *
 * DIAGNOSTICS: keyfile_load() and keyfile_check() fail with a sentence
 * that starts with the configuration key and the path, and says what is
 * wrong (missing and not to be made, unreadable, not 64 hex digits, a
 * symbolic link, or the system error that stopped its creation).
 */
#ifndef MSSANTE_KEYFILE_H
#define MSSANTE_KEYFILE_H

#include <stdbool.h>

#include "common/err.h"

#define KEYFILE_BYTES 32

/* Which key a file holds, for the messages about it. */
struct keyfile_use {
    const char *name;            /* the configuration key: "LogPatientIdKeyFile" */
    const char *renewal;         /* what a new key changes: "changes every hashed id ..." */
    const char *loose_advice;    /* after "NAME PATH " when others can read it */
};

/*
 * The key in PATH into OUT, made there first when the file is missing and
 * CREATE is true (a key another process made meanwhile is kept and read).
 * *LOOSE (if non-NULL) is set when the file can be read by others than
 * its owner (group or world).  0, or -1 + err.
 */
int keyfile_load(const struct keyfile_use *use, const char *path, bool create,
                 unsigned char out[KEYFILE_BYTES], bool *loose, struct err *err);

/*
 * Is PATH usable as the key, as the calling user: 1 when it holds one
 * (readable, 64 hex digits), 0 when it is missing and its directory lets
 * the caller create it, -1 + err otherwise ("mssante-milter -n", run as
 * the daemon's user).  *LOOSE as above.  Nothing is created.
 */
int keyfile_check(const struct keyfile_use *use, const char *path, bool *loose,
                  struct err *err);

#endif
