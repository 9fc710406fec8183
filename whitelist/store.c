/*
 * store.c - whitelist versions in Redis (the key layout is in store.h).
 *
 * Publishing writes a complete version under fresh keys, in pipelined
 * batches (one SADD/HSET per thousand domains, replies read a few dozen
 * commands at a time) so a 100k-domain list costs a handful of round trips,
 * then moves wl:current inside WATCH/MULTI/EXEC.  Anything that fails before
 * the switch deletes what was written: wl:current only ever names a whole
 * version.
 *
 * Reading uses SSCAN with large pages, which keeps Redis responsive for the
 * other MX nodes while a big set is read, and checks the number of domains
 * read against the count in meta, so a version deleted mid-read is noticed
 * instead of being served half empty.
 *
 * Errors are one line; those the server or the connection caused name the
 * endpoint and the command, e.g.
 * "redis 127.0.0.1:6379: GET mssante:wl:current: timed out".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "common/redis.h"
#include "whitelist/store.h"
#include "whitelist/domainset.h"
#include "whitelist/whitelist.h"

#define DEFAULT_PREFIX   "mssante:"
#define DEFAULT_TIMEOUT  2000      /* ms, when the config says nothing */
#define KEY_MAX          600
#define BATCH_ITEMS      1000      /* members / fields per SADD or HSET */
#define MAX_PENDING      32        /* pipelined commands before reading replies */
#define SCAN_COUNT       "5000"
#define SWITCH_ATTEMPTS  4         /* the first try + 3 retries on a lost WATCH */

/* ------------------------------------------------------------------ */
/* Errors and keys                                                      */
/* ------------------------------------------------------------------ */

/* redis_run_argv() naming the command by its verb and key. */
static redisReply *run(redisContext *c, char *err, size_t errlen, int argc, const char **argv)
{
    char what[KEY_MAX + 32];

    snprintf(what, sizeof(what), "%s%s%s", argv[0], argc > 1 ? " " : "",
             argc > 1 ? argv[1] : "");
    return redis_run_argv(c, what, err, errlen, argc, argv);
}

static redisReply *run1(redisContext *c, char *err, size_t errlen, const char *cmd,
                        const char *a1)
{
    const char *argv[] = { cmd, a1 };

    return run(c, err, errlen, a1 ? 2 : 1, argv);
}

