/*
 * sentinel_watch.c - the +switch-master watcher: one thread subscribed to
 * one sentinel, moving the known master (and its epoch) the moment
 * Sentinel announces a switch.  Why a subscriber rather than polling: see
 * sentinel.h.
 *
 * The subscription is kept honest with a PING every second: a sentinel
 * that does not answer within RedisTimeout is dropped for the next one, so
 * a silently dead link (a host gone without a reset) costs at most a
 * second and a timeout of deafness.  The socket is polled in short slices,
 * so that stopping takes at most one slice, or one connection attempt.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/redis.h"
#include "common/sentinel.h"
#include "common/sentinel_internal.h"

#define PING_EVERY_MS  1000
#define RETRY_MS       1000     /* after no sentinel would take the subscription */
#define SLICE_MS       200

static const char CHANNEL[] = "+switch-master";

/* ---- one subscription ---------------------------------------------------- */

/* Subscribe on sentinel I: the connection, or NULL with WHY. */
static redisContext *subscribe_one(struct sentinel *s, size_t i, struct err *why)
{
    char sname[REDIS_ADDR_TEXT_MAX];
    redisContext *c = sentinel_open(s, i, why);
    redisReply *r;
    bool ok;

    if (c == NULL)
        return NULL;
    sentinel_name(s, i, sname, sizeof(sname));
    r = redisCommand(c, "SUBSCRIBE %s", CHANNEL);
    ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 3
         && r->element[0]->type == REDIS_REPLY_STRING
         && strcmp(r->element[0]->str, "subscribe") == 0;
    if (!ok)
        err_set(why, "sentinel %s: SUBSCRIBE %s: %s", sname, CHANNEL,
                r != NULL && r->type != REDIS_REPLY_ERROR ? "unexpected reply"
                                                          : redis_failure(c, r));
    if (r != NULL)
        freeReplyObject(r);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* Subscribe on the first sentinel that accepts, in the preference order
 * but trying AVOID (the one just lost; SIZE_MAX for none) last.  *I gets
 * the sentinel's index. */
static redisContext *subscribe_any(struct sentinel *s, size_t avoid, size_t *i,
                                   struct err *why)
{
    size_t order[REDIS_ADDR_LIST_MAX], n = s->sentinels.n, k;
    struct err one;
    redisContext *c;

    sentinel_order_copy(s, order);
    for (k = 0; k < n && order[k] != avoid; k++)
        ;
    if (k < n) {
        memmove(&order[k], &order[k + 1], (n - k - 1) * sizeof(order[0]));
        order[n - 1] = avoid;
    }
    err_clear(why);
    for (k = 0; k < n && !stop_signal_raised(&s->stop); k++) {
        if ((c = subscribe_one(s, order[k], &one)) != NULL) {
            *i = order[k];
            return c;
        }
        if (why != NULL && strlen(why->msg) + 3 < sizeof(why->msg))
            err_set(why, "%s%s%s", why->msg, why->msg[0] != '\0' ? "; " : "", one.msg);
    }
    return NULL;
}

/* A switch might have happened while nobody listened: ask once. */
static void catch_up(struct sentinel *s, size_t i, const char *sname)
{
    struct redis_addr m = { NULL, 0, NULL };
    struct err why;

    if (sentinel_ask(s, i, &m, &why) == 0)
        sentinel_note_master(s, &m, false, sname);
    redis_addr_free(&m);
}

/* ---- messages ------------------------------------------------------------- */

static const char *str_at(const redisReply *r, size_t k)
{
    if (r->type != REDIS_REPLY_ARRAY || k >= r->elements)
        return NULL;
    if (r->element[k]->type != REDIS_REPLY_STRING && r->element[k]->type != REDIS_REPLY_STATUS)
        return NULL;
    return r->element[k]->str;
}

/* "+switch-master" payload: "NAME OLD-IP OLD-PORT NEW-IP NEW-PORT". */
static void on_switch(struct sentinel *s, const char *payload, const char *sname)
{
    char buf[600], *tok[5], *save = NULL, *p;
    struct redis_addr m;
    struct err why;
    int n = 0;

    snprintf(buf, sizeof(buf), "%s", payload);
    for (p = strtok_r(buf, " ", &save); p != NULL && n < 5; p = strtok_r(NULL, " ", &save))
        tok[n++] = p;
    if (n != 5 || strcmp(tok[0], s->name) != 0)
        return;                              /* another master this sentinel watches */
    if (redis_addr_from_parts(tok[3], tok[4], &m, &why) < 0) {
        sentinel_event(s, SENTINEL_EVENT_TROUBLE, "sentinel %s: +switch-master with an %s",
                       sname, why.msg);
        return;
    }
    sentinel_note_master(s, &m, true, sname);
    redis_addr_free(&m);
}

/* One reply read on the subscription; clears *PONG_DUE on a PONG. */
static void on_reply(struct sentinel *s, const redisReply *r, const char *sname,
                     long long *pong_due)
{
    const char *kind = str_at(r, 0);

    if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0)
        *pong_due = 0;
    else if (kind != NULL && strcmp(kind, "pong") == 0)
        *pong_due = 0;
    else if (kind != NULL && strcmp(kind, "message") == 0 && str_at(r, 1) != NULL
             && strcmp(str_at(r, 1), CHANNEL) == 0 && str_at(r, 2) != NULL)
        on_switch(s, str_at(r, 2), sname);
}

