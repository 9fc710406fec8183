/*
 * service.c - the daemon as a service: the configuration in force, its
 * reload on SIGHUP/SIGUSR1, and the graceful stop on SIGTERM.
 *
 * Why the daemon handles SIGHUP and SIGTERM itself.  libmilter's
 * smfi_main() starts a thread that sigwait()s for SIGHUP, SIGTERM and
 * SIGINT, and takes any of them as an order to stop: a SIGHUP meant as
 * "reload" would stop the daemon, or not, depending on which of two
 * waiting threads the kernel picks.  And Debian's libmilter (8.17, built
 * with its pool of worker threads) stops by closing every open session at
 * once: a message whose DATA is being transferred would lose its milter
 * and be deferred by Postfix, not finished.  (Checked on this system: a
 * session stopped between MAIL and RCPT reads EOF.)  So this file defines
 * sigwait() for the process, and when the caller's set holds SIGTERM,
 * as libmilter's does, waits for that set minus SIGHUP, SIGUSR1 and
 * SIGTERM: libmilter's thread then only ever sees SIGINT (an immediate
 * abort, as before).  The executable's definition of sigwait() is the one
 * the dynamic linker binds libmilter's call to; our own thread uses
 * sigwaitinfo() and is not affected.
 *
 * Configuration in force: a small list of holders, the current one first,
 * each with a count of the connections using it.  A connection takes a
 * reference at connect and gives it back at close; a holder that is no
 * longer current is freed when its last connection closes.  The startup
 * configuration is never freed here: the modules started with it (the
 * whitelist poller, the Redis pools, the stats thread) keep using it,
 * which is why the keys they read are restart-only (the table's
 * restart class, config/keys.c; config_keep_restart_keys() keeps them).
 *
 * Stop: SIGTERM sets "stopping" (new sessions and new messages get 451
 * 4.3.2), waits until no message is in flight (bounded by ShutdownTimeout)
 * and, briefly, for the sessions to close, then calls smfi_stop().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/sockspec.h"
#include "milter/service.h"
#include "policy/replies.h"
#include "stats/stats.h"
#include "stats/status.h"
#include "whitelist/live.h"
#include "whitelist/whitelist.h"

#define CLOSE_WAIT_MS 2000   /* after the drain: sessions closing by themselves */
#define POLL_MS       50

struct holder {
    struct config *cfg;
    bool owned;              /* loaded by a reload: freed here */
    unsigned refs;           /* connections using it */
    struct holder *next;
};

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct holder *holders;      /* the current one first; guarded by cfg_lock */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct config *startup_cfg;
static service_finish_fn finish_fn;

static atomic_bool stopping;
static atomic_bool quitting;        /* service_stop(): the signal thread must end */
static pthread_t sig_thread;
static bool sig_running;

/* ---- libmilter's signal thread ----------------------------------------- */

/* See the top of the file. */
int sigwait(const sigset_t *set, int *sig)
{
    sigset_t wanted = *set;
    int s;

    if (sigismember(set, SIGTERM) == 1) {
        sigdelset(&wanted, SIGHUP);
        sigdelset(&wanted, SIGUSR1);
        sigdelset(&wanted, SIGTERM);
    }
    do
        s = sigwaitinfo(&wanted, NULL);
    while (s < 0 && errno == EINTR);
    if (s < 0)
        return errno;
    *sig = s;
    return 0;
}

void service_block_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ---- the configuration in force ------------------------------------------ */

static struct holder *holder_new(struct config *cfg, bool owned)
{
    struct holder *h = calloc(1, sizeof(*h));

    if (h != NULL) {
        h->cfg = cfg;
        h->owned = owned;
    }
    return h;
}

static void holder_free(struct holder *h)
{
    if (h == NULL)
        return;
    if (h->owned)
        config_free(h->cfg);
    free(h);
}

const struct config *service_config_acquire(void)
{
    const struct config *cfg = NULL;

    pthread_mutex_lock(&cfg_lock);
    if (holders != NULL) {
        holders->refs++;
        cfg = holders->cfg;
    }
    pthread_mutex_unlock(&cfg_lock);
    return cfg;
}

