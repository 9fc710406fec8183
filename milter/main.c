/*
 * main.c - mssante-milter: command line, start-up and shut-down.
 *
 * Start-up order matters:
 *   config -> log -> socket (as root: it may live in a root-owned directory
 *   and is chown'ed to the milter user) -> drop privileges -> daemonize ->
 *   pid file -> load the whitelist (threads only after the fork) ->
 *   smfi_main.
 * Shut-down order matters too: smfi_main returns without waiting for the
 * steps libmilter's threads are running, so the gate is closed and they
 * are waited for (callbacks_close) before anything is stopped or freed.
 * The parent of the daemon waits on a pipe until the child is ready, so
 * that "mssante-milter" exits non-zero when start-up fails after the fork.
 * Signals (milter/signals.h): SIGHUP and SIGUSR1 reload the configuration
 * (milter/cfgref.h), SIGTERM stops after the messages in flight are
 * answered (milter/drain.h), SIGINT aborts (libmilter).  They are blocked
 * here before any thread is created, and waited for by the signal thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "common/curlinit.h"
#include "common/err.h"
#include "common/log.h"
#include "common/redis.h"
#include "common/redis_server.h"
#include "common/sockspec.h"
#include "config/config.h"
#include "milter/callbacks.h"
#include "milter/cfgref.h"
#include "milter/signals.h"
#include "milter/socket.h"
#include "pipeline/pipeline.h"
#include "stats/stats.h"
#include "whitelist/fetch.h"
#include "whitelist/fetch_thread.h"
#include "whitelist/live.h"

#define PROG "mssante-milter"
#define EXIT_USAGE 64
#define STEP_WAIT_MIN_MS 5000

struct options {
    const char *conf;
    const char *socket;
    const char *user;
    const char *pid_file;
    bool foreground;
    bool check_only;
};

struct identity {
    bool set;
    char name[256];
    uid_t uid;
    gid_t gid;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [-fnVh] [-c FILE] [-p SOCKET] [-u USER[:GROUP]] [-P PIDFILE]\n"
            "  -c FILE     configuration file (default " MSSANTE_DEFAULT_CONF ")\n"
            "  -p SOCKET   milter socket: unix:/path, local:/path, inet:PORT@HOST,\n"
            "              inet6:PORT@HOST (overrides Socket)\n"
            "  -f          stay in the foreground and log to stderr too\n"
            "  -u USER[:GROUP]  run as USER (overrides UserID)\n"
            "  -P PIDFILE  write the process id there (overrides PidFile)\n"
            "  -n          check the configuration and exit\n"
            "  -V          print the version and exit\n"
            "  -h          this help\n");
}

static void print_version(void)
{
    unsigned int major = 0, minor = 0, patch = 0;

    smfi_version(&major, &minor, &patch);
    printf(PROG " %s (libmilter %u.%u.%u)\n", MSSANTE_VERSION, major, minor, patch);
}

/* The directory the daemon was started from: relative paths in the file
 * mean the same at start and at a reload, after the daemon chdir'ed to /. */
static char start_dir[PATH_MAX];

/* The command line, applied again to each reloaded configuration. */
static const struct options *cmdline;

/* Replace a relative *path by an absolute one: the daemon chdirs to /. */
static int absolutize(char **path)
{
    char *abs;

    if (*path == NULL || (*path)[0] == '/')
        return 0;
    if (start_dir[0] == '\0' || asprintf(&abs, "%s/%s", start_dir, *path) < 0)
        return -1;
    free(*path);
    *path = abs;
    return 0;
}

