/*
 * store_publish.c - writing whitelist versions to Redis, switching
 * wl:current, deleting old versions, and rolling back (the key layout is in
 * store.h; connecting and reading are in store.c).
 *
 * Publishing writes a complete version under fresh keys, in pipelined
 * batches (one SADD/HSET per thousand domains, replies read a few dozen
 * commands at a time) so a 100k-domain list costs a handful of round trips,
 * then moves wl:current inside WATCH/MULTI/EXEC.  Anything that fails before
 * the switch deletes what was written: wl:current only ever names a whole
 * version.
 *
 * Errors follow store.c's format (one line, naming endpoint and command).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/redis.h"
#include "whitelist/domainset.h"
#include "whitelist/store.h"
#include "whitelist/store_internal.h"
#include "whitelist/whitelist.h"

#define BATCH_ITEMS      1000      /* members / fields per SADD or HSET */
#define MAX_PENDING      32        /* pipelined commands before reading replies */
#define SWITCH_ATTEMPTS  4         /* the first try + 3 retries on a lost WATCH */

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
    struct err *err;
};

static struct batch *batch_new(redisContext *c, const char *cmd, const char *key,
                               int arity, struct err *err)
{
    struct batch *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        err_set(err, "out of memory");
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
                redis_command_error(b->c, NULL, b->argv[0], NULL, b->err);
            b->failed = 1;
            b->pending = 0;
            return;
        }
        r = reply;
        if (r->type == REDIS_REPLY_ERROR && !b->failed) {
            char what[KEY_MAX + 16];

            snprintf(what, sizeof(what), "%s %s", b->argv[0], b->argv[1]);
            redis_command_error(b->c, r, what, NULL, b->err);
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
            redis_command_error(b->c, NULL, b->argv[0], NULL, b->err);
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
                         struct err *err)
{
    struct batch *b = batch_new(c, "SADD", key, 1, err);

    if (b == NULL)
        return -1;
    domainset_foreach(set, add_domain, b);
    return batch_finish(b);
}

/* One HSET field: DOMAIN -> its CNs joined by '\n' (already lower-case,
 * sorted and unique: certset_foreach hands them so). */
static int add_domain_cns(const char *domain, const char *const *cns, size_t n, void *arg)
{
    struct batch *b = arg;
    size_t i, len = 0, total = 1;
    char *joined;

    for (i = 0; i < n; i++)
        total += strlen(cns[i]) + 1;
    if ((joined = malloc(total)) == NULL) {
        err_set(b->err, "out of memory");
        b->failed = 1;
        return -1;
    }
    for (i = 0; i < n; i++) {
        size_t l = strlen(cns[i]);

        if (i > 0)
            joined[len++] = '\n';
        memcpy(joined + len, cns[i], l);
        len += l;
    }
    joined[len] = '\0';
    b->owned[b->nowned++] = joined;
    batch_arg(b, domain, strlen(domain));
    batch_arg(b, joined, len);
    batch_item_done(b);
    return b->failed;
}

static int write_certs(redisContext *c, const char *key, const struct certset *certs,
                       struct err *err)
{
    struct batch *b;

    if (certset_pairs(certs) == 0)
        return 0;
    if ((b = batch_new(c, "HSET", key, 2, err)) == NULL)
        return -1;
    if (certset_foreach(certs, add_domain_cns, b) == -1 && !b->failed) {
        err_set(err, "out of memory");
        b->failed = 1;
    }
    return batch_finish(b);
}

static int write_meta(redisContext *c, const char *key, const struct whitelist *wl,
                      struct err *err)
{
    char loaded[32], count[32], entries[32], certs[32];
    const char *argv[16];

    snprintf(loaded, sizeof(loaded), "%lld", (long long)time(NULL));
    snprintf(count, sizeof(count), "%zu", domainset_count(wl->domains));
    snprintf(entries, sizeof(entries), "%zu", wl->entries);
    snprintf(certs, sizeof(certs), "%zu", certset_pairs(wl->certs));
    argv[0] = "HSET";
    argv[1] = key;
    argv[2] = "generated";  argv[3] = wl->generated;
    argv[4] = "loaded";     argv[5] = loaded;
    argv[6] = "count";      argv[7] = count;
    argv[8] = "entries";    argv[9] = entries;
    argv[10] = "sha256";    argv[11] = wl->sha256;
    argv[12] = "source";    argv[13] = wl->source;
    argv[14] = "certs";     argv[15] = certs;   /* lets a reader see a partial read */
    return wls_run_ok(c, err, 16, argv);
}

/* Delete a version's keys and forget its id.  Best effort: used on the way
 * out of a failure (the original error matters more) and for pruning,
 * where a leftover is retried on the next publish. */
