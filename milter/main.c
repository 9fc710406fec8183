/*
 * main.c - mssante-milter: command line, start-up and shut-down.
 *
 * Start-up order matters:
 *   config -> log -> socket (as root: it may live in a root-owned directory
 *   and is chown'ed to the milter user) -> drop privileges -> LogFile, the
 *   patient-id key, the pid file's checks (as the user who will reopen,
 *   read and replace them) -> daemonize -> pid file -> load the whitelist
 *   (threads only after the fork) -> smfi_main.
 * Everything that can fail is tried before the fork, or reported through
 * it: until the child is ready its standard error is a pipe to the parent,
 * which copies the warnings and errors to its own standard error and exits
 * 0 only when the child said it is ready.  So "mssante-milter" started by
 * hand or by an init script says why it did not start (a pid file in use,
 * no whitelist) and exits non-zero, whatever syslog does with the lines.
 * "-n" checks the same things without starting (milter/preflight.h).
 * Shut-down order matters too: smfi_main returns without waiting for the
 * steps libmilter's threads are running, so the gate is closed and they
 * are waited for (callbacks_close) before anything is stopped or freed.
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
#include "common/keyfile.h"
#include "common/logid.h"
#include "common/pidfile.h"
#include "common/sockspec.h"
#include "config/config.h"
#include "milter/callbacks.h"
#include "milter/cfgref.h"
#include "milter/identity.h"
#include "milter/preflight.h"
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
#define READY_BYTE '\006'     /* the child's "ready" on the start pipe (log text has none) */

struct options {
    const char *conf;
    const char *socket;
    const char *user;
    const char *pid_file;
    bool foreground;
    bool check_only;
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
        || absolutize(&cfg->live.tls_policy_file) < 0
        || absolutize(&cfg->logid.key_file) < 0 || absolutize(&cfg->held.key_file) < 0)
        return -1;
    if (cfg->log.file != NULL && strcmp(cfg->log.file, LOG_FILE_STDERR) != 0
        && absolutize(&cfg->log.file) < 0)
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
    struct err err;
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
    if (cfg->daemon.user != NULL && identity_resolve(cfg->daemon.user, id, &err) < 0) {
        fprintf(stderr, PROG ": %s: %s\n", cmdline->user != NULL ? "-u" : "UserID", err.msg);
        errors++;
    }
    return errors ? -1 : 0;
}

/* The parent's side of the start pipe: copy what the child says to our
 * stderr until it is ready (exit 0) or gone (exit 1). */
static _Noreturn void wait_for_child(int fd)
{
    char buf[4096];
    ssize_t n;

    for (;;) {
        do
            n = read(fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        if (n <= 0)
            _exit(1);
        char *ready = memchr(buf, READY_BYTE, (size_t)n);
        size_t len = ready != NULL ? (size_t)(ready - buf) : (size_t)n;

        if (len > 0 && write(STDERR_FILENO, buf, len) < 0)
            _exit(ready != NULL ? 0 : 1);
        if (ready != NULL)
            _exit(0);
    }
}

/* The daemon's stderr once it is ready: LogFile stderr keeps the one it
 * was started with, anything else gets /dev/null. */
static int final_stderr = -1;

/*
 * Fork into the background.  The parent copies the child's standard error
 * (a pipe, until the child is ready) to its own, and exits 0 when the child
 * says it is ready, 1 if the child died or gave up first.  Returns the
 * write end of the pipe in the child.  KEEP_STDERR: LogFile stderr.
 */
static int daemonize(bool keep_stderr)
{
    int pipefd[2], devnull;
    pid_t pid;

    fflush(NULL);
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        log_error("pipe: %s", strerror(errno));
        return -1;
    }
    if ((pid = fork()) < 0) {
        log_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) {
        close(pipefd[1]);
        wait_for_child(pipefd[0]);
    }
    close(pipefd[0]);
    if (setsid() < 0 || chdir("/") < 0) {
        log_error("cannot detach: %s", strerror(errno));
        return -1;
    }
    final_stderr = keep_stderr ? fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3) : -1;
    if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        if (final_stderr < 0)
            final_stderr = devnull;
        else
            close(devnull);
    }
    /* Until ready, what goes wrong reaches whoever started the daemon. */
    dup2(pipefd[1], STDERR_FILENO);
    return pipefd[1];
}

/* Ready: tell the parent, and let go of the pipe. */
static void tell_parent_ready(int fd)
{
    char ok = READY_BYTE;

    if (fd < 0)
        return;
    log_stderr(LOG_STDERR_OFF);
    if (write(fd, &ok, 1) != 1)
        log_warning("cannot notify the parent process: %s", strerror(errno));
    if (final_stderr >= 0) {
        dup2(final_stderr, STDERR_FILENO);
        close(final_stderr);
        final_stderr = -1;
    }
    close(fd);
}

static struct pidfile pid_file;

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
    pidfile_remove(&pid_file);
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
    pidfile_remove(&pid_file);
    log_close();
    _exit(1);
}

/* Without UserID or -u, started as root, the daemon would stay root. */
static void warn_if_root(const struct identity *id)
{
    if (geteuid() == 0 && !id->set)
        log_warning("RUNNING AS ROOT: neither UserID nor -u is set. A flaw in the daemon, "
                    "which reads what any SMTP client sends, would then give the machine "
                    "away: set \"UserID mssante-milter\" (the example configuration does; "
                    "the systemd unit starts it as that user)");
}

