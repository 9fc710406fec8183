/*
 * fetch_publish.c - one whitelist refresh: lock, download, check,
 * publish, record (the steps and the Redis keys are described in
 * fetch_publish.h).
 *
 * Why a Redis lock: every MX node may run the refresh (the daemon's
 * thread, cron'ed "mssantectl whitelist fetch"), and they share one
 * Redis.  Two concurrent downloads would both be correct, but both would
 * publish, so every node would load the list twice and "previous" would
 * name a copy of the current list instead of the one before it.  The lock
 * is the usual SET NX PX with a random token: it expires by itself when
 * its holder dies, and only its holder deletes it.
 *
 * Why the validators are tied to a version: a 304 means "the list you
 * already have is current", which is only true of the version they came
 * with.  After a rollback or a manual "whitelist load" they are not sent,
 * and the next fetch downloads the whole list and goes through the guard.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/redis.h"
#include "whitelist/ansxml.h"
#include "whitelist/domainset.h"
#include "whitelist/fetch_publish.h"
#include "whitelist/guard.h"
#include "whitelist/snapshot.h"
#include "whitelist/store.h"

#define DEFAULT_PREFIX   "mssante:"
#define KEY_MAX          600
#define LOCK_MARGIN_MS   60000LL   /* Redis work after the download */
#define WAIT_STEP_MS     200

/* Compare-and-delete: release the lock only if it is still ours. */
static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";

void refresh_options_init(struct refresh_options *opt)
{
    memset(opt, 0, sizeof(*opt));
}

const char *refresh_status_name(enum refresh_status s)
{
    switch (s) {
    case REFRESH_PUBLISHED:    return "published";
    case REFRESH_NOT_MODIFIED: return "not-modified";
    case REFRESH_UNCHANGED:    return "unchanged";
    case REFRESH_BUSY:         return "busy";
    case REFRESH_REFUSED:      return "refused";
    case REFRESH_FAILED:       return "failed";
    }
    return "failed";
}

bool refresh_status_ok(enum refresh_status s)
{
    return s == REFRESH_PUBLISHED || s == REFRESH_NOT_MODIFIED || s == REFRESH_UNCHANGED;
}

long long refresh_lock_ttl_ms(const struct fetch_settings *fs)
{
    return (long long)fs->connect_timeout_ms + fs->timeout_ms
           + LOCK_MARGIN_MS;
}

/* ------------------------------------------------------------------ */
/* Redis plumbing                                                       */
/* ------------------------------------------------------------------ */

static int make_key(char *buf, const char *prefix, const char *name, struct err *err)
{
    int n = snprintf(buf, KEY_MAX, "%s%s", prefix ? prefix : DEFAULT_PREFIX, name);

    if (n < 0 || n >= KEY_MAX) {
        err_set(err, "redis key prefix too long");
        return -1;
    }
    return 0;
}

/* Run a command given as argv; NULL + err on a connection error or an
 * error reply.  The error names the verb and the key, never a value. */
static redisReply *run(redisContext *c, struct err *err, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);

    if (r != NULL && r->type != REDIS_REPLY_ERROR)
        return r;
    if (r == NULL)
        err_set(err, "redis: %s %s: %s", argv[0], argc > 1 ? argv[1] : "",
                c->errstr[0] ? c->errstr : "no reply");
    else
        err_set(err, "redis: %s %s: %s", argv[0], argc > 1 ? argv[1] : "", r->str);
    if (r != NULL)
        freeReplyObject(r);
    return NULL;
}