static int replace_string(char **slot, const char *value)
{
    char *copy;

    if (value == NULL)
        return 0;
    if ((copy = strdup(value)) == NULL)
        return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

/* "user" or "user:group" -> uid, gid (the user's own group by default). */
static int resolve_identity(const char *spec, struct identity *id)
{
    const char *colon = strchr(spec, ':');
    size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    struct passwd *pw;

    if (ulen == 0 || ulen >= sizeof(id->name)) {
        fprintf(stderr, PROG ": invalid user \"%s\"\n", spec);
        return -1;
    }
    memcpy(id->name, spec, ulen);
    id->name[ulen] = '\0';
    if ((pw = getpwnam(id->name)) == NULL) {
        fprintf(stderr, PROG ": unknown user \"%s\"\n", id->name);
        return -1;
    }
    id->uid = pw->pw_uid;
    id->gid = pw->pw_gid;
    if (colon != NULL) {
        struct group *gr = getgrnam(colon + 1);
        if (gr == NULL) {
            fprintf(stderr, PROG ": unknown group \"%s\"\n", colon + 1);
            return -1;
        }
        id->gid = gr->gr_gid;
    }
    id->set = true;
    return 0;
}

/* Command-line overrides, relative paths made absolute: at start and
 * for each reloaded configuration.  -1 with errno set. */
static int apply_command_line(struct config *cfg)
{
    if (replace_string(&cfg->daemon.socket, cmdline->socket) < 0
        || replace_string(&cfg->daemon.user, cmdline->user) < 0
        || replace_string(&cfg->daemon.pid_file, cmdline->pid_file) < 0)
        return -1;
    /* The file itself too: a reload reads it again after the chdir. */
    if (absolutize(&cfg->path) < 0
        || absolutize(&cfg->daemon.pid_file) < 0 || absolutize(&cfg->live.file) < 0
        || absolutize(&cfg->live.snapshot_file) < 0 || absolutize(&cfg->fetch.ca_file) < 0
        || absolutize(&cfg->fetch.client_cert) < 0
        || absolutize(&cfg->fetch.client_key) < 0 || absolutize(&cfg->stats.file) < 0
        || absolutize(&cfg->live.tls_policy_file) < 0)
        return -1;
    return 0;
}

/* cfgref_finish_fn for a reload (milter/cfgref.h). */
static int finish_reloaded(struct config *cfg)
{
    if (apply_command_line(cfg) < 0) {
        log_error("reload: cannot apply the command line: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Command-line overrides and checks that need more than the file. */
static int finish_config(struct config *cfg, struct identity *id)
{
    const char *why;
    int errors = 0;

    if (apply_command_line(cfg) < 0) {
        fprintf(stderr, PROG ": cannot apply the command line (start directory %s): %s\n",
                start_dir[0] ? start_dir : "unknown", strerror(errno));
        return -1;
    }
    if (cfg->daemon.socket == NULL) {
        fprintf(stderr, "%s: no Socket configured (set Socket or use -p)\n", cfg->path);
        errors++;
    } else if (!sockspec_valid(cfg->daemon.socket, &why)) {
        fprintf(stderr, PROG ": -p: %s, got \"%s\"\n", why, cfg->daemon.socket);
        errors++;
    }
    if (cfg->daemon.user != NULL && resolve_identity(cfg->daemon.user, id) < 0)
        errors++;
    return errors ? -1 : 0;
}

static int drop_privileges(const struct identity *id)
{
    if (!id->set)
        return 0;
    if (getuid() == id->uid && geteuid() == id->uid && getgid() == id->gid)
        return 0;
    if (geteuid() != 0) {
        log_error("must be started as root to run as user %s", id->name);
        return -1;
    }
    if (setgid(id->gid) < 0 || initgroups(id->name, id->gid) < 0 || setuid(id->uid) < 0) {
        log_error("cannot switch to user %s: %s", id->name, strerror(errno));
        return -1;
    }
    if (id->uid != 0 && setuid(0) == 0) {
        log_error("privileges were not dropped (setuid(0) still works)");
        return -1;
    }
    return 0;
}

/*
 * Fork into the background.  The parent waits until the child writes one
 * byte on the pipe (start-up done), then exits 0; 1 if the child died first.
 * Returns the write end of the pipe in the child.
 */
static int daemonize(void)
{
    int pipefd[2], devnull;
    pid_t pid;
    char ok;

    if (pipe(pipefd) < 0) {
        log_error("pipe: %s", strerror(errno));
        return -1;
    }
    if ((pid = fork()) < 0) {
        log_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        ssize_t n;

        close(pipefd[1]);
        do
            n = read(pipefd[0], &ok, 1);
        while (n < 0 && errno == EINTR);
        _exit(n == 1 ? 0 : 1);
    }
    close(pipefd[0]);
    if (setsid() < 0 || chdir("/") < 0) {
        log_error("cannot detach: %s", strerror(errno));
        return -1;
    }
    if ((devnull = open("/dev/null", O_RDWR)) >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(devnull, STDERR_FILENO);
        if (devnull > STDERR_FILENO)
            close(devnull);
    }
    return pipefd[1];
}

static void tell_parent_ready(int fd)
{
    char ok = 1;

    if (fd < 0)
        return;
    if (write(fd, &ok, 1) != 1)
        log_warning("cannot notify the parent process: %s", strerror(errno));
    close(fd);
}

static const char *pid_file_written;

static int write_pid_file(const char *path)
{
    FILE *fp;

    if (path == NULL)
        return 0;
    if ((fp = fopen(path, "w")) == NULL) {
        log_error("cannot write pid file %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(fp, "%ld\n", (long)getpid());
    if (fclose(fp) != 0) {
        log_error("cannot write pid file %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    pid_file_written = path;
    return 0;
}

static void remove_pid_file(void)
{
    if (pid_file_written != NULL && unlink(pid_file_written) < 0 && errno != ENOENT)
        log_warning("cannot remove pid file %s: %s", pid_file_written, strerror(errno));
    pid_file_written = NULL;
}

/* StatsFile and StatsInterval of the configuration in force, for the
 * stats publisher (stats/stats.h): a reload changes them. */
static const struct stats_settings *stats_in_force(void *arg)
{
    const struct config *cfg = cfgref_acquire();

    (void)arg;
    return cfg != NULL ? &cfg->stats : NULL;
}

static void stats_done(void *arg, const struct stats_settings *s)
{
    (void)arg;
    cfgref_release((const struct config *)(const void *)
                           ((const char *)s - offsetof(struct config, stats)));
}

static const struct stats_source stats_source = { stats_in_force, stats_done, NULL };

static void block_stop_signals(void)
{
    signals_block();
    /* hiredis writes to sockets a Redis restart may close. */
    signal(SIGPIPE, SIG_IGN);
}

static void parse_options(int argc, char **argv, struct options *opt)
{
    int ch;

    memset(opt, 0, sizeof(*opt));
    opt->conf = MSSANTE_DEFAULT_CONF;
    while ((ch = getopt(argc, argv, "c:p:fu:P:nVh")) != -1) {
        switch (ch) {
        case 'c': opt->conf = optarg; break;
        case 'p': opt->socket = optarg; break;
        case 'f': opt->foreground = true; break;
        case 'u': opt->user = optarg; break;
        case 'P': opt->pid_file = optarg; break;
        case 'n': opt->check_only = true; break;
        case 'V': print_version(); exit(0);
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(EXIT_USAGE);
        }
    }
    if (optind != argc) {
        fprintf(stderr, PROG ": unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        exit(EXIT_USAGE);
    }
}

/* Connect to Redis as every part of the daemon will (through the sentinels
 * when configured) and say where that led: "127.0.0.1:6380 (master
 * "mymaster" named by sentinel 127.0.0.1:26379), 1 replica(s) connected".
 * -1 + err when it cannot; *FEW is set when RedisMinReplicas asks for
 * more replicas than are connected (every durable write would get 451). */
static int redis_reach(const struct redis_settings *rs, char *where, size_t size, bool *few,
                       struct err *err)
{
    struct redis_replication rep;
    struct redis_where w;
    redisContext *c = redis_connect_where(rs, &w, err);
    int got;

    if (c == NULL)
        return -1;
    got = redis_replication(c, &rep, err) == 0 ? rep.connected : -1;
    redisFree(c);
    if (w.via[0] != '\0')
        snprintf(where, size, "%s (master \"%s\" named by sentinel %s)", w.addr,
                 rs->master_name, w.via);
    else
        snprintf(where, size, "%s", w.addr);
    if (got >= 0)
        snprintf(where + strlen(where), size - strlen(where), ", %d replica(s) connected",
                 got);
    *few = got >= 0 && got < rs->min_replicas;
    return 0;
}

/* -n: the configuration is good only if Redis, when configured, can be
 * reached and entered with it.  0, or 1 after saying why not. */
static int check_redis(const struct config *cfg, const char *conf)
{
    char where[1024];
    struct err err;
    bool few;

    if (!redis_configured(&cfg->redis))
        return 0;
    if (redis_reach(&cfg->redis, where, sizeof(where), &few, &err) < 0) {
        fprintf(stderr, "%s: Redis: %s\n", conf, err.msg);
        return 1;
    }
    printf("# Redis: connected to %s\n", where);
    if (few)
        fprintf(stderr, "%s: warning: RedisMinReplicas is %d: until that many replicas are "
                "connected, conversations and notices are not recorded and their messages "
                "get 451\n", conf, cfg->redis.min_replicas);
    return 0;
}

/* At start: the daemon runs without Redis (the trust-space rules from
 * memory and the snapshot), but an operator must see at once why patient
 * mail and forwarding will get 451. */
static void report_redis(const struct config *cfg)
{
    char where[1024];
    struct err err;
    bool few;

    if (!redis_configured(&cfg->redis))
        return;
    if (redis_reach(&cfg->redis, where, sizeof(where), &few, &err) < 0) {
        log_error("Redis at start: %s: mail to and from patients and forwarded mail get "
                  "451 until this is repaired", err.msg);
        return;
    }
    log_info("Redis at start: connected to %s", where);
    if (few)
        log_warning("Redis at start: RedisMinReplicas is %d: until that many replicas are "
                    "connected, conversations and notices cannot be recorded (451)",
                    cfg->redis.min_replicas);
}

/* Start-up failed after the socket was created: leave nothing behind (a
 * later start would only find the socket stale, but an operator would
 * wonder).  After the privilege drop this may fail for lack of rights. */
static int start_failed(void)
{
    socket_cleanup();
    remove_pid_file();
    return 1;
}

/*
 * How long a milter step still running when smfi_main returned is waited
 * for (milter/callbacks.h): its work is a few Redis round trips, each
 * bounded by RedisTimeout.
 */
static long long step_wait_ms(const struct config *cfg)
{
    long long ms = 10LL * cfg->redis.timeout_ms;

    return ms > STEP_WAIT_MIN_MS ? ms : STEP_WAIT_MIN_MS;
}

/* A step still runs past that: exit at once, freeing nothing it may use
 * (exit() would run the libraries' clean-up under it too).  The socket
 * and the pid file go, as at any stop. */
static void exit_now(void)
{
    socket_cleanup();
    remove_pid_file();
    log_close();
    _exit(1);
}

/* Everything between a valid configuration and smfi_main's return. */
static int run(struct config *cfg, const struct options *opt, const struct identity *id)
{
    uid_t owner = id->set ? id->uid : (uid_t)-1;
    gid_t group = id->set ? id->gid : (gid_t)-1;
    const char *warnings[3];
    int ready_fd = -1, rc;
    struct err why;

    /* Until the daemon detaches, whoever started it sees its errors. */
    log_open(PROG, cfg->log.facility, cfg->log.level, true);
    if (callbacks_register() < 0
        || socket_prepare(cfg->daemon.socket, cfg->daemon.socket_mode, owner, group) < 0)
        return 1;
    if (drop_privileges(id) < 0)
        return start_failed();
    if (!opt->foreground) {
        if ((ready_fd = daemonize()) < 0)
            return start_failed();
        log_open(PROG, cfg->log.facility, cfg->log.level, false);
    }
    if (write_pid_file(cfg->daemon.pid_file) < 0)
        return start_failed();

    block_stop_signals();
    /* libcurl's global state, before any thread (whitelist/fetch.h). */
    if (cfg->fetch.refresh_ms > 0 && curl_init_once(&why) < 0) {
        log_error("%s", why.msg);
        return start_failed();
    }
    /* With Redis Sentinel, the discovery state every part shares and its
     * +switch-master watcher, before anything connects. */
    if (redis_watch_start(&cfg->redis, &why) < 0) {
        log_error("%s", why.msg);
        return start_failed();
    }
    report_redis(cfg);
    /* What the connections share, the notice worker among it (its libcurl
     * init, too, before other threads). */
    if (callbacks_start(cfg) < 0)
        return start_failed();
    if (live_start(&cfg->live, &cfg->redis) < 0) {
        live_stop();
        return start_failed();
    }
    if (fetch_thread_start(&cfg->fetch, &cfg->redis, cfg->live.poll_ms) < 0) {
        live_stop();
        return start_failed();
    }
    if (cfgref_init(cfg, finish_reloaded) < 0 || signals_start(cfg->daemon.socket) < 0
        || stats_start(&cfg->stats, &cfg->redis, &stats_source) < 0) {
        signals_stop();
        cfgref_free();
        fetch_thread_stop();
        live_stop();
        return start_failed();
    }
    cfgref_warn_unlisted(cfg);
    pl_config_warnings(&cfg->rules, redis_configured(&cfg->redis), warnings);
    for (size_t i = 0; warnings[i] != NULL; i++)
        log_warning("%s", warnings[i]);
    log_notice("starting " PROG " %s on %s: %zu local domain(s)%s", MSSANTE_VERSION,
               cfg->daemon.socket, cfg->rules.local_domains.n,
               pl_modes_note(&cfg->rules));
    tell_parent_ready(ready_fd);

    rc = smfi_main();
    log_notice("stopping " PROG);
    if (callbacks_close(step_wait_ms(cfg)) < 0)
        exit_now();
    callbacks_stop();
    stats_stop();
    signals_stop();
    cfgref_free();
    fetch_thread_stop();
    live_stop();
    callbacks_free();
    redis_watch_stop();
    socket_cleanup();
    remove_pid_file();
    return rc == MI_SUCCESS ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct identity id = { 0 };
    struct options opt;
    struct config *cfg;
    int rc;

    parse_options(argc, argv, &opt);
    cmdline = &opt;
    if (getcwd(start_dir, sizeof(start_dir)) == NULL)
        start_dir[0] = '\0';   /* relative paths are refused, with errno set */
    if ((cfg = config_load(opt.conf)) == NULL)
        return 1;
    if (finish_config(cfg, &id) < 0) {
        config_free(cfg);
        return 1;
    }
    if (opt.check_only) {
        const char *warnings[3];

        pl_config_warnings(&cfg->rules, redis_configured(&cfg->redis), warnings);
        for (size_t i = 0; warnings[i] != NULL; i++)
            fprintf(stderr, "%s: warning: %s\n", opt.conf, warnings[i]);
        config_print(cfg, stdout);
        rc = check_redis(cfg, opt.conf);
        if (rc == 0)
            printf("%s: configuration OK\n", opt.conf);
        config_free(cfg);
        return rc;
    }
    rc = run(cfg, &opt, &id);
    log_close();
    config_free(cfg);
    return rc;
}
