/*
 * sentinel.c - discovery of the Redis master through the sentinels, the
 * preference order of the sentinels and the master's epoch (see
 * sentinel.h; the +switch-master watcher is in sentinel_watch.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/redis.h"
#include "common/sentinel.h"
#include "common/sentinel_internal.h"

#define NOTES_MAX 1536      /* what a failed discovery has to say */

/* ---- settings ------------------------------------------------------------ */

static bool set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* strdup that keeps NULL (and "") as NULL; false when out of memory. */
static bool dup_opt(char **dst, const char *src)
{
    *dst = set(src) ? strdup(src) : NULL;
    return !set(src) || *dst != NULL;
}

static int copy_list(struct redis_addr_list *dst, const struct redis_addr_list *src)
{
    if ((dst->v = calloc(src->n, sizeof(*dst->v))) == NULL)
        return -1;
    for (dst->n = 0; dst->n < src->n; dst->n++)
        if (redis_addr_copy(&dst->v[dst->n], &src->v[dst->n]) < 0)
            return -1;
    return 0;
}

struct sentinel *sentinel_new(const struct sentinel_settings *set_in, struct err *err)
{
    struct sentinel *s;

    if (!set(set_in->master_name) || set_in->sentinels == NULL || set_in->sentinels->n == 0
        || set_in->sentinels->n > REDIS_ADDR_LIST_MAX) {
        err_set(err, "Redis Sentinel needs a master name and 1 to %d sentinels",
                REDIS_ADDR_LIST_MAX);
        return NULL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
        goto oom;
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        s = NULL;
        goto oom;
    }
    s->db = set_in->db;
    s->timeout_ms = set_in->timeout_ms > 0 ? set_in->timeout_ms : REDIS_DEFAULT_TIMEOUT_MS;
    s->on_event = set_in->on_event;
    s->event_arg = set_in->event_arg;
    for (size_t i = 0; i < set_in->sentinels->n; i++)
        s->order[i] = i;
    if (!dup_opt(&s->name, set_in->master_name) || copy_list(&s->sentinels, set_in->sentinels) < 0
        || !dup_opt(&s->sentinel_password, set_in->sentinel_password)
        || !dup_opt(&s->user, set_in->auth.user) || !dup_opt(&s->password, set_in->auth.password))
        goto oom;
    return s;

oom:
    sentinel_free(s);
    err_set(err, "out of memory");
    return NULL;
}

