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
 * which is why the keys they read are restart-only (restart_keys below).
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
#include "common/log.h"
#include "milter/service.h"
#include "milter/socket.h"
#include "milter/stats.h"
#include "policy/replies.h"
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

/* ---- keys that need a restart -------------------------------------------- */

enum key_kind { K_STRING, K_INT, K_BOOL, K_SIZE, K_LLONG, K_LIST, K_REDIS };

struct restart_key {
    const char *name;
    enum key_kind kind;
    size_t off;              /* the field; K_LIST: the char ** */
    size_t count_off;        /* K_LIST: its size_t count */
    bool secret;             /* never log the value */
};

#define KEY(name, kind, field) { name, kind, offsetof(struct config, field), 0, false }

/*
 * Read at start only, by the code that opens the socket, drops privileges
 * or runs a background thread with the startup configuration.  A change
 * is logged and the running value kept, so that the configuration the
 * connections see always matches what those threads do.  A new key read
 * the same way must get a row here.
 */
static const struct restart_key restart_keys[] = {
    KEY("Socket", K_STRING, socket),
    KEY("SocketMode", K_INT, socket_mode),
    KEY("UserID", K_STRING, user),
    KEY("PidFile", K_STRING, pid_file),
    KEY("SyslogFacility", K_STRING, syslog_facility),
    /* The whitelist in force: its sources and the poller. */
    KEY("WhitelistFile", K_STRING, whitelist_file),
    { "Redis", K_REDIS, offsetof(struct config, redis), 0, false },
    { "RedisPassword", K_STRING, offsetof(struct config, redis_password), 0, true },
    KEY("RedisTimeout", K_INT, redis_timeout_ms),
    KEY("RedisPrefix", K_STRING, redis_prefix),
    KEY("SnapshotFile", K_STRING, snapshot_file),
    KEY("WhitelistPoll", K_INT, whitelist_poll_ms),
    /* The fetcher thread (whitelist/refresher.h). */
    KEY("WhitelistURL", K_STRING, whitelist_url),
    KEY("WhitelistCAFile", K_STRING, whitelist_ca_file),
    KEY("WhitelistClientCert", K_STRING, whitelist_client_cert),
    KEY("WhitelistClientKey", K_STRING, whitelist_client_key),
    KEY("WhitelistConnectTimeout", K_INT, whitelist_connect_timeout_ms),
    KEY("WhitelistTimeout", K_INT, whitelist_timeout_ms),
    KEY("WhitelistMaxSize", K_SIZE, whitelist_max_size),
    KEY("WhitelistMinDomains", K_INT, whitelist_min_domains),
    KEY("WhitelistMaxShrink", K_INT, whitelist_max_shrink),
    KEY("WhitelistRefresh", K_INT, whitelist_refresh_ms),
    KEY("WhitelistMaxAge", K_INT, whitelist_max_age_ms),
    /* The patient rules read the startup configuration (milter/patients.c). */
    KEY("PatientKeyCheck", K_BOOL, patient_key_warn),
    KEY("FinWithContent", K_BOOL, fin_content_accept),
    { "PharmacyMailboxes", K_LIST, offsetof(struct config, pharmacy_mailboxes),
      offsetof(struct config, n_pharmacy_mailboxes), false },
    KEY("ConversationTTL", K_LLONG, conversation_ttl),
    /* The notice worker runs with the startup configuration (milter/forwarding.c). */
    KEY("NotifyWorker", K_BOOL, notify_worker),
    KEY("NotifySMTP", K_STRING, notify_smtp),
    KEY("NotifySender", K_STRING, notify_sender),
    KEY("NotifyTemplate", K_STRING, notify_template_file),
    KEY("NotifyRetry", K_INT, notify_retry_ms),
    KEY("NotifyRetryMax", K_INT, notify_retry_max_ms),
    KEY("NotifyMaxAge", K_INT, notify_max_age_ms),
    KEY("NotifyMaxAttempts", K_INT, notify_max_attempts),
    KEY("NotifyTimeout", K_INT, notify_timeout_ms),
    /* Written by the whitelist poller with the startup configuration (whitelist/live.c). */
    KEY("TLSPolicyFile", K_STRING, tls_policy_file),
    KEY("TLSPolicyLevel", K_BOOL, tls_policy_encrypt),
};

typedef char **strlist;      /* so that "const strlist *" reads as meant */

#define FIELD(cfg, k, type) ((type *)(void *)((char *)(cfg) + (k)->off))
#define CFIELD(cfg, k, type) ((const type *)(const void *)((const char *)(cfg) + (k)->off))

static bool same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!same_string(a[i], b[i]))
            return false;
    return true;
}

