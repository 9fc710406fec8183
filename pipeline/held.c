/*
 * held.c - the pipeline's side of a hold: the X-MSSante-Held header and
 * the notice to the sender (what and why: held.h; the header's format:
 * policy/held.h; the notice: notify/held.h).
 *
 * Headers are deleted from the last occurrence to the first, so that an
 * index never points at a header already gone whatever way the MTA counts.
 * The daemon's header is signed with the HeldKeyFile key, which the
 * daemon read at start and hands down (struct pl_services).
 * The notice is queued through the store (pipeline/ports.h: in the daemon,
 * the shared Redis pool); the worker picks it up at its next poll.
 */
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "pipeline/held.h"
#include "pipeline/stage.h"
#include "policy/held.h"

void held_reset(struct held_msg *h)
{
    h->n_seen = 0;
}

void held_header(struct held_msg *h, const char *name)
{
    if (held_header_is(name))
        h->n_seen++;
}

int held_strip(const struct pl_mta *mta, const struct held_msg *h, const char *qid)
{
    unsigned i;

    for (i = h->n_seen; i > 0; i--) {
        if (mta->change_header(mta->ctx, HELD_HEADER, (int)i, NULL) < 0) {
            log_error("%s: cannot delete the %s header the message came with", pl_qid(qid),
                      HELD_HEADER);
            return -1;
        }
    }
    if (h->n_seen > 0)
        log_notice("%s: deleted %u %s header(s) the message came with: only the daemon "
                   "writes it", pl_qid(qid), h->n_seen, HELD_HEADER);
    return 0;
}

void held_notify(const struct pl_store *store, const struct msg_policy *mp, bool local,
                 const char *qid)
{
    char sender[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
    struct err err;

    if (!local || !mp->sender_valid)
        return;                       /* the null sender: nobody to tell */
    addr_format(&mp->sender, sender, sizeof(sender));
    if (store == NULL || store->held_notice_queue == NULL) {
        log_debug("%s: held; no notice to <%s>: without Redis there is no notice queue",
                  pl_qid(qid), sender);
        return;
    }
    if (store->held_notice_queue(store->arg, sender, qid, &err) < 0)
        log_warning("%s: held; cannot queue the notice to <%s>: %s", pl_qid(qid), sender,
                    err.msg);
    else
        log_debug("%s: held; notice queued for <%s>", pl_qid(qid), sender);
}

int held_mark(const struct pl_mta *mta, const unsigned char *key, const struct verdict *v,
              bool local, const char *qid)
{
    char value[HELD_VALUE_MAX];

    if (held_header_value(value, sizeof(value), key, qid,
                          v->rule != RULE_NONE ? rule_name(v->rule) : NULL, local, v->text) < 0) {
        log_error("%s: cannot make the %s header (%s)", pl_qid(qid), HELD_HEADER,
                  key == NULL ? "no HeldKeyFile key" : qid == NULL || qid[0] == '\0'
                  ? "no queue id" : "HMAC failed");
        return -1;
    }
    if (mta->add_header(mta->ctx, HELD_HEADER, value) < 0) {
        log_error("%s: cannot add the %s header", pl_qid(qid), HELD_HEADER);
        return -1;
    }
    return 0;
}
