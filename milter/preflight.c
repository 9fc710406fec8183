/*
 * preflight.c - "mssante-milter -n": the checks that a configuration will
 * pass mail, run as the daemon's user (what is checked and why:
 * preflight.h).
 *
 * The checks run in a child process that becomes UserID the way the
 * daemon does (milter/identity.h), so that a file is judged by opening it
 * and a directory by asking the kernel (access(2) once real and effective
 * ids are the user's), which knows the groups, ACLs and read-only mounts
 * that mode bits do not show.  Nothing is created or changed: a file that
 * does not exist yet is judged by its directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/keyfile.h"
#include "common/log.h"
#include "common/logid.h"
#include "common/path.h"
#include "common/pidfile.h"
#include "common/redis.h"
#include "common/sockspec.h"
#include "milter/preflight.h"
#include "pipeline/pipeline.h"
#include "policy/held.h"
#include "whitelist/ansxml.h"
#include "whitelist/snapshot.h"
#include "whitelist/store.h"
#include "whitelist/whitelist.h"

#define PROG "mssante-milter"

struct pf {
    const char *conf;
    const struct config *cfg;
    char user[600];              /* "mssante-milter (group postfix)", for messages */
    char group[256];             /* the user's own group, for the advice */
    bool root_start;             /* started as root: the socket is made before the switch */
    int errors, warnings;
};

static void say(struct pf *p, const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s: ", p->conf, kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void pf_error(struct pf *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pf_warning(struct pf *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pf_note(struct pf *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pf_error(struct pf *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(p, "error", fmt, ap);
    va_end(ap);
    p->errors++;
}

static void pf_warning(struct pf *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(p, "warning", fmt, ap);
    va_end(ap);
    p->warnings++;
}

static void pf_note(struct pf *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    say(p, "note", fmt, ap);
    va_end(ap);
}

/* ---- files as the user -------------------------------------------------- */

/* May we create and remove files in the directory of PATH?  NULL, or why not. */
static const char *dir_unwritable(const char *path, char *dir, size_t size)
{
    path_dir(path, dir, size);
    return access(dir, W_OK | X_OK) == 0 ? NULL : strerror(errno);
}

/* Can we open PATH for reading?  NULL, or why not. */
static const char *unreadable(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0)
        return strerror(errno);
    close(fd);
    return NULL;
}

/* ---- the daemon's own files ---------------------------------------------- */

static void check_conf(struct pf *p)
{
    const char *why = unreadable(p->cfg->path);

    if (why != NULL)
        pf_warning(p, "%s is not readable by %s (%s): every reload (SIGHUP) would fail and "
                   "keep the running configuration; make it root:%s 0640", p->cfg->path,
                   p->user, why, p->group);
}

static bool someone_listens(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    bool yes;
    int fd;

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return false;
    yes = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
    close(fd);
    return yes;
}

static void check_socket(struct pf *p)
{
    const char *path = sockspec_unix_path(p->cfg->daemon.socket), *why;
    char dir[PATH_MAX];
    struct stat st;

    if (path == NULL)
        return;
    path_dir(path, dir, sizeof(dir));
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        why = access(dir, F_OK) < 0 ? strerror(errno) : "not a directory";
        pf_error(p, "Socket %s: directory %s: %s: the daemon cannot create its socket; create "
                 "it, owned by %s and group postfix, mode 2750 (as "
                 "contrib/mssante-milter.tmpfiles does)", path, dir, why, p->user);
        return;
    }
    if ((why = dir_unwritable(path, dir, sizeof(dir))) != NULL) {
        if (p->root_start)
            pf_warning(p, "Socket directory %s is not writable by %s (%s): the socket, made "
                       "as root, is left behind at exit (removed at the next start); give "
                       "the directory to that user", dir, p->user, why);
        else
            pf_error(p, "Socket directory %s is not writable by %s (%s): the daemon cannot "
                     "create its socket; give the directory to that user", dir, p->user, why);
    }
    if (lstat(path, &st) < 0)
        return;
    if (!S_ISSOCK(st.st_mode))
        pf_error(p, "Socket %s exists and is not a socket: the daemon refuses to replace it; "
                 "remove it or choose another path", path);
    else if (someone_listens(path))
        pf_note(p, "a milter listens on %s (the running daemon?): a second one would not start "
                "there", path);
}