static bool key_same(const struct restart_key *k, const struct config *a,
                     const struct config *b)
{
    switch (k->kind) {
    case K_STRING:
        return same_string(*CFIELD(a, k, char *), *CFIELD(b, k, char *));
    case K_INT:
        return *CFIELD(a, k, int) == *CFIELD(b, k, int);
    case K_BOOL:
        return *CFIELD(a, k, bool) == *CFIELD(b, k, bool);
    case K_SIZE:
        return *CFIELD(a, k, size_t) == *CFIELD(b, k, size_t);
    case K_LLONG:
        return *CFIELD(a, k, long long) == *CFIELD(b, k, long long);
    case K_LIST:
        return same_list(*CFIELD(a, k, strlist), *(const size_t *)(const void *)
                         ((const char *)a + k->count_off), *CFIELD(b, k, strlist),
                         *(const size_t *)(const void *)((const char *)b + k->count_off));
    case K_REDIS:
        return a->redis_enabled == b->redis_enabled
               && same_string(a->redis.host, b->redis.host) && a->redis.port == b->redis.port
               && same_string(a->redis.unix_path, b->redis.unix_path);
    }
    return false;
}

static char *dup_or_null(const char *s, bool *ok)
{
    char *copy;

    if (s == NULL)
        return NULL;
    if ((copy = strdup(s)) == NULL)
        *ok = false;
    return copy;
}