static int run_ok(redisContext *c, struct err *err, int argc, const char **argv)
{
    redisReply *r = run(c, err, argc, argv);

    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

static void host_name(char *host, size_t hostlen)
{
    if (gethostname(host, hostlen) != 0)
        snprintf(host, hostlen, "unknown");
    host[hostlen - 1] = '\0';
}

void refresh_own_prefix(char *buf, size_t size)
{
    char host[64];

    host_name(host, sizeof(host));
    snprintf(buf, size, "%s:%ld:", host, (long)getpid());
}

bool refresh_others_turn(const struct refresh_state *st, long long now, long long refresh_ms,
                         const char *own_prefix, long long *since)
{
    size_t n = strlen(own_prefix);

    *since = now - st->last_attempt;
    if (st->last_attempt <= 0 || *since < 0 || *since * 1000 >= refresh_ms / 10 * 9)
        return false;
    return n == 0 || strncmp(st->last_token, own_prefix, n) != 0;
}

/* "host:pid:random": who holds the lock, unique per attempt.  The host
 * name alone goes to host. */
static void make_token(char *buf, size_t size, char *host, size_t hostlen)
{
    unsigned long long rnd = 0;

    host_name(host, hostlen);
    if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        rnd = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);
    snprintf(buf, size, "%s:%ld:%016llx", host, (long)getpid(), rnd);
}

