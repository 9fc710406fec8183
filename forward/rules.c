/*
 * rules.c - per-mailbox forwarding rules in Redis (layout and rules in
 * rules.h).
 *
 * A rule is one hash; its targets are one JSON array in one field, so a
 * rule is always read and written whole and a reader never sees half an
 * update.  Read-modify-write (add, partial del) runs under WATCH: when
 * another client writes the same rule between our read and our EXEC, the
 * EXEC answers nil and we start again from a fresh read.
 *
 * Keys and values go through redisCommandArgv, never a format string: a
 * local part may hold any printable byte, including '%'.
 *
 * The import/export JSON document lives in rules_json.c; this file only
 * uses jansson for the one "targets" field of the stored hash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "common/err.h"
#include "common/redis.h"
#include "common/redis_server.h"
#include "forward/rules.h"
#include "forward/rules_internal.h"

#define DEFAULT_PREFIX "mssante:"
#define PREFIX_MAX     100
#define KEY_MAX        (PREFIX_MAX + FWD_ADDR_MAX + 16)
#define WATCH_RETRIES  10
#define GET_BATCH      128   /* HMGETs pipelined per round in list/get_many */

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/* "redis HOST:PORT: VERB KEY: why" for a failed command (R NULL: I/O).
 * A reply of the wrong type is worded "unexpected reply", without the type
 * number redis_command_error() would add; a reply saying the server is no
 * master any more retires C, as there. */
static void redis_error(redisContext *c, const redisReply *r, const char *verb,
                        const char *key, struct err *err)
{
    char where[300];

    redis_endpoint_name(c, where, sizeof(where));
    err_set(err, "redis %s: %s %s: %s", where, verb, key, redis_failure(c, r));
    if (r != NULL)
        redis_retire_if_stale(c, r);
}

static redisReply *command(redisContext *c, int argc, const char **argv, struct err *err)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        redis_error(c, r, argv[0], argc > 1 ? argv[1] : "", err);
        if (r != NULL)
            freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* ------------------------------------------------------------------ */
/* Names                                                                */
/* ------------------------------------------------------------------ */

const char *fwd_mode_name(enum fwd_mode m)
{
    return m == FWD_REDIRECT ? "redirect" : "copy";
}

int fwd_mode_parse(const char *text, enum fwd_mode *out)
{
    if (text == NULL)
        return -1;
    if (strcasecmp(text, "copy") == 0) {
        *out = FWD_COPY;
        return 0;
    }
    if (strcasecmp(text, "redirect") == 0) {
        *out = FWD_REDIRECT;
        return 0;
    }
    return -1;
}

static int normalize(const char *in, char *out, size_t outlen, bool fold_local,
                     const char *what, struct err *err)
{
    struct mailaddr a;
    const char *why = NULL;
    enum addr_status st = addr_parse(in, &a, &why);
    char *p;

    if (st == ADDR_NULL) {
        err_set(err, "%s: the null address <> is not a mailbox", what);
        return -1;
    }
    if (st != ADDR_OK) {
        err_set(err, "%s \"%s\": %s", what, in ? in : "", why ? why : "malformed");
        return -1;
    }
    if ((size_t)snprintf(out, outlen, "%s@%s", a.local, a.domain) >= outlen) {
        err_set(err, "%s \"%s\": too long", what, in);
        return -1;
    }
    if (fold_local) {
        for (p = out; *p; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        }
    }
    return 0;
}

int fwd_normalize_mailbox(const char *in, char *out, size_t outlen, struct err *err)
{
    return normalize(in, out, outlen, true, "mailbox", err);
}

int fwd_normalize_target(const char *in, char *out, size_t outlen, struct err *err)
{
    return normalize(in, out, outlen, false, "target", err);
}