static void check_pid_file(struct pf *p)
{
    const char *path = p->cfg->daemon.pid_file, *why;
    char dir[PATH_MAX];
    struct err err;
    pid_t pid;

    if (path == NULL)
        return;
    if ((why = dir_unwritable(path, dir, sizeof(dir))) != NULL)
        pf_error(p, "PidFile %s: its directory %s is not writable by %s (%s): the daemon would "
                 "not start; use a directory of that user (the systemd unit makes "
                 "/run/mssante-milter)", path, dir, p->user, why);
    switch (pidfile_inspect(path, PROG, &pid, &err)) {
    case PIDFILE_BAD:
        pf_error(p, "%s: the daemon would not start", err.msg);
        break;
    case PIDFILE_LIVE:
        pf_note(p, "PidFile %s names a running " PROG " (pid %ld): a second one would not "
                "start with it", path, (long)pid);
        break;
    case PIDFILE_ABSENT:
    case PIDFILE_STALE:
        break;
    }
}

static void check_log(struct pf *p)
{
    const char *path = p->cfg->log.file, *why;
    char dir[PATH_MAX];
    int fd;

    if (path == NULL) {
        if (!log_syslog_reachable())
            pf_warning(p, "syslog is unreachable (/dev/log does not answer: no syslog daemon?): "
                       "a detached daemon's log would be lost; set LogFile PATH, or run it "
                       "with -f under a supervisor (systemd's journal takes its stderr)");
        return;
    }
    if (strcmp(path, LOG_FILE_STDERR) == 0)
        return;
    why = dir_unwritable(path, dir, sizeof(dir));
    if ((fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY)) >= 0) {
        close(fd);
        if (why != NULL)
            pf_warning(p, "LogFile %s: its directory %s is not writable by %s (%s): once "
                       "logrotate moves the file the daemon cannot make a new one (use "
                       "logrotate's \"create\" with that owner, or another directory)", path,
                       dir, p->user, why);
    } else if (errno != ENOENT) {
        pf_error(p, "LogFile %s: %s (as %s): the daemon would not start; let that user write "
                 "it", path, errno == ELOOP ? "a symbolic link" : strerror(errno), p->user);
    } else if (why != NULL) {
        pf_error(p, "LogFile %s cannot be created in %s by %s (%s): the daemon would not start; "
                 "make a directory of that user (e.g. /var/log/mssante-milter)", path, dir,
                 p->user, why);
    }
}

/* A key file (common/keyfile.h) the daemon reads, or makes at its first
 * start. */
static void check_key(struct pf *p, const struct keyfile_use *use, const char *path)
{
    struct err err;
    bool loose = false;
    int rc = keyfile_check(use, path, &loose, &err);

    if (rc < 0)
        pf_error(p, "%s (as %s): the daemon would not start; let that user read the key, or "
                 "make its directory writable so that the first start makes one", err.msg,
                 p->user);
    else if (rc == 0)
        pf_note(p, "%s %s does not exist yet: the first start makes it", use->name, path);
    else if (loose)
        pf_warning(p, "%s %s %s", use->name, path, use->loose_advice);
}

static void check_keys(struct pf *p)
{
    if (p->cfg->logid.mode == LOGID_HASH)
        check_key(p, &logid_key_use, p->cfg->logid.key_file);
    check_key(p, &held_key_use, p->cfg->held.key_file);
}

/* A file the daemon rewrites, in a directory it must be able to write. */
static void check_output(struct pf *p, const char *key, const char *path, const char *loss)
{
    char dir[PATH_MAX];
    const char *why;

    if (path != NULL && (why = dir_unwritable(path, dir, sizeof(dir))) != NULL)
        pf_warning(p, "%s %s: its directory %s is not writable by %s (%s): %s", key, path, dir,
                   p->user, why, loss);
}

static void check_input(struct pf *p, const char *key, const char *path, const char *loss)
{
    const char *why;

    if (path != NULL && (why = unreadable(path)) != NULL)
        pf_warning(p, "%s %s: %s (as %s): %s", key, path, why, p->user, loss);
}

/* ---- the whitelist -------------------------------------------------------- */

static struct whitelist *parse_file(const char *path, struct err *err)
{
    struct ans_list *list = ans_parse_file(path, err);

