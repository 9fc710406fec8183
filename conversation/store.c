/*
 * store.c - patient conversations in Redis: the writes (layout and rules
 * in store.h; the reads are store_read.c, the key names store_keys.c).
 *
 * Writes are Lua scripts so that "read the state, then decide" happens
 * inside Redis: a refresh racing a closure on another MX node, or a [FIN]
 * retried while its first attempt is still being answered, cannot leave a
 * record half-updated or a closure recorded twice.
 *
 * Keys and values go through redisCommandArgv, never a format string: a
 * mailbox's local part may hold any byte.
 *
 * Errors are one line naming the Redis endpoint and the command, e.g.
 * "redis 127.0.0.1:6379: EVAL mssante:conv:a@b.fr:2790...: timed out".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/err.h"
#include "common/logid.h"
#include "common/redis.h"
#include "conversation/store.h"
#include "conversation/store_keys.h"

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

/* For a write that may have to be undone (conv_record with
 * RedisMinReplicas): with a third key, the undo HASH of the call, the
 * record as it was (fields and PTTL) is kept there under the
 * conversation's key before it changes, and the record names the writer
 * (the call's token, ARGV[TOKEN]) once changed. */
#define REMEMBER_LUA \
    "if #KEYS == 3 then\n" \
    "  redis.call('HSET', KEYS[3], KEYS[1], cjson.encode({\n" \
    "    f = redis.call('HGETALL', KEYS[1]), t = redis.call('PTTL', KEYS[1])}))\n" \
    "  redis.call('EXPIRE', KEYS[3], 3600)\n" \
    "end\n"
#define WRITER_LUA(token) \
    "if #KEYS == 3 then redis.call('HSET', KEYS[1], 'writer', ARGV[" token "]) end\n"

/* KEYS: conversation, index[, undo].  ARGV: patient, now, ttl[, token].
 * Returns 1 opened (or reopened), 0 refreshed. */
static const char open_lua[] =
    "local opened = 0\n"
    "if redis.call('HGET', KEYS[1], 'state') == 'open' then\n"
    "  redis.call('HSET', KEYS[1], 'last_activity', ARGV[2])\n"
    "else\n"
    REMEMBER_LUA
    "  redis.call('DEL', KEYS[1])\n"
    "  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[2],\n"
    "             'last_activity', ARGV[2])\n"
    "  opened = 1\n"
    "end\n"
    WRITER_LUA("4")
    EXPIRY_LUA
    "return opened\n";

/* KEYS: conversation, index[, undo].  ARGV: patient, now, ttl, qid[, token].
 * Returns 1 recorded, 0 already closed by this qid (nothing touched). */
static const char close_lua[] =
    "local cur = redis.call('HMGET', KEYS[1], 'state', 'closed_by_qid')\n"
    "if cur[1] == 'closed' and cur[2] == ARGV[4] then return 0 end\n"
    REMEMBER_LUA
    "redis.call('HSET', KEYS[1], 'state', 'closed', 'closed_at', ARGV[2],\n"
    "           'closed_by_qid', ARGV[4], 'last_activity', ARGV[2])\n"
    WRITER_LUA("5")
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
/* KEYS: undo, then the conversations.  ARGV: token.  Each conversation
 * this call changed (its undo entry) and nobody changed since (it still
 * names the call as its writer) gets its old record back; the undo HASH
 * goes.  Returns how many were restored. */
static const char undo_lua[] =
    "local n = 0\n"
    "for i = 2, #KEYS do\n"
    "  local prev = redis.call('HGET', KEYS[1], KEYS[i])\n"
    "  if prev and redis.call('HGET', KEYS[i], 'writer') == ARGV[1] then\n"
    "    local p = cjson.decode(prev)\n"
    "    redis.call('DEL', KEYS[i])\n"
    "    if #p.f > 0 then\n"
    "      redis.call('HSET', KEYS[i], unpack(p.f))\n"
    "      if p.t > 0 then redis.call('PEXPIRE', KEYS[i], p.t) end\n"
    "    end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "return n\n";