static void drop_version(redisContext *c, const char *prefix, const char *id)
{
    char kd[KEY_MAX], kc[KEY_MAX], km[KEY_MAX], kv[KEY_MAX];
    const char *unlink_argv[] = { "UNLINK", kd, kc, km };
    const char *lrem_argv[] = { "LREM", kv, "0", id };

    if (c->err)
        return;
    if (wls_key_version(kd, prefix, id, "domains", NULL) < 0
        || wls_key_version(kc, prefix, id, "certs", NULL) < 0
        || wls_key_version(km, prefix, id, "meta", NULL) < 0
        || wls_key_global(kv, prefix, "versions", NULL) < 0)
        return;
    /* UNLINK frees a big set in the background instead of blocking Redis. */
    if (wls_run_ok(c, NULL, 4, unlink_argv) == 0)
        wls_run_ok(c, NULL, 4, lrem_argv);
}

/* Delete every version whose id is below KEEP_FROM.  Versions above it may
 * be being written by a concurrent publisher right now: never touch them. */
static void prune_versions(redisContext *c, const char *prefix, unsigned long long keep_from)
{
    char kv[KEY_MAX];
    const char *argv[] = { "LRANGE", kv, "0", "-1" };
    redisReply *r;
    size_t i;

    if (keep_from == 0 || wls_key_global(kv, prefix, "versions", NULL) < 0)
        return;
    r = wls_run(c, NULL, 4, argv);
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

    if (!c->err)
        wls_run_ok(c, NULL, 1, (const char *[]){ "DISCARD" });
}

static void unwatch(redisContext *c)
{

    if (!c->err)
        wls_run_ok(c, NULL, 1, (const char *[]){ "UNWATCH" });
}

/* One optimistic attempt: 1 switched, 0 lost a race (retry), 2 not
 * published (only_if_empty and a list exists), -1 error. */
static int switch_once(redisContext *c, const char *kcur, const char *kprev, const char *id,
                       bool only_if_empty, char *old, size_t oldlen, struct err *err)
{
    redisReply *r;
    int rc;

    if (wls_run_ok(c, err, 2, (const char *[]){ "WATCH", kcur }) < 0)
        return -1;
    if (wls_get_string(c, kcur, old, oldlen, err) < 0) {
        unwatch(c);
        return -1;
    }
    if (old[0] != '\0' && only_if_empty) {
        unwatch(c);
        return 2;
    }
    if (old[0] != '\0' && id_number(old) > id_number(id)) {
        unwatch(c);
        err_set(err, "version %s was made current while version %s was being written;"
                " %s discarded", old, id, id);
        return -1;
    }
    if (wls_run_ok(c, err, 1, (const char *[]){ "MULTI" }) < 0)
        return -1;
    if (wls_run_ok(c, err, 3, (const char *[]){ "SET", kcur, id }) < 0
        || (old[0] != '\0'
            ? wls_run_ok(c, err, 3, (const char *[]){ "SET", kprev, old })
            : wls_run_ok(c, err, 2, (const char *[]){ "DEL", kprev })) < 0) {
        discard(c);
        return -1;
    }
    r = wls_run1(c, err, "EXEC", NULL);
    if (r == NULL)
        return -1;
    rc = r->type == REDIS_REPLY_NIL ? 0 : 1;     /* nil: wl:current moved under us */
    freeReplyObject(r);
    return rc;
}

/* 1 switched (OLD = the version it replaced, "" if none), 2 not
 * published, -1 error. */
