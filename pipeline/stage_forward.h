/*
 * forwarding.h - forwarding rules and content-free notices inside the
 * daemon (MSSANTE.md s.4, issue 5).
 *
 * callbacks.c records every accepted recipient at RCPT and calls
 * forwarding_eom() at end of message, once every other rule accepted the
 * message.  The decisions are forward/plan.c's; this module feeds it the
 * envelope and the rules (forward/rules.c, in Redis), queues the notices
 * (notify/queue.c, in Redis too) and applies the plan with libmilter:
 *
 *   1. the rules of the local recipients, in one Redis round trip; when
 *      Redis cannot be read, the copy of every rule kept in memory (a
 *      daemon that never read them answers 451 4.3.0: Postfix retries);
 *   2. the plan, computed against the whitelist in force;
 *   3. the notices are queued first (failure: 451 4.3.0, which also
 *      discards every change: nothing is half done);
 *   4. smfi_addrcpt for the MSSante targets, smfi_delrcpt for the
 *      recipients removed; a plan that leaves no recipient is a hold
 *      (Postfix's hold queue, with a reason), never a discard;
 *   5. the worker is woken to send the notices.
 * DryRun computes and logs the plan and changes nothing.
 *
 * Local submission (non_smtpd_milters, told apart from SMTP by the
 * emulated connect of Postfix's cleanup server: see callbacks.c).  A
 * message submitted with sendmail(1) from a trust-space sender toward a
 * classic address is taken as a forward made elsewhere (a Sieve or
 * .forward redirect re-injected by the local delivery agent): the classic
 * recipients are removed and each gets a notice instead.  For a local
 * sender the trust-space policy (policy/message.c) would refuse such a
 * message at end of message (outbound classic recipient): the plan
 * replaces that refusal, and only that one (forwarding_replaces()).
 *
 * Without Redis there are neither rules nor a notice queue: forwarding is
 * off, and a locally submitted trust-space message toward a classic
 * address is held rather than sent out of the trust space.  "Forwarding
 * no" switches the whole feature off.
 *
 * Threads: the milter threads take Redis connections from the shared
 * pool (milter/redis_pool.h); the notice worker (notify/queue.h) is one
 * thread with its own connection, started by forwarding_start().
 */
#ifndef MSSANTE_FORWARDING_H
#define MSSANTE_FORWARDING_H

#include <stdbool.h>
#include <stddef.h>

#include <libmilter/mfapi.h>

#include "common/redis_pool.h"
#include "config/config.h"
#include "policy/address.h"
#include "policy/classify.h"
#include "policy/message.h"

#define FWD_LOG_MAX 128     /* " fwd_add=N fwd_del=N notify=N hold=yes|no" */

/* One accepted recipient of the current message. */
struct fwd_msg_rcpt {
    char *raw;                     /* libmilter's argv[0], owned: smfi_delrcpt wants it */
    struct mailaddr addr;          /* meaningful unless cls is CLASS_INVALID */
    enum addr_class cls;
};

/* The forwarding side of one message; lives in struct conn. */
struct fwd_msg {
    struct fwd_msg_rcpt *rcpts;    /* owned, grown as needed and kept across messages */
    size_t n_rcpts, cap;
    bool oom;                      /* a recipient could not be recorded: 451 at EOM */
    char log[FWD_LOG_MAX];         /* fields for the verdict line, "" when none */
};

/* Keep CFG (the startup configuration) and the Redis pool (NULL without
 * Redis), shared with the other milter threads. */
void forwarding_init(const struct config *cfg, struct redis_pool *pool);

/* What an operator should know about CFG at start, or NULL. */
const char *forwarding_config_warning(const struct config *cfg);

/* Start the notice worker (after the fork and the privilege drop, before
 * smfi_main), when Redis is configured and NotifyWorker is yes.  0, or -1
 * after logging why. */
int forwarding_start(const struct config *cfg);

/* Stop the worker and forget the rules kept in memory (after smfi_main). */
void forwarding_stop(void);

/* A new message (MAIL FROM): forget the recipients of the previous one. */
void forwarding_reset(struct fwd_msg *fm);

/* The connection is closing: free everything. */
void forwarding_free(struct fwd_msg *fm);

/* RCPT accepted: RAW is argv[0], ADDR the parsed address (NULL when it
 * did not parse), CLS its class. */
void forwarding_rcpt(struct fwd_msg *fm, const char *raw, const struct mailaddr *addr,
                     enum addr_class cls);

/*
 * V is the verdict the trust-space policy kept for end of message (MP its
 * state).  True when the forwarding plan takes its place: an "outbound
 * classic recipient" refusal of a local submission from a trust-space
 * sender, while forwarding is on (without Redis: only for a sender outside
 * LocalDomains, whose message is then held).  The caller then goes on as
 * if the policy had accepted, and forwarding_eom() removes and notifies
 * the classic recipients (or holds the message).
 */
bool forwarding_replaces(const struct config *cfg, const struct msg_policy *mp,
                         const struct verdict *v);

/*
 * End of message, once every other rule accepted it.  CFG is the
 * connection's configuration (Forwarding, DryRun), BASE its policy
 * environment (LocalDomains, PatientDomain; the whitelist in force is
 * taken here), MP the message's policy state, QID for the log.  Returns
 * ACT_CONTINUE, ACT_TEMPFAIL (451 4.3.0 / 4.7.1) or ACT_HOLD (the
 * reason in the text).  Under DryRun nothing is changed or queued, but
 * the verdict says what would have happened.
 */
struct verdict forwarding_eom(SMFICTX *ctx, struct fwd_msg *fm, const struct config *cfg,
                              const struct msg_policy *mp, const struct policy_env *base,
                              const char *qid);

/* The fields to append to the verdict line ("" when none). */
const char *forwarding_log(const struct fwd_msg *fm);

#endif