    return list != NULL ? ans_list_take_whitelist(list) : NULL;
}

/* The snapshot, if set and usable: a warning when it is set but not. */
static struct whitelist *usable_snapshot(struct pf *p)
{
    const char *path = p->cfg->live.snapshot_file;
    struct whitelist *wl;
    struct err err;

    if (path == NULL || access(path, F_OK) < 0)
        return NULL;
    if ((wl = snapshot_read(path, &err)) == NULL)
        pf_warning(p, "SnapshotFile %s: %s (as %s): it is rewritten at the next list loaded, "
                   "until then a start while Redis is down finds no list", path, err.msg,
                   p->user);
    return wl;
}

static struct whitelist *whitelist_without_redis(struct pf *p)
{
    const char *file = p->cfg->live.file;
    struct whitelist *wl, *snap;
    struct err err;

    if ((wl = parse_file(file, &err)) != NULL)
        return wl;
    if ((snap = usable_snapshot(p)) != NULL) {
        pf_warning(p, "WhitelistFile %s (as %s): %s; the daemon would serve SnapshotFile %s "
                   "(generated %s) until the file is fixed", file, p->user, err.msg,
                   p->cfg->live.snapshot_file, snap->generated[0] ? snap->generated : "?");
        return snap;
    }
    pf_error(p, "WhitelistFile %s (as %s): %s; without Redis nothing else can bring a list, "
             "so every message would be deferred: the daemon refuses to start. Put the ANS "
             "list there (https://espacedeconfiance.mssante.fr/listeblanchemssante.xml, "
             "readable by that user), or configure Redis", file, p->user, err.msg);
    return NULL;
}

static struct whitelist *whitelist_from_redis(struct pf *p)
{
    const struct config *cfg = p->cfg;
    struct whitelist *wl = NULL;
    char version[64];
    redisContext *c;
    struct err err;
    int rc;

    if ((c = redis_connect(&cfg->redis, &err)) == NULL) {
        pf_error(p, "%s: every message to a local mailbox would be deferred (451 4.3.0: its "
                 "forwarding rules cannot be read), and mail to and from patients too; check "
                 "Redis, RedisPassword and that the server runs", err.msg);
        return NULL;
    }
    rc = store_current_version(c, cfg->redis.prefix, version, sizeof(version), &err);
    if (rc > 0 && (wl = store_load_version(c, cfg->redis.prefix, version, &err)) == NULL)
        pf_error(p, "Redis: whitelist version %s under \"%s\" cannot be read: %s; every message "
                 "would be deferred; publish the list again (mssantectl whitelist load FILE)",
                 version, cfg->redis.prefix, err.msg);
    else if (rc < 0)
        pf_error(p, "%s: the daemon could not read the whitelist", err.msg);
    else if (rc == 0 && cfg->live.file != NULL && (wl = parse_file(cfg->live.file, &err)) != NULL)
        pf_note(p, "Redis holds no whitelist under \"%s\" yet: the daemon publishes "
                "WhitelistFile %s at start", cfg->redis.prefix, cfg->live.file);
    else if (rc == 0)
        pf_error(p, "Redis holds no whitelist under \"%s\"%s%s: every message would be "
                 "deferred (451 4.3.0) until one is published: mssantectl whitelist load FILE "
                 "(or check RedisPrefix)", cfg->redis.prefix,
                 cfg->live.file != NULL ? ", and WhitelistFile cannot seed it: " : "",
                 cfg->live.file != NULL ? err.msg : "");
    redisFree(c);
    return wl;
}

static void check_local_domains(struct pf *p, const struct whitelist *wl)
{
    const struct strlist *ld = &p->cfg->rules.local_domains;

    for (size_t i = 0; i < ld->n; i++)
        if (!whitelist_lookup(wl, ld->v[i]))
            pf_warning(p, "LocalDomains: %s is not on the whitelist (version %s, generated %s): "
                       "other operators will refuse its mail; check the spelling, or have the "
                       "ANS list it", ld->v[i], wl->version[0] ? wl->version : "file",
                       wl->generated[0] ? wl->generated : "?");
}

static void check_whitelist(struct pf *p)
{
    struct whitelist *wl, *snap;

    wl = redis_configured(&p->cfg->redis) ? whitelist_from_redis(p) : whitelist_without_redis(p);
    if (wl != NULL)
        check_local_domains(p, wl);
    if (redis_configured(&p->cfg->redis) && (snap = usable_snapshot(p)) != NULL)
        whitelist_free(snap);
    whitelist_free(wl);
}

