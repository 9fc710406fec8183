/*
 * store.c - whitelist versions in Redis: reading them back (the key layout
 * is in store.h; publishing and rollback are in store_publish.c; the
 * connection is common/redis.h's).
 *
 * Reading uses SSCAN and HSCAN with large pages, which keeps Redis
 * responsive for the other MX nodes while a big set is read, and checks the
 * number of domains and of operator CNs read against the counts in meta, so
 * a version deleted mid-read is noticed instead of being served half empty.
 *
 * This file also holds the helpers both halves share (store_internal.h):
 * running a command, building keys, reading a string.
 *
 * Errors are one line; those the server or the connection caused name the
 * endpoint and the command, e.g.
 * "redis 127.0.0.1:6379: GET mssante:wl:current: timed out".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "common/err.h"
#include "common/redis.h"
#include "whitelist/domainset.h"
#include "whitelist/store.h"
#include "whitelist/store_internal.h"
#include "whitelist/whitelist.h"

#define DEFAULT_PREFIX   "mssante:"
#define SCAN_COUNT       "5000"

/* ------------------------------------------------------------------ */
/* Errors and keys                                                      */
/* ------------------------------------------------------------------ */

/* redis_run_argv() naming the command by its verb and key. */
redisReply *wls_run(redisContext *c, struct err *err, int argc, const char **argv)
{
    char what[KEY_MAX + 32];

    snprintf(what, sizeof(what), "%s%s%s", argv[0], argc > 1 ? " " : "",
             argc > 1 ? argv[1] : "");
    return redis_run_argv(c, what, err, argc, argv);
}

redisReply *wls_run1(redisContext *c, struct err *err, const char *cmd,
                     const char *a1)
{
    const char *argv[] = { cmd, a1 };

    return wls_run(c, err, a1 ? 2 : 1, argv);
}

