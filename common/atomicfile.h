/*
 * atomicfile.h - replace a file so that a reader sees the old content or
 * the new one, never a mix, and a crash never leaves half a file.
 *
 * Used for every file the daemon and mssantectl rewrite while others may
 * be reading it: the whitelist snapshot, the Prometheus counters, the
 * Postfix TLS policy table.  The new content goes to a temporary file
 * created in the target's directory by mkstemp(3) (an unpredictable name,
 * created exclusively, so a link planted in a shared directory is never
 * followed), is flushed and fsync'ed, renamed over the target, and the
 * directory is fsync'ed so the rename survives a crash.
 *
 * DIAGNOSTICS: every failure removes the temporary file, leaves the target
 * untouched, and writes one line naming the file and the system error into
 * err (which must not be NULL).
 */
#ifndef MSSANTE_ATOMICFILE_H
#define MSSANTE_ATOMICFILE_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "common/err.h"

struct atomic_file {
    FILE *fp;              /* write the new content here */
    char path[4096];       /* the target */
    char tmp[4096];        /* the temporary file, "DIR/.NAME.XXXXXX" */
};

/* Start replacing PATH; the new file gets MODE (umask not applied).
 * 0, or -1 + err. */
int atomic_file_open(struct atomic_file *af, const char *path, mode_t mode,
                     struct err *err);

/* Make the content written to af->fp the content of PATH.  0, or -1 + err
 * (a write error found only now, a full disk, a failed rename). */
int atomic_file_commit(struct atomic_file *af, struct err *err);

/* Give up: close and remove the temporary file.  Safe after a failed
 * open or commit. */
void atomic_file_abort(struct atomic_file *af);

#endif