/* Where the log goes (as the user who will reopen it), and whether
 * syslog, when it is the destination, takes anything at all. */
static int open_log(const struct config *cfg, bool journal)
{
    struct err err;

    if (log_set_file(cfg->log.file, &err) < 0) {
        log_error("%s", err.msg);
        return -1;
    }
    if (journal)
        return 0;
    if (cfg->log.file == NULL && !log_syslog_reachable())
        log_warning("syslog is unreachable (%s does not answer: no syslog daemon?): the "
                    "log is lost once the daemon detaches; set LogFile, or run it with -f "
                    "under a supervisor", "/dev/log");
    return 0;
}

/* The key that signs the X-MSSante-Held header (policy/held.h), read at
 * start; the pipeline of every connection uses it (callbacks_start). */
static unsigned char held_key[HELD_KEY_BYTES];

/* A key file, made at the first start (as the user): 0, or -1 after
 * logging why. */
static int load_key(const struct keyfile_use *use, const char *path, unsigned char *key)
{
    struct err err;
    bool loose = false;

    if (keyfile_load(use, path, true, key, &loose, &err) < 0) {
        log_error("%s", err.msg);
        return -1;
    }
    if (loose)
        log_warning("%s %s %s", use->name, path, use->loose_advice);
    return 0;
}

/* The keys: LogPatientId's (hash mode) and HeldKeyFile's. */
static int start_keys(const struct config *cfg)
{
    struct err err;

    if (logid_start(&cfg->logid, true, &err) < 0) {
        log_error("%s", err.msg);
        return -1;
    }
    if (cfg->logid.mode == LOGID_HASH && logid_key_loose())
        log_warning("%s %s %s", logid_key_use.name, cfg->logid.key_file,
                    logid_key_use.loose_advice);
    return load_key(&held_key_use, cfg->held.key_file, held_key);
}

/* The threads, the whitelist; 0, or 1 after logging why. */
static int start_threads(struct config *cfg)
{
    struct err why;

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
    if (callbacks_start(cfg, held_key) < 0)
        return start_failed();
    if (live_start(&cfg->live, &cfg->redis) < 0) {
        live_stop();
        callbacks_stop();
        return start_failed();
    }
    if (fetch_thread_start(&cfg->fetch, &cfg->redis, cfg->live.poll_ms) < 0) {
        live_stop();
        callbacks_stop();
        return start_failed();
    }
    if (cfgref_init(cfg, finish_reloaded) < 0 || signals_start(cfg->daemon.socket) < 0
        || stats_start(&cfg->stats, &cfg->redis, &stats_source) < 0) {
        signals_stop();
        cfgref_free();
        fetch_thread_stop();
        live_stop();
        callbacks_stop();
        return start_failed();
    }
    return 0;
}

/* Everything between a valid configuration and smfi_main's return. */
static int run(struct config *cfg, const struct options *opt, const struct identity *id)
{
    uid_t owner = id->set ? id->uid : (uid_t)-1;
    gid_t group = id->set ? id->gid : (gid_t)-1;
    bool log_stderr_kept = cfg->log.file != NULL && strcmp(cfg->log.file, LOG_FILE_STDERR) == 0;
    const char *warnings[3];
    int ready_fd = -1, rc;
    struct err why;
    bool journal;

    /* Until the daemon detaches, whoever started it sees what goes wrong
     * (everything, in the foreground). */
    log_open(PROG, cfg->log.facility, cfg->log.level, true);
    log_stderr(opt->foreground ? LOGL_DEBUG : LOGL_WARNING);
    /* Under systemd (-f, or LogFile stderr; stderr the journal's stream):
     * the journal alone, each line with its priority and no stamp of ours. */
    journal = ((opt->foreground && cfg->log.file == NULL) || log_stderr_kept)
              && log_journal_detect();
    warn_if_root(id);
    if (callbacks_register() < 0
        || socket_prepare(cfg->daemon.socket, cfg->daemon.socket_mode, owner, group) < 0)
        return 1;
    if (identity_become(id, &why) < 0) {
        log_error("%s", why.msg);
        return start_failed();
    }
    if (open_log(cfg, journal) < 0 || start_keys(cfg) < 0)
        return start_failed();
    if (cfg->daemon.pid_file != NULL
        && pidfile_prepare(&pid_file, cfg->daemon.pid_file, PROG, &why) < 0) {
        log_error("%s", why.msg);
        return start_failed();
    }
    if (!opt->foreground && (ready_fd = daemonize(log_stderr_kept)) < 0)
        return start_failed();
    if (cfg->daemon.pid_file != NULL && pidfile_commit(&pid_file, getpid(), &why) < 0) {
        log_error("%s", why.msg);
        return start_failed();
    }
    if (start_threads(cfg) != 0)
        return 1;
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
    pidfile_remove(&pid_file);
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
        rc = preflight(cfg, &id, opt.conf);
        /* Where Redis led (through the sentinels when configured), and
         * whether RedisMinReplicas can be met. */
        if (rc == 0)
            rc = check_redis(cfg, opt.conf);
        config_free(cfg);
        return rc;
    }
    rc = run(cfg, &opt, &id);
    log_close();
    config_free(cfg);
    return rc;
}
