/*
 * test_socket.c - handing the freshly created unix socket to the service
 * user (milter/socket.c, socket_take()) never follows what may have been
 * put at its path meanwhile: the directory belongs to that user, who can
 * swap the socket for a symlink to any file, or a hard link to another
 * socket, between bind() and the chown.
 *
 * Each case builds what the path holds, calls socket_take() for a user
 * and group of nobody's, and checks the answer and the owner of every file
 * involved.  Run as root (as CI does) the chown is real; otherwise only
 * the refusals can be checked, and the cases that need a chown say so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/unit/testlib.h"
#include "common/log.h"
#include "milter/socket.h"

#define OTHER_UID ((uid_t)65534)     /* nobody */
#define OTHER_GID ((gid_t)65534)

static char dir[] = "/tmp/mssante-test-socket.XXXXXX";
static char path[256], target[256];

/* A unix socket bound at P (the descriptor is closed: the file stays). */
static int make_socket(const char *p)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int rc;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", p);
    rc = fd >= 0 ? bind(fd, (struct sockaddr *)&sun, sizeof(sun)) : -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

static int make_file(const char *p)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static uid_t owner_of(const char *p)
{
    struct stat st;

    return lstat(p, &st) == 0 ? st.st_uid : (uid_t)-2;
}

/* What the path holds when socket_take() runs. */
enum setup {
    SOCKET,             /* the socket bind() made */
    SYMLINK_TO_FILE,    /* swapped for a symlink to a file of root's */
    SYMLINK_TO_SOCKET,  /* ... to a socket of root's */
    DANGLING_SYMLINK,   /* ... to nothing */
    HARD_LINK,          /* swapped for a second name of root's other socket */
    PLAIN_FILE,         /* swapped for a regular file */
    OTHERS_SOCKET,      /* swapped for a socket the other user made */
    NOTHING,            /* removed */
};

struct take_case {
    const char *name;
    enum setup setup;
    int rc;             /* socket_take()'s answer */
    bool handed;        /* the path's file now belongs to OTHER_UID */
    bool needs_root;
};

static const struct take_case cases[] = {
    { "the socket just created is handed over", SOCKET, 0, true, true },
    { "a symlink to a file is not followed", SYMLINK_TO_FILE, -1, false, false },
    { "a symlink to a socket is not followed", SYMLINK_TO_SOCKET, -1, false, false },
    { "a dangling symlink is refused", DANGLING_SYMLINK, -1, false, false },
    { "a hard link to another socket is refused", HARD_LINK, -1, false, false },
    { "a regular file is refused", PLAIN_FILE, -1, false, false },
    { "a socket of another user is refused", OTHERS_SOCKET, -1, false, true },
    { "a path that is gone is refused", NOTHING, -1, false, false },
};

static int build(enum setup s)
{
    switch (s) {
    case SOCKET:
        return make_socket(path);
    case SYMLINK_TO_FILE:
        return make_file(target) < 0 ? -1 : symlink(target, path);
    case SYMLINK_TO_SOCKET:
        return make_socket(target) < 0 ? -1 : symlink(target, path);
    case DANGLING_SYMLINK:
        return symlink(target, path);
    case HARD_LINK:
        return make_socket(target) < 0 ? -1 : link(target, path);
    case PLAIN_FILE:
        return make_file(path);
    case OTHERS_SOCKET:
        return make_socket(path) < 0 ? -1 : lchown(path, OTHER_UID, OTHER_GID);
    case NOTHING:
        return 0;
    }
    return -1;
}

static void run_case(const struct take_case *t, bool root)
{
    uid_t target_before;
    bool ok;
    int rc;

    unlink(path);
    unlink(target);
    if (build(t->setup) < 0) {
        printf("not ok - %s # cannot build the case: %s\n", t->name, strerror(errno));
        CHECK(0);
        return;
    }
    if (t->needs_root && !root) {
        printf("ok - %s # skip: needs root\n", t->name);
        return;
    }
    target_before = owner_of(target);
    rc = socket_take(path, OTHER_UID, OTHER_GID);
    ok = rc == t->rc
         && (owner_of(path) == OTHER_UID) == (t->handed || t->setup == OTHERS_SOCKET)
         && owner_of(target) == target_before;
    if (root && t->setup != NOTHING && !t->handed && t->setup != OTHERS_SOCKET)
        ok = ok && owner_of(path) == 0;
    printf("%s - %s\n", ok ? "ok" : "not ok", t->name);
    if (!ok)
        fprintf(stderr, "  rc %d (want %d), path owner %ld, target owner %ld (was %ld)\n", rc,
                t->rc, (long)owner_of(path), (long)owner_of(target), (long)target_before);
    CHECK(ok);
    socket_cleanup();          /* forget a socket taken; removes only that one */
}

int main(void)
{
    bool root = geteuid() == 0;

    log_open("test_socket", "mail", LOGL_ERROR, true);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/milter.sock", dir);
    snprintf(target, sizeof(target), "%s/precious", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i], root);
    unlink(path);
    unlink(target);
    rmdir(dir);
    TEST_DONE();
}
