/*
 * keyfile.c - a secret key in a file of its own (what and why: keyfile.h).
 *
 * The file is made the way a key should be: written completely under a
 * temporary name (mkstemp, 0600) in its own directory, then linked to its
 * name, which fails rather than replace a key another process made
 * meanwhile; a crash leaves no half-written key.  It is read without
 * following a symbolic link: a link would let whoever can write its
 * directory point the daemon at another file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keyfile.h"
#include "common/path.h"
#include "common/text.h"

#define KEY_HEX (2 * KEYFILE_BYTES)

/* "64 hex digits" and optional trailing white space into OUT. */
static int decode_key(const char *text, size_t len, unsigned char *out)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '
                       || text[len - 1] == '\t'))
        len--;
    if (len != KEY_HEX)
        return -1;
    for (size_t i = 0; i < KEYFILE_BYTES; i++) {
        int hi = text_hexval(text[2 * i]), lo = text_hexval(text[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static int read_key(const struct keyfile_use *use, const char *path, unsigned char *out,
                    bool *loose, struct err *err)
{
    char buf[KEY_HEX + 64];
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        err_set(err, "%s %s: %s%s", use->name, path, strerror(errno),
                errno == ELOOP ? " (a symbolic link: refused)" : "");
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        err_set(err, "%s %s: not a regular file", use->name, path);
        close(fd);
        return -1;
    }
    if (loose != NULL)
        *loose = (st.st_mode & 077) != 0;
    do
        n = read(fd, buf, sizeof(buf));
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0) {
        err_set(err, "%s %s: %s", use->name, path, strerror(errno));
        return -1;
    }
    if (decode_key(buf, (size_t)n, out) < 0) {
        err_set(err, "%s %s: not a key (64 hexadecimal digits expected); remove it to have a "
                "new one made at the next start, which %s", use->name, path, use->renewal);
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A new random key in PATH, unless one appeared there meanwhile. */
static int make_key(const struct keyfile_use *use, const char *path, struct err *err)
{
    unsigned char raw[KEYFILE_BYTES];
    char hex[KEY_HEX + 2], dir[PATH_MAX], tmp[PATH_MAX + 32];
    int fd, saved;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        err_set(err, "%s %s: no random bytes: %s", use->name, path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < KEYFILE_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[KEY_HEX] = '\n';
    hex[KEY_HEX + 1] = '\0';
    path_dir(path, dir, sizeof(dir));
    snprintf(tmp, sizeof(tmp), "%s/.key.XXXXXX", dir);
    if ((fd = mkstemp(tmp)) < 0) {
        err_set(err, "%s %s: cannot create it in %s: %s", use->name, path, dir,
                strerror(errno));
        return -1;
    }
    if (fchmod(fd, 0600) < 0 || write_all(fd, hex, KEY_HEX + 1) < 0 || fsync(fd) < 0) {
        saved = errno;
        close(fd);
        unlink(tmp);
        err_set(err, "%s %s: cannot write it: %s", use->name, path, strerror(saved));
        return -1;
    }
    close(fd);
    if (link(tmp, path) < 0 && errno != EEXIST) {
        saved = errno;
        unlink(tmp);
        err_set(err, "%s %s: %s", use->name, path, strerror(saved));
        return -1;
    }
    unlink(tmp);
    return 0;
}

int keyfile_load(const struct keyfile_use *use, const char *path, bool create,
                 unsigned char out[KEYFILE_BYTES], bool *loose, struct err *err)
{
    struct stat st;

    if (path == NULL || path[0] == '\0') {
        err_set(err, "%s is not set", use->name);
        return -1;
    }
    if (create && lstat(path, &st) < 0 && errno == ENOENT && make_key(use, path, err) < 0)
        return -1;
    return read_key(use, path, out, loose, err);
}

int keyfile_check(const struct keyfile_use *use, const char *path, bool *loose,
                  struct err *err)
{
    unsigned char k[KEYFILE_BYTES];
    char dir[PATH_MAX];
    struct stat st;

    if (loose != NULL)
        *loose = false;
    if (path == NULL || path[0] == '\0') {
        err_set(err, "%s is not set", use->name);
        return -1;
    }
    if (lstat(path, &st) < 0) {
        if (errno != ENOENT) {
            err_set(err, "%s %s: %s", use->name, path, strerror(errno));
            return -1;
        }
        path_dir(path, dir, sizeof(dir));
        if (access(dir, W_OK | X_OK) < 0) {
            err_set(err, "%s %s: missing, and it cannot be made in %s: %s", use->name, path,
                    dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        err_set(err, "%s %s: a symbolic link: refused", use->name, path);
        return -1;
    }
    return read_key(use, path, k, loose, err) < 0 ? -1 : 1;
}
