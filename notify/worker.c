/*
 * worker.c - the thread that sends queued notices (queue.c holds them in
 * Redis): libcurl's SMTP client to NotifySMTP, and the backoff and give-up
 * rules of queue.h.
 *
 * The worker is one thread with its own Redis connection and one libcurl
 * easy handle per notice; it sleeps on a condition variable between polls,
 * so that the milter can wake it (notify_worker_kick) and stopping it is
 * immediate.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/curlinit.h"
#include "common/err.h"
#include "common/log.h"
#include "common/redis.h"
#include "notify/held.h"
#include "notify/queue_internal.h"

#define RECONNECT_MS    5000          /* between attempts while Redis is away */
#define ERRTEXT_MAX     300

/* ------------------------------------------------------------------ */
/* Parameters                                                           */
/* ------------------------------------------------------------------ */

void notify_worker_params_init(struct notify_worker_params *p)
{
    memset(p, 0, sizeof(*p));
    p->poll_ms = 1000;
    p->retry_min_ms = 30 * 1000LL;
    p->retry_max_ms = 3600 * 1000LL;
    p->max_age_ms = 2 * 86400 * 1000LL;
    p->max_attempts = 50;
    p->smtp_timeout_ms = 30 * 1000LL;
    p->lease_ms = 5 * 60 * 1000LL;
}

int notify_check_smtp_url(const char *url, struct err *err)
{
    const char *host;

    if (url == NULL || url[0] == '\0') {
        err_set(err, "no NotifySMTP URL");
        return -1;
    }
    if (strncmp(url, "smtp://", 7) == 0)
        host = url + 7;
    else if (strncmp(url, "smtps://", 8) == 0)
        host = url + 8;
    else {
        err_set(err, "NotifySMTP \"%s\": must start with smtp:// or smtps://", url);
        return -1;
    }
    if (host[0] == '\0' || host[0] == '/' || host[0] == ':') {
        err_set(err, "NotifySMTP \"%s\": no host", url);
        return -1;
    }
    if (strpbrk(url, " \t\r\n") != NULL) {
        err_set(err, "NotifySMTP \"%s\": white space in URL", url);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The worker                                                           */
/* ------------------------------------------------------------------ */

enum send_result { SEND_OK, SEND_TEMPORARY, SEND_PERMANENT, SEND_ABORTED };

static bool is_stopping(struct notify_worker *w)
{
    bool s;

    pthread_mutex_lock(&w->mu);
    s = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* Sleep up to MS, or until kicked or stopped. */
static void nap(struct notify_worker *w, long long ms)
{
    struct timespec ts = monotonic_timespec(monotonic_ms() + ms);

    pthread_mutex_lock(&w->mu);
    while (!w->stopping && !w->kicked) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
            break;
    }
    w->kicked = false;
    pthread_mutex_unlock(&w->mu);
}

/* ---- SMTP ------------------------------------------------------------ */

struct upload {
    const char *data;
    size_t len, off;
};

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    struct upload *u = arg;
    size_t room = size * nitems, n = u->len - u->off;

    if (n > room)
        n = room;
    memcpy(buf, u->data + u->off, n);
    u->off += n;
    return n;
}

/* Abort the transfer when the worker is asked to stop. */
static int progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return is_stopping(arg) ? 1 : 0;
}

static enum send_result smtp_send(struct notify_worker *w, const struct item *it,
                                  const char *msg, size_t len, struct err *why)
{
    char from[ADDR_MAX + 2], to[ADDR_MAX + 2], url[1024], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *rcpt = NULL;
    struct upload u = { msg, len, 0 };
    enum send_result res;
    long code = 0;
    CURLcode rc;
    CURL *h;

    if ((h = curl_easy_init()) == NULL) {
        err_set(why, "cannot create a libcurl handle");
        return SEND_TEMPORARY;
    }
    snprintf(from, sizeof(from), "<%s>", w->sender);
    snprintf(to, sizeof(to), "<%s>", it->target);
    /* The URL path is the EHLO name for libcurl's SMTP. */
    if (w->helo != NULL && strchr(strstr(w->url, "://") + 3, '/') == NULL)
        snprintf(url, sizeof(url), "%s/%s", w->url, w->helo);
    else
        snprintf(url, sizeof(url), "%s", w->url);
    if ((rcpt = curl_slist_append(NULL, to)) == NULL) {
        curl_easy_cleanup(h);
        err_set(why, "out of memory");
        return SEND_TEMPORARY;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);   /* threads: no SIGALRM */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)w->p.smtp_timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(w->p.smtp_timeout_ms < 10000 ? w->p.smtp_timeout_ms : 10000));
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, w);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    if (rc == CURLE_OK) {
        res = SEND_OK;
    } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
        res = SEND_ABORTED;
        err_set(why, "stopped");
    } else {
        res = code >= 500 && code < 600 ? SEND_PERMANENT : SEND_TEMPORARY;
        if (code > 0)
            err_set(why, "%s: SMTP %ld%s%s", curl_easy_strerror(rc), code,
                    errbuf[0] ? ": " : "", errbuf);
        else
            err_set(why, "%s%s%s", curl_easy_strerror(rc), errbuf[0] ? ": " : "",
                    errbuf);
    }
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    return res;
}

