/*
 * ptools.c - find Postfix's commands and run them (why only through them:
 * ptools.h).
 *
 * A command runs with its three standard streams on pipes; one poll()
 * loop feeds its input and drains both outputs, so that a large message
 * on stdin and a chatty stderr can never block each other.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/ptools.h"

#define DEFAULT_CONFIG_DIR "/etc/postfix"
#define FALLBACK_PATH      "/usr/sbin:/usr/bin:/sbin:/bin"

/* NAME in the directories of PATH (a ':' list): its full path in OUT. */
static bool find_in(const char *path, const char *name, char *out, size_t size)
{
    const char *p = path;

    while (p != NULL && *p != '\0') {
        const char *colon = strchr(p, ':');
        size_t n = colon != NULL ? (size_t)(colon - p) : strlen(p);

        if (n > 0 && (size_t)snprintf(out, size, "%.*s/%s", (int)n, p, name) < size
            && access(out, X_OK) == 0)
            return true;
        p = colon != NULL ? colon + 1 : NULL;
    }
    return false;
}

static bool find_tool(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");

    return (path != NULL && find_in(path, name, out, size))
           || find_in(FALLBACK_PATH, name, out, size);
}

static int read_mail_config(struct ptools *pt)
{
    const char *dir = getenv("MAIL_CONFIG");
    struct stat st;

    pt->config_dir[0] = '\0';
    if (dir == NULL || dir[0] == '\0')
        return 0;
    if (dir[0] != '/' || strlen(dir) >= sizeof(pt->config_dir)) {
        ctl_error("MAIL_CONFIG=%s: must be the absolute path of a Postfix configuration "
                  "directory", dir);
        return CTL_USAGE;
    }
    if (stat(dir, &st) < 0) {
        ctl_error("MAIL_CONFIG=%s: %s", dir, strerror(errno));
        return CTL_USAGE;
    }
    if (!S_ISDIR(st.st_mode)) {
        ctl_error("MAIL_CONFIG=%s: not a directory", dir);
        return CTL_USAGE;
    }
    snprintf(pt->config_dir, sizeof(pt->config_dir), "%s", dir);
    return 0;
}

int ptools_init(struct ptools *pt, bool need_root)
{
    static const char *const names[] = { "postqueue", "postcat", "postsuper", "sendmail" };
    char *slots[4];
    int rc;

    memset(pt, 0, sizeof(*pt));
    slots[0] = pt->postqueue;
    slots[1] = pt->postcat;
    slots[2] = pt->postsuper;
    slots[3] = pt->sendmail;
    pt->root = geteuid() == 0;
    if (need_root && !pt->root) {
        ctl_error("this command needs root: Postfix's queue files are readable by root "
                  "(and postfix) only");
        return CTL_UNAVAILABLE;
    }
    if ((rc = read_mail_config(pt)) != 0)
        return rc;
    for (size_t i = 0; i < 4; i++) {
        if (!find_tool(names[i], slots[i], PATH_MAX)) {
            ctl_error("%s not found (in PATH or %s): is Postfix installed?", names[i],
                      FALLBACK_PATH);
            return CTL_UNAVAILABLE;
        }
    }
    return 0;
}

const char *ptools_config_dir(const struct ptools *pt)
{
    return pt->config_dir[0] != '\0' ? pt->config_dir : DEFAULT_CONFIG_DIR;
}

size_t ptools_argv(const struct ptools *pt, const char *tool, const char **argv)
{
    size_t n = 0;

    argv[n++] = tool;
    if (pt->config_dir[0] != '\0') {
        argv[n++] = tool == pt->sendmail ? "-C" : "-c";
        argv[n++] = pt->config_dir;
    }
    return n;
}

/* ---- running a command ------------------------------------------------------ */

struct buf {
    char *s;
    size_t len, cap;
};

static int buf_read(struct buf *b, int fd)
{
    ssize_t n;

    if (b->cap - b->len < 4096) {
        size_t cap = b->cap ? b->cap * 2 : 8192;
        char *grown = realloc(b->s, cap);

        if (grown == NULL)
            return -1;
        b->s = grown;
        b->cap = cap;
    }
    n = read(fd, b->s + b->len, b->cap - b->len - 1);
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    b->len += (size_t)n;
    b->s[b->len] = '\0';
    return n == 0 ? 0 : 1;
}

static void child(const char *const *argv, int in[2], int out[2], int err[2])
{
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (int i = 0; i < 2; i++) {
        close(in[i]);
        close(out[i]);
        close(err[i]);
    }
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Feed IN to fds[0], drain fds[1] and fds[2] until both are closed. */
static int pump(int fds[3], const char *in, size_t in_len, struct buf *out, struct buf *err)
{
    size_t off = 0;

    if (in == NULL || in_len == 0) {
        close(fds[0]);
        fds[0] = -1;
    }
    while (fds[1] >= 0 || fds[2] >= 0) {
        struct pollfd p[3];

        for (int i = 0; i < 3; i++) {
            p[i].fd = fds[i];
            p[i].events = i == 0 ? POLLOUT : POLLIN;
            p[i].revents = 0;
        }
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (fds[0] >= 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = write(fds[0], in + off, in_len - off);

            if (n > 0)
                off += (size_t)n;
            if (n < 0 || off == in_len) {      /* done, or the command stopped reading */
                close(fds[0]);
                fds[0] = -1;
            }
        }
        for (int i = 1; i < 3; i++) {
            if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLERR | POLLHUP)))
                continue;
            int rc = buf_read(i == 1 ? out : err, fds[i]);

            if (rc < 0)
                return -1;
            if (rc == 0) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
    }
    if (fds[0] >= 0)
        close(fds[0]);
    return 0;
}

int ptools_exec(const char *const *argv, const char *in, size_t in_len,
                struct ptools_run *r)
{
    int in_p[2], out_p[2], err_p[2], fds[3], wstatus, rc;
    struct buf out = { 0 }, err = { 0 };
    void (*old_pipe)(int);
    pid_t pid;

    memset(r, 0, sizeof(*r));
    r->status = -1;
    if (pipe(in_p) < 0 || pipe(out_p) < 0 || pipe(err_p) < 0) {
        ctl_error("cannot run %s: pipe: %s", argv[0], strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) {
        ctl_error("cannot run %s: fork: %s", argv[0], strerror(errno));
        return -1;
    }
    if (pid == 0)
        child(argv, in_p, out_p, err_p);
    close(in_p[0]);
    close(out_p[1]);
    close(err_p[1]);
    fds[0] = in_p[1];
    fds[1] = out_p[0];
    fds[2] = err_p[0];
    old_pipe = signal(SIGPIPE, SIG_IGN);       /* a command that stops reading */
    rc = pump(fds, in, in_len, &out, &err);
    signal(SIGPIPE, old_pipe);
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    r->out = out.s != NULL ? out.s : strdup("");
    r->out_len = out.len;
    r->err = err.s != NULL ? err.s : strdup("");
    r->err_len = err.len;
    if (rc < 0 || r->out == NULL || r->err == NULL) {
        ctl_error("cannot run %s: out of memory or I/O error", argv[0]);
        ptools_run_free(r);
        return -1;
    }
    r->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
    return 0;
}

void ptools_run_free(struct ptools_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

const char *ptools_why(const struct ptools_run *r)
{
    static char line[512];
    const char *e = r->err != NULL ? r->err : "";
    size_t n = strcspn(e, "\n");

    if (n == 0) {
        snprintf(line, sizeof(line), "exit status %d", r->status);
        return line;
    }
    snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) - 1 ? n : sizeof(line) - 1),
             e);
    return line;
}