static int make_key(char *key, size_t size, const char *prefix, const char *suffix,
                    const char *mailbox, struct err *err)
{
    const char *pfx = prefix != NULL ? prefix : DEFAULT_PREFIX;

    if (strlen(pfx) > PREFIX_MAX) {
        err_set(err, "forwarding rules: redis key prefix too long");
        return -1;
    }
    snprintf(key, size, "%s%s%s", pfx, suffix, mailbox ? mailbox : "");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rules in memory                                                      */
/* ------------------------------------------------------------------ */

void fwd_rule_free(struct fwd_rule *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->n_targets; i++)
        free(r->targets[i]);
    free(r->targets);
    free(r->mailbox);
    free(r);
}

static void rule_clear(struct fwd_rule *r)
{
    size_t i;

    for (i = 0; i < r->n_targets; i++)
        free(r->targets[i]);
    free(r->targets);
    free(r->mailbox);
    memset(r, 0, sizeof(*r));
}

void fwd_rules_clear(struct fwd_rules *rs)
{
    size_t i;

    if (rs == NULL)
        return;
    for (i = 0; i < rs->n; i++)
        rule_clear(&rs->v[i]);
    free(rs->v);
    rs->v = NULL;
    rs->n = 0;
}

static bool has_target(char *const *targets, size_t n, const char *t)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcasecmp(targets[i], t) == 0)
            return true;
    }
    return false;
}

/* Append a copy of T unless present.  1 appended, 0 present, -1 no memory.
 * Shared with rules_json.c (rules_internal.h). */
int fwd_append_target(char ***targets, size_t *n, const char *t)
{
    char **grown, *copy;

    if (has_target(*targets, *n, t))
        return 0;
    if ((copy = strdup(t)) == NULL)
        return -1;
    if ((grown = realloc(*targets, (*n + 1) * sizeof(*grown))) == NULL) {
        free(copy);
        return -1;
    }
    grown[(*n)++] = copy;
    *targets = grown;
    return 1;
}

/* "[\"a@b\",\"c@d\"]", malloc'd. */
static char *targets_to_json(char *const *targets, size_t n)
{
    json_t *arr = json_array();
    char *text;
    size_t i;

    if (arr == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (json_array_append_new(arr, json_string(targets[i])) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return text;
}

/* Build a rule from the stored fields.  NULL + err when they are damaged
 * (someone wrote the key by hand): better an error than a half rule. */
static struct fwd_rule *rule_from_fields(const char *mailbox, const char *mode,
                                         const char *targets_json, struct err *err)
{
    struct fwd_rule *r = calloc(1, sizeof(*r));
    json_error_t jerr;
    json_t *arr = NULL, *v;
    size_t i;

    if (r == NULL || (r->mailbox = strdup(mailbox)) == NULL)
        goto nomem;
    if (mode == NULL || fwd_mode_parse(mode, &r->mode) != 0) {
        err_set(err, "forwarding rule of %s: bad mode \"%s\"", mailbox,
                mode ? mode : "(missing)");
        goto fail;
    }
    if (targets_json == NULL || (arr = json_loads(targets_json, 0, &jerr)) == NULL
        || !json_is_array(arr)) {
        err_set(err, "forwarding rule of %s: targets are not a JSON array", mailbox);
        goto fail;
    }
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v)) {
            err_set(err, "forwarding rule of %s: a target is not a string", mailbox);
            goto fail;
        }
        if (fwd_append_target(&r->targets, &r->n_targets, json_string_value(v)) < 0)
            goto nomem;
    }
    json_decref(arr);
    return r;
nomem:
    err_set(err, "forwarding rule of %s: out of memory", mailbox);
fail:
    json_decref(arr);
    fwd_rule_free(r);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Reads                                                                */
/* ------------------------------------------------------------------ */

static const char *element_str(const redisReply *r, size_t i)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    return r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : NULL;
}

/* Turn an HMGET mode targets reply into a rule: 1 rule, 0 no rule, -1 err. */
static int rule_from_reply(const redisReply *r, const char *mailbox, struct fwd_rule **out,
                           struct err *err)
{
    const char *mode = element_str(r, 0), *targets = element_str(r, 1);

