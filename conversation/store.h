/*
 * store.h - patient conversations in Redis, shared by every MX node.
 *
 * A conversation is one (local mailbox, patient) pair.  Only the
 * professional's side opens one; the patient may write into it while it
 * is open (policy/patient.h decides, this module only keeps the state).
 *
 * Layout (PREFIX is RedisPrefix, "mssante:" by default):
 *   PREFIX conv:MAILBOX:PATIENT   HASH state (open|closed), opened_at,
 *                                 last_activity, closed_at, closed_by_qid,
 *                                 imported_at (made by conv_import)
 *   PREFIX conv-idx:MAILBOX       SET of PATIENT, for listing
 * MAILBOX is "local@domain" lower-cased (Postfix folds case on lookup, so
 * both spellings are one mailbox); PATIENT is the matricule upper-cased
 * ("2a" -> "2A", the form policy/ins.c normalises to).  Times are Unix
 * seconds, written in decimal.
 *
 * Expiry: every write sets the conversation's EXPIRE to TTL seconds
 * (ConversationTTL), so an open conversation nobody writes into falls out
 * of Redis TTL seconds after its last outbound message.  An expired
 * conversation is simply gone, which reads as "not open": the patient can
 * no longer reply until the professional writes again.  A closed one is
 * kept TTL seconds too, for "mssantectl conversation show" and so that a
 * retried [FIN] finds its own closure.  TTL <= 0 means no expiry.  The
 * index set lives at least as long as its longest-lived member; members
 * whose conversation expired are dropped from it when listed.
 *
 * Every write is one Lua script (EVAL), so two MX nodes handling messages
 * for the same pair at once never interleave half-updates.
 *
 * Every function returns -1 with a one-line error in ERR on a Redis
 * failure (the milter then answers 451 4.3.0); the caller owns the
 * connection and reconnects after an error.
 */
#ifndef MSSANTE_CONV_STORE_H
#define MSSANTE_CONV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"

#define CONV_ID_MAX  320   /* longest mailbox or patient id accepted */
#define CONV_QID_MAX 64

enum conv_state { CONV_NONE = 0, CONV_OPEN, CONV_CLOSED };

struct conv_info {
    enum conv_state state;          /* CONV_NONE: no record (never, or expired) */
    char patient[CONV_ID_MAX + 1];  /* as stored (upper-cased) */
    long long opened_at;            /* 0 when unknown (closed without being opened) */
    long long last_activity;
    long long closed_at;            /* 0 unless closed */
    char closed_by_qid[CONV_QID_MAX + 1];
    long long imported_at;          /* 0 unless conv_import made it */
    long long ttl;                  /* seconds left; -1 no expiry */
};

/*
 * Outbound message from MAILBOX to PATIENT at NOW: open the conversation,
 * refresh it, or reopen a closed one (the professional may always start
 * again: the old closure is forgotten).  Returns 1 opened or reopened,
 * 0 refreshed (was already open), -1 error.
 */
int conv_open_or_refresh(redisContext *c, const char *prefix, const char *mailbox,
                         const char *patient, long long now, long long ttl,
                         struct err *err);

/*
 * A [FIN] message with queue id QID closed the conversation at NOW (whether
 * or not it was open: the closure is the professional's last word).
 * Idempotent per QID: when the conversation is already closed by QID,
 * nothing changes, so a message Postfix retries after a 451 is not recorded
 * twice.  Returns 1 recorded, 0 already closed by QID, -1 error.
 */
int conv_close(redisContext *c, const char *prefix, const char *mailbox,
               const char *patient, const char *qid, long long now, long long ttl,
               struct err *err);

/*
 * A conversation that began before the milter (conversation/import.h):
 * MAILBOX and PATIENT opened at OPENED_AT, imported at NOW.  Only fills a
 * gap: when the pair has a record, open or closed, nothing changes (a
 * closure the milter saw is the professional's last word; an open record
 * is already what the import wants), and *EXISTING (may be NULL) says
 * what is there.  A new record is open, last_activity OPENED_AT, and
 * expires TTL seconds after NOW, like one an outbound message opened now:
 * the patient gets a whole ConversationTTL to reply, whenever it began.
 * One script, so that a message opening the same pair meanwhile on an MX
 * node is never overwritten.  Returns 1 imported, 0 already there, -1 error.
 */
int conv_import(redisContext *c, const char *prefix, const char *mailbox,
                const char *patient, long long opened_at, long long now, long long ttl,
                struct conv_info *existing, struct err *err);

/* 1 open, 0 not (closed, never opened or expired), -1 error. */
int conv_is_open(redisContext *c, const char *prefix, const char *mailbox,
                 const char *patient, struct err *err);

/* The record: 1 found, 0 none (*out has state CONV_NONE), -1 error. */
int conv_get(redisContext *c, const char *prefix, const char *mailbox,
             const char *patient, struct conv_info *out, struct err *err);

/* Called once per conversation of the mailbox; a non-zero return stops. */
typedef int (*conv_list_fn)(void *ctx, const struct conv_info *info);

/* Every conversation of MAILBOX, in patient order.  Returns how many were
 * passed to FN, or -1 error. */
int conv_list(redisContext *c, const char *prefix, const char *mailbox,
              conv_list_fn fn, void *ctx, struct err *err);

const char *conv_state_name(enum conv_state s);   /* "none", "open", "closed" */

#endif
