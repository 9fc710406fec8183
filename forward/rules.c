/*
 * rules.c - per-mailbox forwarding rules in Redis: the rule in memory,
 * the key names, and reading (layout and rules in rules.h; writing is
 * rules_write.c's).
 *
 * A rule is one hash; its targets are one JSON array in one field, so a
 * rule is always read and written whole and a reader never sees half an
 * update.
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

#include <jansson.h>

#include "common/err.h"
#include "common/redis.h"
#include "forward/rules.h"
#include "forward/rules_internal.h"

#define GET_BATCH      128   /* HMGETs pipelined per round in list/get_many */

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/* "redis HOST:PORT: VERB KEY: why" for a failed command (R NULL: I/O).
 * A reply of the wrong type is worded "unexpected reply", without the type
 * number redis_command_error() would add. */
void fwd_redis_error(const redisContext *c, const redisReply *r, const char *verb,
                        const char *key, struct err *err)
{
    char where[300];

    redis_endpoint_name(c, where, sizeof(where));
    err_set(err, "redis %s: %s %s: %s", where, verb, key, redis_failure(c, r));
}

redisReply *fwd_command(redisContext *c, int argc, const char **argv, struct err *err)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fwd_redis_error(c, r, argv[0], argc > 1 ? argv[1] : "", err);
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

int fwd_make_key(char *key, size_t size, const char *prefix, const char *suffix,
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
char *fwd_targets_to_json(char *const *targets, size_t n)
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
int fwd_rule_from_reply(const redisReply *r, const char *mailbox, struct fwd_rule **out,
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
        if (fwd_make_key(key, sizeof(key), prefix, "fwd:", mb, err) < 0) {
            free(sent);
            return -1;
        }
        argv[0] = "HMGET";
        argv[1] = key;
        argv[2] = "mode";
        argv[3] = "targets";
        if (redisAppendCommandArgv(c, 4, argv, NULL) != REDIS_OK) {
            fwd_redis_error(c, NULL, "HMGET", key, err);
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
                fwd_make_key(key, sizeof(key), prefix, "fwd:", mb, NULL);
                fwd_redis_error(c, r, "HMGET", key, err);
            }
            rc = -1;
            if (r == NULL) {
                free(sent);
                return -1;    /* connection broken: nothing more to read */
            }
        } else if (rc == 0) {
            fwd_normalize_mailbox(mailboxes[i], mb, sizeof(mb), NULL);
            switch (fwd_rule_from_reply(r, mb, &out[i], err)) {
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
    if (fwd_make_key(key, sizeof(key), prefix, "fwd-idx", NULL, err) < 0)
        return -1;
    argv[0] = "SMEMBERS";
    argv[1] = key;
    if ((r = fwd_command(c, 2, argv, err)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        fwd_redis_error(c, r, "SMEMBERS", key, err);
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
    if (fwd_make_key(key, sizeof(key), prefix, "fwd-version", NULL, err) < 0)
        return -1;
    argv[0] = "GET";
    argv[1] = key;
    if ((r = fwd_command(c, 2, argv, err)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return v;
}