/* Send what hiredis has buffered (a PING: a few bytes). */
static int flush(redisContext *c)
{
    int done = 0;

    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* Handle every complete reply already read; -1 on a protocol error. */
static int drain(struct sentinel *s, redisContext *c, const char *sname, long long *pong_due)
{
    void *r;

    for (;;) {
        r = NULL;
        if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
            return -1;
        if (r == NULL)
            return 0;
        on_reply(s, r, sname, pong_due);
        freeReplyObject(r);
    }
}

/* Listen on C until it fails (WHY says how) or the watcher is stopped. */
static void listen_on(struct sentinel *s, redisContext *c, const char *sname,
                      struct err *why)
{
    long long next_ping = monotonic_ms() + PING_EVERY_MS, pong_due = 0, now;
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

    while (!stop_signal_raised(&s->stop)) {
        if (drain(s, c, sname, &pong_due) < 0) {
            err_set(why, "protocol error");
            return;
        }
        now = monotonic_ms();
        if (pong_due != 0 && now >= pong_due) {
            err_set(why, "no answer to PING within %d ms", s->timeout_ms);
            return;
        }
        if (pong_due == 0 && now >= next_ping) {
            if (redisAppendCommand(c, "PING") != REDIS_OK || flush(c) < 0) {
                err_set(why, "%s", redis_context_error(c));
                return;
            }
            pong_due = now + s->timeout_ms;
            next_ping = now + PING_EVERY_MS;
        }
        pfd.revents = 0;
        if (poll(&pfd, 1, SLICE_MS) < 0 && errno != EINTR) {
            err_set(why, "poll: %s", strerror(errno));
            return;
        }
        if (pfd.revents != 0 && redisBufferRead(c) != REDIS_OK) {
            err_set(why, "%s", redis_context_error(c));
            return;
        }
    }
}

/* ---- the thread ------------------------------------------------------------ */

static void *watch_main(void *arg)
{
    struct sentinel *s = arg;
    size_t avoid = (size_t)-1, i = 0;
    char sname[REDIS_ADDR_TEXT_MAX];
    bool troubled = false;
    struct err why;
    redisContext *c;

    while (!stop_signal_raised(&s->stop)) {
        if ((c = subscribe_any(s, avoid, &i, &why)) == NULL) {
            if (!troubled && !stop_signal_raised(&s->stop))
                sentinel_event(s, SENTINEL_EVENT_TROUBLE, "cannot watch Redis master \"%s\" "
                               "for +switch-master: %s", s->name, why.msg);
            troubled = true;
            stop_signal_wait_ms(&s->stop, RETRY_MS);
            continue;
        }
        troubled = false;
        sentinel_name(s, i, sname, sizeof(sname));
        sentinel_event(s, SENTINEL_EVENT_WATCHING, "watching +switch-master for Redis master "
                       "\"%s\" on sentinel %s", s->name, sname);
        catch_up(s, i, sname);
        listen_on(s, c, sname, &why);
        redisFree(c);
        avoid = i;
        if (!stop_signal_raised(&s->stop)) {
            sentinel_event(s, SENTINEL_EVENT_TROUBLE, "lost the +switch-master subscription "
                           "on sentinel %s: %s", sname, why.msg);
            troubled = true;
        }
    }
    return NULL;
}

int sentinel_watch_start(struct sentinel *s, struct err *err)
{
    int rc;

    if (s->watching)
        return 0;
    if ((rc = stop_signal_init(&s->stop)) != 0) {
        err_set(err, "sentinel watcher: %s", strerror(rc));
        return -1;
    }
    if ((rc = pthread_create(&s->thread, NULL, watch_main, s)) != 0) {
        stop_signal_destroy(&s->stop);
        err_set(err, "sentinel watcher: cannot start a thread: %s", strerror(rc));
        return -1;
    }
    s->watching = true;
    return 0;
}

void sentinel_watch_stop(struct sentinel *s)
{
    if (s == NULL || !s->watching)
        return;
    stop_signal_raise(&s->stop);
    pthread_join(s->thread, NULL);
    stop_signal_destroy(&s->stop);
    s->watching = false;
}