/* Delay before the attempt after N failed ones. */
static long long backoff_ms(const struct notify_worker_params *p, long long n)
{
    long long d = p->retry_min_ms;

    while (--n > 0 && d < p->retry_max_ms)
        d *= 2;
    return d < p->retry_max_ms ? d : p->retry_max_ms;
}

static void report_event(const struct notify_worker *w, enum notify_event ev)
{
    if (w->p.on_event != NULL)
        w->p.on_event(w->p.event_arg, ev);
}

static const char *show_mailbox(const struct item *it)
{
    return it->mailbox[0] ? it->mailbox : "(unknown)";
}

/*
 * Send one claimed item and record the outcome.  Returns -1 when Redis
 * failed (the caller reconnects; the item comes back after its lease).
 */
static int process(struct notify_worker *w, redisContext *c, struct item *it)
{
    struct err err, failure = { "" };
    char unique[160], why[ERRTEXT_MAX], next[32];
    struct notify_params np;
    enum send_result res;
    const char *counter;
    long long failed, t;
    size_t len = 0;
    char *msg;
    int rc;

    snprintf(unique, sizeof(unique), "mssante-notify.%s.%lld.%s", it->id, it->attempts,
             strrchr(w->token_base, ':') + 1);
    np.from = w->sender;
    np.to = it->target;
    np.mailbox = it->mailbox;
    np.date = wallclock_ms() / 1000;
    np.unique = unique;
    np.tmpl = w->p.tmpl;
    if (strcmp(it->kind, NOTIFY_KIND_HELD) == 0)
        msg = notify_held_build(np.from, np.to, it->ref, np.date, unique, &len, &failure);
    else
        msg = notify_message_build(&np, &len, &failure);
    if (msg == NULL) {
        res = SEND_PERMANENT;          /* a stored address we cannot use */
    } else {
        res = smtp_send(w, it, msg, len, &failure);
        free(msg);
    }
    /* What the queue keeps of the failure: one short line. */
    snprintf(why, sizeof(why), "%.*s", (int) sizeof(why) - 1, failure.msg);

    t = wallclock_ms();
    switch (res) {
    case SEND_OK:
        rc = nq_item_script(w, c, it, nq_finish_lua, "EVAL finish", "sent", NULL, NULL,
                            &err);
        if (rc > 0)
            report_event(w, NOTIFY_EVENT_SENT);
        if (rc >= 0)
            log_info("notify: sent id=%s mailbox=%s to=<%s> attempts=%lld", it->id,
                     show_mailbox(it), it->target, it->attempts + 1);
        break;
    case SEND_ABORTED:
        snprintf(next, sizeof(next), "%lld", t);
        rc = nq_item_script(w, c, it, nq_retry_lua, "EVAL release", next, "", "0",
                            &err);
        if (rc >= 0)
            log_info("notify: id=%s to=<%s> handed back to the queue: stopping", it->id,
                     it->target);
        break;
    default:
        failed = it->attempts + 1;
        if (res == SEND_PERMANENT
            || (w->p.max_attempts > 0 && failed >= (long long)w->p.max_attempts)
            || t - it->created >= w->p.max_age_ms) {
            counter = "failed";
            rc = nq_item_script(w, c, it, nq_finish_lua, "EVAL finish", counter, NULL,
                                NULL, &err);
            if (rc > 0)
                report_event(w, NOTIFY_EVENT_FAILED);
            if (rc >= 0)
                log_warning("notify: gave up id=%s mailbox=%s to=<%s> attempts=%lld: %s",
                            it->id, show_mailbox(it), it->target, failed, why);
        } else {
            long long delay = backoff_ms(&w->p, failed);

            snprintf(next, sizeof(next), "%lld", t + delay);
            rc = nq_item_script(w, c, it, nq_retry_lua, "EVAL retry", next, why, "1",
                                &err);
            if (rc > 0)
                report_event(w, NOTIFY_EVENT_RETRIED);
            if (rc >= 0)
                log_info("notify: deferred id=%s mailbox=%s to=<%s> attempts=%lld "
                         "retry_in=%llds: %s", it->id, show_mailbox(it), it->target, failed,
                         (delay + 999) / 1000, why);
        }
    }
    if (rc < 0) {
        log_warning("notify: id=%s: %s (the notice comes back when its lease ends)", it->id,
                    err.msg);
        return -1;
    }
    if (rc == 0)
        log_warning("notify: id=%s: claim lost to another worker (lease %llds too short?)",
                    it->id, w->p.lease_ms / 1000);
    return 0;
}

