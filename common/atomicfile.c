/*
 * atomicfile.c - write a temporary file beside the target, then rename.
 *
 * The temporary name starts with a dot so that tools globbing the
 * directory (node_exporter's *.prom, an operator's ls) do not pick it up
 * half written.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomicfile.h"
#include "common/err.h"

/* "DIR/.NAME.XXXXXX" for PATH; -1 when it does not fit. */
static int temp_name(const char *path, char *out, size_t size)
{
    char d[4096], b[4096];
    int n;

    if (snprintf(d, sizeof(d), "%s", path) >= (int)sizeof(d)
        || snprintf(b, sizeof(b), "%s", path) >= (int)sizeof(b))
        return -1;
    n = snprintf(out, size, "%s/.%s.XXXXXX", dirname(d), basename(b));
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

int atomic_file_open(struct atomic_file *af, const char *path, mode_t mode,
                     struct err *err)
{
    int fd, saved;

    memset(af, 0, sizeof(*af));
    if (path == NULL || path[0] == '\0'
        || snprintf(af->path, sizeof(af->path), "%s", path) >= (int)sizeof(af->path)
        || temp_name(path, af->tmp, sizeof(af->tmp)) < 0) {
        err_set(err, "%s: path too long", path ? path : "(null)");
        return -1;
    }
    if ((fd = mkostemp(af->tmp, O_CLOEXEC)) < 0) {
        saved = errno;
        err_set(err, "%s: cannot create a temporary file in its directory: %s",
                path, strerror(saved));
        af->tmp[0] = '\0';
        return -1;
    }
    if (fchmod(fd, mode) < 0 || (af->fp = fdopen(fd, "w")) == NULL) {
        saved = errno;
        close(fd);
        atomic_file_abort(af);
        err_set(err, "%s: cannot prepare the temporary file: %s", path, strerror(saved));
        return -1;
    }
    return 0;
}

static void sync_dir(const char *path)
{
    char d[4096];
    int fd;

    snprintf(d, sizeof(d), "%s", path);
    if ((fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int atomic_file_commit(struct atomic_file *af, struct err *err)
{
    int saved;

    if (af->fp == NULL) {
        err_set(err, "%s: not open", af->path);
        return -1;
    }
    errno = 0;
    if (ferror(af->fp) || fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0) {
        saved = errno ? errno : EIO;
        atomic_file_abort(af);
        err_set(err, "%s: write failed: %s", af->path, strerror(saved));
        return -1;
    }
    if (fclose(af->fp) != 0) {
        saved = errno;
        af->fp = NULL;
        atomic_file_abort(af);
        err_set(err, "%s: write failed: %s", af->path, strerror(saved));
        return -1;
    }
    af->fp = NULL;
    if (rename(af->tmp, af->path) != 0) {
        saved = errno;
        atomic_file_abort(af);
        err_set(err, "%s: cannot install: %s", af->path, strerror(saved));
        return -1;
    }
    af->tmp[0] = '\0';
    sync_dir(af->path);
    return 0;
}

void atomic_file_abort(struct atomic_file *af)
{
    if (af->fp != NULL) {
        fclose(af->fp);
        af->fp = NULL;
    }
    if (af->tmp[0] != '\0') {
        unlink(af->tmp);
        af->tmp[0] = '\0';
    }
}
