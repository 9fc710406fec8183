/*
 * held.h - what the daemon does around a hold, beside smfi_quarantine
 * (callbacks.c hold()).
 *
 *  - every message: the X-MSSante-Held headers it arrived with are deleted
 *    (the sender writes the headers; policy/held.h says why only the
 *    daemon's may be in a queued message);
 *  - a held message: the daemon's X-MSSante-Held header (rule, how it came
 *    in, reason), so that the hold is explained from the queue alone
 *    ("postcat -h -q QUEUEID", "mssantectl held list"); and, for a local
 *    submission with a sender, a content-free notice to that sender
 *    through the notice queue (notify/held.h) when Redis is configured.
 *    A notice that cannot be queued is logged and the message still held:
 *    the hold is what keeps the mail safe, the notice is a courtesy.
 */
#ifndef MSSANTE_MILTER_HELD_H
#define MSSANTE_MILTER_HELD_H

#include <stdbool.h>

#include <libmilter/mfapi.h>

#include "common/redis_pool.h"
#include "config/config.h"
#include "policy/message.h"

/* The hold side of one message; lives in struct conn. */
struct held_msg {
    unsigned n_seen;        /* X-MSSante-Held headers the message arrived with */
};

/* Keep the Redis pool the notices are queued through (NULL without
 * Redis); callbacks_register() calls it once. */
void held_init(struct redis_pool *pool);

/* A new message. */
void held_reset(struct held_msg *h);

/* A header of the message (libmilter's header callback). */
void held_header(struct held_msg *h, const char *name);

/* End of message, before anything else: delete the headers seen.  0, or
 * -1 when libmilter refused (the caller defers the message). */
int held_strip(SMFICTX *ctx, const struct held_msg *h, const char *qid);

/* The message is being held for V: add the header.  LOCAL: a local
 * submission; QID its queue id.  0, or -1 when libmilter refused (the
 * caller defers the message rather than hold it unexplained). */
int held_mark(SMFICTX *ctx, const struct verdict *v, bool local, const char *qid);

/* The hold is in place: tell the sender of a local submission (LOCAL),
 * when CFG has Redis and MP a sender.  Failures are logged only. */
void held_notify(const struct config *cfg, const struct msg_policy *mp, bool local,
                 const char *qid);

#endif
