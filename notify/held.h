/*
 * held.h - the notice that tells a sender the daemon held their message.
 *
 * When the daemon puts a locally submitted message in Postfix's hold queue
 * (policy/held.h), its sender is told, through the same durable queue and
 * worker as the forwarding notices (queue.h): one item of kind "held",
 * whose target is the sender and whose reference is the Postfix queue id.
 * The notice is short, bilingual (French, then English) and plain ASCII:
 * the message was held, it is not lost, an administrator must act, quote
 * this reference.  Like every notice it is built from fixed text and the
 * facts given here, so nothing of the message (subject, recipients, body)
 * can end up in it.
 */
#ifndef MSSANTE_NOTIFY_HELD_H
#define MSSANTE_NOTIFY_HELD_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "common/err.h"

#define NOTIFY_KIND_HELD "held"      /* the item's "kind" field */
#define NOTIFY_REF_MAX   32          /* a Postfix queue id, NUL included */

/* Is REF usable as a reference (a Postfix queue id: letters and digits)? */
int notify_held_check_ref(const char *ref, struct err *err);

/* Queue the notice for SENDER about the held message QUEUE_ID.  One
 * round trip.  0, or -1 + err (an unusable address or id, Redis). */
int notify_enqueue_held(redisContext *c, const char *prefix, const char *sender,
                        const char *queue_id, struct err *err);

/* Build it: FROM is NotifySender, TO the sender of the held message, REF
 * its queue id, DATE Unix time, UNIQUE the Message-ID left part (as for
 * notify_message_build).  A malloc'd message, or NULL + err. */
char *notify_held_build(const char *from, const char *to, const char *ref, long long date,
                        const char *unique, size_t *len, struct err *err);

#endif
