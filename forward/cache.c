/*
 * cache.c - the forwarding rules mirrored in memory (see cache.h).
 *
 * One mutex guards the copy; it is never held while talking to Redis: the
 * refreshing thread reads the new rules first, then swaps them in.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "forward/cache.h"

struct fwd_cache {
    pthread_mutex_t lock;
    struct redis_pool *pool;
    const char *prefix;
    long long check_every_ms;
    struct fwd_rules rules;              /* sorted by mailbox (fwd_rules_list) */
    bool loaded;
    long long version;                   /* fwd-version when they were read */
    long long checked_ms;                /* monotonic time of the last check */
    bool refreshing;                     /* a thread is checking: others need not */
};

struct fwd_cache *fwd_cache_new(struct redis_pool *pool, const char *prefix,
                                long long check_every_ms)
{
    struct fwd_cache *fc = calloc(1, sizeof(*fc));

    if (fc == NULL)
        return NULL;
    if (pthread_mutex_init(&fc->lock, NULL) != 0) {
        free(fc);
        return NULL;
    }
    fc->pool = pool;
    fc->prefix = prefix;
    fc->check_every_ms = check_every_ms;
    return fc;
}

void fwd_cache_free(struct fwd_cache *fc)
{
    if (fc == NULL)
        return;
    fwd_rules_clear(&fc->rules);
    pthread_mutex_destroy(&fc->lock);
    free(fc);
}

/* Check the version and, when it moved, read every rule (redis_pool_job). */
struct refresh_job {
    struct fwd_cache *fc;
    bool force;
    struct fwd_rules fresh;
    long long version;
    bool changed;
};

static int refresh_rules(redisContext *c, void *arg, struct err *err)
{
    struct refresh_job *j = arg;
    bool loaded;
    long long known;

    pthread_mutex_lock(&j->fc->lock);
    loaded = j->fc->loaded;
    known = j->fc->version;
    pthread_mutex_unlock(&j->fc->lock);
    if ((j->version = fwd_rules_version(c, j->fc->prefix, err)) < 0)
        return -1;
    if (loaded && !j->force && j->version == known)
        return 0;
    fwd_rules_clear(&j->fresh);
    if (fwd_rules_list(c, j->fc->prefix, &j->fresh, err) < 0)
        return -1;
    j->changed = true;
    return 0;
}

/* Claim the refresh when it is due (or FORCE); false when not. */
static bool claim(struct fwd_cache *fc, bool force, long long now)
{
    bool due;

    pthread_mutex_lock(&fc->lock);
    due = !fc->refreshing
          && (force || !fc->loaded || now - fc->checked_ms >= fc->check_every_ms);
    if (due)
        fc->refreshing = true;
    pthread_mutex_unlock(&fc->lock);
    return due;
}

void fwd_cache_refresh(struct fwd_cache *fc, bool force)
{
    struct refresh_job j;
    struct err err;
    long long now = monotonic_ms();
    size_t n = 0;

    if (fc == NULL || !claim(fc, force, now))
        return;
    memset(&j, 0, sizeof(j));
    j.fc = fc;
    j.force = force;
    if (redis_pool_run(fc->pool, refresh_rules, &j, true, &err) < 0)
        log_warning("forwarding: cannot refresh the rules kept in memory: %s", err.msg);

    pthread_mutex_lock(&fc->lock);
    if (j.changed) {
        fwd_rules_clear(&fc->rules);
        fc->rules = j.fresh;               /* the copy takes the list over */
        memset(&j.fresh, 0, sizeof(j.fresh));
        fc->version = j.version;
        fc->loaded = true;
        n = fc->rules.n;
    }
    fc->checked_ms = now;
    fc->refreshing = false;
    pthread_mutex_unlock(&fc->lock);
    if (j.changed)
        log_debug("forwarding: %zu rule(s) kept in memory (version %lld)", n, j.version);
    fwd_rules_clear(&j.fresh);
}

static int cmp_rule(const void *key, const void *elem)
{
    return strcmp(key, ((const struct fwd_rule *)elem)->mailbox);
}

static struct fwd_rule *rule_dup(const struct fwd_rule *r)
{
    struct fwd_rule *d = calloc(1, sizeof(*d));
    size_t i;

    if (d == NULL || (d->mailbox = strdup(r->mailbox)) == NULL
        || (r->n_targets > 0 && (d->targets = calloc(r->n_targets, sizeof(char *))) == NULL))
        goto fail;
    d->mode = r->mode;
    for (i = 0; i < r->n_targets; i++) {
        if ((d->targets[i] = strdup(r->targets[i])) == NULL)
            goto fail;
        d->n_targets++;
    }
    return d;
fail:
    fwd_rule_free(d);
    return NULL;
}

int fwd_cache_lookup(struct fwd_cache *fc, const char *const *mailboxes, size_t n,
                     struct fwd_rule **out)
{
    size_t i;
    int rc = 0;

    if (fc == NULL)
        return -1;
    pthread_mutex_lock(&fc->lock);
    if (!fc->loaded)
        rc = -1;
    for (i = 0; rc == 0 && i < n; i++) {
        const struct fwd_rule *r = bsearch(mailboxes[i], fc->rules.v, fc->rules.n,
                                           sizeof(*fc->rules.v), cmp_rule);

        out[i] = NULL;
        if (r != NULL && (out[i] = rule_dup(r)) == NULL)
            rc = -1;
    }
    pthread_mutex_unlock(&fc->lock);
    return rc;
}