void service_config_release(const struct config *cfg)
{
    struct holder **pp, *gone = NULL;

    if (cfg == NULL)
        return;
    pthread_mutex_lock(&cfg_lock);
    for (pp = &holders; *pp != NULL; pp = &(*pp)->next) {
        struct holder *h = *pp;

        if (h->cfg != cfg)
            continue;
        if (h->refs > 0)
            h->refs--;
        /* Not current any more and nobody uses it: done with it. */
        if (h->refs == 0 && h != holders) {
            *pp = h->next;
            gone = h;
        }
        break;
    }
    pthread_mutex_unlock(&cfg_lock);
    holder_free(gone);
}

/* Make H current.  The previous one goes when no connection holds it. */
static void install(struct holder *h)
{
    struct holder *old, *gone = NULL;

    pthread_mutex_lock(&cfg_lock);
    old = holders;
    h->next = holders;
    holders = h;
    if (old != NULL && old->refs == 0) {
        h->next = old->next;
        gone = old;
    }
    pthread_mutex_unlock(&cfg_lock);
    holder_free(gone);
}

/* ---- reload ------------------------------------------------------------------ */

/* Why the last reload failed: its first error, for "mssantectl status". */
static struct err reload_why;

static void log_config_error(void *arg, const char *line)
{
    (void)arg;
    log_error("reload: %s", line);
    if (reload_why.msg[0] == '\0')
        err_set(&reload_why, "%s", line);
}

/* A LocalDomains entry the list in force does not know: other operators
 * refuse its mail.  Said at start by main.c, and again after a reload. */
static void warn_unlisted(const struct config *cfg)
{
    const struct whitelist *wl = live_acquire();

    for (size_t i = 0; wl != NULL && i < cfg->rules.local_domains.n; i++)
        if (!whitelist_lookup(wl, cfg->rules.local_domains.v[i]))
            log_warning("LocalDomains: %s is not on the whitelist in force (version %s): "
                        "other operators will refuse its mail", cfg->rules.local_domains.v[i],
                        wl->version);
    live_release();
}

static int reload_locked(void)
{
    const struct config *running;
    struct config *fresh;
    struct holder *h;

    err_clear(&reload_why);
    fresh = config_load_report(startup_cfg->path, log_config_error, NULL);
    if (fresh == NULL) {
        log_error("reload: %s has errors: the running configuration stays in force",
                  startup_cfg->path);
        return -1;
    }
    if (finish_fn != NULL && finish_fn(fresh) < 0) {
        log_error("reload: %s cannot be used: the running configuration stays in force",
                  startup_cfg->path);
        err_set(&reload_why, "%s cannot be used (see the log)", startup_cfg->path);
        config_free(fresh);
        return -1;
    }
    running = service_config_acquire();
    if (config_keep_restart_keys(fresh, running) < 0
        || (h = holder_new(fresh, true)) == NULL) {
        service_config_release(running);
        err_set(&reload_why, "out of memory");
        log_error("reload: out of memory: the running configuration stays in force");
        config_free(fresh);
        return -1;
    }
    service_config_release(running);
    install(h);
    log_set_level(fresh->log.level);
    log_notice("reloaded %s: %zu local domain(s)%s; connections already open keep the "
               "previous configuration", fresh->path, fresh->rules.local_domains.n,
               fresh->rules.dry_run ? ", DryRun: nothing refused" : "");
    warn_unlisted(fresh);
    return 0;
}

int service_reload(void)
{
    int rc;

    if (startup_cfg == NULL)
        return -1;
    pthread_mutex_lock(&reload_lock);
    rc = reload_locked();
    stats_reload(rc == 0);
    if (rc < 0)
        stats_status_reload_error(reload_why.msg);
    pthread_mutex_unlock(&reload_lock);
    return rc;
}

/* ---- stop ---------------------------------------------------------------------- */

bool service_stopping(void)
{
    return atomic_load_explicit(&stopping, memory_order_relaxed);
}

void service_stopping_reply(struct verdict *v)
{
    reply_shutting_down(v);
}