/* ------------------------------------------------------------------ */
/* Writes                                                               */
/* ------------------------------------------------------------------ */

/* What a write that may have to be undone adds (conv_record). */
struct undo {
    char key[CVS_KEY_MAX];       /* PREFIX conv-undo:TOKEN */
    char token[40];              /* random, names the call's writes */
};

/* Run SCRIPT on the pair's keys with ARGV patient, now, ttl[, qid], and
 * with U (may be NULL) the undo key and token; the script's integer
 * reply, or -1 + err. */
static int run_script(redisContext *c, const char *script, const struct cvs_keys *k,
                      long long now, long long ttl, const char *qid, const struct undo *u,
                      struct err *err)
{
    char now_s[32], ttl_s[32], shown[CVS_KEY_MAX + LOGID_MAX];
    const char *argv[11];
    int argc = 0;
    redisReply *r;
    int rc;

    snprintf(now_s, sizeof(now_s), "%lld", now);
    snprintf(ttl_s, sizeof(ttl_s), "%lld", ttl);
    argv[argc++] = "EVAL";
    argv[argc++] = script;
    argv[argc++] = u != NULL ? "3" : "2";
    argv[argc++] = k->conv;
    argv[argc++] = k->index;
    if (u != NULL)
        argv[argc++] = u->key;
    argv[argc++] = k->patient;
    argv[argc++] = now_s;
    argv[argc++] = ttl_s;
    if (qid != NULL)
        argv[argc++] = qid;
    if (u != NULL)
        argv[argc++] = u->token;
    r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        redis_command_error(c, r, "EVAL", cvs_shown_key(k->conv, shown, sizeof(shown)), err);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    rc = r->integer != 0 ? 1 : 0;
    freeReplyObject(r);
    return rc;
}

/* One write: open (or refresh) or close the pair's conversation, with U
 * (may be NULL) to keep what an undo needs.  As conv_open_or_refresh and
 * conv_close return. */
static int write_one(redisContext *c, const char *prefix, const char *mailbox,
                     const char *patient, bool close, const char *qid, long long now,
                     long long ttl, const struct undo *u, struct err *err)
{
    struct cvs_keys k;

    if (cvs_check_context(c, err) != 0 ||
        cvs_make_keys(&k, prefix, mailbox, patient, false, err) != 0)
        return -1;
    if (!close)
        return run_script(c, open_lua, &k, now, ttl, NULL, u, err);
    /* Without a queue id a retry could not be told from a new closure. */
    if (qid == NULL || qid[0] == '\0' || strlen(qid) > CONV_QID_MAX) {
        err_set(err, "conversation: closing needs a queue id of 1 to %d bytes",
                CONV_QID_MAX);
        return -1;
    }
    return run_script(c, close_lua, &k, now, ttl, qid, u, err);
}

int conv_open_or_refresh(redisContext *c, const char *prefix, const char *mailbox,
                         const char *patient, long long now, long long ttl,
                         struct err *err)
{
    return write_one(c, prefix, mailbox, patient, false, NULL, now, ttl, NULL, err);
}

int conv_close(redisContext *c, const char *prefix, const char *mailbox,
               const char *patient, const char *qid, long long now, long long ttl,
               struct err *err)
{
    return write_one(c, prefix, mailbox, patient, true, qid, now, ttl, NULL, err);
}

/* ------------------------------------------------------------------ */
/* One message's writes, acknowledged by the replicas or undone         */
/* ------------------------------------------------------------------ */

/* A fresh token and the undo key under PREFIX.  -1 + err. */
static int make_undo(struct undo *u, const char *prefix, struct err *err)
{
    unsigned char rnd[16];
    const char *pfx = prefix != NULL ? prefix : CVS_DEFAULT_PREFIX;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        err_set(err, "conversation: no random bytes for a write token");
        return -1;
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(u->token + 2 * i, sizeof(u->token) - 2 * i, "%02x", rnd[i]);
    snprintf(u->key, sizeof(u->key), "%.100sconv-undo:%s", pfx, u->token);
    return 0;
}

