/*
 * store_read.c - patient conversations in Redis: the reads (layout and
 * rules in store.h; the writes are store.c).  Whether a conversation is
 * open, one record, and the listing of a mailbox's conversations, which
 * also drops from the index the patients whose conversation has expired.
 *
 * Reads are plain commands, pipelined when there are several; the only
 * script is the index pruning, so that a member goes only if its
 * conversation is still gone when Redis runs it.
 *
 * Keys go through redisCommandArgv, never a format string: a mailbox's
 * local part may hold any byte.
 *
 * Errors are one line naming the Redis endpoint and the command, e.g.
 * "redis 127.0.0.1:6379: HGET mssante:conv:a@b.fr:2790...: timed out".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/logid.h"
#include "common/redis.h"
#include "conversation/store.h"
#include "conversation/store_keys.h"

#define LIST_BATCH 256   /* records read (or pruned) per pipelined round */

/* The hash fields, in the order HMGET asks for them. */
static const char *const record_fields[] = {
    "state", "opened_at", "last_activity", "closed_at", "closed_by_qid", "imported_at"
};
#define N_FIELDS (sizeof(record_fields) / sizeof(record_fields[0]))

int conv_is_open(redisContext *c, const char *prefix, const char *mailbox,
                 const char *patient, struct err *err)
{
    char shown[CVS_KEY_MAX + LOGID_MAX];
    struct cvs_keys k;
    const char *argv[3];
    redisReply *r;
    int open;

    if (cvs_check_context(c, err) != 0 ||
        cvs_make_keys(&k, prefix, mailbox, patient, false, err) != 0)
        return -1;
    argv[0] = "HGET";
    argv[1] = k.conv;
    argv[2] = "state";
    r = redisCommandArgv(c, 3, argv, NULL);
    if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        redis_command_error(c, r, "HGET", cvs_shown_key(k.conv, shown, sizeof(shown)), err);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    open = r->type == REDIS_REPLY_STRING && strcmp(r->str, "open") == 0;
    freeReplyObject(r);
    return open;
}

/* Queue "HMGET key fields..." and "TTL key" without waiting. */
static int append_record_query(redisContext *c, const char *key)
{
    const char *argv[2 + N_FIELDS];
    const char *ttl_argv[2] = { "TTL", key };
    size_t i;

    argv[0] = "HMGET";
    argv[1] = key;
    for (i = 0; i < N_FIELDS; i++)
        argv[2 + i] = record_fields[i];
    if (redisAppendCommandArgv(c, (int)(2 + N_FIELDS), argv, NULL) != REDIS_OK)
        return -1;
    return redisAppendCommandArgv(c, 2, ttl_argv, NULL) == REDIS_OK ? 0 : -1;
}

/*
 * Turn the HMGET and TTL replies into *out.  1 record, 0 none, -1 when
 * the record is not one of ours (err set).
 */
static int parse_record(const redisReply *h, const redisReply *t, const char *key,
                        struct conv_info *out, struct err *err)
{
    char shown[CVS_KEY_MAX + LOGID_MAX];
    const redisReply *state, *qid;

    memset(out->closed_by_qid, 0, sizeof(out->closed_by_qid));
    out->state = CONV_NONE;
    out->opened_at = out->last_activity = out->closed_at = out->imported_at = 0;
    out->ttl = -1;
    if (h->type != REDIS_REPLY_ARRAY || h->elements != N_FIELDS ||
        t->type != REDIS_REPLY_INTEGER) {
        err_set(err, "conversation %s: unexpected reply", cvs_shown_key(key, shown, sizeof(shown)));
        return -1;
    }
    state = h->element[0];
    if (state->type == REDIS_REPLY_NIL)
        return 0;
    if (state->type == REDIS_REPLY_STRING && strcmp(state->str, "open") == 0)
        out->state = CONV_OPEN;
    else if (state->type == REDIS_REPLY_STRING && strcmp(state->str, "closed") == 0)
        out->state = CONV_CLOSED;
    else {
        err_set(err, "conversation %s: unknown state", cvs_shown_key(key, shown, sizeof(shown)));
        return -1;
    }
    out->opened_at = cvs_field_number(h->element[1]);
    out->last_activity = cvs_field_number(h->element[2]);
    out->closed_at = cvs_field_number(h->element[3]);
    qid = h->element[4];
    if (qid->type == REDIS_REPLY_STRING)
        snprintf(out->closed_by_qid, sizeof(out->closed_by_qid), "%s", qid->str);
    out->imported_at = cvs_field_number(h->element[5]);
    /* -2: expired between the two commands; it is still shown, with 0 left. */
    out->ttl = t->integer == -2 ? 0 : t->integer;
    return 1;
}