/* 1 taken, 0 held by someone else (their token in holder), -1 error. */
static int lock_take(redisContext *c, const char *key, const char *token, long long ttl_ms,
                     char *holder, size_t holderlen, struct err *err)
{
    char ttl[32];
    const char *set_argv[] = { "SET", key, token, "NX", "PX", ttl };
    const char *get_argv[] = { "GET", key };
    redisReply *r;

    snprintf(ttl, sizeof(ttl), "%lld", ttl_ms);
    if ((r = run(c, err, 6, set_argv)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STATUS) {
        freeReplyObject(r);
        return 1;
    }
    freeReplyObject(r);
    holder[0] = '\0';
    if ((r = run(c, err, 2, get_argv)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING)
        snprintf(holder, holderlen, "%.*s", (int)r->len, r->str);
    freeReplyObject(r);
    return 0;
}

static void lock_release(redisContext *c, const char *key, const char *token)
{
    const char *argv[] = { "EVAL", release_script, "1", key, token };

    if (!c->err)
        run_ok(c, NULL, 5, argv);
}

/* ------------------------------------------------------------------ */
/* PREFIX wl:fetch                                                      */
/* ------------------------------------------------------------------ */

static void state_field(struct refresh_state *st, const char *name, const char *v, size_t len)
{
    static const struct {
        const char *name;
        size_t off, size;
    } text[] = {
#define TEXT(f) { #f, offsetof(struct refresh_state, f), sizeof(((struct refresh_state *)0)->f) }
        TEXT(last_result), TEXT(last_error), TEXT(last_error_kind), TEXT(node),
        TEXT(last_token), TEXT(checked_version), TEXT(etag), TEXT(last_modified),
        TEXT(validators_for), TEXT(rolled_back_sha256),
#undef TEXT
    };
    size_t i;

    if (strcmp(name, "last_attempt") == 0)
        st->last_attempt = strtoll(v, NULL, 10);
    else if (strcmp(name, "last_success") == 0)
        st->last_success = strtoll(v, NULL, 10);
    else if (strcmp(name, "last_error_at") == 0)
        st->last_error_at = strtoll(v, NULL, 10);
    else if (strcmp(name, "last_duration_ms") == 0)
        st->last_duration_ms = strtoll(v, NULL, 10);
    for (i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
        if (strcmp(name, text[i].name) == 0) {
            char *dst = (char *)st + text[i].off;

            /* A value that does not fit is dropped, not cut: a cut
             * validator or token would silently mean something else. */
            if (len < text[i].size) {
                memcpy(dst, v, len);
                dst[len] = '\0';
            }
            return;
        }
    }
}

int refresh_read_state(redisContext *c, const char *prefix, struct refresh_state *st,
                       struct err *err)
{
    char key[KEY_MAX];
    const char *argv[] = { "HGETALL", key };
    redisReply *r;
    size_t i;

    memset(st, 0, sizeof(*st));
    if (make_key(key, prefix, "wl:fetch", err) < 0)
        return -1;
    if ((r = run(c, err, 2, argv)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        err_set(err, "redis: HGETALL %s: unexpected reply type %d", key, r->type);
        freeReplyObject(r);
        return -1;
    }
    for (i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];

        if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
            state_field(st, f->str, v->str, v->len);
    }
    i = r->elements;
    freeReplyObject(r);
    return i > 0 ? 1 : 0;
}

/* HSET / HDEL builders for one record. */
#define MAX_FIELDS 16

struct record {
    const char *argv[2 + 2 * MAX_FIELDS];
    char nums[MAX_FIELDS][32];
    int argc, nnums;
    const char *del[2 + MAX_FIELDS];
    int ndel;
};

static void record_init(struct record *rec, const char *key)
{
    memset(rec, 0, sizeof(*rec));
    rec->argv[0] = "HSET";
    rec->argv[1] = key;
    rec->argc = 2;
    rec->del[0] = "HDEL";
    rec->del[1] = key;
    rec->ndel = 2;
}

static void record_str(struct record *rec, const char *field, const char *value)
{
    if (rec->argc + 2 > (int)(sizeof(rec->argv) / sizeof(rec->argv[0])))
        return;
    rec->argv[rec->argc++] = field;
    rec->argv[rec->argc++] = value;
}

static void record_num(struct record *rec, const char *field, long long value)
{
    if (rec->nnums >= MAX_FIELDS)
        return;
    snprintf(rec->nums[rec->nnums], sizeof(rec->nums[0]), "%lld", value);
    record_str(rec, field, rec->nums[rec->nnums++]);
}

static void record_del(struct record *rec, const char *field)
{
    if (rec->ndel < (int)(sizeof(rec->del) / sizeof(rec->del[0])))
        rec->del[rec->ndel++] = field;
}

static int record_write(redisContext *c, struct record *rec, struct err *err)
{
    if (rec->argc > 2 && run_ok(c, err, rec->argc, rec->argv) < 0)
        return -1;
    if (rec->ndel > 2 && run_ok(c, err, rec->ndel, rec->del) < 0)
        return -1;
    return 0;
}

int refresh_note_rollback(redisContext *c, const char *prefix, const char *sha256,
                          struct err *err)
{
    char key[KEY_MAX];
    const char *argv[] = { "HSET", key, "rolled_back_sha256", sha256 };

    if (make_key(key, prefix, "wl:fetch", err) < 0)
        return -1;
    return run_ok(c, err, 4, argv);
}

int refresh_wait_unlocked(redisContext *c, const char *prefix, long long timeout_ms,
                          char *holder, size_t holderlen, struct err *err)
{
    char key[KEY_MAX];
    const char *argv[] = { "GET", key };
    long long waited = 0;

    if (make_key(key, prefix, "wl:fetch:lock", err) < 0)
        return -1;
    for (;;) {
        redisReply *r = run(c, err, 2, argv);
        bool held;

        if (r == NULL)
            return -1;
        held = r->type == REDIS_REPLY_STRING;
        if (held && holder != NULL)
            snprintf(holder, holderlen, "%.*s", (int)r->len, r->str);
        freeReplyObject(r);
        if (!held)
            return 0;
        if (waited >= timeout_ms)
            return 1;
        sleep_ms(WAIT_STEP_MS);
        waited += WAIT_STEP_MS;
    }
}

/* ------------------------------------------------------------------ */
/* The refresh                                                          */
/* ------------------------------------------------------------------ */

/* Everything one attempt needs, so the steps stay short. */
struct attempt {
    const struct fetch_settings *fs;
    const struct redis_settings *rs;
    const char *prefix;             /* RedisPrefix */
    const struct refresh_options *opt;
    redisContext *c;
    redisContext *fresh;         /* opened for the bookkeeping when c failed */
    bool fresh_tried;
    struct refresh_result *out;
    char key_state[KEY_MAX];
    char key_lock[KEY_MAX];
    char token[160];
    char host[64];
    struct refresh_state st;
    bool have_current;
    struct store_meta cur;
    struct fetch_result fr;
};

static enum refresh_status finish(struct attempt *a, enum refresh_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum refresh_status finish(struct attempt *a, enum refresh_status s, const char *fmt, ...)
{
    va_list ap;

    a->out->status = s;
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(a->out->reason, sizeof(a->out->reason), fmt, ap);
        va_end(ap);
    }
    return s;
}

static enum refresh_status redis_failed(struct attempt *a, const char *err)
{
    a->out->redis_error = true;
    return finish(a, REFRESH_FAILED, "%s", err);
}

/* The version in force and its metadata: the guard's reference. */
static int read_current(struct attempt *a, struct err *err)
{
    char id[64];
    int rc;

    rc = store_current_version(a->c, a->prefix, id, sizeof(id), err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return 0;
    snprintf(a->out->version, sizeof(a->out->version), "%s", id);
    rc = store_read_meta(a->c, a->prefix, id, &a->cur, err);
    if (rc < 0)
        return -1;
    /* A current id without metadata is not a list the guard can compare
     * with; the download is judged on its own (min domains, date). */
    a->have_current = rc == 1;
    if (a->have_current) {
        a->out->count = a->cur.count;
        a->out->entries = a->cur.entries;
        snprintf(a->out->generated, sizeof(a->out->generated), "%s", a->cur.generated);
        snprintf(a->out->sha256, sizeof(a->out->sha256), "%s", a->cur.sha256);
    }
    return 0;
}

static void fill_fetch_options(const struct attempt *a, struct fetch_options *fo)
{
    fetch_options_from(fo, a->fs);
    fo->cancel = a->opt->cancel;
    fo->cancel_arg = a->opt->cancel_arg;
    /* Conditional GET only for the list the validators came with. */
    if (!a->opt->force && a->out->version[0] != '\0'
        && strcmp(a->st.validators_for, a->out->version) == 0) {
        if (a->st.etag[0] != '\0')
            fo->etag = a->st.etag;
        if (a->st.last_modified[0] != '\0')
            fo->last_modified = a->st.last_modified;
    }
}

static void write_snapshot(struct attempt *a, struct whitelist *wl)
{
    struct err err;

    if (a->opt->snapshot_file == NULL)
        return;
    snprintf(wl->version, sizeof(wl->version), "%s", a->out->version);
    wl->loaded_at = time(NULL);
    if (snapshot_write(a->opt->snapshot_file, wl, &err) < 0)
        snprintf(a->out->warning, sizeof(a->out->warning),
                 "published, but SnapshotFile not written: %.400s", err.msg);
    else
        a->out->snapshot_written = true;
}

/* A downloaded body: parse, judge, publish. */
static enum refresh_status consider(struct attempt *a)
{
    struct refresh_result *out = a->out;
    struct guard_facts cand, cur;
    struct guard_limits lim;
    struct ans_list *list;
    struct err err = { "" };
    char why[sizeof(((struct refresh_result *)0)->reason)];
    enum guard_verdict v;
    bool published = false;
    const char *url = a->fs->url;

    list = ans_parse_buffer(a->fr.body, a->fr.len, url, &err);
    if (list == NULL)
        return finish(a, REFRESH_REFUSED, "not a valid ANS list (%zu bytes): %s",
                      a->fr.len, err.msg);

    guard_facts_from_whitelist(list->wl, &cand);
    cur.domains = a->cur.count;
    cur.generated = a->cur.generated;
    cur.sha256 = a->cur.sha256;
    guard_limits_init(&lim, a->fs);
    lim.force = a->opt->force;
    v = guard_check(&cand, a->have_current ? &cur : NULL, &lim, why, sizeof(why));

    /* The list an operator rolled back from, served again unchanged. */
    if (v == GUARD_ACCEPT && !a->opt->force && a->st.rolled_back_sha256[0] != '\0'
        && strcmp(a->st.rolled_back_sha256, list->wl->sha256) == 0) {
        v = GUARD_REFUSE;
        snprintf(why, sizeof(why), "refused: this list (generated %.40s) is the one "
                 "\"mssantectl whitelist rollback\" removed; --force publishes it anyway",
                 list->wl->generated);
    }
    if (v == GUARD_REFUSE) {
        ans_list_free(list);
        return finish(a, REFRESH_REFUSED, "%s", why);
    }
    if (v == GUARD_UNCHANGED) {
        ans_list_free(list);
        return finish(a, REFRESH_UNCHANGED, "%s", why);
    }

    if (store_publish(a->c, a->prefix, list, false, &published, out->version,
                      sizeof(out->version), &err) < 0 || !published) {
        ans_list_free(list);
        return redis_failed(a, err.msg[0] ? err.msg : "publish declined");
    }
    snprintf(out->previous, sizeof(out->previous), "%s", a->cur.version);
    out->count = domainset_count(list->wl->domains);
    out->entries = list->wl->entries;
    snprintf(out->generated, sizeof(out->generated), "%s", list->wl->generated);
    snprintf(out->sha256, sizeof(out->sha256), "%s", list->wl->sha256);
    if (list->skipped > 0)
        snprintf(why + strlen(why), sizeof(why) - strlen(why),
                 " (%zu <Nom> values were not valid domain names, skipped)", list->skipped);
    if (list->cn_skipped > 0)
        snprintf(why + strlen(why), sizeof(why) - strlen(why),
                 " (%zu operator certificate DNs gave no usable CN)", list->cn_skipped);
    if (list->skipped + list->cn_skipped > 0 && strlen(why) + 12 < sizeof(why)) {
        size_t used = strlen(why);

        used += (size_t)snprintf(why + used, sizeof(why) - used, "; skipped: ");
        ans_list_skipped_text(list, why + used, sizeof(why) - used);
    }
    write_snapshot(a, list->wl);
    ans_list_free(list);
    return finish(a, REFRESH_PUBLISHED, "%s", why);
}

/*
 * The connection for what follows the download (the record, releasing
 * the lock): the caller's, or a new one when it failed meanwhile (a
 * timeout, Redis restarted); NULL when Redis cannot be reached again.
 * Without it the lock stayed behind, and every node's fetches were
 * skipped until it expired (WhitelistConnectTimeout + WhitelistTimeout
 * + 60 s).
 */
static redisContext *bookkeeping_conn(struct attempt *a)
{
    if (!a->c->err)
        return a->c;
    if (!a->fresh_tried) {
        a->fresh_tried = true;
        a->fresh = redis_connect(a->rs, NULL);
    }
    return a->fresh != NULL && !a->fresh->err ? a->fresh : NULL;
}

/* Write the outcome into PREFIX wl:fetch. */
static void record_outcome(struct attempt *a, long long duration_ms)
{
    struct refresh_result *out = a->out;
    struct record rec;
    redisContext *c;
    struct err err;
    char errline[1024];
    int rc;
    long long now = (long long)time(NULL);
    const char *kind;

    record_init(&rec, a->key_state);
    record_str(&rec, "last_result", refresh_status_name(out->status));
    record_str(&rec, "last_token", a->token);
    record_num(&rec, "last_duration_ms", duration_ms);
    if (refresh_status_ok(out->status)) {
        record_num(&rec, "last_success", now);
        record_str(&rec, "checked_version", out->version);
        /* Validators of the list now current, or none: old ones would
         * describe another list. */
        if (a->fr.etag[0] != '\0' || a->fr.last_modified[0] != '\0') {
            if (a->fr.etag[0] != '\0')
                record_str(&rec, "etag", a->fr.etag);
            else
                record_del(&rec, "etag");
            if (a->fr.last_modified[0] != '\0')
                record_str(&rec, "last_modified", a->fr.last_modified);
            else
                record_del(&rec, "last_modified");
            record_str(&rec, "validators_for", out->version);
        } else {
            record_del(&rec, "etag");
            record_del(&rec, "last_modified");
            record_del(&rec, "validators_for");
        }
        if (out->status == REFRESH_PUBLISHED)
            record_del(&rec, "rolled_back_sha256");
    } else {
        if (out->redis_error)
            kind = "redis";
        else if (out->status == REFRESH_REFUSED)
            kind = "refused";
        else
            kind = fetch_error_name(out->fetch_kind);
        snprintf(errline, sizeof(errline), "%s", out->reason);
        record_str(&rec, "last_error", errline);
        record_str(&rec, "last_error_kind", kind);
        record_num(&rec, "last_error_at", now);
    }
    err_set(&err, "Redis cannot be reached");
    c = bookkeeping_conn(a);
    rc = c != NULL ? record_write(c, &rec, &err) : -1;
    /* The caller's connection may be found dead only now: once more. */
    if (rc < 0 && c == a->c && a->c->err && (c = bookkeeping_conn(a)) != NULL)
        rc = record_write(c, &rec, &err);
    if (rc < 0 && out->warning[0] == '\0')
        snprintf(out->warning, sizeof(out->warning), "outcome not recorded in Redis: %.400s",
                 err.msg);
}

static void release_lock(struct attempt *a)
{
    redisContext *c = bookkeeping_conn(a);

    if (c == NULL)
        return;
    lock_release(c, a->key_lock, a->token);
    if (c == a->c && a->c->err && (c = bookkeeping_conn(a)) != NULL)
        lock_release(c, a->key_lock, a->token);
}

/* The part under the lock. */
static enum refresh_status locked(struct attempt *a)
{
    struct fetch_options fo;
    struct err err;
    char now[32];
    const char *mark[] = { "HSET", a->key_state, "last_attempt", now, "node", a->host };
    enum fetch_status fs;

    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    if (run_ok(a->c, &err, 6, mark) < 0)
        return redis_failed(a, err.msg);
    if (refresh_read_state(a->c, a->prefix, &a->st, &err) < 0
        || read_current(a, &err) < 0)
        return redis_failed(a, err.msg);

    fill_fetch_options(a, &fo);
    fs = fetch_list(&fo, &a->fr);
    a->out->http_code = a->fr.http_code;
    a->out->fetch_kind = a->fr.kind;
    switch (fs) {
    case FETCH_NOT_MODIFIED:
        return finish(a, REFRESH_NOT_MODIFIED, "HTTP 304: version %s is still the ANS's list",
                      a->out->version);
    case FETCH_ERROR:
        return finish(a, REFRESH_FAILED, "%s", a->fr.error);
    case FETCH_OK:
        break;
    }
    return consider(a);
}

enum refresh_status whitelist_refresh(const struct fetch_settings *fs,
                                      const struct redis_settings *rs, redisContext *c,
                                      const struct refresh_options *opt,
                                      struct refresh_result *out)
{
    struct attempt *a;
    struct err err;
    long long t0 = monotonic_ms();
    int rc;
    enum refresh_status s;

    memset(out, 0, sizeof(*out));
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        out->status = REFRESH_FAILED;
        snprintf(out->reason, sizeof(out->reason), "out of memory");
        return REFRESH_FAILED;
    }
    a->fs = fs;
    a->rs = rs;
    a->prefix = rs->prefix;
    a->opt = opt;
    a->c = c;
    a->out = out;
    if (make_key(a->key_state, rs->prefix, "wl:fetch", &err) < 0
        || make_key(a->key_lock, rs->prefix, "wl:fetch:lock", &err) < 0) {
        s = finish(a, REFRESH_FAILED, "%s", err.msg);
        free(a);
        return s;
    }
    make_token(a->token, sizeof(a->token), a->host, sizeof(a->host));

    rc = lock_take(c, a->key_lock, a->token, refresh_lock_ttl_ms(fs), out->holder,
                   sizeof(out->holder), &err);
    if (rc <= 0) {
        s = rc < 0 ? redis_failed(a, err.msg)
                   : finish(a, REFRESH_BUSY, "another fetch is in progress (%s)",
                            out->holder[0] ? out->holder : "lock just released");
        free(a);
        return s;
    }
    s = locked(a);
    record_outcome(a, monotonic_ms() - t0);
    release_lock(a);
    if (a->fresh != NULL)
        redisFree(a->fresh);
    fetch_result_free(&a->fr);
    free(a);
    return s;
}
