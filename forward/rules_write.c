/*
 * rules_write.c - writing the forwarding rules to Redis: add, delete (all
 * targets or some), set (layout and rules in rules.h).
 *
 * Read-modify-write (add, partial del) runs under WATCH: when another
 * client writes the same rule between our read and our EXEC, the EXEC
 * answers nil and we start again from a fresh read, at most WATCH_RETRIES
 * times.  Every write bumps the version counter the daemons' copies in
 * memory are checked against (forward/cache.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/err.h"
#include "common/redis.h"
#include "forward/rules.h"
#include "forward/rules_internal.h"

#define WATCH_RETRIES  10

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
    if (fwd_make_key(k->rule, sizeof(k->rule), prefix, "fwd:", k->mailbox, err) < 0
        || fwd_make_key(k->index, sizeof(k->index), prefix, "fwd-idx", NULL, err) < 0
        || fwd_make_key(k->version, sizeof(k->version), prefix, "fwd-version", NULL, err) < 0)
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
    if ((r = fwd_command(c, 2, watch, err)) == NULL)
        return -1;
    freeReplyObject(r);
    if ((r = fwd_command(c, 4, hmget, err)) == NULL)
        return -1;
    rc = fwd_rule_from_reply(r, k->mailbox, out, err);
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

    if (n > 0 && (json = fwd_targets_to_json(targets, n)) == NULL) {
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
                fwd_redis_error(c, r, step, k->rule, err);
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
    fwd_redis_error(c, NULL, step, k->rule, err);
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
            fwd_redis_error(c, NULL, "HMGET", k->rule, err);
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