static void *worker_main(void *arg)
{
    struct notify_worker *w = arg;
    redisContext *c = NULL;
    bool down = false;
    struct err err;

    log_info("notify: worker started, sending to %s", w->url);
    while (!is_stopping(w)) {
        struct item it;
        int got;

        if (c == NULL) {
            err_clear(&err);
            if ((c = redis_connect(w->p.redis, &err)) == NULL) {
                if (w->p.on_redis_error != NULL)
                    w->p.on_redis_error();
                if (!down)
                    log_warning("notify: %s; notices wait in Redis until it is back", err.msg);
                down = true;
                nap(w, RECONNECT_MS < w->p.poll_ms ? w->p.poll_ms : RECONNECT_MS);
                continue;
            }
        }
        got = nq_claim(w, c, &it, &err);
        if (got < 0) {
            /* Redis answered with an error (a queue key of the wrong type,
             * out of memory, still loading) or the connection broke.  Such
             * an error comes back at once on a new connection: wait a poll
             * interval before trying again, and say it once, not at every
             * try (it was a busy loop writing thousands of lines a second). */
            if (!down)
                log_warning("notify: %s; notices wait in Redis until it answers", err.msg);
            down = true;
            redisFree(c);
            c = NULL;
            nap(w, w->p.poll_ms);
            continue;
        }
        if (down) {
            log_notice("notify: Redis reachable again");
            down = false;
        }
        if (got == 0) {
            nap(w, w->p.poll_ms);
            continue;
        }
        if (process(w, c, &it) < 0) {
            redisFree(c);
            c = NULL;
        }
    }
    if (c != NULL)
        redisFree(c);
    log_info("notify: worker stopped");
    return NULL;
}

static void worker_free(struct notify_worker *w)
{
    if (w == NULL)
        return;
    free(w->prefix);
    free(w->url);
    free(w->sender);
    free(w->helo);
    free(w);
}

static char *dup_or_null(const char *s, bool *failed)
{
    char *d;

    if (s == NULL)
        return NULL;
    if ((d = strdup(s)) == NULL)
        *failed = true;
    return d;
}

/* "host:pid:random": identifies this worker's claims in Redis. */
static void make_token_base(char *buf, size_t size)
{
    unsigned char rnd[6];
    char host[64] = "";
    size_t i, len;

    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "host");
    for (i = 0; host[i]; i++) {
        if (host[i] == ':' || host[i] == '.')
            host[i] = '-';      /* ':' separates the parts; '.' the Message-ID's */
    }
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        unsigned long long x = (unsigned long long)wallclock_ms()
                               ^ ((unsigned long long)getpid() << 20);

        for (i = 0; i < sizeof(rnd); i++)
            rnd[i] = (unsigned char)(x >> (8 * i));
    }
    len = (size_t)snprintf(buf, size, "%s:%ld:", host, (long)getpid());
    for (i = 0; i < sizeof(rnd) && len + 3 <= size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%02x", rnd[i]);
}

struct notify_worker *notify_worker_start(const struct notify_worker_params *p,
                                          struct err *err)
{
    struct notify_worker *w;
    pthread_condattr_t ca;
    bool failed = false;

    if (p == NULL || !redis_configured(p->redis)) {
        err_set(err, "notify: Redis is not configured");
        return NULL;
    }
    if (notify_check_smtp_url(p->smtp_url, err) < 0
        || nq_check_addr("NotifySender", p->sender, false, err) < 0)
        return NULL;
    if (p->poll_ms <= 0 || p->retry_min_ms <= 0 || p->retry_max_ms < p->retry_min_ms
        || p->max_age_ms <= 0 || p->smtp_timeout_ms <= 0 || p->lease_ms <= p->smtp_timeout_ms) {
        err_set(err, "notify: bad worker timing (the lease must exceed the SMTP "
                "timeout, the retry cap the first delay)");
        return NULL;
    }
    if (curl_init_once(err) < 0)
        return NULL;
    if ((w = calloc(1, sizeof(*w))) == NULL) {
        err_set(err, "notify: out of memory");
        return NULL;
    }
    w->p = *p;
    w->prefix = dup_or_null(p->prefix ? p->prefix : DEFAULT_PREFIX, &failed);
    w->url = dup_or_null(p->smtp_url, &failed);
    w->sender = dup_or_null(p->sender, &failed);
    w->helo = dup_or_null(p->helo, &failed);
    if (failed || nq_make_keys(&w->k, w->prefix, err) < 0) {
        if (failed)
            err_set(err, "notify: out of memory");
        worker_free(w);
        return NULL;
    }
    w->p.prefix = w->prefix;
    w->p.smtp_url = w->url;
    w->p.sender = w->sender;
    w->p.helo = w->helo;
    make_token_base(w->token_base, sizeof(w->token_base));

    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        err_set(err, "notify: cannot start the worker thread");
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        worker_free(w);
        return NULL;
    }
    return w;
}

void notify_worker_kick(struct notify_worker *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->kicked = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void notify_worker_stop(struct notify_worker *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    worker_free(w);
}
