/*
 * held.c - the daemon's side of a hold: the X-MSSante-Held header and the
 * notice to the sender (what and why: held.h; the header's format:
 * policy/held.h; the notice: notify/held.h).
 *
 * Headers are deleted from the last occurrence to the first, so that an
 * index never points at a header already gone whatever way the MTA counts.
 * The notice is queued through the shared Redis pool (common/redis_pool.h)
 * that callbacks_register() hands to held_init() when Redis is configured;
 * the worker picks it up at its next poll.
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/log.h"
#include "common/redis_pool.h"
#include "milter/held.h"
#include "notify/held.h"
#include "policy/held.h"
#include "policy/replies.h"

static struct redis_pool *pool;          /* NULL without Redis */

static const char *qid_or_noqueue(const char *qid)
{
    return qid != NULL && qid[0] != '\0' ? qid : "NOQUEUE";
}

void held_init(struct redis_pool *p)
{
    pool = p;
}

void held_reset(struct held_msg *h)
{
    h->n_seen = 0;
}

void held_header(struct held_msg *h, const char *name)
{
    if (held_header_is(name))
        h->n_seen++;
}

int held_strip(SMFICTX *ctx, const struct held_msg *h, const char *qid)
{
    unsigned i;

    for (i = h->n_seen; i > 0; i--) {
        if (smfi_chgheader(ctx, HELD_HEADER, (int)i, NULL) != MI_SUCCESS) {
            log_error("%s: cannot delete the %s header the message came with",
                      qid_or_noqueue(qid), HELD_HEADER);
            return -1;
        }
    }
    if (h->n_seen > 0)
        log_notice("%s: deleted %u %s header(s) the message came with: only the daemon "
                   "writes it", qid_or_noqueue(qid), h->n_seen, HELD_HEADER);
    return 0;
}

struct notice_job {
    const char *prefix, *sender, *qid;
};

static int queue_notice(redisContext *c, void *arg, struct err *err)
{
    const struct notice_job *j = arg;

    return notify_enqueue_held(c, j->prefix, j->sender, j->qid, err);
}

void held_notify(const struct config *cfg, const struct msg_policy *mp, bool local,
                 const char *qid)
{
    char sender[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
    struct err err;
    struct notice_job j;

    if (!local || !mp->sender_valid)
        return;                       /* the null sender: nobody to tell */
    addr_format(&mp->sender, sender, sizeof(sender));
    if (pool == NULL) {
        log_debug("%s: held; no notice to <%s>: without Redis there is no notice queue",
                 qid_or_noqueue(qid), sender);
        return;
    }
    j.prefix = cfg->redis.prefix;
    j.sender = sender;
    j.qid = qid;
    /* Not retried on a stale pooled connection: a notice sent twice is
     * better avoided than a hold delayed, and a lost one is only logged. */
    if (redis_pool_run(pool, queue_notice, &j, false, &err) < 0)
        log_warning("%s: held; cannot queue the notice to <%s>: %s", qid_or_noqueue(qid),
                    sender, err.msg);
    else
        log_debug("%s: held; notice queued for <%s>", qid_or_noqueue(qid), sender);
}

int held_mark(SMFICTX *ctx, const struct verdict *v, bool local, const char *qid)
{
    char value[HELD_VALUE_MAX];

    held_header_value(value, sizeof(value), v->rule != RULE_NONE ? rule_name(v->rule) : NULL,
                      local, v->text);
    if (smfi_addheader(ctx, HELD_HEADER, value) != MI_SUCCESS) {
        log_error("%s: cannot add the %s header", qid_or_noqueue(qid), HELD_HEADER);
        return -1;
    }
    return 0;
}