void sentinel_free(struct sentinel *s)
{
    if (s == NULL)
        return;
    sentinel_watch_stop(s);
    redis_addr_list_free(&s->sentinels);
    redis_addr_free(&s->master);
    redis_addr_free(&s->replaced);
    free(s->name);
    free(s->sentinel_password);
    free(s->user);
    free(s->password);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- shared state ---------------------------------------------------------- */

void sentinel_event(struct sentinel *s, enum sentinel_event kind, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    if (s->on_event == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    s->on_event(s->event_arg, kind, text);
}

void sentinel_order_copy(struct sentinel *s, size_t *order)
{
    pthread_mutex_lock(&s->lock);
    memcpy(order, s->order, s->sentinels.n * sizeof(*order));
    pthread_mutex_unlock(&s->lock);
}

void sentinel_promote(struct sentinel *s, size_t i)
{
    size_t k;

    pthread_mutex_lock(&s->lock);
    for (k = 0; k < s->sentinels.n && s->order[k] != i; k++)
        ;
    if (k < s->sentinels.n) {
        memmove(&s->order[1], &s->order[0], k * sizeof(s->order[0]));
        s->order[0] = i;
    }
    pthread_mutex_unlock(&s->lock);
}

void sentinel_name(const struct sentinel *s, size_t i, char *buf, size_t size)
{
    redis_addr_format(&s->sentinels.v[i], buf, size);
}

/* Under s->lock: is M the master the last +switch-master replaced, and
 * was that recent? */
static bool stale_locked(struct sentinel *s, const struct redis_addr *m, long long now_ms)
{
    return s->switched_ms != 0 && now_ms - s->switched_ms < SENTINEL_STALE_MS
           && s->replaced.host != NULL && redis_addr_equal(&s->replaced, m);
}

bool sentinel_is_stale(struct sentinel *s, const struct redis_addr *m, long long now_ms)
{
    bool stale;

    pthread_mutex_lock(&s->lock);
    stale = stale_locked(s, m, now_ms);
    pthread_mutex_unlock(&s->lock);
    return stale;
}

/* Under s->lock: make COPY (taken over) the master; WAS gets the previous
 * one as text ("" when none). */
static void switch_locked(struct sentinel *s, struct redis_addr *copy, bool announced,
                          char *was, size_t wlen)
{
    was[0] = '\0';
    if (s->master.host != NULL)
        redis_addr_format(&s->master, was, wlen);
    if (announced) {
        redis_addr_free(&s->replaced);
        s->replaced = s->master;
        s->switched_ms = s->master.host != NULL ? monotonic_ms() : 0;
    } else {
        redis_addr_free(&s->master);
    }
    s->master = *copy;
    s->epoch++;
}

unsigned long sentinel_note_master(struct sentinel *s, const struct redis_addr *m,
                                   bool announced, const char *via)
{
    char now[REDIS_ADDR_TEXT_MAX], was[REDIS_ADDR_TEXT_MAX] = "";
    struct redis_addr copy;
    unsigned long epoch;
    bool changed = false;

    if (redis_addr_copy(&copy, m) < 0)
        return sentinel_epoch(s);      /* out of memory: keep what we knew */
    pthread_mutex_lock(&s->lock);
    if (s->master.host != NULL && redis_addr_equal(&s->master, m)) {
        epoch = s->epoch;
    } else if (!announced && stale_locked(s, m, monotonic_ms())) {
        epoch = 0;
    } else {
        switch_locked(s, &copy, announced, was, sizeof(was));
        changed = true;
        epoch = s->epoch;
    }
    pthread_mutex_unlock(&s->lock);
    if (!changed) {
        redis_addr_free(&copy);
        return epoch;
    }
    redis_addr_format(m, now, sizeof(now));
    if (was[0] != '\0')
        sentinel_event(s, SENTINEL_EVENT_MASTER, "Redis master \"%s\" is now %s (was %s), %s %s",
                       s->name, now, was, announced ? "+switch-master from sentinel"
                                                    : "from sentinel", via);
    else
        sentinel_event(s, SENTINEL_EVENT_MASTER, "Redis master \"%s\" is %s, %s %s", s->name,
                       now, announced ? "+switch-master from sentinel" : "from sentinel", via);
    return epoch;
}

unsigned long sentinel_epoch(struct sentinel *s)
{
    unsigned long e;

    pthread_mutex_lock(&s->lock);
    e = s->epoch;
    pthread_mutex_unlock(&s->lock);
    return e;
}

void sentinel_describe(struct sentinel *s, char *master, size_t mlen, char *order, size_t olen)
{
    size_t idx[REDIS_ADDR_LIST_MAX], used = 0;
    char one[REDIS_ADDR_TEXT_MAX];

    pthread_mutex_lock(&s->lock);
    if (s->master.host != NULL)
        redis_addr_format(&s->master, master, mlen);
    else if (mlen > 0)
        master[0] = '\0';
    memcpy(idx, s->order, s->sentinels.n * sizeof(idx[0]));
    pthread_mutex_unlock(&s->lock);
    if (olen > 0)
        order[0] = '\0';
    for (size_t k = 0; k < s->sentinels.n && used < olen; k++) {
        sentinel_name(s, idx[k], one, sizeof(one));
        used += (size_t)snprintf(order + used, olen - used, "%s%s", k ? "," : "", one);
    }
}

/* ---- talking to one sentinel ------------------------------------------------ */

/* "redis NAME: why" (the wording of common/redis.c) -> "sentinel NAME: why". */
static void as_sentinel(struct err *why)
{
    if (why != NULL && strncmp(why->msg, "redis ", 6) == 0
        && strlen(why->msg) + 3 < sizeof(why->msg))
        err_set(why, "sentinel %s", why->msg + 6);
}

redisContext *sentinel_open(struct sentinel *s, size_t i, struct err *why)
{
    const struct redis_auth auth = { NULL, s->sentinel_password };
    redisContext *c = redis_open(&s->sentinels.v[i], &auth, 0, s->timeout_ms, why);

    if (c != NULL)
        return c;
    as_sentinel(why);
    /* A refused AUTH (not a lost connection): the password is ours. */
    if (why != NULL && strstr(why->msg, ": AUTH: ") != NULL
        && (strstr(why->msg, "WRONGPASS") != NULL || strstr(why->msg, ": AUTH: ERR ") != NULL)
        && strlen(why->msg) + 40 < sizeof(why->msg))
        err_set(why, "%s (check RedisSentinelPassword)", why->msg);
    return NULL;
}

/* Parse the [ip, port] answer of get-master-addr-by-name. */
static int parse_master(const struct sentinel *s, const redisReply *r, struct redis_addr *out,
                        struct err *why, const char *sname)
{
    struct err detail;

    if (r->type == REDIS_REPLY_NIL) {
        err_set(why, "sentinel %s: does not know master \"%s\"", sname, s->name);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        err_set(why, "sentinel %s: unexpected answer to get-master-addr-by-name", sname);
        return -1;
    }
    if (redis_addr_from_parts(r->element[0]->str, r->element[1]->str, out, &detail) < 0) {
        err_set(why, "sentinel %s: named a master with an %s", sname, detail.msg);
        return -1;
    }
    return 0;
}

int sentinel_ask(struct sentinel *s, size_t i, struct redis_addr *out, struct err *why)
{
    const char *argv[] = { "SENTINEL", "get-master-addr-by-name", s->name };
    char sname[REDIS_ADDR_TEXT_MAX];
    redisContext *c;
    redisReply *r;
    int rc = -1;

    if ((c = sentinel_open(s, i, why)) == NULL)
        return -1;
    sentinel_name(s, i, sname, sizeof(sname));
    r = redisCommandArgv(c, 3, argv, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        bool noauth = r != NULL && strncmp(r->str, "NOAUTH", 6) == 0;

        err_set(why, "sentinel %s: get-master-addr-by-name: %s%s", sname,
                redis_failure(c, r),
                noauth && s->sentinel_password == NULL ? " (is RedisSentinelPassword set?)"
                                                       : "");
    } else {
        rc = parse_master(s, r, out, why, sname);
    }
    if (r != NULL)
        freeReplyObject(r);
    redisFree(c);
    return rc;
}

/* ---- discovery ------------------------------------------------------------------ */

/* Append "; TEXT" (or TEXT first) to NOTES, cut at NOTES_MAX. */
static void add_note(char *notes, const char *text)
{
    size_t used = strlen(notes);

    if (used + 3 < NOTES_MAX
        && snprintf(notes + used, NOTES_MAX - used, "%s%s", used ? "; " : "", text) < 0)
        notes[used] = '\0';
}

enum step { STEP_NEXT, STEP_STOP, STEP_DONE };

/* Connect to the master M that sentinel SNAME named and check it.  On
 * failure, WHY says why and the result says whether another sentinel is
 * worth asking (STEP_NEXT: M is unreachable or not the master) or not
 * (STEP_STOP: M refused our credentials, database or ROLE). */
static enum step open_master(struct sentinel *s, const struct redis_addr *m,
                             redisContext **out, struct err *why)
{
    const struct redis_auth auth = { s->user, s->password };
    redisContext *c = redis_connect_addr(m, s->timeout_ms, why);
    int role;

    if (c == NULL)
        return STEP_NEXT;
    if (redis_handshake(c, &auth, s->db, why) < 0) {
        bool refused = c->err == 0;      /* an answer, not a lost connection */

        redisFree(c);
        return refused ? STEP_STOP : STEP_NEXT;
    }
    role = redis_is_master(c, why);
    if (role != 1) {
        bool refused = role < 0 && c->err == 0;

        redisFree(c);
        return refused ? STEP_STOP : STEP_NEXT;
    }
    *out = c;
    return STEP_DONE;
}

/* Steps 1-3 with sentinel I.  NOTES gathers what went wrong. */
static enum step try_sentinel(struct sentinel *s, size_t i, redisContext **out,
                              struct sentinel_master *found, char *notes)
{
    char note[2 * REDIS_ADDR_TEXT_MAX + ERR_MSG_MAX + 32];
    struct err why;
    char sname[REDIS_ADDR_TEXT_MAX], mname[REDIS_ADDR_TEXT_MAX];
    struct redis_addr m = { NULL, 0, NULL };
    unsigned long epoch = 0;
    enum step st;

    if (sentinel_ask(s, i, &m, &why) < 0) {
        add_note(notes, why.msg);
        return STEP_NEXT;
    }
    sentinel_name(s, i, sname, sizeof(sname));
    redis_addr_format(&m, mname, sizeof(mname));
    if (sentinel_is_stale(s, &m, monotonic_ms())) {
        snprintf(note, sizeof(note), "sentinel %s named %s, the master a +switch-master "
                 "just replaced: behind, skipped", sname, mname);
        add_note(notes, note);
        redis_addr_free(&m);
        return STEP_NEXT;
    }
    sentinel_promote(s, i);
    st = open_master(s, &m, out, &why);
    if (st == STEP_DONE && (epoch = sentinel_note_master(s, &m, false, sname)) == 0) {
        /* A +switch-master replaced M while we were connecting to it. */
        redisFree(*out);
        *out = NULL;
        err_set(&why, "replaced by a +switch-master meanwhile");
        st = STEP_NEXT;
    }
    if (st != STEP_DONE) {
        snprintf(note, sizeof(note), "sentinel %s named %s: %s", sname, mname, why.msg);
        add_note(notes, note);
    } else if (found != NULL) {
        found->epoch = epoch;
        snprintf(found->addr, sizeof(found->addr), "%s", mname);
        snprintf(found->via, sizeof(found->via), "%s", sname);
    }
    redis_addr_free(&m);
    return st;
}

redisContext *sentinel_connect(struct sentinel *s, struct sentinel_master *found,
                               struct err *err)
{
    size_t order[REDIS_ADDR_LIST_MAX];
    char notes[NOTES_MAX] = "";
    redisContext *c = NULL;

    sentinel_order_copy(s, order);
    for (size_t k = 0; k < s->sentinels.n; k++) {
        enum step st = try_sentinel(s, order[k], &c, found, notes);

        if (st == STEP_DONE)
            return c;
        if (st == STEP_STOP)
            break;
    }
    err_set(err, "no Redis master \"%s\" found: %s", s->name, notes);
    return NULL;
}
