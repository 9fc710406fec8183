/*
 * held.h - what the pipeline does around a hold, beside the quarantine
 * (pipeline.c hold()).
 *
 *  - every message that takes the whole path: the X-MSSante-Held headers
 *    it arrived with are deleted, so that the queue holds no header the
 *    sender wrote under that name (tidiness: what makes the daemon's
 *    header its own is its MAC, policy/held.h, since a message accepted
 *    at DATA keeps its headers);
 *  - a held message: the daemon's X-MSSante-Held header (rule, how it came
 *    in, MAC, reason), so that the hold is explained from the queue alone
 *    ("postcat -h -q QUEUEID", "mssantectl held list"); and, for a local
 *    submission with a sender, a content-free notice to that sender
 *    through the notice queue (notify/held.h) when Redis is configured.
 *    A notice that cannot be queued is logged and the message still held:
 *    the hold is what keeps the mail safe, the notice is a courtesy.
 */
#ifndef MSSANTE_PIPELINE_HELD_H
#define MSSANTE_PIPELINE_HELD_H

#include <stdbool.h>

#include "pipeline/ports.h"
#include "policy/replies.h"
#include "policy/trustspace.h"

/* The hold side of one message; lives in struct pl_msg. */
struct held_msg {
    unsigned n_seen;        /* X-MSSante-Held headers the message arrived with */
};

/* A new message. */
void held_reset(struct held_msg *h);

/* A header of the message. */
void held_header(struct held_msg *h, const char *name);

/* End of message, before anything else: ask MTA to delete the headers
 * seen.  0, or -1 when it refused (the caller defers the message). */
int held_strip(const struct pl_mta *mta, const struct held_msg *h, const char *qid);

/* The message is being held for V: ask MTA to add the header, signed with
 * KEY (HELD_KEY_BYTES).  LOCAL: a local submission; QID its queue id.  0,
 * or -1 when the header cannot be made (no key, no queue id) or the MTA
 * refused it (the caller defers the message rather than hold it
 * unexplained). */
int held_mark(const struct pl_mta *mta, const unsigned char *key, const struct verdict *v,
              bool local, const char *qid);

/* The hold is in place: tell the sender of a local submission (LOCAL),
 * when there is a STORE with a notice queue and MP has a sender.
 * Failures are logged only. */
void held_notify(const struct pl_store *store, const struct msg_policy *mp, bool local,
                 const char *qid);

#endif
