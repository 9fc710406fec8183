/*
 * store.c - patient conversations in Redis (layout and rules in store.h).
 *
 * Writes are Lua scripts so that "read the state, then decide" happens
 * inside Redis: a refresh racing a closure on another MX node, or a [FIN]
 * retried while its first attempt is still being answered, cannot leave a
 * record half-updated or a closure recorded twice.  Reads are plain
 * commands, pipelined when there are several.
 *
 * Keys and values go through redisCommandArgv, never a format string: a
 * mailbox's local part may hold any byte.
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

#define DEFAULT_PREFIX "mssante:"
#define KEY_MAX        (2 * CONV_ID_MAX + 128)
#define LIST_BATCH     256   /* records read (or pruned) per pipelined round */

/* The expiry tail shared by both write scripts.  ARGV[1] is the patient
 * (the index member), ARGV[3] the TTL.  The index's TTL is read before
 * SADD: a new set has none (-2), and one made persistent by a TTL <= 0
 * write (-1) stays so. */
#define EXPIRY_LUA \
    "local ttl = tonumber(ARGV[3])\n" \
    "if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl)\n" \
    "else redis.call('PERSIST', KEYS[1]) end\n" \
    "local left = redis.call('TTL', KEYS[2])\n" \
    "redis.call('SADD', KEYS[2], ARGV[1])\n" \
    "if ttl <= 0 then redis.call('PERSIST', KEYS[2])\n" \
    "elseif left == -2 or (left >= 0 and left < ttl) then\n" \
    "  redis.call('EXPIRE', KEYS[2], ttl)\n" \
    "end\n"

/* KEYS: conversation, index.  ARGV: patient, now, ttl.
 * Returns 1 opened (or reopened), 0 refreshed. */
static const char open_lua[] =
    "local opened = 0\n"
    "if redis.call('HGET', KEYS[1], 'state') == 'open' then\n"
    "  redis.call('HSET', KEYS[1], 'last_activity', ARGV[2])\n"
    "else\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2],\n"
    "             'last_activity', ARGV[2])\n"
    "  opened = 1\n"
    "end\n"
    EXPIRY_LUA
    "return opened\n";

/* KEYS: conversation, index.  ARGV: patient, now, ttl, qid.
 * Returns 1 recorded, 0 already closed by this qid (nothing touched). */
static const char close_lua[] =
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'closed_by_qid')\n"
    "if cur[1] == 'closed' and cur[2] == ARGV[4] then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'state', 'closed', 'closed_at', ARGV[2],\n"
    "           'closed_by_qid', ARGV[4], 'last_activity', ARGV[2])\n"
    EXPIRY_LUA
    "return 1\n";

/* KEYS: conversation, index.  ARGV: patient, opened_at, ttl, now.
 * Returns {1} imported, or {0, state, opened_at, closed_at} when the pair
 * already has a record (left as it is). */
static const char import_lua[] =
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'opened_at', 'closed_at')\n"
    "if cur[1] then return {0, cur[1], cur[2] or '0', cur[3] or '0'} end\n"
    "redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2],\n"
    "           'last_activity', ARGV[2], 'imported_at', ARGV[4])\n"
    EXPIRY_LUA
    "return {1}\n";

/* The hash fields, in the order HMGET asks for them. */
static const char *const record_fields[] = {
    "state", "opened_at", "last_activity", "closed_at", "closed_by_qid", "imported_at"
};
#define N_FIELDS (sizeof(record_fields) / sizeof(record_fields[0]))

/* ------------------------------------------------------------------ */
/* Keys                                                                 */
/* ------------------------------------------------------------------ */

/* The two keys of one (mailbox, patient) pair, and the normalised ids. */
struct conv_keys {
    char mailbox[CONV_ID_MAX + 1];   /* lower-cased */
    char patient[CONV_ID_MAX + 1];   /* upper-cased */
    char conv[KEY_MAX];
    char index[KEY_MAX];
};