static int switch_current(redisContext *c, const char *prefix, const char *id,
                          bool only_if_empty, char *old, size_t oldlen, struct err *err)
{
    char kcur[KEY_MAX], kprev[KEY_MAX];
    int attempt, rc;

    if (wls_key_global(kcur, prefix, "current", err) < 0
        || wls_key_global(kprev, prefix, "previous", err) < 0)
        return -1;
    for (attempt = 0; attempt < SWITCH_ATTEMPTS; attempt++) {
        rc = switch_once(c, kcur, kprev, id, only_if_empty, old, oldlen, err);
        if (rc != 0)
            return rc;
    }
    err_set(err,
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
                          struct err *err)
{
    char km[KEY_MAX];
    redisReply *r;
    int rc;

    if (wls_key_version(km, prefix, id, "meta", err) < 0)
        return -1;
    r = wls_run1(c, err, "EXISTS", km);
    if (r == NULL)
        return -1;
    rc = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    freeReplyObject(r);
    return rc;
}

/* One optimistic attempt: 1 swapped, 0 lost a race (retry), -1 error. */
static int rollback_once(redisContext *c, const char *prefix, const char *kcur,
                         const char *kprev, char *cur, char *prev, size_t vlen,
                         struct err *err)
{
    redisReply *r;
    int rc;

    if (wls_run_ok(c, err, 3, (const char *[]){ "WATCH", kcur, kprev }) < 0)
        return -1;
    if (wls_get_string(c, kcur, cur, vlen, err) < 0
        || wls_get_string(c, kprev, prev, vlen, err) < 0) {
        unwatch(c);
        return -1;
    }
    if (cur[0] == '\0' || prev[0] == '\0') {
        unwatch(c);
        err_set(err, "no previous version to roll back to%s",
                cur[0] == '\0' ? " (Redis holds no list)" : "");
        return -1;
    }
    /* A publish deletes the versions before "previous" only after moving
     * wl:current, which is watched: if this says yes, EXEC can trust it. */
    rc = version_exists(c, prefix, prev, err);
    if (rc <= 0) {
        unwatch(c);
        if (rc == 0)
            err_set(err, "previous version %s no longer exists in Redis", prev);
        return -1;
    }
    if (wls_run_ok(c, err, 1, (const char *[]){ "MULTI" }) < 0)
        return -1;
    if (wls_run_ok(c, err, 3, (const char *[]){ "SET", kcur, prev }) < 0
        || wls_run_ok(c, err, 3, (const char *[]){ "SET", kprev, cur }) < 0) {
        discard(c);
        return -1;
    }
    r = wls_run1(c, err, "EXEC", NULL);
    if (r == NULL)
        return -1;
    rc = r->type == REDIS_REPLY_NIL ? 0 : 1;
    freeReplyObject(r);
    return rc;
}

int store_rollback(redisContext *c, const char *prefix, char *current_out,
                   char *previous_out, size_t vlen, struct err *err)
{
    char kcur[KEY_MAX], kprev[KEY_MAX], cur[64], prev[64];
    int attempt, rc;

    if (wls_key_global(kcur, prefix, "current", err) < 0
        || wls_key_global(kprev, prefix, "previous", err) < 0)
        return -1;
    for (attempt = 0; attempt < SWITCH_ATTEMPTS; attempt++) {
        rc = rollback_once(c, prefix, kcur, kprev, cur, prev, sizeof(cur), err);
        if (rc < 0)
            return -1;
        if (rc == 1) {
            if (strlen(prev) >= vlen || strlen(cur) >= vlen) {
                err_set(err, "version id buffer too small");
                return -1;
            }
            /* Swapped: the old previous is current now. */
            snprintf(current_out, vlen, "%s", prev);
            snprintf(previous_out, vlen, "%s", cur);
            return 0;
        }
    }
    err_set(err,
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
                          struct err *err)
{
    char kseq[KEY_MAX], kv[KEY_MAX];
    redisReply *r;

    if (wls_key_global(kseq, prefix, "seq", err) < 0
        || wls_key_global(kv, prefix, "versions", err) < 0)
        return -1;
    r = wls_run1(c, err, "INCR", kseq);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER) {
        redis_command_error(c, r, "INCR", NULL, err);
        freeReplyObject(r);
        return -1;
    }
    snprintf(id, idlen, "%lld", r->integer);
    freeReplyObject(r);
    return wls_run_ok(c, err, 3, (const char *[]){ "RPUSH", kv, id });
}

static int write_version(redisContext *c, const char *prefix, const char *id,
                         const struct ans_list *list, struct err *err)
{
    char kd[KEY_MAX], kc[KEY_MAX], km[KEY_MAX];

    if (wls_key_version(kd, prefix, id, "domains", err) < 0
        || wls_key_version(kc, prefix, id, "certs", err) < 0
        || wls_key_version(km, prefix, id, "meta", err) < 0)
        return -1;
    /* meta last: a version whose meta exists is complete. */
    if (write_domains(c, kd, list->wl->domains, err) < 0
        || write_certs(c, kc, list->wl->certs, err) < 0
        || write_meta(c, km, list->wl, err) < 0)
        return -1;
    return 0;
}

int store_publish(redisContext *c, const char *prefix, const struct ans_list *list,
                  bool only_if_empty, bool *published,
                  char *version_out, size_t vlen, struct err *err)
{
    char id[32], old[64];
    int rc;

    *published = false;
    if (list == NULL || list->wl == NULL || list->wl->domains == NULL
        || domainset_count(list->wl->domains) == 0) {
        err_set(err, "refusing to publish an empty whitelist");
        return -1;
    }
    /* The daemon calls this at every start: when a list is already in
     * force, answer before writing a whole version just to delete it.
     * (The switch checks again, under WATCH, for a publisher racing us.) */
    if (only_if_empty) {
        rc = store_current_version(c, prefix, old, sizeof(old), err);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    if (new_version_id(c, prefix, id, sizeof(id), err) < 0)
        return -1;
    if (strlen(id) >= vlen) {
        err_set(err, "version id buffer too small");
        drop_version(c, prefix, id);
        return -1;
    }
    if (write_version(c, prefix, id, list, err) < 0) {
        drop_version(c, prefix, id);
        return -1;
    }
    rc = switch_current(c, prefix, id, only_if_empty, old, sizeof(old), err);
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