/* Run for effect only: 0 or -1 + err. */
static int run_ok(redisContext *c, char *err, size_t errlen, int argc, const char **argv)
{
    redisReply *r = run(c, err, errlen, argc, argv);

    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

static const char *pfx(const char *prefix)
{
    return prefix != NULL ? prefix : DEFAULT_PREFIX;
}

/* PREFIX wl:NAME.  The buffers are sized for any sane RedisPrefix; a
 * longer one is refused rather than truncated into the wrong key. */
static int key_global(char *buf, const char *prefix, const char *name,
                      char *err, size_t errlen)
{
    int n = snprintf(buf, KEY_MAX, "%swl:%s", pfx(prefix), name);

    if (n < 0 || n >= KEY_MAX) {
        redis_seterr(err, errlen, "redis key prefix too long");
        return -1;
    }
    return 0;
}

/* PREFIX wl:v:ID:PART */
static int key_version(char *buf, const char *prefix, const char *id, const char *part,
                       char *err, size_t errlen)
{
    int n = snprintf(buf, KEY_MAX, "%swl:v:%s:%s", pfx(prefix), id, part);

    if (n < 0 || n >= KEY_MAX) {
        redis_seterr(err, errlen, "redis key prefix too long");
        return -1;
    }
    return 0;
}

/* Version ids are INCR results: decimal, no sign.  0 means "not an id". */
static unsigned long long id_number(const char *id)
{
    char *end;
    unsigned long long v;

    if (id == NULL || *id < '0' || *id > '9')
        return 0;
    errno = 0;
    v = strtoull(id, &end, 10);
    if (errno != 0 || *end != '\0')
        return 0;
    return v;
}

static int copy_str(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                           */
/* ------------------------------------------------------------------ */

static void config_endpoint_name(const struct config *cfg, char *buf, size_t size)
{
    const struct redis_endpoint *ep = &cfg->redis;

    if (ep->unix_path != NULL)
        snprintf(buf, size, "%s%s", strncmp(ep->unix_path, "unix:", 5) ? "unix:" : "",
                 ep->unix_path);
    else if (ep->host != NULL && strchr(ep->host, ':') != NULL)
        snprintf(buf, size, "[%s]:%d", ep->host, ep->port);
    else
        snprintf(buf, size, "%s:%d", ep->host ? ep->host : "?", ep->port);
}

/* AUTH when a password is configured, then PING: a server that accepts
 * the TCP connection but is loading, protected or password-less-mismatched
 * fails here rather than on the first real command. */
static int handshake(redisContext *c, const struct config *cfg, const char *name,
                     char *err, size_t errlen)
{
    redisReply *r;

    if (cfg->redis_password != NULL && cfg->redis_password[0] != '\0') {
        const char *argv[] = { "AUTH", cfg->redis_password };

        /* Named "AUTH" alone: the password must never reach a log. */
        r = redis_run_argv(c, "AUTH", err, errlen, 2, argv);
        if (r == NULL)
            return -1;
        freeReplyObject(r);
    }
    r = run1(c, err, errlen, "PING", NULL);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0) {
        redis_seterr(err, errlen, "redis %s: PING: unexpected answer", name);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

redisContext *store_connect(const struct config *cfg, char *err, size_t errlen)
{
    const struct redis_endpoint *ep = &cfg->redis;
    int ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : DEFAULT_TIMEOUT;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    char name[300];
    redisContext *c;

    if (!cfg->redis_enabled || (ep->host == NULL && ep->unix_path == NULL)) {
        redis_seterr(err, errlen, "Redis is not configured");
        return NULL;
    }
    config_endpoint_name(cfg, name, sizeof(name));
    if (ep->unix_path != NULL) {
        const char *path = ep->unix_path;

        if (strncmp(path, "unix:", 5) == 0)
            path += 5;
        c = redisConnectUnixWithTimeout(path, tv);
    } else {
        c = redisConnectWithTimeout(ep->host, ep->port, tv);
    }
    if (c == NULL) {
        redis_seterr(err, errlen, "redis %s: out of memory", name);
        return NULL;
    }
    if (c->err) {
        redis_seterr(err, errlen, "redis %s: %s", name, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        redis_seterr(err, errlen, "redis %s: cannot set timeout: %s", name, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (handshake(c, cfg, name, err, errlen) < 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* ------------------------------------------------------------------ */
/* Pipelined batches                                                    */
/* ------------------------------------------------------------------ */

/*
 * One multi-argument command (SADD key m1 m2 ..., HSET key f1 v1 ...)
 * filled item by item and appended to the output buffer when full; the
 * replies are read MAX_PENDING commands at a time, so the client never
 * waits for Redis between batches and memory stays bounded.
 */
struct batch {
    redisContext *c;
    const char *argv[2 + 2 * BATCH_ITEMS];
    size_t argvlen[2 + 2 * BATCH_ITEMS];
    char *owned[BATCH_ITEMS];   /* values built for this command, freed once appended */
    int argc;
    int nowned;
    int limit;                  /* argc at which the command is sent */
    int pending;                /* appended commands whose reply is unread */
    int failed;
    char *err;
    size_t errlen;
};

static struct batch *batch_new(redisContext *c, const char *cmd, const char *key,
                               int arity, char *err, size_t errlen)
{
    struct batch *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        redis_seterr(err, errlen, "out of memory");
        return NULL;
    }
    b->c = c;
    b->argv[0] = cmd;
    b->argvlen[0] = strlen(cmd);
    b->argv[1] = key;
    b->argvlen[1] = strlen(key);
    b->argc = 2;
    b->limit = 2 + arity * BATCH_ITEMS;
    b->err = err;
    b->errlen = errlen;
    return b;
}

/* Read every outstanding reply, even after an error reply, so the
 * connection stays in step; stop only if the connection itself failed. */
static void batch_drain(struct batch *b)
{
    while (b->pending > 0) {
        void *reply = NULL;
        redisReply *r;

        if (redisGetReply(b->c, &reply) != REDIS_OK) {
            if (!b->failed)
                redis_command_error(b->c, NULL, b->argv[0], NULL, b->err, b->errlen);
            b->failed = 1;
            b->pending = 0;
            return;
        }
        r = reply;
        if (r->type == REDIS_REPLY_ERROR && !b->failed) {
            char what[KEY_MAX + 16];

            snprintf(what, sizeof(what), "%s %s", b->argv[0], b->argv[1]);
            redis_command_error(b->c, r, what, NULL, b->err, b->errlen);
            b->failed = 1;
        }
        freeReplyObject(r);
        b->pending--;
    }
}

static void batch_send(struct batch *b)
{
    int i;

    if (b->argc > 2 && !b->failed) {
        if (redisAppendCommandArgv(b->c, b->argc, b->argv, b->argvlen) != REDIS_OK) {
            redis_command_error(b->c, NULL, b->argv[0], NULL, b->err, b->errlen);
            b->failed = 1;
        } else {
            b->pending++;
        }
    }
    /* hiredis has copied the arguments into its output buffer. */
    for (i = 0; i < b->nowned; i++)
        free(b->owned[i]);
    b->nowned = 0;
    b->argc = 2;
    if (b->pending >= MAX_PENDING)
        batch_drain(b);
}

static void batch_arg(struct batch *b, const char *s, size_t len)
{
    b->argv[b->argc] = s;
    b->argvlen[b->argc] = len;
    b->argc++;
}

/* Call after the arguments of one item (member, or field + value). */
static void batch_item_done(struct batch *b)
{
    if (b->argc >= b->limit)
        batch_send(b);
}

/* Send what is left, read every reply, free.  0 or -1 (err set). */
static int batch_finish(struct batch *b)
{
    int failed;

    batch_send(b);
    batch_drain(b);
    failed = b->failed;
    free(b);
    return failed ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Writing one version                                                  */
/* ------------------------------------------------------------------ */

static int add_domain(const char *domain, void *arg)
{
    struct batch *b = arg;

    batch_arg(b, domain, strlen(domain));
    batch_item_done(b);
    return b->failed;
}

static int write_domains(redisContext *c, const char *key, const struct domainset *set,
                         char *err, size_t errlen)
{
    struct batch *b = batch_new(c, "SADD", key, 1, err, errlen);

    if (b == NULL)
        return -1;
    domainset_foreach(set, add_domain, b);
    return batch_finish(b);
}

static int cmp_cert(const void *pa, const void *pb)
{
    const struct ans_operator_cn *a = *(const struct ans_operator_cn *const *)pa;
    const struct ans_operator_cn *b = *(const struct ans_operator_cn *const *)pb;
    int d = strcmp(a->domain, b->domain);

    return d != 0 ? d : strcasecmp(a->cn, b->cn);
}

/* The CNs of certs[from..to) (one domain, sorted), joined by '\n', each
 * once: host names compare case-insensitively.  Caller frees. */
static char *join_cns(const struct ans_operator_cn *const *certs, size_t from, size_t to)
{
    size_t i, len = 0, total = 1;
    char *out;

    for (i = from; i < to; i++)
        total += strlen(certs[i]->cn) + 1;
    out = malloc(total);
    if (out == NULL)
        return NULL;
    for (i = from; i < to; i++) {
        size_t n = strlen(certs[i]->cn);

        if (i > from && strcasecmp(certs[i]->cn, certs[i - 1]->cn) == 0)
            continue;
        if (len > 0)
            out[len++] = '\n';
        memcpy(out + len, certs[i]->cn, n);
        len += n;
    }
    out[len] = '\0';
    return out;
}

static int write_certs(redisContext *c, const char *key, const struct ans_list *list,
                       char *err, size_t errlen)
{
    const struct ans_operator_cn **sorted;
    struct batch *b;
    size_t i, n = 0, start;

    if (list->n_certs == 0)
        return 0;
    sorted = malloc(list->n_certs * sizeof(*sorted));
    if (sorted == NULL) {
        redis_seterr(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < list->n_certs; i++) {
        const struct ans_operator_cn *oc = &list->certs[i];

        if (oc->domain != NULL && oc->cn != NULL && oc->cn[0] != '\0')
            sorted[n++] = oc;
    }
    if (n == 0) {
        free(sorted);
        return 0;
    }
    qsort(sorted, n, sizeof(*sorted), cmp_cert);
    b = batch_new(c, "HSET", key, 2, err, errlen);
    if (b == NULL) {
        free(sorted);
        return -1;
    }
    for (start = 0; start < n && !b->failed; start = i) {
        char *joined;

        for (i = start + 1; i < n && strcmp(sorted[i]->domain, sorted[start]->domain) == 0; i++)
            ;
        joined = join_cns(sorted, start, i);
        if (joined == NULL) {
            redis_seterr(err, errlen, "out of memory");
            b->failed = 1;
            break;
        }
        b->owned[b->nowned++] = joined;
        batch_arg(b, sorted[start]->domain, strlen(sorted[start]->domain));
        batch_arg(b, joined, strlen(joined));
        batch_item_done(b);
    }
    free(sorted);
    return batch_finish(b);
}

static int write_meta(redisContext *c, const char *key, const struct whitelist *wl,
                      char *err, size_t errlen)
{
    char loaded[32], count[32], entries[32];
    const char *argv[14];

    snprintf(loaded, sizeof(loaded), "%lld", (long long)time(NULL));
    snprintf(count, sizeof(count), "%zu", domainset_count(wl->domains));
    snprintf(entries, sizeof(entries), "%zu", wl->entries);
    argv[0] = "HSET";
    argv[1] = key;
    argv[2] = "generated";  argv[3] = wl->generated;
    argv[4] = "loaded";     argv[5] = loaded;
    argv[6] = "count";      argv[7] = count;
    argv[8] = "entries";    argv[9] = entries;
    argv[10] = "sha256";    argv[11] = wl->sha256;
    argv[12] = "source";    argv[13] = wl->source;
    return run_ok(c, err, errlen, 14, argv);
}

/* Delete a version's keys and forget its id.  Best effort: used on the way
 * out of a failure (the original error matters more) and for pruning,
 * where a leftover is retried on the next publish. */
static void drop_version(redisContext *c, const char *prefix, const char *id)
{
    char kd[KEY_MAX], kc[KEY_MAX], km[KEY_MAX], kv[KEY_MAX];
    char ignore[256];
    const char *unlink_argv[] = { "UNLINK", kd, kc, km };
    const char *lrem_argv[] = { "LREM", kv, "0", id };

    if (c->err)
        return;
    if (key_version(kd, prefix, id, "domains", NULL, 0) < 0
        || key_version(kc, prefix, id, "certs", NULL, 0) < 0
        || key_version(km, prefix, id, "meta", NULL, 0) < 0
        || key_global(kv, prefix, "versions", NULL, 0) < 0)
        return;
    /* UNLINK frees a big set in the background instead of blocking Redis. */
    if (run_ok(c, ignore, sizeof(ignore), 4, unlink_argv) == 0)
        run_ok(c, ignore, sizeof(ignore), 4, lrem_argv);
}

/* Delete every version whose id is below KEEP_FROM.  Versions above it may
 * be being written by a concurrent publisher right now: never touch them. */
static void prune_versions(redisContext *c, const char *prefix, unsigned long long keep_from)
{
    char kv[KEY_MAX], ignore[256];
    const char *argv[] = { "LRANGE", kv, "0", "-1" };
    redisReply *r;
    size_t i;

    if (keep_from == 0 || key_global(kv, prefix, "versions", NULL, 0) < 0)
        return;
    r = run(c, ignore, sizeof(ignore), 4, argv);
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];

            if (e->type == REDIS_REPLY_STRING && id_number(e->str) < keep_from)
                drop_version(c, prefix, e->str);
        }
    }
    freeReplyObject(r);
}

/* ------------------------------------------------------------------ */
/* Switching wl:current                                                 */
/* ------------------------------------------------------------------ */

static void discard(redisContext *c)
{
    char ignore[256];

    if (!c->err)
        run_ok(c, ignore, sizeof(ignore), 1, (const char *[]){ "DISCARD" });
}

static void unwatch(redisContext *c)
{
    char ignore[256];

    if (!c->err)
        run_ok(c, ignore, sizeof(ignore), 1, (const char *[]){ "UNWATCH" });
}

/* GET KEY into out ("" when the key does not exist).  0 or -1. */
static int get_string(redisContext *c, const char *key, char *out, size_t size,
                      char *err, size_t errlen)
{
    redisReply *r = run1(c, err, errlen, "GET", key);
    int rc = 0;

    if (r == NULL)
        return -1;
    out[0] = '\0';
    if (r->type == REDIS_REPLY_STRING) {
        if (copy_str(out, size, r->str, r->len) < 0) {
            redis_seterr(err, errlen, "redis: %s holds an over-long value", key);
            rc = -1;
        }
    } else if (r->type != REDIS_REPLY_NIL) {
        redis_command_error(c, r, key, NULL, err, errlen);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* One optimistic attempt: 1 switched, 0 lost a race (retry), 2 not
 * published (only_if_empty and a list exists), -1 error. */
static int switch_once(redisContext *c, const char *kcur, const char *kprev, const char *id,
                       bool only_if_empty, char *old, size_t oldlen, char *err, size_t errlen)
{
    redisReply *r;
    int rc;

    if (run_ok(c, err, errlen, 2, (const char *[]){ "WATCH", kcur }) < 0)
        return -1;
    if (get_string(c, kcur, old, oldlen, err, errlen) < 0) {
        unwatch(c);
        return -1;
    }
    if (old[0] != '\0' && only_if_empty) {
        unwatch(c);
        return 2;
    }
    if (old[0] != '\0' && id_number(old) > id_number(id)) {
        unwatch(c);
        redis_seterr(err, errlen, "version %s was made current while version %s was being written;"
                     " %s discarded", old, id, id);
        return -1;
    }
    if (run_ok(c, err, errlen, 1, (const char *[]){ "MULTI" }) < 0)
        return -1;
    if (run_ok(c, err, errlen, 3, (const char *[]){ "SET", kcur, id }) < 0
        || (old[0] != '\0'
            ? run_ok(c, err, errlen, 3, (const char *[]){ "SET", kprev, old })
            : run_ok(c, err, errlen, 2, (const char *[]){ "DEL", kprev })) < 0) {
        discard(c);
        return -1;
    }
    r = run1(c, err, errlen, "EXEC", NULL);
    if (r == NULL)
        return -1;
    rc = r->type == REDIS_REPLY_NIL ? 0 : 1;     /* nil: wl:current moved under us */
    freeReplyObject(r);
    return rc;
}

/* 1 switched (OLD = the version it replaced, "" if none), 2 not
 * published, -1 error. */
static int switch_current(redisContext *c, const char *prefix, const char *id,
                          bool only_if_empty, char *old, size_t oldlen, char *err, size_t errlen)
{
    char kcur[KEY_MAX], kprev[KEY_MAX];
    int attempt, rc;

    if (key_global(kcur, prefix, "current", err, errlen) < 0
        || key_global(kprev, prefix, "previous", err, errlen) < 0)
        return -1;
    for (attempt = 0; attempt < SWITCH_ATTEMPTS; attempt++) {
        rc = switch_once(c, kcur, kprev, id, only_if_empty, old, oldlen, err, errlen);
        if (rc != 0)
            return rc;
    }
    redis_seterr(err, errlen,
                 "%s kept changing under concurrent publishers; gave up after %d attempts",
                 kcur, SWITCH_ATTEMPTS);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Rolling back                                                         */
/* ------------------------------------------------------------------ */

/* 1 when version ID's metadata exists (a version is complete once its
 * meta is written), 0 when not, -1 on error. */
static int version_exists(redisContext *c, const char *prefix, const char *id,
                          char *err, size_t errlen)
{
    char km[KEY_MAX];
    redisReply *r;
    int rc;

    if (key_version(km, prefix, id, "meta", err, errlen) < 0)
        return -1;
    r = run1(c, err, errlen, "EXISTS", km);
    if (r == NULL)
        return -1;
    rc = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    freeReplyObject(r);
    return rc;
}

/* One optimistic attempt: 1 swapped, 0 lost a race (retry), -1 error. */
static int rollback_once(redisContext *c, const char *prefix, const char *kcur,
                         const char *kprev, char *cur, char *prev, size_t vlen,
                         char *err, size_t errlen)
{
    redisReply *r;
    int rc;

    if (run_ok(c, err, errlen, 3, (const char *[]){ "WATCH", kcur, kprev }) < 0)
        return -1;
    if (get_string(c, kcur, cur, vlen, err, errlen) < 0
        || get_string(c, kprev, prev, vlen, err, errlen) < 0) {
        unwatch(c);
        return -1;
    }
    if (cur[0] == '\0' || prev[0] == '\0') {
        unwatch(c);
        redis_seterr(err, errlen, "no previous version to roll back to%s",
                     cur[0] == '\0' ? " (Redis holds no list)" : "");
        return -1;
    }
    /* A publish deletes the versions before "previous" only after moving
     * wl:current, which is watched: if this says yes, EXEC can trust it. */
    rc = version_exists(c, prefix, prev, err, errlen);
    if (rc <= 0) {
        unwatch(c);
        if (rc == 0)
            redis_seterr(err, errlen, "previous version %s no longer exists in Redis", prev);
        return -1;
    }
    if (run_ok(c, err, errlen, 1, (const char *[]){ "MULTI" }) < 0)
        return -1;
    if (run_ok(c, err, errlen, 3, (const char *[]){ "SET", kcur, prev }) < 0
        || run_ok(c, err, errlen, 3, (const char *[]){ "SET", kprev, cur }) < 0) {
        discard(c);
        return -1;
    }
    r = run1(c, err, errlen, "EXEC", NULL);
    if (r == NULL)
        return -1;
    rc = r->type == REDIS_REPLY_NIL ? 0 : 1;
    freeReplyObject(r);
    return rc;
}

int store_rollback(redisContext *c, const char *prefix, char *current_out,
                   char *previous_out, size_t vlen, char *err, size_t errlen)
{
    char kcur[KEY_MAX], kprev[KEY_MAX], cur[64], prev[64];
    int attempt, rc;

    if (key_global(kcur, prefix, "current", err, errlen) < 0
        || key_global(kprev, prefix, "previous", err, errlen) < 0)
        return -1;
    for (attempt = 0; attempt < SWITCH_ATTEMPTS; attempt++) {
        rc = rollback_once(c, prefix, kcur, kprev, cur, prev, sizeof(cur), err, errlen);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            if (strlen(prev) >= vlen || strlen(cur) >= vlen) {
                redis_seterr(err, errlen, "version id buffer too small");
                return -1;
            }
            /* Swapped: the old previous is current now. */
            snprintf(current_out, vlen, "%s", prev);
            snprintf(previous_out, vlen, "%s", cur);
            return 0;
        }
    }
    redis_seterr(err, errlen,
                 "%s kept changing under concurrent publishers; gave up after %d attempts",
                 kcur, SWITCH_ATTEMPTS);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Publishing                                                           */
/* ------------------------------------------------------------------ */

/* INCR wl:seq and remember the id in wl:versions before writing anything,
 * so that even a publisher killed half-way leaves keys a later publish
 * can find and delete. */
static int new_version_id(redisContext *c, const char *prefix, char *id, size_t idlen,
                          char *err, size_t errlen)
{
    char kseq[KEY_MAX], kv[KEY_MAX];
    redisReply *r;

    if (key_global(kseq, prefix, "seq", err, errlen) < 0
        || key_global(kv, prefix, "versions", err, errlen) < 0)
        return -1;
    r = run1(c, err, errlen, "INCR", kseq);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER) {
        redis_command_error(c, r, "INCR", NULL, err, errlen);
        freeReplyObject(r);
        return -1;
    }
    snprintf(id, idlen, "%lld", r->integer);
    freeReplyObject(r);
    return run_ok(c, err, errlen, 3, (const char *[]){ "RPUSH", kv, id });
}

static int write_version(redisContext *c, const char *prefix, const char *id,
                         const struct ans_list *list, char *err, size_t errlen)
{
    char kd[KEY_MAX], kc[KEY_MAX], km[KEY_MAX];

    if (key_version(kd, prefix, id, "domains", err, errlen) < 0
        || key_version(kc, prefix, id, "certs", err, errlen) < 0
        || key_version(km, prefix, id, "meta", err, errlen) < 0)
        return -1;
    /* meta last: a version whose meta exists is complete. */
    if (write_domains(c, kd, list->wl->domains, err, errlen) < 0
        || write_certs(c, kc, list, err, errlen) < 0
        || write_meta(c, km, list->wl, err, errlen) < 0)
        return -1;
    return 0;
}

int store_publish(redisContext *c, const char *prefix, const struct ans_list *list,
                  bool only_if_empty, bool *published,
                  char *version_out, size_t vlen, char *err, size_t errlen)
{
    char id[32], old[64];
    int rc;

    *published = false;
    if (list == NULL || list->wl == NULL || list->wl->domains == NULL
        || domainset_count(list->wl->domains) == 0) {
        redis_seterr(err, errlen, "refusing to publish an empty whitelist");
        return -1;
    }
    /* The daemon calls this at every start: when a list is already in
     * force, answer before writing a whole version just to delete it.
     * (The switch checks again, under WATCH, for a publisher racing us.) */
    if (only_if_empty) {
        rc = store_current_version(c, prefix, old, sizeof(old), err, errlen);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    if (new_version_id(c, prefix, id, sizeof(id), err, errlen) < 0)
        return -1;
    if (strlen(id) >= vlen) {
        redis_seterr(err, errlen, "version id buffer too small");
        drop_version(c, prefix, id);
        return -1;
    }
    if (write_version(c, prefix, id, list, err, errlen) < 0) {
        drop_version(c, prefix, id);
        return -1;
    }
    rc = switch_current(c, prefix, id, only_if_empty, old, sizeof(old), err, errlen);
    if (rc != 1) {
        drop_version(c, prefix, id);
        return rc == 2 ? 0 : -1;
    }
    *published = true;
    snprintf(version_out, vlen, "%s", id);
    /* Keep the version replaced (for rollback) and anything newer. */
    prune_versions(c, prefix, old[0] != '\0' ? id_number(old) : id_number(id));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

static int read_pointer(redisContext *c, const char *prefix, const char *name,
                        char *version_out, size_t vlen, char *err, size_t errlen)
{
    char key[KEY_MAX], val[64];

    if (key_global(key, prefix, name, err, errlen) < 0
        || get_string(c, key, val, sizeof(val), err, errlen) < 0)
        return -1;
    if (val[0] == '\0')
        return 0;
    if (strlen(val) >= vlen) {
        redis_seterr(err, errlen, "version id buffer too small");
        return -1;
    }
    snprintf(version_out, vlen, "%s", val);
    return 1;
}

int store_current_version(redisContext *c, const char *prefix,
                          char *version_out, size_t vlen, char *err, size_t errlen)
{
    return read_pointer(c, prefix, "current", version_out, vlen, err, errlen);
}

int store_previous_version(redisContext *c, const char *prefix,
                           char *version_out, size_t vlen, char *err, size_t errlen)
{
    return read_pointer(c, prefix, "previous", version_out, vlen, err, errlen);
}

/* Copy one meta field; over-long text values are cut (they are for
 * display), numbers must parse. */
static void meta_field(struct store_meta *m, const redisReply *f, const redisReply *v)
{
    const char *name = f->str;
    size_t len = v->len;

    if (strcmp(name, "generated") == 0)
        copy_str(m->generated, sizeof(m->generated), v->str,
                 len < sizeof(m->generated) ? len : sizeof(m->generated) - 1);
    else if (strcmp(name, "sha256") == 0)
        copy_str(m->sha256, sizeof(m->sha256), v->str,
                 len < sizeof(m->sha256) ? len : sizeof(m->sha256) - 1);
    else if (strcmp(name, "source") == 0)
        copy_str(m->source, sizeof(m->source), v->str,
                 len < sizeof(m->source) ? len : sizeof(m->source) - 1);
    else if (strcmp(name, "loaded") == 0)
        m->loaded = strtoll(v->str, NULL, 10);
    else if (strcmp(name, "count") == 0)
        m->count = (size_t)strtoull(v->str, NULL, 10);
    else if (strcmp(name, "entries") == 0)
        m->entries = (size_t)strtoull(v->str, NULL, 10);
}

int store_read_meta(redisContext *c, const char *prefix, const char *id,
                    struct store_meta *meta, char *err, size_t errlen)
{
    char key[KEY_MAX];
    redisReply *r;
    size_t i;

    memset(meta, 0, sizeof(*meta));
    if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(meta->version)) {
        redis_seterr(err, errlen, "invalid version id");
        return -1;
    }
    if (key_version(key, prefix, id, "meta", err, errlen) < 0)
        return -1;
    r = run1(c, err, errlen, "HGETALL", key);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        redis_command_error(c, r, key, NULL, err, errlen);
        freeReplyObject(r);
        return -1;
    }
    if (r->elements == 0) {
        freeReplyObject(r);
        return 0;
    }
    snprintf(meta->version, sizeof(meta->version), "%s", id);
    for (i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];

        if (f->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING)
            meta_field(meta, f, v);
    }
    freeReplyObject(r);
    return 1;
}

/* Add the members of one SSCAN page.  0 or -1. */
static int add_page(struct domainset *set, const redisReply *members, const char *key,
                    char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < members->elements; i++) {
        const redisReply *m = members->element[i];
        int rc;

        if (m->type != REDIS_REPLY_STRING)
            continue;
        rc = domainset_add(set, m->str, m->len);
        if (rc == -2) {
            redis_seterr(err, errlen, "out of memory");
            return -1;
        }
        if (rc == -1) {
            redis_seterr(err, errlen, "redis: %s holds an invalid domain \"%.*s\"", key,
                         (int)(m->len > 80 ? 80 : m->len), m->str);
            return -1;
        }
    }
    return 0;
}

static int scan_domains(redisContext *c, const char *key, struct domainset *set,
                        char *err, size_t errlen)
{
    char cursor[32] = "0";

    do {
        const char *argv[] = { "SSCAN", key, cursor, "COUNT", SCAN_COUNT };
        redisReply *r = run(c, err, errlen, 5, argv);
        int rc;

        if (r == NULL)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[1]->type != REDIS_REPLY_ARRAY
            || copy_str(cursor, sizeof(cursor), r->element[0]->str, r->element[0]->len) < 0) {
            redis_command_error(c, r, "SSCAN", NULL, err, errlen);
            freeReplyObject(r);
            return -1;
        }
        rc = add_page(set, r->element[1], key, err, errlen);
        freeReplyObject(r);
        if (rc < 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

struct whitelist *store_load_version(redisContext *c, const char *prefix, const char *id,
                                     char *err, size_t errlen)
{
    struct store_meta m;
    struct whitelist *wl;
    char key[KEY_MAX];
    int rc;

    rc = store_read_meta(c, prefix, id, &m, err, errlen);
    if (rc <= 0) {
        if (rc == 0)
            redis_seterr(err, errlen, "redis: whitelist version %s not found", id);
        return NULL;
    }
    if (key_version(key, prefix, id, "domains", err, errlen) < 0)
        return NULL;
    wl = whitelist_new();
    if (wl == NULL || (wl->domains = domainset_new(m.count)) == NULL) {
        redis_seterr(err, errlen, "out of memory");
        whitelist_free(wl);
        return NULL;
    }
    if (scan_domains(c, key, wl->domains, err, errlen) < 0) {
        whitelist_free(wl);
        return NULL;
    }
    /* Fewer members than announced: the version was deleted (or never
     * completed) while we read it.  Serving it would drop real domains. */
    if (domainset_count(wl->domains) != m.count || m.count == 0) {
        redis_seterr(err, errlen,
                     "redis: whitelist version %s has %zu domains, its metadata says %zu"
                     " (deleted while being read?)", id, domainset_count(wl->domains), m.count);
        whitelist_free(wl);
        return NULL;
    }
    snprintf(wl->version, sizeof(wl->version), "%s", id);
    snprintf(wl->generated, sizeof(wl->generated), "%s", m.generated);
    snprintf(wl->sha256, sizeof(wl->sha256), "%s", m.sha256);
    snprintf(wl->source, sizeof(wl->source), "%s", m.source);
    wl->loaded_at = (time_t)m.loaded;
    wl->entries = m.entries;
    return wl;
}