/* Copy ID into OUT folding ASCII case (UPPER or not).  -1 if empty or too long. */
static int copy_id(char *out, const char *id, int upper)
{
    size_t i, len;

    if (id == NULL || (len = strlen(id)) == 0 || len > CONV_ID_MAX)
        return -1;
    for (i = 0; i <= len; i++) {
        char ch = id[i];

        if (upper && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        else if (!upper && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        out[i] = ch;
    }
    return 0;
}

/* A conversation key for an error message ("PREFIXconv:MAILBOX:PATIENT"):
 * the patient as LogPatientId says (common/logid.h), since the message
 * ends up in the log. */
static const char *shown_key(const char *key, char *buf, size_t size)
{
    const char *colon = strrchr(key, ':');
    char id[LOGID_MAX];

    if (colon == NULL)
        return key;
    logid_format(colon + 1, id, sizeof(id));
    snprintf(buf, size, "%.*s:%s", (int)(colon - key), key, id);
    return buf;
}

/* Fill K for MAILBOX, and for PATIENT unless INDEX_ONLY.  -1 + err on a
 * bad argument. */
static int make_keys(struct conv_keys *k, const char *prefix, const char *mailbox,
                     const char *patient, bool index_only, struct err *err)
{
    const char *pfx = prefix != NULL ? prefix : DEFAULT_PREFIX;
    int n;

    if (copy_id(k->mailbox, mailbox, 0) != 0) {
        err_set(err, "conversation: mailbox missing or longer than %d bytes",
                CONV_ID_MAX);
        return -1;
    }
    if (strlen(pfx) > 100) {
        err_set(err, "conversation: redis key prefix too long");
        return -1;
    }
    snprintf(k->index, sizeof(k->index), "%sconv-idx:%s", pfx, k->mailbox);
    if (index_only) {
        k->patient[0] = k->conv[0] = '\0';
        return 0;
    }
    if (copy_id(k->patient, patient, 1) != 0) {
        err_set(err, "conversation: patient missing or longer than %d bytes",
                CONV_ID_MAX);
        return -1;
    }
    n = snprintf(k->conv, sizeof(k->conv), "%sconv:%s:%s", pfx, k->mailbox, k->patient);
    return n > 0 && (size_t)n < sizeof(k->conv) ? 0 : -1;
}

static int check_context(redisContext *c, struct err *err)
{
    if (c == NULL) {
        err_set(err, "conversation: no Redis connection");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writes                                                               */
/* ------------------------------------------------------------------ */

/* Run SCRIPT on the pair's keys with ARGV patient, now, ttl[, qid]; the
 * script's integer reply, or -1 + err. */
static int run_script(redisContext *c, const char *script, const struct conv_keys *k,
                      long long now, long long ttl, const char *qid,
                      struct err *err)
{
    char now_s[32], ttl_s[32], shown[KEY_MAX + LOGID_MAX];
    const char *argv[] = { "EVAL", script, "2", k->conv, k->index, k->patient, now_s, ttl_s,
                           qid };
    int argc = qid != NULL ? 9 : 8;
    redisReply *r;
    int rc;

    snprintf(now_s, sizeof(now_s), "%lld", now);
    snprintf(ttl_s, sizeof(ttl_s), "%lld", ttl);
    r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        redis_command_error(c, r, "EVAL", shown_key(k->conv, shown, sizeof(shown)), err);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    rc = r->integer != 0 ? 1 : 0;
    freeReplyObject(r);
    return rc;
}

int conv_open_or_refresh(redisContext *c, const char *prefix, const char *mailbox,
                         const char *patient, long long now, long long ttl,
                         struct err *err)
{
    struct conv_keys k;

    if (check_context(c, err) != 0 ||
        make_keys(&k, prefix, mailbox, patient, false, err) != 0)
        return -1;
    return run_script(c, open_lua, &k, now, ttl, NULL, err);
}

int conv_close(redisContext *c, const char *prefix, const char *mailbox,
               const char *patient, const char *qid, long long now, long long ttl,
               struct err *err)
{
    struct conv_keys k;

    if (check_context(c, err) != 0 ||
        make_keys(&k, prefix, mailbox, patient, false, err) != 0)
        return -1;
    /* Without a queue id a retry could not be told from a new closure. */
    if (qid == NULL || qid[0] == '\0' || strlen(qid) > CONV_QID_MAX) {
        err_set(err, "conversation: closing needs a queue id of 1 to %d bytes",
                CONV_QID_MAX);
        return -1;
    }
    return run_script(c, close_lua, &k, now, ttl, qid, err);
}

static long long field_number(const redisReply *f)
{
    if (f->type != REDIS_REPLY_STRING)
        return 0;
    return strtoll(f->str, NULL, 10);
}

/* The {0, state, opened_at, closed_at} answer of import_lua into *OUT. */
static void existing_record(const redisReply *r, struct conv_info *out)
{
    const redisReply *state = r->element[1];

    out->state = state->type == REDIS_REPLY_STRING && strcmp(state->str, "closed") == 0
                 ? CONV_CLOSED : CONV_OPEN;
    out->opened_at = field_number(r->element[2]);
    out->closed_at = field_number(r->element[3]);
}

int conv_import(redisContext *c, const char *prefix, const char *mailbox,
                const char *patient, long long opened_at, long long now, long long ttl,
                struct conv_info *existing, struct err *err)
{
    char opened_s[32], ttl_s[32], now_s[32];
    struct conv_keys k;
    const char *argv[9];
    redisReply *r;
    int rc = -1;

    if (existing != NULL)
        memset(existing, 0, sizeof(*existing));
    if (check_context(c, err) != 0 ||
        make_keys(&k, prefix, mailbox, patient, false, err) != 0)
        return -1;
    snprintf(opened_s, sizeof(opened_s), "%lld", opened_at);
    snprintf(ttl_s, sizeof(ttl_s), "%lld", ttl);
    snprintf(now_s, sizeof(now_s), "%lld", now);
    argv[0] = "EVAL";
    argv[1] = import_lua;
    argv[2] = "2";
    argv[3] = k.conv;
    argv[4] = k.index;
    argv[5] = k.patient;
    argv[6] = opened_s;
    argv[7] = ttl_s;
    argv[8] = now_s;
    r = redisCommandArgv(c, 9, argv, NULL);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1
        && r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 1) {
        rc = 1;
    } else if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 4
               && r->element[0]->type == REDIS_REPLY_INTEGER && r->element[0]->integer == 0) {
        if (existing != NULL)
            existing_record(r, existing);
        rc = 0;
    } else {
        redis_command_error(c, r, "EVAL", k.conv, err);
    }
    if (existing != NULL)
        snprintf(existing->patient, sizeof(existing->patient), "%s", k.patient);
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reads                                                                */
/* ------------------------------------------------------------------ */

int conv_is_open(redisContext *c, const char *prefix, const char *mailbox,
                 const char *patient, struct err *err)
{
    char shown[KEY_MAX + LOGID_MAX];
    struct conv_keys k;
    const char *argv[3];
    redisReply *r;
    int open;

    if (check_context(c, err) != 0 ||
        make_keys(&k, prefix, mailbox, patient, false, err) != 0)
        return -1;
    argv[0] = "HGET";
    argv[1] = k.conv;
    argv[2] = "state";
    r = redisCommandArgv(c, 3, argv, NULL);
    if (r == NULL || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        redis_command_error(c, r, "HGET", shown_key(k.conv, shown, sizeof(shown)), err);
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
    char shown[KEY_MAX + LOGID_MAX];
    const redisReply *state, *qid;

    memset(out->closed_by_qid, 0, sizeof(out->closed_by_qid));
    out->state = CONV_NONE;
    out->opened_at = out->last_activity = out->closed_at = out->imported_at = 0;
    out->ttl = -1;
    if (h->type != REDIS_REPLY_ARRAY || h->elements != N_FIELDS ||
        t->type != REDIS_REPLY_INTEGER) {
        err_set(err, "conversation %s: unexpected reply",
                shown_key(key, shown, sizeof(shown)));
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
        err_set(err, "conversation %s: unknown state",
                shown_key(key, shown, sizeof(shown)));
        return -1;
    }
    out->opened_at = field_number(h->element[1]);
    out->last_activity = field_number(h->element[2]);
    out->closed_at = field_number(h->element[3]);
    qid = h->element[4];
    if (qid->type == REDIS_REPLY_STRING)
        snprintf(out->closed_by_qid, sizeof(out->closed_by_qid), "%s", qid->str);
    out->imported_at = field_number(h->element[5]);
    /* -2: expired between the two commands; it is still shown, with 0 left. */
    out->ttl = t->integer == -2 ? 0 : t->integer;
    return 1;
}

/* Read the two replies of append_record_query().  Both are always read, so
 * the connection stays in step even after an error reply. */
static int read_record(redisContext *c, const char *key, struct conv_info *out,
                       struct err *err)
{
    char shown[KEY_MAX + LOGID_MAX];
    redisReply *h = NULL, *t = NULL;
    int rc;

    if (redisGetReply(c, (void **)&h) != REDIS_OK || h == NULL) {
        redis_command_error(c, NULL, "HMGET", shown_key(key, shown, sizeof(shown)), err);
        return -1;
    }
    if (redisGetReply(c, (void **)&t) != REDIS_OK || t == NULL) {
        redis_command_error(c, NULL, "TTL", shown_key(key, shown, sizeof(shown)), err);
        freeReplyObject(h);
        return -1;
    }
    if (h->type == REDIS_REPLY_ERROR) {
        redis_command_error(c, h, "HMGET", shown_key(key, shown, sizeof(shown)), err);
        rc = -1;
    } else if (t->type == REDIS_REPLY_ERROR) {
        redis_command_error(c, t, "TTL", shown_key(key, shown, sizeof(shown)), err);
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
    char shown[KEY_MAX + LOGID_MAX];
    struct conv_keys k;

    memset(out, 0, sizeof(*out));
    if (check_context(c, err) != 0 ||
        make_keys(&k, prefix, mailbox, patient, false, err) != 0)
        return -1;
    snprintf(out->patient, sizeof(out->patient), "%s", k.patient);
    if (append_record_query(c, k.conv) != 0) {
        redis_command_error(c, NULL, "HMGET", shown_key(k.conv, shown, sizeof(shown)), err);
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
static void prune_index(redisContext *c, const char *pfx, const struct conv_keys *k,
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
static int list_members(redisContext *c, const char *pfx, const struct conv_keys *k,
                        redisReply **members, size_t n, conv_list_fn fn, void *ctx,
                        struct err *err)
{
    char key[KEY_MAX], shown[KEY_MAX + LOGID_MAX];
    const char *gone[LIST_BATCH];
    struct conv_info info;
    size_t start, i;
    int count = 0, stop = 0;

    for (start = 0; start < n && !stop; start += LIST_BATCH) {
        size_t end = start + LIST_BATCH < n ? start + LIST_BATCH : n, n_gone = 0;

        for (i = start; i < end; i++) {
            snprintf(key, sizeof(key), "%sconv:%s:%s", pfx, k->mailbox, members[i]->str);
            if (append_record_query(c, key) != 0) {
                redis_command_error(c, NULL, "HMGET", shown_key(key, shown, sizeof(shown)),
                                    err);
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
    struct conv_keys k;
    const char *argv[2];
    redisReply *r;
    size_t i;
    int count;

    if (check_context(c, err) != 0 ||
        make_keys(&k, prefix, mailbox, NULL, true, err) != 0)
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
    count = list_members(c, prefix != NULL ? prefix : DEFAULT_PREFIX, &k, r->element,
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