    *out = NULL;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        err_set(err, "forwarding rule of %s: unexpected reply", mailbox);
        return -1;
    }
    if (mode == NULL && targets == NULL)
        return 0;
    if ((*out = rule_from_fields(mailbox, mode, targets, err)) == NULL)
        return -1;
    return 1;
}

int fwd_rule_get(redisContext *c, const char *prefix, const char *mailbox,
                 struct fwd_rule **out, struct err *err)
{
    const char *mb[1] = { mailbox };
    struct fwd_rule *got[1] = { NULL };
    char norm[FWD_ADDR_MAX];
    int n;

    *out = NULL;
    if (fwd_normalize_mailbox(mailbox, norm, sizeof(norm), err) < 0)
        return -1;
    n = fwd_rules_get_many(c, prefix, mb, 1, got, err);
    if (n < 0)
        return -1;
    *out = got[0];
    return n;
}

/* Send HMGETs for out[lo..hi) and read them back. */
static int get_batch(redisContext *c, const char *prefix, const char *const *mailboxes,
                     size_t lo, size_t hi, struct fwd_rule **out, int *found,
                     struct err *err)
{
    char key[KEY_MAX], mb[FWD_ADDR_MAX];
    bool *sent = calloc(hi - lo, sizeof(*sent));
    int rc = 0;
    size_t i;

    if (sent == NULL) {
        err_set(err, "forwarding rules: out of memory");
        return -1;
    }
    for (i = lo; i < hi; i++) {
        const char *argv[4];

        if (fwd_normalize_mailbox(mailboxes[i], mb, sizeof(mb), NULL) < 0)
            continue;
        if (make_key(key, sizeof(key), prefix, "fwd:", mb, err) < 0) {
            free(sent);
            return -1;
        }
        argv[0] = "HMGET";
        argv[1] = key;
        argv[2] = "mode";
        argv[3] = "targets";
        if (redisAppendCommandArgv(c, 4, argv, NULL) != REDIS_OK) {
            redis_error(c, NULL, "HMGET", key, err);
            free(sent);
            return -1;
        }
        sent[i - lo] = true;
    }
    /* Read every reply we asked for, even after an error, so the
     * connection stays in step. */
    for (i = lo; i < hi; i++) {
        redisReply *r = NULL;

        if (!sent[i - lo])
            continue;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL
            || r->type == REDIS_REPLY_ERROR) {
            if (rc == 0) {
                fwd_normalize_mailbox(mailboxes[i], mb, sizeof(mb), NULL);
                make_key(key, sizeof(key), prefix, "fwd:", mb, NULL);
                redis_error(c, r, "HMGET", key, err);
            }
            rc = -1;
            if (r == NULL) {
                free(sent);
                return -1;    /* connection broken: nothing more to read */
            }
        } else if (rc == 0) {
            fwd_normalize_mailbox(mailboxes[i], mb, sizeof(mb), NULL);
            switch (rule_from_reply(r, mb, &out[i], err)) {
            case 1:
                (*found)++;
                break;
            case 0:
                break;
            default:
                rc = -1;
            }
        }
        freeReplyObject(r);
    }
    free(sent);
    return rc;
}

