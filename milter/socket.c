/*
 * socket.c - prepare the listening socket before libmilter takes it over.
 *
 * libmilter can unlink an existing unix socket blindly (smfi_opensocket(true)),
 * which would silently steal the path from a milter that is still running.
 * We probe instead: if something accepts a connection on the path, we refuse
 * to start; if nothing answers (ECONNREFUSED), the socket is a leftover of a
 * dead process and is removed.  A symlink at the path is refused, never
 * followed.  The socket is then created by libmilter under a umask that
 * yields SocketMode directly, so it is never, even briefly, more open than
 * configured, and handed to the service user through a descriptor that
 * cannot point anywhere else (socket_take()).
 *
 * For inet sockets we turn Nagle's algorithm off: libmilter writes a reply
 * and the end-of-message actions in several small writes, and with Nagle
 * on, Postfix's delayed ACK turns each of them into a ~40 ms stall.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "common/log.h"
#include "common/sockspec.h"
#include "milter/socket.h"

/* 0: path free (absent or stale and removed); -1: refuse to start. */
static int clear_unix_path(const char *path)
{
    struct sockaddr_un sun;
    struct stat st;
    int fd, rc, saved;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        log_error("cannot check socket %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        log_error("%s exists and is not a socket: refusing to replace it", path);
        return -1;
    }

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        log_error("socket: %s", strerror(errno));
        return -1;
    }
    rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    saved = errno;
    close(fd);

    if (rc == 0) {
        log_error("another milter is listening on %s: refusing to start", path);
        return -1;
    }
    if (saved != ECONNREFUSED) {
        log_error("cannot check socket %s: %s", path, strerror(saved));
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        log_error("cannot remove stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    log_notice("removed stale socket %s (nothing was listening)", path);
    return 0;
}

/* The unix socket we created, to remove it at exit (and only it). */
static char created_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static dev_t created_dev;
static ino_t created_ino;

void socket_cleanup(void)
{
    struct stat st;

    if (created_path[0] == '\0')
        return;
    if (lstat(created_path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == created_dev
        && st.st_ino == created_ino)
        unlink(created_path);
    created_path[0] = '\0';
}

/*
 * Hand the socket libmilter just created at PATH to OWNER:GROUP ((uid_t)-1
 * / (gid_t)-1: keep), and remember it for socket_cleanup().
 *
 * The path lives in a directory the service user owns, so between bind()
 * and this call that user may have put anything in its place.  chown(2)
 * would follow a symlink there and give the user any file of the system.
 * So the path is opened without following a symlink (O_PATH|O_NOFOLLOW),
 * the file is checked through that descriptor, and the descriptor, not
 * the path, is chown'ed: what is checked is what changes hands.  Only a
 * socket is accepted, owned by this process's user (a socket the other
 * user made is not ours), with a single link (a hard link to someone
 * else's socket has two).
 */
int socket_take(const char *path, uid_t owner, gid_t group)
{
    struct stat st;
    const char *why = NULL;
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) < 0) {
        log_error("cannot check socket %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (S_ISLNK(st.st_mode))
        why = "a symbolic link";
    else if (!S_ISSOCK(st.st_mode))
        why = "not a socket";
    else if (st.st_uid != geteuid())
        why = "a socket of another user";
    else if (st.st_nlink != 1)
        why = "a socket with another name (a hard link)";
    if (why != NULL) {
        log_error("%s is no longer the socket just created (now %s): not touching it", path,
                  why);
        close(fd);
        return -1;
    }
    snprintf(created_path, sizeof(created_path), "%s", path);
    created_dev = st.st_dev;
    created_ino = st.st_ino;
    if ((owner != (uid_t)-1 || group != (gid_t)-1)
        && fchownat(fd, "", owner, group, AT_EMPTY_PATH) < 0) {
        log_error("cannot chown socket %s: %s", path, strerror(errno));
        close(fd);
        socket_cleanup();
        return -1;
    }
    close(fd);
    return 0;
}

/*
 * libmilter keeps its listening descriptor to itself, so find it: right
 * after smfi_opensocket() it is the only listening TCP socket we have.
 * Linux copies TCP_NODELAY from the listener to every accepted connection.
 */
int socket_set_nodelay(void)
{
    long maxfd = sysconf(_SC_OPEN_MAX);
    int changed = 0;

    if (maxfd < 0 || maxfd > 65536)
        maxfd = 65536;
    for (int fd = 0; fd < maxfd; fd++) {
        int listening = 0, one = 1;
        socklen_t len = sizeof(listening);
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);

        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
            continue;
        if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0
            || (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
            continue;
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
            changed++;
        else
            log_warning("TCP_NODELAY on the milter socket: %s", strerror(errno));
    }
    if (changed == 0)
        log_warning("no listening TCP socket found to set TCP_NODELAY on");
    return changed;
}

int socket_prepare(const char *spec, int mode, uid_t owner, gid_t group)
{
    const char *path = sockspec_unix_path(spec);
    mode_t old_mask = 0;
    int rc;

    if (path != NULL && clear_unix_path(path) < 0)
        return -1;

    /* smfi_setconn keeps the pointer: SPEC must outlive smfi_main. */
    if (smfi_setconn((char *)spec) == MI_FAILURE) {
        log_error("libmilter refused socket %s", spec);
        return -1;
    }
    if (path != NULL)
        old_mask = umask((mode_t)(0777 & ~mode));
    errno = 0;
    rc = smfi_opensocket(false);
    if (path != NULL)
        umask(old_mask);
    if (rc == MI_FAILURE) {
        log_error("cannot open milter socket %s%s%s", spec, errno ? ": " : "",
                  errno ? strerror(errno) : "");
        return -1;
    }

    if (path == NULL) {
        socket_set_nodelay();
        return 0;
    }
    return socket_take(path, owner, group);
}