static char **dup_list(char *const *list, size_t n, bool *ok)
{
    char **copy;

    if (list == NULL)
        return NULL;
    if ((copy = calloc(n + 1, sizeof(*copy))) == NULL) {
        *ok = false;
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        copy[i] = dup_or_null(list[i], ok);
    return copy;
}

static void free_list(char **list)
{
    for (char **p = list; p != NULL && *p != NULL; p++)
        free(*p);
    free(list);
}

/* Put OLD's value of key K into FRESH.  False when out of memory. */
static bool keep_value(const struct restart_key *k, struct config *fresh,
                       const struct config *old)
{
    bool ok = true;

    switch (k->kind) {
    case K_STRING: {
        char **slot = FIELD(fresh, k, char *);
        char *copy = dup_or_null(*CFIELD(old, k, char *), &ok);
        if (ok) {
            free(*slot);
            *slot = copy;
        }
        break;
    }
    case K_INT:
        *FIELD(fresh, k, int) = *CFIELD(old, k, int);
        break;
    case K_BOOL:
        *FIELD(fresh, k, bool) = *CFIELD(old, k, bool);
        break;
    case K_SIZE:
        *FIELD(fresh, k, size_t) = *CFIELD(old, k, size_t);
        break;
    case K_LLONG:
        *FIELD(fresh, k, long long) = *CFIELD(old, k, long long);
        break;
    case K_LIST: {
        size_t n = *(const size_t *)(const void *)((const char *)old + k->count_off);
        char **copy = dup_list(*CFIELD(old, k, strlist), n, &ok);
        if (!ok) {
            free_list(copy);
            break;
        }
        free_list(*FIELD(fresh, k, char **));
        *FIELD(fresh, k, char **) = copy;
        *(size_t *)(void *)((char *)fresh + k->count_off) = n;
        break;
    }
    case K_REDIS: {
        char *host = dup_or_null(old->redis.host, &ok);
        char *path = dup_or_null(old->redis.unix_path, &ok);
        if (!ok) {
            free(host);
            free(path);
            break;
        }
        free(fresh->redis.host);
        free(fresh->redis.unix_path);
        fresh->redis = old->redis;
        fresh->redis.host = host;
        fresh->redis.unix_path = path;
        fresh->redis_enabled = old->redis_enabled;
        break;
    }
    }
    return ok;
}

/* The value of K for the log: only strings are worth quoting. */
static void describe(const struct restart_key *k, const struct config *cfg, char *buf,
                     size_t size)
{
    const char *s;

    if (k->secret) {
        snprintf(buf, size, "(not shown)");
        return;
    }
    switch (k->kind) {
    case K_STRING:
        s = *CFIELD(cfg, k, char *);
        if (s != NULL)
            snprintf(buf, size, "\"%s\"", s);
        else
            snprintf(buf, size, "unset");
        return;
    case K_INT:
        if (k->off == offsetof(struct config, socket_mode))
            snprintf(buf, size, "0%o", (unsigned)*CFIELD(cfg, k, int));
        else
            snprintf(buf, size, "%d", *CFIELD(cfg, k, int));
        return;
    case K_REDIS:
        if (!cfg->redis_enabled)
            snprintf(buf, size, "unset");
        else if (cfg->redis.unix_path != NULL)
            snprintf(buf, size, "unix:%s", cfg->redis.unix_path);
        else
            snprintf(buf, size, "%s:%d", cfg->redis.host, cfg->redis.port);
        return;
    case K_BOOL:
    case K_SIZE:
    case K_LLONG:
    case K_LIST:
        break;
    }
    snprintf(buf, size, "(as before)");
}

/* Restart-only keys: FRESH gets RUNNING's value back, with a warning for
 * each one that differs.  -1 when out of memory. */
static int keep_restart_keys(struct config *fresh, const struct config *running)
{
    char was[160], wanted[160];

    for (size_t i = 0; i < sizeof(restart_keys) / sizeof(restart_keys[0]); i++) {
        const struct restart_key *k = &restart_keys[i];

        if (key_same(k, fresh, running))
            continue;
        describe(k, running, was, sizeof(was));
        describe(k, fresh, wanted, sizeof(wanted));
        if (k->kind == K_STRING || k->kind == K_INT || k->kind == K_REDIS)
            log_warning("reload: %s changed to %s: needs a restart; keeping %s", k->name,
                        wanted, was);
        else
            log_warning("reload: %s changed: needs a restart; keeping the running value",
                        k->name);
        if (!keep_value(k, fresh, running))
            return -1;
    }
    return 0;
}

/* ---- reload ------------------------------------------------------------------ */

static void log_config_error(void *arg, const char *line)
{
    (void)arg;
    log_error("reload: %s", line);
}

/* A LocalDomains entry the list in force does not know: other operators
 * refuse its mail.  Said at start by main.c, and again after a reload. */
static void warn_unlisted(const struct config *cfg)
{
    const struct whitelist *wl = live_acquire();

    for (size_t i = 0; wl != NULL && i < cfg->n_local_domains; i++)
        if (!whitelist_lookup(wl, cfg->local_domains[i]))
            log_warning("LocalDomains: %s is not on the whitelist in force (version %s): "
                        "other operators will refuse its mail", cfg->local_domains[i],
                        wl->version);
    live_release();
}

static int reload_locked(void)
{
    const struct config *running;
    struct config *fresh;
    struct holder *h;

    fresh = config_load_report(startup_cfg->path, log_config_error, NULL);
    if (fresh == NULL) {
        log_error("reload: %s has errors: the running configuration stays in force",
                  startup_cfg->path);
        return -1;
    }
    if (finish_fn != NULL && finish_fn(fresh) < 0) {
        log_error("reload: %s cannot be used: the running configuration stays in force",
                  startup_cfg->path);
        config_free(fresh);
        return -1;
    }
    running = service_config_acquire();
    if (keep_restart_keys(fresh, running) < 0 || (h = holder_new(fresh, true)) == NULL) {
        service_config_release(running);
        log_error("reload: out of memory: the running configuration stays in force");
        config_free(fresh);
        return -1;
    }
    service_config_release(running);
    install(h);
    log_set_level(fresh->log_level);
    log_notice("reloaded %s: %zu local domain(s)%s; connections already open keep the "
               "previous configuration", fresh->path, fresh->n_local_domains,
               fresh->dry_run ? ", DryRun: nothing refused" : "");
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
    pthread_mutex_unlock(&reload_lock);
    stats_reload(rc == 0);
    return rc;
}

/* ---- stop ---------------------------------------------------------------------- */

bool service_stopping(void)
{
    return atomic_load_explicit(&stopping, memory_order_relaxed);
}

void service_stopping_reply(struct verdict *v)
{
    verdict_set(v, ACT_TEMPFAIL, "shutting-down", "451", "4.3.2",
                "Service en cours d'arret, nouvel essai plus tard / "
                "Service shutting down, please try again later");
}

/* Wait for the messages in flight, then (briefly) for the sessions. */
static void drain(void)
{
    const struct config *cfg = service_config_acquire();
    long long start = monotonic_ms();
    long long deadline = start + (cfg != NULL ? cfg->shutdown_timeout_ms : 0);
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
    const char *path = socket_unix_path(spec), *port, *at;
    struct addrinfo hints, *ai = NULL;
    char host[256] = "", service[32];
    int fd = -1;

    if (path != NULL) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) >= 0)
            (void)connect(fd, (struct sockaddr *)&sun, sizeof(sun));
        return fd;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (strncmp(spec, "inet:", 5) == 0) {
        hints.ai_family = AF_INET;
        port = spec + 5;
    } else if (strncmp(spec, "inet6:", 6) == 0) {
        hints.ai_family = AF_INET6;
        port = spec + 6;
    } else {
        return -1;
    }
    at = strchr(port, '@');
    snprintf(service, sizeof(service), "%.*s", (int)(at ? at - port : (long)strlen(port)), port);
    if (at != NULL)
        snprintf(host, sizeof(host), "%s", at + 1);
    /* A socket bound to every address answers on the loopback too. */
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        snprintf(host, sizeof(host), "%s", hints.ai_family == AF_INET ? "127.0.0.1" : "::1");
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
    fd = wake_listener(startup_cfg->socket);
    smfi_stop();
    if (fd >= 0)
        close(fd);
}

/* ---- the signal thread --------------------------------------------------------- */

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