/* Give the first N conversations of W back what they held before this
 * call (those nobody wrote since), best effort: logged by the caller as
 * part of the failure.  Returns how many were restored, -1 on a failure. */
static int undo_writes(redisContext *c, const char *prefix, const struct conv_record *w,
                       size_t n, const struct undo *u)
{
    const char **argv = calloc(5 + n, sizeof(*argv));    /* EVAL script n undo keys token */
    struct cvs_keys *k = calloc(n > 0 ? n : 1, sizeof(*k));
    char count[24];
    size_t argc = 0;
    redisReply *r = NULL;
    int rc = -1;

    if (argv == NULL || k == NULL)
        goto out;
    snprintf(count, sizeof(count), "%zu", n + 1);
    argv[argc++] = "EVAL";
    argv[argc++] = undo_lua;
    argv[argc++] = count;
    argv[argc++] = u->key;
    for (size_t i = 0; i < n; i++) {
        if (cvs_make_keys(&k[i], prefix, w->mailbox, w->patients[i], false, NULL) != 0)
            goto out;
        argv[argc++] = k[i].conv;
    }
    argv[argc++] = u->token;
    r = redisCommandArgv(c, (int)argc, argv, NULL);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        rc = (int)r->integer;
out:
    if (r != NULL)
        freeReplyObject(r);
    free(argv);
    free(k);
    return rc;
}

/* The writes are durable: the undo record is of no use any more. */
static void forget_undo(redisContext *c, const struct undo *u)
{
    const char *argv[] = { "DEL", u->key };
    redisReply *r = redisCommandArgv(c, 2, argv, NULL);

    if (r != NULL)
        freeReplyObject(r);
}

int conv_record(redisContext *c, const struct redis_settings *rs, const struct conv_record *w,
                int *results, struct err *err)
{
    struct undo u, *up = NULL;
    char was[ERR_MSG_MAX];
    size_t i;
    int undone;

    if (rs->min_replicas > 0) {
        if (make_undo(&u, rs->prefix, err) < 0)
            return -1;
        up = &u;
    }
    for (i = 0; i < w->n; i++) {
        results[i] = write_one(c, rs->prefix, w->mailbox, w->patients[i], w->close, w->qid,
                               w->now, w->ttl, up, err);
        if (results[i] < 0)
            break;
    }
    if (i == w->n && redis_wait_durable(c, rs, err) == 0) {
        if (up != NULL)
            forget_undo(c, up);
        return 0;
    }
    if (up == NULL)
        return -1;
    /* Too few replicas (or a failure half-way): put back what was there. */
    snprintf(was, sizeof(was), "%s", err_msg(err));
    undone = c->err == 0 ? undo_writes(c, rs->prefix, w, i < w->n ? i + 1 : w->n, up) : -1;
    err_set(err, "%s; %s", was, undone >= 0 ? "the conversation state is as it was"
                                            : "the conversation state could not be put back");
    return -1;
}

/* ------------------------------------------------------------------ */
/* A conversation that began before the milter                          */
/* ------------------------------------------------------------------ */

/* The {0, state, opened_at, closed_at} answer of import_lua into *OUT. */
static void existing_record(const redisReply *r, struct conv_info *out)
{
    const redisReply *state = r->element[1];

    out->state = state->type == REDIS_REPLY_STRING && strcmp(state->str, "closed") == 0
                 ? CONV_CLOSED : CONV_OPEN;
    out->opened_at = cvs_field_number(r->element[2]);
    out->closed_at = cvs_field_number(r->element[3]);
}

int conv_import(redisContext *c, const char *prefix, const char *mailbox,
                const char *patient, long long opened_at, long long now, long long ttl,
                struct conv_info *existing, struct err *err)
{
    char opened_s[32], ttl_s[32], now_s[32];
    struct cvs_keys k;
    const char *argv[9];
    redisReply *r;
    int rc = -1;

    if (existing != NULL)
        memset(existing, 0, sizeof(*existing));
    if (cvs_check_context(c, err) != 0 ||
        cvs_make_keys(&k, prefix, mailbox, patient, false, err) != 0)
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
