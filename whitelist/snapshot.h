/*
 * snapshot.h - the daemon's on-disk copy of the last good list.
 *
 * Written after every successful load so that a cold start with Redis down
 * still has a list to serve.  Text format, written to a temporary file,
 * fsync'ed and renamed into place, so a crash never leaves half a snapshot;
 * a trailer with the domain count lets the reader refuse a truncated file.
 * The operator CNs are part of it (format 2); a format-1 file, from before,
 * reads as a list whose certs is NULL: the caller says so.
 */
#ifndef MSSANTE_SNAPSHOT_H
#define MSSANTE_SNAPSHOT_H

#include <stddef.h>
#include "common/err.h"
#include "whitelist/whitelist.h"

int snapshot_write(const char *path, const struct whitelist *wl, struct err *err);
struct whitelist *snapshot_read(const char *path, struct err *err);

#endif