/* Read the two replies of append_record_query().  Both are always read, so
 * the connection stays in step even after an error reply. */
static int read_record(redisContext *c, const char *key, struct conv_info *out,
                       struct err *err)
{
    char shown[CVS_KEY_MAX + LOGID_MAX];
    redisReply *h = NULL, *t = NULL;
    int rc;

    if (redisGetReply(c, (void **)&h) != REDIS_OK || h == NULL) {
        redis_command_error(c, NULL, "HMGET", cvs_shown_key(key, shown, sizeof(shown)), err);
        return -1;
    }
    if (redisGetReply(c, (void **)&t) != REDIS_OK || t == NULL) {
        redis_command_error(c, NULL, "TTL", cvs_shown_key(key, shown, sizeof(shown)), err);
        freeReplyObject(h);
        return -1;
    }
    if (h->type == REDIS_REPLY_ERROR) {
        redis_command_error(c, h, "HMGET", cvs_shown_key(key, shown, sizeof(shown)), err);
        rc = -1;
    } else if (t->type == REDIS_REPLY_ERROR) {
        redis_command_error(c, t, "TTL", cvs_shown_key(key, shown, sizeof(shown)), err);
        rc = -1;
    } else {
        rc = parse_record(h, t, key, out, err);
    }
    freeReplyObject(h);
    freeReplyObject(t);
    return rc;
}

int conv_get(redisContext *c, const char *prefix, const char *mailbox,
             const char *patient, struct conv_info *out, struct err *err)
{
    char shown[CVS_KEY_MAX + LOGID_MAX];
    struct cvs_keys k;

    memset(out, 0, sizeof(*out));
    if (cvs_check_context(c, err) != 0 ||
        cvs_make_keys(&k, prefix, mailbox, patient, false, err) != 0)
        return -1;
    snprintf(out->patient, sizeof(out->patient), "%s", k.patient);
    if (append_record_query(c, k.conv) != 0) {
        redis_command_error(c, NULL, "HMGET", cvs_shown_key(k.conv, shown, sizeof(shown)), err);
        return -1;
    }
    return read_record(c, k.conv, out, err);
}

static int cmp_member(const void *a, const void *b)
{
    const redisReply *ra = *(const redisReply *const *)a;
    const redisReply *rb = *(const redisReply *const *)b;

    return strcmp(ra->str, rb->str);
}

/* KEYS: index, then the conversation key of each ARGV member.  A member
 * goes only if its conversation is still gone: another node may have
 * reopened it since we looked. */
static const char prune_lua[] =
    "local n = 0\n"
    "for i = 2, #KEYS do\n"
    "  if redis.call('EXISTS', KEYS[i]) == 0 then\n"
    "    n = n + redis.call('SREM', KEYS[1], ARGV[i - 1])\n"
    "  end\n"
    "end\n"
    "return n\n";

/* Drop index members whose conversation has expired, N of them at most
 * LIST_BATCH.  Best effort: a failure only leaves them for the next
 * listing, so it is not reported. */
