/*
 * sockspec.h - the milter socket spec as libmilter writes it:
 * "unix:/path", "local:/path", "/path", "inet:PORT@HOST", "inet6:PORT@HOST".
 *
 * Read in three places: the configuration (Socket, -p) checks it, the
 * daemon opens it (milter/socket.c) and, at a stop, connects to it once to
 * wake libmilter's accept loop (milter/drain.c).  One reader of the syntax
 * for all three.  Pure text: no name resolution, no socket.
 */
#ifndef MSSANTE_SOCKSPEC_H
#define MSSANTE_SOCKSPEC_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Is SPEC a usable spec?  Otherwise *why (if not NULL) points to a static
 * sentence saying what is expected.  Unix socket paths must be absolute
 * (the daemon chdirs to /).
 */
bool sockspec_valid(const char *spec, const char **why);

/* The file-system path of a unix spec (pointing into SPEC), or NULL for
 * inet and inet6. */
const char *sockspec_unix_path(const char *spec);

/* An inet or inet6 spec split into its family (AF_INET, AF_INET6), PORT
 * and HOST ("" when the spec names none).  -1 for a unix spec, or when a
 * part does not fit its buffer. */
int sockspec_inet(const char *spec, int *family, char *port, size_t portlen, char *host,
                  size_t hostlen);

#endif