/* Run for effect only: 0 or -1 + err. */
int wls_run_ok(redisContext *c, struct err *err, int argc, const char **argv)
{
    redisReply *r = wls_run(c, err, argc, argv);

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
int wls_key_global(char *buf, const char *prefix, const char *name,
                   struct err *err)
{
    int n = snprintf(buf, KEY_MAX, "%swl:%s", pfx(prefix), name);

    if (n < 0 || n >= KEY_MAX) {
        err_set(err, "redis key prefix too long");
        return -1;
    }
    return 0;
}

/* PREFIX wl:v:ID:PART */
int wls_key_version(char *buf, const char *prefix, const char *id, const char *part,
                    struct err *err)
{
    int n = snprintf(buf, KEY_MAX, "%swl:v:%s:%s", pfx(prefix), id, part);

    if (n < 0 || n >= KEY_MAX) {
        err_set(err, "redis key prefix too long");
        return -1;
    }
    return 0;
}

int wls_copy_str(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* GET KEY into out ("" when the key does not exist).  0 or -1. */
int wls_get_string(redisContext *c, const char *key, char *out, size_t size,
                   struct err *err)
{
    redisReply *r = wls_run1(c, err, "GET", key);
    int rc = 0;

    if (r == NULL)
        return -1;
    out[0] = '\0';
    if (r->type == REDIS_REPLY_STRING) {
        if (wls_copy_str(out, size, r->str, r->len) < 0) {
            err_set(err, "redis: %s holds an over-long value", key);
            rc = -1;
        }
    } else if (r->type != REDIS_REPLY_NIL) {
        redis_command_error(c, r, key, NULL, err);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

static int read_pointer(redisContext *c, const char *prefix, const char *name,
                        char *version_out, size_t vlen, struct err *err)
{
    char key[KEY_MAX], val[64];

    if (wls_key_global(key, prefix, name, err) < 0
        || wls_get_string(c, key, val, sizeof(val), err) < 0)
        return -1;
    if (val[0] == '\0')
        return 0;
    if (strlen(val) >= vlen) {
        err_set(err, "version id buffer too small");
        return -1;
    }
    snprintf(version_out, vlen, "%s", val);
    return 1;
}

int store_current_version(redisContext *c, const char *prefix,
                          char *version_out, size_t vlen, struct err *err)
{
    return read_pointer(c, prefix, "current", version_out, vlen, err);
}

int store_previous_version(redisContext *c, const char *prefix,
                           char *version_out, size_t vlen, struct err *err)
{
    return read_pointer(c, prefix, "previous", version_out, vlen, err);
}

/* Copy one meta field; over-long text values are cut (they are for
 * display), numbers must parse. */
static void meta_field(struct store_meta *m, const redisReply *f, const redisReply *v)
{
    const char *name = f->str;
    size_t len = v->len;

    if (strcmp(name, "generated") == 0)
        wls_copy_str(m->generated, sizeof(m->generated), v->str,
                     len < sizeof(m->generated) ? len : sizeof(m->generated) - 1);
    else if (strcmp(name, "sha256") == 0)
        wls_copy_str(m->sha256, sizeof(m->sha256), v->str,
                     len < sizeof(m->sha256) ? len : sizeof(m->sha256) - 1);
    else if (strcmp(name, "source") == 0)
        wls_copy_str(m->source, sizeof(m->source), v->str,
                     len < sizeof(m->source) ? len : sizeof(m->source) - 1);
    else if (strcmp(name, "loaded") == 0)
        m->loaded = strtoll(v->str, NULL, 10);
    else if (strcmp(name, "count") == 0)
        m->count = (size_t)strtoull(v->str, NULL, 10);
    else if (strcmp(name, "entries") == 0)
        m->entries = (size_t)strtoull(v->str, NULL, 10);
    else if (strcmp(name, "certs") == 0)
        m->certs = strtoll(v->str, NULL, 10);
}

int store_read_meta(redisContext *c, const char *prefix, const char *id,
                    struct store_meta *meta, struct err *err)
{
    char key[KEY_MAX];
    redisReply *r;
    size_t i;

    memset(meta, 0, sizeof(*meta));
    meta->certs = -1;
    if (id == NULL || id[0] == '\0' || strlen(id) >= sizeof(meta->version)) {
        err_set(err, "invalid version id");
        return -1;
    }
    if (wls_key_version(key, prefix, id, "meta", err) < 0)
        return -1;
    r = wls_run1(c, err, "HGETALL", key);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        redis_command_error(c, r, key, NULL, err);
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

/* One page of SSCAN / HSCAN items: 0, or -1 + err. */
typedef int (*page_fn)(const redisReply *items, const char *key, void *arg,
                       struct err *err);

/* Walk KEY with VERB (SSCAN or HSCAN) in large pages, handing each page to
 * FN.  0, or -1 + err. */
static int scan_all(redisContext *c, const char *verb, const char *key, page_fn fn,
                    void *arg, struct err *err)
{
    char cursor[32] = "0";

    do {
        const char *argv[] = { verb, key, cursor, "COUNT", SCAN_COUNT };
        redisReply *r = wls_run(c, err, 5, argv);
        int rc;

        if (r == NULL)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->type != REDIS_REPLY_STRING
            || r->element[1]->type != REDIS_REPLY_ARRAY
            || wls_copy_str(cursor, sizeof(cursor), r->element[0]->str, r->element[0]->len) < 0) {
            redis_command_error(c, r, verb, NULL, err);
            freeReplyObject(r);
            return -1;
        }
        rc = fn(r->element[1], key, arg, err);
        freeReplyObject(r);
        if (rc < 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* Add the members of one SSCAN page to the domain set ARG. */
static int add_page(const redisReply *members, const char *key, void *arg,
                    struct err *err)
{
    struct domainset *set = arg;
    size_t i;

    for (i = 0; i < members->elements; i++) {
        const redisReply *m = members->element[i];
        int rc;

        if (m->type != REDIS_REPLY_STRING)
            continue;
        rc = domainset_add(set, m->str, m->len);
        if (rc == -2) {
            err_set(err, "out of memory");
            return -1;
        }
        if (rc == -1) {
            err_set(err, "redis: %s holds an invalid domain \"%.*s\"", key,
                    (int)(m->len > 80 ? 80 : m->len), m->str);
            return -1;
        }
    }
    return 0;
}

/* Add one HSCAN page of domain -> "CN\nCN..." fields.  Strict like the
 * domain set: only our publishers write there, so anything odd means the
 * version is damaged, and serving it would refuse real operators. */
static int add_cert_page(const redisReply *fields, const char *key, void *arg,
                         struct err *err)
{
    struct whitelist *wl = arg;
    size_t i;

    for (i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *f = fields->element[i], *v = fields->element[i + 1];
        const char *cn, *end;

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (!domainset_contains(wl->domains, f->str)) {
            err_set(err, "redis: %s holds CNs for \"%.80s\", which is not in the"
                    " version's domain set", key, f->str);
            return -1;
        }
        for (cn = v->str; cn <= v->str + v->len; cn = end + 1) {
            int rc;

            end = memchr(cn, '\n', (size_t)(v->str + v->len - cn));
            if (end == NULL)
                end = v->str + v->len;
            rc = certset_add(wl->certs, f->str, f->len, cn, (size_t)(end - cn));
            if (rc == CERTSET_NOMEM) {
                err_set(err, "out of memory");
                return -1;
            }
            if (rc < 0) {
                err_set(err, "redis: %s holds an invalid or extra CN for %.80s",
                        key, f->str);
                return -1;
            }
        }
    }
    return 0;
}

/* The CNs of version ID into WL, checked against the pair count in meta
 * (or, for a version that predates it, against the version still being
 * there once read: its keys are deleted together).  0 or -1. */
static int load_certs(redisContext *c, const char *prefix, const char *id,
                      const struct store_meta *m, struct whitelist *wl,
                      struct err *err)
{
    char key[KEY_MAX];
    struct store_meta again;

    if (wls_key_version(key, prefix, id, "certs", err) < 0)
        return -1;
    if ((wl->certs = certset_new(m->count)) == NULL) {
        err_set(err, "out of memory");
        return -1;
    }
    if (scan_all(c, "HSCAN", key, add_cert_page, wl, err) < 0)
        return -1;
    if (m->certs >= 0) {
        if ((size_t)m->certs == certset_pairs(wl->certs))
            return 0;
        err_set(err, "redis: whitelist version %s has %zu operator CNs, its"
                " metadata says %lld (deleted while being read?)", id,
                certset_pairs(wl->certs), m->certs);
        return -1;
    }
    if (store_read_meta(c, prefix, id, &again, err) == 1)
        return 0;
    err_set(err, "redis: whitelist version %s was deleted while being read", id);
    return -1;
}

struct whitelist *store_load_version(redisContext *c, const char *prefix, const char *id,
                                     struct err *err)
{
    struct store_meta m;
    struct whitelist *wl;
    char key[KEY_MAX];
    int rc;

    rc = store_read_meta(c, prefix, id, &m, err);
    if (rc <= 0) {
        if (rc == 0)
            err_set(err, "redis: whitelist version %s not found", id);
        return NULL;
    }
    if (wls_key_version(key, prefix, id, "domains", err) < 0)
        return NULL;
    wl = whitelist_new();
    if (wl == NULL || (wl->domains = domainset_new(m.count)) == NULL) {
        err_set(err, "out of memory");
        whitelist_free(wl);
        return NULL;
    }
    if (scan_all(c, "SSCAN", key, add_page, wl->domains, err) < 0) {
        whitelist_free(wl);
        return NULL;
    }
    /* Fewer members than announced: the version was deleted (or never
     * completed) while we read it.  Serving it would drop real domains. */
    if (domainset_count(wl->domains) != m.count || m.count == 0) {
        err_set(err,
                "redis: whitelist version %s has %zu domains, its metadata says %zu"
                " (deleted while being read?)", id, domainset_count(wl->domains), m.count);
        whitelist_free(wl);
        return NULL;
    }
    if (load_certs(c, prefix, id, &m, wl, err) < 0) {
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