static void prune_index(redisContext *c, const char *pfx, const struct cvs_keys *k,
                        const char *const *gone, size_t n)
{
    const char *argv[4 + 2 * LIST_BATCH];
    char *keys[LIST_BATCH];
    char count[16];
    size_t i, made = 0;
    redisReply *r;

    if (n == 0 || n > LIST_BATCH)
        return;
    snprintf(count, sizeof(count), "%zu", n + 1);
    argv[0] = "EVAL";
    argv[1] = prune_lua;
    argv[2] = count;
    argv[3] = k->index;
    for (i = 0; i < n; i++) {
        size_t len = strlen(pfx) + strlen(k->mailbox) + strlen(gone[i]) + sizeof("conv::");

        if ((keys[i] = malloc(len)) == NULL)
            goto out;
        made++;
        snprintf(keys[i], len, "%sconv:%s:%s", pfx, k->mailbox, gone[i]);
        argv[4 + i] = keys[i];
        argv[4 + n + i] = gone[i];
    }
    r = redisCommandArgv(c, (int)(4 + 2 * n), argv, NULL);
    if (r != NULL)
        freeReplyObject(r);
out:
    for (i = 0; i < made; i++)
        free(keys[i]);
}

/*
 * Read the records of the (sorted) MEMBERS in pipelined batches and hand
 * each live one to FN; prune the expired ones batch by batch.  Returns how
 * many went to FN, or -1 + err.
 */
static int list_members(redisContext *c, const char *pfx, const struct cvs_keys *k,
                        redisReply **members, size_t n, conv_list_fn fn, void *ctx,
                        struct err *err)
{
    char key[CVS_KEY_MAX], shown[CVS_KEY_MAX + LOGID_MAX];
    const char *gone[LIST_BATCH];
    struct conv_info info;
    size_t start, i;
    int count = 0, stop = 0;

    for (start = 0; start < n && !stop; start += LIST_BATCH) {
        size_t end = start + LIST_BATCH < n ? start + LIST_BATCH : n, n_gone = 0;

        for (i = start; i < end; i++) {
            snprintf(key, sizeof(key), "%sconv:%s:%s", pfx, k->mailbox, members[i]->str);
            if (append_record_query(c, key) != 0) {
                redis_command_error(c, NULL, "HMGET", cvs_shown_key(key, shown, sizeof(shown)), err);
                return -1;
            }
        }
        /* Read every queued reply, even after FN asked to stop, so the
         * connection stays in step. */
        for (i = start; i < end; i++) {
            int rc;

            snprintf(key, sizeof(key), "%sconv:%s:%s", pfx, k->mailbox, members[i]->str);
            rc = read_record(c, key, &info, err);
            if (rc < 0)
                return -1;
            if (rc == 0) {
                gone[n_gone++] = members[i]->str;
                continue;
            }
            snprintf(info.patient, sizeof(info.patient), "%s", members[i]->str);
            if (!stop) {
                count++;
                stop = fn(ctx, &info) != 0;
            }
        }
        prune_index(c, pfx, k, gone, n_gone);
    }
    return count;
}

int conv_list(redisContext *c, const char *prefix, const char *mailbox,
              conv_list_fn fn, void *ctx, struct err *err)
{
    struct cvs_keys k;
    const char *argv[2];
    redisReply *r;
    size_t i;
    int count;

    if (cvs_check_context(c, err) != 0 ||
        cvs_make_keys(&k, prefix, mailbox, NULL, true, err) != 0)
        return -1;
    argv[0] = "SMEMBERS";
    argv[1] = k.index;
    r = redisCommandArgv(c, 2, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        redis_command_error(c, r, "SMEMBERS", k.index, err);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    for (i = 0; i < r->elements; i++) {
        const redisReply *m = r->element[i];

        if (m->type != REDIS_REPLY_STRING || m->len == 0 || m->len > CONV_ID_MAX ||
            memchr(m->str, '\0', m->len) != NULL) {
            err_set(err, "conversation index %s: unexpected member", k.index);
            freeReplyObject(r);
            return -1;
        }
    }
    if (r->elements > 1)
        qsort(r->element, r->elements, sizeof(r->element[0]), cmp_member);
    count = list_members(c, prefix != NULL ? prefix : CVS_DEFAULT_PREFIX, &k, r->element,
                         r->elements, fn, ctx, err);
    freeReplyObject(r);
    return count;
}

const char *conv_state_name(enum conv_state s)
{
    switch (s) {
    case CONV_NONE:   return "none";
    case CONV_OPEN:   return "open";
    case CONV_CLOSED: return "closed";
    }
    return "unknown";
}
