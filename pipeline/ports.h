/*
 * ports.h - what the pipeline asks of the world around it, as tables of
 * functions: the whitelist in force, the state kept outside the message
 * (Redis in the daemon), and the MTA at end of message.
 *
 * The pipeline never calls libmilter, nor Redis by itself: the daemon
 * plugs in the list in force (pl_live_lists, pipeline/lists_live.c), the
 * Redis store (pipeline/store_redis.h) and the libmilter glue
 * (milter/callbacks.c); a unit test or a fuzz target plugs in its own
 * fixed list, a store that answers what the test says, and an MTA that
 * records what it is asked.
 */
#ifndef MSSANTE_PIPELINE_PORTS_H
#define MSSANTE_PIPELINE_PORTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "forward/rules.h"
#include "policy/classify.h"

/*
 * The whitelist in force, for the length of one step: ENTER fills ENV's
 * lookup fields (is_listed, is_cn_listed, lookup_ctx; NULL when there is
 * no list), LEAVE gives the list back.  Never nested, never held across
 * a Redis round trip.
 */
struct pl_lists {
    void (*enter)(void *arg, struct policy_env *env);
    void (*leave)(void *arg, struct policy_env *env);
    void *arg;
};

/* The daemon's: the list of whitelist/live.h (pipeline/lists_live.c). */
extern const struct pl_lists pl_live_lists;

/*
 * The state the stages keep outside the message.  An operation left NULL
 * is one the store does not have (no Redis): the stage then answers as it
 * does without Redis.  Every operation but the held notice is safe to run
 * twice (the Redis one retries on a fresh connection).
 */
struct pl_store {
    /* Is the conversation MAILBOX <-> PATIENT open?  1, 0, or -1 + err. */
    int (*conv_is_open)(void *arg, const char *mailbox, const char *patient, struct err *err);
    /* For each of the N PATIENTS, MAILBOX opened (or refreshed) its
     * conversation, or closed it (CLOSE; idempotent per QID): RESULT[i]
     * is 1 for a new state, 0 for the same again.  0, or -1 + err. */
    int (*conv_record)(void *arg, bool close, const char *mailbox,
                       const char *const *patients, size_t n, const char *qid,
                       long long now, long long ttl, int *result, struct err *err);
    /* The forwarding rules of the N MAILBOXES (RULES[i] NULL: none; the
     * caller frees them), from Redis; when Redis cannot be read, from the
     * copy in memory, with *FROM_MEMORY set and err saying why.  0, or
     * -1 + err when neither can answer. */
    int (*rules_get)(void *arg, const char *const *mailboxes, size_t n,
                     struct fwd_rule **rules, bool *from_memory, struct err *err);
    /* Queue N notices (MAILBOXES[i] "" when unknown) and wake the worker.
     * 0, or -1 + err. */
    int (*notices_queue)(void *arg, const char *const *mailboxes,
                         const char *const *targets, size_t n, struct err *err);
    /* Queue the notice telling SENDER its message QID was held
     * (notify/held.h).  Not run twice: a notice sent twice is better
     * avoided than a hold delayed.  0, or -1 + err. */
    int (*held_notice_queue)(void *arg, const char *sender, const char *qid,
                             struct err *err);
    void *arg;
};

/*
 * The MTA at end of message: what the pipeline asks it to change.  Each
 * returns 0, or -1 when the MTA refused (the pipeline then answers 451
 * 4.7.1 where the change mattered, as its callers document).
 * change_header with a NULL VALUE deletes the INDEXth header NAME.  CTX
 * is the glue's (libmilter's SMFICTX).
 */
struct pl_mta {
    int (*add_header)(void *ctx, const char *name, const char *value);
    int (*change_header)(void *ctx, const char *name, int index, const char *value);
    int (*add_rcpt)(void *ctx, const char *rcpt);
    int (*del_rcpt)(void *ctx, const char *rcpt);
    int (*quarantine)(void *ctx, const char *reason);
    void *ctx;
};

#endif
