/*
 * stage_forward.h - the forwarding stage of the pipeline: forwarding rules
 * and content-free notices (MSSANTE.md s.4, issue 5).
 *
 * The pipeline core records every accepted recipient at RCPT and calls
 * forwarding_eom() at end of message, once every other rule accepted the
 * message.  The decisions are forward/plan.c's; this stage feeds it the
 * envelope and the rules (from the store: Redis, with the copy in memory
 * of forward/cache.h when Redis cannot be read), queues the notices (the
 * store too) and asks the MTA for the changes:
 *
 *   1. the rules of the local recipients, in one Redis round trip; when
 *      Redis cannot be read, the copy of every rule kept in memory (a
 *      daemon that never read them answers 451 4.3.0: Postfix retries);
 *   2. the plan, computed against the whitelist in force;
 *   3. the notices are queued first (failure: 451 4.3.0, which also
 *      discards every change: nothing is half done), and the worker woken;
 *   4. recipients added for the MSSante targets, removed for the ones the
 *      plan takes out; a plan that leaves no recipient is a hold
 *      (Postfix's hold queue, with a reason), never a discard.
 * DryRun computes and logs the plan and changes nothing.
 *
 * Local submission (non_smtpd_milters, told apart from SMTP by the
 * emulated connect of Postfix's cleanup server: see pipeline.c).  A
 * message submitted with sendmail(1) from a trust-space sender toward a
 * classic address is taken as a forward made elsewhere (a Sieve or
 * .forward redirect re-injected by the local delivery agent): the classic
 * recipients are removed and each gets a notice instead.  For a local
 * sender the trust-space policy (policy/trustspace.c) would refuse such a
 * message at end of message (outbound classic recipient): the plan
 * replaces that refusal, and only that one (forwarding_replaces()).
 *
 * Without Redis there are neither rules nor a notice queue: forwarding is
 * off, and a locally submitted trust-space message toward a classic
 * address is held rather than sent out of the trust space.  "Forwarding
 * no" switches the whole feature off.
 */
#ifndef MSSANTE_STAGE_FORWARD_H
#define MSSANTE_STAGE_FORWARD_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/ports.h"
#include "pipeline/settings.h"
#include "policy/address.h"
#include "policy/classify.h"
#include "policy/trustspace.h"

#define FWD_LOG_MAX 128     /* " fwd_add=N fwd_del=N notify=N hold=yes|no" */

/* One accepted recipient of the current message. */
struct fwd_msg_rcpt {
    char *raw;                     /* the RCPT argument as given, owned: removing the
                                    * recipient wants it */
    struct mailaddr addr;          /* meaningful unless cls is CLASS_INVALID */
    enum addr_class cls;
};

/* The forwarding side of one message; lives in struct pl_msg. */
struct fwd_msg {
    struct fwd_msg_rcpt *rcpts;    /* owned, grown as needed and kept across messages */
    size_t n_rcpts, cap;
    bool oom;                      /* a recipient could not be recorded: 451 at EOM */
    char log[FWD_LOG_MAX];         /* fields for the verdict line, "" when none */
};

/* What an operator should know at start when Redis is not configured
 * (REDIS false), or NULL. */
const char *forwarding_config_warning(const struct rules_settings *rules, bool redis);

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
bool forwarding_replaces(const struct rules_settings *rules, const struct pl_store *store,
                         const struct msg_policy *mp, const struct verdict *v);

/* What the end of message runs with. */
struct fwd_eom_ctx {
    const struct rules_settings *rules;  /* Forwarding, DryRun, LocalDomains */
    const struct pl_store *store;        /* rules and notices; NULL: no Redis */
    const struct pl_lists *lists;        /* the whitelist in force */
    const struct pl_mta *mta;            /* the recipients added and removed */
    const struct policy_env *base;       /* LocalDomains, PatientDomain (no list) */
    const struct msg_policy *mp;         /* the message's policy state */
    const char *qid;                     /* for the log */
};

/*
 * End of message, once every other rule accepted it.  Returns
 * ACT_CONTINUE, ACT_TEMPFAIL (451 4.3.0 / 4.7.1) or ACT_HOLD (the reason
 * in the text).  Under DryRun nothing is changed or queued, but the
 * verdict says what would have happened.
 */
struct verdict forwarding_eom(struct fwd_msg *fm, const struct fwd_eom_ctx *x);

/* The fields to append to the verdict line ("" when none). */
const char *forwarding_log(const struct fwd_msg *fm);

#endif
