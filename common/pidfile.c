/*
 * pidfile.c - PidFile: refuse a live daemon's, replace a stale one, write
 * through a temporary file and a rename (what and why: pidfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/pidfile.h"

/* The pid in the file at PATH: >0, 0 when empty or not a number, -1 +
 * err when it cannot be read (a link, a directory, the system error). */
static long read_pid(const char *path, struct err *err)
{
    char buf[64];
    struct stat st;
    ssize_t n;
    char *end;
    long pid;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        err_set(err, "PidFile %s: %s", path,
                errno == ELOOP ? "a symbolic link: refused" : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        err_set(err, "PidFile %s: not a regular file: refused", path);
        close(fd);
        return -1;
    }
    do
        n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0) {
        err_set(err, "PidFile %s: %s", path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    errno = 0;
    pid = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || pid <= 0 || (*end != '\0' && *end != '\n'))
        return 0;
    return pid;
}

/* Is process PID a running PROGRAM?  Its /proc comm says; when /proc
 * cannot tell, a process that exists counts as running (the careful
 * answer: a start refused is better than two daemons). */
static bool running_program(pid_t pid, const char *program)
{
    char path[64], comm[64];
    FILE *fp;
    bool same;

    if (pid == getpid() || (kill(pid, 0) < 0 && errno == ESRCH))
        return false;
    snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
    if ((fp = fopen(path, "re")) == NULL)
        return true;
    same = fgets(comm, sizeof(comm), fp) != NULL;
    fclose(fp);
    if (!same)
        return true;
    comm[strcspn(comm, "\n")] = '\0';
    /* The kernel keeps 15 characters of the name. */
    return strncmp(comm, program, 15) == 0;
}

enum pidfile_state pidfile_inspect(const char *path, const char *program, pid_t *pid,
                                   struct err *err)
{
    struct stat st;
    long n;

    *pid = 0;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return PIDFILE_ABSENT;
        err_set(err, "PidFile %s: %s", path, strerror(errno));
        return PIDFILE_BAD;
    }
    if ((n = read_pid(path, err)) < 0)
        return PIDFILE_BAD;
    *pid = (pid_t)n;
    if (n == 0 || !running_program((pid_t)n, program))
        return PIDFILE_STALE;
    return PIDFILE_LIVE;
}

int pidfile_prepare(struct pidfile *pf, const char *path, const char *program,
                    struct err *err)
{
    struct err why;
    pid_t other;

    memset(pf, 0, sizeof(*pf));
    switch (pidfile_inspect(path, program, &other, err)) {
    case PIDFILE_BAD:
        return -1;
    case PIDFILE_LIVE:
        err_set(err, "PidFile %s: %s is running with pid %ld: stop it first, or give this "
                "one another PidFile", path, program, (long)other);
        return -1;
    case PIDFILE_ABSENT:
    case PIDFILE_STALE:
        break;
    }
    if (atomic_file_open(&pf->af, path, 0644, &why) < 0) {
        err_set(err, "PidFile: %s", why.msg);
        return -1;
    }
    pf->open = true;
    return 0;
}

int pidfile_commit(struct pidfile *pf, pid_t pid, struct err *err)
{
    if (!pf->open) {
        err_set(err, "PidFile: not prepared");
        return -1;
    }
    pf->open = false;
    fprintf(pf->af.fp, "%ld\n", (long)pid);
    if (atomic_file_commit(&pf->af, err) < 0)
        return -1;
    pf->pid = pid;
    pf->written = true;
    return 0;
}

void pidfile_remove(struct pidfile *pf)
{
    struct err ignored;

    if (pf->open) {
        atomic_file_abort(&pf->af);
        pf->open = false;
    }
    if (!pf->written)
        return;
    pf->written = false;
    /* Another daemon may have taken the name over since: leave its file. */
    if (read_pid(pf->af.path, &ignored) == (long)pf->pid)
        unlink(pf->af.path);
}