int fwd_rules_get_many(redisContext *c, const char *prefix, const char *const *mailboxes,
                       size_t n, struct fwd_rule **out, struct err *err)
{
    int found = 0;
    size_t i, lo;

    for (i = 0; i < n; i++)
        out[i] = NULL;
    if (c == NULL) {
        err_set(err, "forwarding rules: no Redis connection");
        return -1;
    }
    for (lo = 0; lo < n; lo += GET_BATCH) {
        size_t hi = n - lo > GET_BATCH ? lo + GET_BATCH : n;

        if (get_batch(c, prefix, mailboxes, lo, hi, out, &found, err) < 0) {
            for (i = 0; i < n; i++) {
                fwd_rule_free(out[i]);
                out[i] = NULL;
            }
            return -1;
        }
    }
    return found;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int fwd_rules_list(redisContext *c, const char *prefix, struct fwd_rules *out,
                   struct err *err)
{
    const char *argv[2];
    char key[KEY_MAX];
    struct fwd_rule **got = NULL;
    const char **names = NULL;
    redisReply *r;
    size_t i, n;
    int rc = -1;

    fwd_rules_clear(out);
    if (c == NULL) {
        err_set(err, "forwarding rules: no Redis connection");
        return -1;
    }
    if (make_key(key, sizeof(key), prefix, "fwd-idx", NULL, err) < 0)
        return -1;
    argv[0] = "SMEMBERS";
    argv[1] = key;
    if ((r = command(c, 2, argv, err)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        redis_error(c, r, "SMEMBERS", key, err);
        goto out;
    }
    n = r->elements;
    names = calloc(n ? n : 1, sizeof(*names));
    got = calloc(n ? n : 1, sizeof(*got));
    if (names == NULL || got == NULL) {
        err_set(err, "forwarding rules: out of memory");
        goto out;
    }
    for (i = 0; i < n; i++)
        names[i] = r->element[i]->type == REDIS_REPLY_STRING ? r->element[i]->str : "";
    qsort(names, n, sizeof(*names), cmp_str);
    if (fwd_rules_get_many(c, prefix, names, n, got, err) < 0)
        goto out;
    if ((out->v = calloc(n ? n : 1, sizeof(*out->v))) == NULL) {
        err_set(err, "forwarding rules: out of memory");
        goto out;
    }
    /* An index entry without its hash (deleted by hand) is not a rule. */
    for (i = 0; i < n; i++) {
        if (got[i] != NULL) {
            out->v[out->n++] = *got[i];
            free(got[i]);
            got[i] = NULL;
        }
    }
    rc = 0;
out:
    if (got != NULL) {
        for (i = 0; i < n; i++)
            fwd_rule_free(got[i]);
    }
    free(got);
    free(names);
    freeReplyObject(r);
    if (rc < 0)
        fwd_rules_clear(out);
    return rc;
}

long long fwd_rules_version(redisContext *c, const char *prefix, struct err *err)
{
    const char *argv[2];
    char key[KEY_MAX];
    redisReply *r;
    long long v = 0;

    if (c == NULL) {
        err_set(err, "forwarding rules: no Redis connection");
        return -1;
    }
    if (make_key(key, sizeof(key), prefix, "fwd-version", NULL, err) < 0)
        return -1;
    argv[0] = "GET";
    argv[1] = key;
    if ((r = command(c, 2, argv, err)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return v;
}

/* ------------------------------------------------------------------ */
/* Writes                                                               */
/* ------------------------------------------------------------------ */

struct rule_keys {
    char mailbox[FWD_ADDR_MAX];   /* normalised */
    char rule[KEY_MAX];
    char index[KEY_MAX];
    char version[KEY_MAX];
};

static int rule_keys(struct rule_keys *k, const char *prefix, const char *mailbox,
                     struct err *err)
{
    if (fwd_normalize_mailbox(mailbox, k->mailbox, sizeof(k->mailbox), err) < 0)
        return -1;
    if (make_key(k->rule, sizeof(k->rule), prefix, "fwd:", k->mailbox, err) < 0
        || make_key(k->index, sizeof(k->index), prefix, "fwd-idx", NULL, err) < 0
        || make_key(k->version, sizeof(k->version), prefix, "fwd-version", NULL, err) < 0)
        return -1;
    return 0;
}

static void free_targets(char **targets, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(targets[i]);
    free(targets);
}

/*
 * Normalise and deduplicate TARGETS of MAILBOX (normalised) into a new
 * array.  Every target is checked, so that nothing is written when one is
 * wrong.  -1 + err.
 */
static int check_targets(const char *mailbox, const char *const *targets, size_t n,
                         char ***out, size_t *n_out, struct err *err)
{
    char norm[FWD_ADDR_MAX];
    size_t i;

    *out = NULL;
    *n_out = 0;
    for (i = 0; i < n; i++) {
        if (fwd_normalize_target(targets[i], norm, sizeof(norm), err) < 0)
            goto fail;
        if (strcasecmp(norm, mailbox) == 0) {
            err_set(err, "target %s: a mailbox cannot forward to itself "
                    "(copy mode keeps the message in the mailbox)", norm);
            goto fail;
        }
        if (fwd_append_target(out, n_out, norm) < 0) {
            err_set(err, "forwarding rules: out of memory");
            goto fail;
        }
    }
    if (*n_out > FWD_MAX_TARGETS) {
        err_set(err, "mailbox %s: more than %d targets", mailbox, FWD_MAX_TARGETS);
        goto fail;
    }
    return 0;
fail:
    free_targets(*out, *n_out);
    *out = NULL;
    *n_out = 0;
    return -1;
}

/* WATCH the rule and read it: 1 rule (*out), 0 none, -1 error. */
static int watch_and_read(redisContext *c, const struct rule_keys *k, struct fwd_rule **out,
                          struct err *err)
{
    const char *watch[2] = { "WATCH", k->rule };
    const char *hmget[4] = { "HMGET", k->rule, "mode", "targets" };
    redisReply *r;
    int rc;

    *out = NULL;
    if ((r = command(c, 2, watch, err)) == NULL)
        return -1;
    freeReplyObject(r);
    if ((r = command(c, 4, hmget, err)) == NULL)
        return -1;
    rc = rule_from_reply(r, k->mailbox, out, err);
    freeReplyObject(r);
    return rc;
}

static void unwatch(redisContext *c)
{
    const char *argv[1] = { "UNWATCH" };
    redisReply *r = redisCommandArgv(c, 1, argv, NULL);

    if (r != NULL)
        freeReplyObject(r);
}

/*
 * Run the rule's write as MULTI ... EXEC: either the new rule (TARGETS not
 * empty) or its deletion.  Returns 1 committed, 0 aborted because a WATCHed
 * key changed, -1 error.
 */
static int write_rule(redisContext *c, const struct rule_keys *k, bool delete_first,
                      enum fwd_mode mode, char *const *targets, size_t n,
                      struct err *err)
{
    const char *multi[1] = { "MULTI" }, *exec[1] = { "EXEC" };
    const char *del[2] = { "DEL", k->rule };
    const char *hset[8], *sadd[3], *srem[3], *incr[2] = { "INCR", k->version };
    char now[32], *json = NULL;
    const char *step = "MULTI";
    int i, count = 0, rc = -1;
    redisReply *r = NULL;

    if (n > 0 && (json = targets_to_json(targets, n)) == NULL) {
        err_set(err, "forwarding rules: out of memory");
        return -1;
    }
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    hset[0] = "HSET"; hset[1] = k->rule;
    hset[2] = "mode"; hset[3] = fwd_mode_name(mode);
    hset[4] = "targets"; hset[5] = json;
    hset[6] = "updated"; hset[7] = now;
    sadd[0] = "SADD"; sadd[1] = k->index; sadd[2] = k->mailbox;
    srem[0] = "SREM"; srem[1] = k->index; srem[2] = k->mailbox;

    if (redisAppendCommandArgv(c, 1, multi, NULL) != REDIS_OK)
        goto io;
    count++;
    if (n == 0 || delete_first) {
        if (redisAppendCommandArgv(c, 2, del, NULL) != REDIS_OK)
            goto io;
        count++;
    }
    if (n > 0) {
        if (redisAppendCommandArgv(c, 8, hset, NULL) != REDIS_OK
            || redisAppendCommandArgv(c, 3, sadd, NULL) != REDIS_OK)
            goto io;
        count += 2;
    } else {
        if (redisAppendCommandArgv(c, 3, srem, NULL) != REDIS_OK)
            goto io;
        count++;
    }
    if (redisAppendCommandArgv(c, 2, incr, NULL) != REDIS_OK
        || redisAppendCommandArgv(c, 1, exec, NULL) != REDIS_OK)
        goto io;
    count += 2;

    /* MULTI and the queued commands answer OK / QUEUED, EXEC the results
     * (or nil when a WATCHed key changed).  Read them all. */
    rc = 1;
    for (i = 0; i < count; i++) {
        step = i == 0 ? "MULTI" : i == count - 1 ? "EXEC" : "queued command";
        if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL)
            goto io;
        if (r->type == REDIS_REPLY_ERROR) {
            if (rc > 0)
                redis_error(c, r, step, k->rule, err);
            rc = -1;
        } else if (i == count - 1 && rc > 0) {
            rc = r->type == REDIS_REPLY_NIL ? 0 : 1;
        }
        freeReplyObject(r);
        r = NULL;
    }
    free(json);
    return rc;
io:
    redis_error(c, NULL, step, k->rule, err);
    free(json);
    return -1;
}

int fwd_rules_add(redisContext *c, const char *prefix, const char *mailbox,
                  enum fwd_mode mode, const char *const *targets, size_t n,
                  unsigned flags, struct fwd_add_result *res, struct err *err)
{
    struct fwd_add_result dummy;
    struct rule_keys k;
    char **add = NULL;
    size_t n_add = 0, attempt, i;
    int rc = -1;

    if (res == NULL)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    if (c == NULL) {
        err_set(err, "forwarding rules: no Redis connection");
        return -1;
    }
    if (rule_keys(&k, prefix, mailbox, err) < 0)
        return -1;
    if (n == 0) {
        err_set(err, "mailbox %s: no target given", k.mailbox);
        return -1;
    }
    if (check_targets(k.mailbox, targets, n, &add, &n_add, err) < 0)
        return -1;

    for (attempt = 0; attempt < WATCH_RETRIES; attempt++) {
        struct fwd_rule *cur = NULL;
        char **merged = NULL;
        size_t n_merged = 0;
        enum fwd_mode new_mode = mode;
        int got = watch_and_read(c, &k, &cur, err);

        if (got < 0) {
            unwatch(c);
            goto out;
        }
        memset(res, 0, sizeof(*res));
        res->created = cur == NULL;
        if (cur != NULL) {
            merged = cur->targets;      /* take them over */
            n_merged = cur->n_targets;
            cur->targets = NULL;
            cur->n_targets = 0;
            res->old_mode = cur->mode;
            if (flags & FWD_ADD_KEEP_MODE)
                new_mode = cur->mode;
            res->mode_changed = new_mode != cur->mode;
            fwd_rule_free(cur);
        }
        for (i = 0; i < n_add; i++) {
            int a = fwd_append_target(&merged, &n_merged, add[i]);

            if (a < 0) {
                err_set(err, "forwarding rules: out of memory");
                free_targets(merged, n_merged);
                unwatch(c);
                goto out;
            }
            if (a > 0)
                res->n_added++;
            else
                res->n_present++;
        }
        if (!res->created && res->n_added == 0 && !res->mode_changed) {
            free_targets(merged, n_merged);
            unwatch(c);
            rc = 0;                     /* nothing to change */
            goto out;
        }
        if (n_merged > FWD_MAX_TARGETS) {
            err_set(err, "mailbox %s: more than %d targets", k.mailbox,
                    FWD_MAX_TARGETS);
            free_targets(merged, n_merged);
            unwatch(c);
            goto out;
        }
        got = write_rule(c, &k, false, new_mode, merged, n_merged, err);
        free_targets(merged, n_merged);
        if (got != 0) {
            rc = got > 0 ? 0 : -1;
            goto out;
        }
    }
    err_set(err, "mailbox %s: the rule kept changing under us, try again", k.mailbox);
out:
    free_targets(add, n_add);
    return rc;
}

/* Remove the whole rule.  A damaged rule (bad JSON) can be removed too:
 * it is read only to count its targets. */
static int del_all(redisContext *c, const struct rule_keys *k, size_t *n_removed,
                   struct err *err)
{
    size_t attempt;

    for (attempt = 0; attempt < WATCH_RETRIES; attempt++) {
        struct fwd_rule *cur = NULL;
        int got;

        if (watch_and_read(c, k, &cur, NULL) < 0 && c->err) {
            redis_error(c, NULL, "HMGET", k->rule, err);
            return -1;
        }
        *n_removed = cur != NULL ? cur->n_targets : 0;
        fwd_rule_free(cur);
        if ((got = write_rule(c, k, true, FWD_COPY, NULL, 0, err)) != 0)
            return got > 0 ? 0 : -1;
    }
    err_set(err, "mailbox %s: the rule kept changing under us, try again", k->mailbox);
    return -1;
}

/* Remove TARGETS (compared case-insensitively, normalised when they parse). */
static int del_some(redisContext *c, const struct rule_keys *k, const char *const *targets,
                    size_t n, size_t *n_removed, bool *gone, struct err *err)
{
    size_t attempt, i, j;

    for (attempt = 0; attempt < WATCH_RETRIES; attempt++) {
        struct fwd_rule *cur = NULL;
        size_t n_left = 0, removed = 0;
        int got;

        if (watch_and_read(c, k, &cur, err) < 0) {
            unwatch(c);
            return -1;
        }
        if (cur == NULL) {
            unwatch(c);
            *gone = true;
            return 0;
        }
        for (i = 0; i < cur->n_targets; i++) {
            bool drop = false;

            for (j = 0; j < n && !drop; j++) {
                char norm[FWD_ADDR_MAX];

                if (fwd_normalize_target(targets[j], norm, sizeof(norm), NULL) == 0)
                    drop = strcasecmp(norm, cur->targets[i]) == 0;
                else
                    drop = strcasecmp(targets[j], cur->targets[i]) == 0;
            }
            if (drop) {
                removed++;
                free(cur->targets[i]);
            } else {
                cur->targets[n_left++] = cur->targets[i];
            }
        }
        cur->n_targets = n_left;
        if (removed == 0) {
            fwd_rule_free(cur);
            unwatch(c);
            return 0;
        }
        got = write_rule(c, k, false, cur->mode, cur->targets, n_left, err);
        fwd_rule_free(cur);
        if (got < 0)
            return -1;
        if (got > 0) {
            *n_removed = removed;
            *gone = n_left == 0;
            return 0;
        }
    }
    err_set(err, "mailbox %s: the rule kept changing under us, try again", k->mailbox);
    return -1;
}

int fwd_rules_del(redisContext *c, const char *prefix, const char *mailbox,
                  const char *const *targets, size_t n, size_t *n_removed, bool *gone,
                  struct err *err)
{
    struct rule_keys k;
    size_t dummy_n;
    bool dummy_gone;
    int rc;

    if (n_removed == NULL)
        n_removed = &dummy_n;
    if (gone == NULL)
        gone = &dummy_gone;
    *n_removed = 0;
    *gone = false;
    if (c == NULL) {
        err_set(err, "forwarding rules: no Redis connection");
        return -1;
    }
    if (rule_keys(&k, prefix, mailbox, err) < 0)
        return -1;
    if (n > 0)
        return del_some(c, &k, targets, n, n_removed, gone, err);
    rc = del_all(c, &k, n_removed, err);
    *gone = rc == 0;
    return rc;
}

int fwd_rules_set(redisContext *c, const char *prefix, const struct fwd_rule *rule,
                  struct err *err)
{
    struct rule_keys k;
    char **targets = NULL;
    size_t n = 0;
    int rc;

    if (c == NULL) {
        err_set(err, "forwarding rules: no Redis connection");
        return -1;
    }
    if (rule == NULL || rule_keys(&k, prefix, rule->mailbox, err) < 0)
        return -1;
    if (rule->n_targets == 0) {
        err_set(err, "mailbox %s: no target given", k.mailbox);
        return -1;
    }
    if (check_targets(k.mailbox, (const char *const *)rule->targets, rule->n_targets,
                      &targets, &n, err) < 0)
        return -1;
    /* No WATCH: the new rule does not depend on the old one. */
    rc = write_rule(c, &k, true, rule->mode, targets, n, err);
    free_targets(targets, n);
    return rc > 0 ? 0 : -1;
}