/* Wait for the messages in flight, then (briefly) for the sessions. */
static void drain(void)
{
    const struct config *cfg = service_config_acquire();
    long long start = monotonic_ms();
    long long deadline = start + (cfg != NULL ? cfg->daemon.shutdown_timeout_ms : 0);
    unsigned busy = stats_in_flight();

    service_config_release(cfg);
    if (busy > 0)
        log_notice("stopping: waiting for %u message(s) in progress", busy);
    /* quitting: smfi_main already returned (SIGINT): nothing to wait for. */
    while ((busy = stats_in_flight()) > 0 && monotonic_ms() < deadline && !atomic_load(&quitting))
        sleep_ms(POLL_MS);
    if (busy > 0) {
        log_warning("stopping with %u message(s) still in progress after %llus: "
                    "Postfix defers them (milter_default_action)", busy,
                    (unsigned long long)((monotonic_ms() - start) / 1000));
        return;
    }
    /* The last replies are being written and the sessions closed; new
     * messages on them are refused with 4.3.2 meanwhile. */
    deadline = monotonic_ms() + CLOSE_WAIT_MS;
    while (stats_open_connections() > 0 && monotonic_ms() < deadline && !atomic_load(&quitting))
        sleep_ms(POLL_MS);
}

/*
 * libmilter's accept loop holds its lock while it waits up to 5 s for a
 * connection, and smfi_stop() needs that lock: a connection of our own
 * ends the wait at once.  Started without blocking and closed once
 * smfi_stop() returned; the session it opens is never served (libmilter
 * is stopping) and never reaches our callbacks.  -1 when not possible:
 * the stop then simply takes those few seconds.
 */
static int wake_listener(const char *spec)
{
    const char *path = sockspec_unix_path(spec);
    struct addrinfo hints, *ai = NULL;
    char host[256], service[32];
    int fd = -1, family;

    if (path != NULL) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) >= 0)
            (void)connect(fd, (struct sockaddr *)&sun, sizeof(sun));
        return fd;
    }
    if (sockspec_inet(spec, &family, service, sizeof(service), host, sizeof(host)) < 0)
        return -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = family;
    /* A socket bound to every address answers on the loopback too. */
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        snprintf(host, sizeof(host), "%s", family == AF_INET ? "127.0.0.1" : "::1");
    if (getaddrinfo(host, service, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        (void)connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return fd;
}

static void stop(void)
{
    int fd;

    if (atomic_exchange(&stopping, true))
        return;
    log_notice("stop requested (SIGTERM): deferring new mail, finishing the messages "
               "in progress");
    drain();
    fd = wake_listener(startup_cfg->daemon.socket);
    smfi_stop();
    if (fd >= 0)
        close(fd);
}

/* ---- the signal thread --------------------------------------------------------- */

/* LogFile again (logrotate moved it); on failure the old one stays. */
static void reopen_log(void)
{
    struct err err;

    if (log_reopen(&err) < 0)
        log_error("%s; still writing to the previous file", err.msg);
}

static void *signal_main(void *arg)
{
    sigset_t set;

    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);

        if (atomic_load(&quitting))
            break;
        if (sig < 0) {
            if (errno != EINTR) {
                log_error("sigwaitinfo: %s", strerror(errno));
                sleep_ms(1000);
            }
            continue;
        }
        if (sig == SIGTERM) {
            stop();
            continue;
        }
        if (service_stopping())
            continue;
        reopen_log();
        log_notice("reload requested (%s)", sig == SIGHUP ? "SIGHUP" : "SIGUSR1");
        service_reload();
    }
    return NULL;
}

int service_start(const struct config *startup, service_finish_fn finish)
{
    struct holder *h;
    int rc;

    /* The startup configuration belongs to the caller: never freed here. */
    if ((h = holder_new((struct config *)(uintptr_t)startup, false)) == NULL) {
        log_error("out of memory");
        return -1;
    }
    startup_cfg = startup;
    finish_fn = finish;
    atomic_store(&stopping, false);
    atomic_store(&quitting, false);
    install(h);
    if ((rc = pthread_create(&sig_thread, NULL, signal_main, NULL)) != 0) {
        log_error("cannot start the signal thread: %s", strerror(rc));
        return -1;
    }
    sig_running = true;
    return 0;
}

void service_stop(void)
{
    struct holder **pp;

    if (sig_running) {
        atomic_store(&quitting, true);
        pthread_kill(sig_thread, SIGUSR1);
        pthread_join(sig_thread, NULL);
        sig_running = false;
    }
    /* Connections still open (smfi_main returned on an error, or SIGINT)
     * keep their holder: the process is about to exit. */
    pthread_mutex_lock(&cfg_lock);
    for (pp = &holders; *pp != NULL;) {
        struct holder *h = *pp;

        if (h->refs == 0) {
            *pp = h->next;
            holder_free(h);
        } else {
            pp = &h->next;
        }
    }
    pthread_mutex_unlock(&cfg_lock);
    startup_cfg = NULL;
}
