/*
 * socket.h - the milter's listening socket.
 *
 * libmilter takes a socket spec (common/sockspec.h: "unix:/path",
 * "local:/path", "/path", "inet:PORT@HOST", "inet6:PORT@HOST").  For unix
 * sockets we do what libmilter does not: refuse to start when another
 * milter answers on the path, remove a stale socket only when nothing
 * answers, and create the socket with its final mode (no window where it
 * is world-writable).
 */
#ifndef MSSANTE_SOCKET_H
#define MSSANTE_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Prepare and open the listening socket: smfi_register() must have been
 * called.  For unix sockets: refuse when something answers on the path,
 * unlink a stale one, create it with MODE (via umask), then hand it to
 * OWNER/GROUP when they are not (uid_t)-1 / (gid_t)-1 (socket_take()).
 * Returns 0, or -1 after logging why.
 */
int socket_prepare(const char *spec, int mode, uid_t owner, gid_t group);

/* The second half of socket_prepare(), for a unix socket just created at
 * PATH: check it is still that socket, without following a symlink, hand
 * it to OWNER/GROUP ((uid_t)-1 / (gid_t)-1: keep) and remember it for
 * socket_cleanup().  0, or -1 after logging why (nothing was changed). */
int socket_take(const char *path, uid_t owner, gid_t group);

/* Set TCP_NODELAY on libmilter's listening TCP socket (socket_prepare does
 * it for inet specs).  Returns how many sockets were changed. */
int socket_set_nodelay(void);

/* At exit: remove the unix socket socket_prepare() created, if it is still
 * the same file.  libmilter does this itself only when not running as root. */
void socket_cleanup(void);

#endif