/* ---- the child ---------------------------------------------------------------- */

static void run_checks(struct pf *p)
{
    const struct config *cfg = p->cfg;
    const char *fetch_loss = cfg->fetch.refresh_ms > 0
                             ? "downloads of the list (WhitelistRefresh, mssantectl whitelist "
                               "fetch) would fail"
                             : "mssantectl whitelist fetch would fail";

    check_conf(p);
    check_socket(p);
    check_pid_file(p);
    check_log(p);
    check_keys(p);
    check_whitelist(p);
    check_output(p, "SnapshotFile", cfg->live.snapshot_file,
                 "no copy of the list is kept for a start while Redis is down");
    check_output(p, "StatsFile", cfg->stats.file, "the counters are not written");
    check_output(p, "TLSPolicyFile", cfg->live.tls_policy_file,
                 "Postfix's TLS policy table is not kept in step with the list");
    check_input(p, "WhitelistCAFile", cfg->fetch.ca_file, fetch_loss);
    check_input(p, "WhitelistClientCert", cfg->fetch.client_cert, fetch_loss);
    check_input(p, "WhitelistClientKey", cfg->fetch.client_key, fetch_loss);
    check_input(p, "NotifyTemplate", cfg->notify.tmpl.path,
                "every reload would fail, keeping the running configuration");
}

static void describe_user(struct pf *p, const struct identity *id)
{
    struct passwd *pw = getpwuid(geteuid());

    if (id->set) {
        snprintf(p->user, sizeof(p->user), "%s (group %s)", id->name, id->group);
        snprintf(p->group, sizeof(p->group), "%s", id->group);
        return;
    }
    snprintf(p->user, sizeof(p->user), "%s", pw != NULL ? pw->pw_name : "this user");
    snprintf(p->group, sizeof(p->group), "%s", "GROUP");
}

/* In the child: become the user, check, say how it went; the exit status. */
static int child(struct pf *p, const struct identity *id)
{
    struct err err;

    if (id->set && geteuid() == 0) {
        if (identity_become(id, &err) < 0) {
            pf_error(p, "%s", err.msg);
            return 1;
        }
    } else if (id->set && !identity_is_current(id)) {
        pf_warning(p, "checked as uid %ld, not as UserID %s: only root can become another "
                   "user; run mssante-milter -n as root to check as the daemon's user",
                   (long)geteuid(), id->name);
        describe_user(p, &(struct identity){ .set = false });
    }
    run_checks(p);
    fflush(stdout);
    if (p->errors > 0) {
        fprintf(stderr, "%s: %d error(s): mail would not flow with this configuration\n",
                p->conf, p->errors);
        return 1;
    }
    if (p->warnings > 0)
        printf("%s: configuration OK, %d warning(s)\n", p->conf, p->warnings);
    else
        printf("%s: configuration OK\n", p->conf);
    fflush(stdout);
    return 0;
}

int preflight(const struct config *cfg, const struct identity *id, const char *conf)
{
    struct pf p = { .conf = conf, .cfg = cfg };
    const char *warnings[3];
    int status;
    pid_t pid;

    describe_user(&p, id);
    p.root_start = geteuid() == 0;
    config_print(cfg, stdout);
    pl_config_warnings(&cfg->rules, redis_configured(&cfg->redis), warnings);
    for (size_t i = 0; warnings[i] != NULL; i++)
        pf_warning(&p, "%s", warnings[i]);
    if (geteuid() == 0 && !id->set)
        pf_warning(&p, "the daemon would run as root: set \"UserID mssante-milter\" (or -u) so "
                   "that a flaw in it cannot give the machine away");
    fflush(stdout);
    fflush(stderr);
    if ((pid = fork()) < 0) {
        fprintf(stderr, "%s: error: fork: %s\n", conf, strerror(errno));
        return 1;
    }
    if (pid == 0)
        _exit(child(&p, id));
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    if (!WIFEXITED(status)) {
        fprintf(stderr, "%s: error: the check as %s did not finish (signal %d)\n", conf, p.user,
                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return 1;
    }
    return WEXITSTATUS(status);
}
