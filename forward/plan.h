/*
 * plan.h - what forwarding does to one message, decided at end of message.
 *
 * Pure: fed the envelope (recipients with their class, the forwarding rule
 * of each local recipient) and the trust-space lookup, it answers which
 * recipients to add and remove and which content-free notices to send.  It
 * never talks to libmilter, Redis or syslog; the milter applies the plan
 * with smfi_addrcpt / smfi_delrcpt / smfi_quarantine and queues the notices
 * (notify/queue.h).
 *
 * 1. Rules (MSSANTE.md s.4).  For each recipient that is a local mailbox
 *    (domain in LocalDomains) and has a rule:
 *    - an MSSante or patient target is added as a recipient;
 *    - a classic target is never added: it gets one notice naming the
 *      mailbox (one per (mailbox, target) pair in the message);
 *    - copy keeps the mailbox; redirect removes it, but only when at least
 *      one MSSante/patient target receives the message instead.  A
 *      redirect whose targets are all classic becomes "keep in the mailbox
 *      + notify", so nothing is lost.
 *    Rules are applied one level deep: a recipient added by a rule does not
 *    have its own rule applied (no chains, hence no loops).  A recipient
 *    that some other recipient's rule targets is never removed by its own
 *    redirect, so that two mailboxes redirecting to each other keep the
 *    message rather than both dropping it.  A target that is already a
 *    recipient, or that several rules name, is added once.  A target equal
 *    to its own mailbox counts as "keep" (rules.c refuses to store one).
 *
 * 2. Forwards made elsewhere (issue 5 s.3).  A message submitted locally
 *    (non_smtpd_milters: a Sieve or .forward redirect re-injected through
 *    sendmail) whose sender domain is in the trust space (MSSante, listed
 *    or local, or the patient domain) loses each classic recipient, and
 *    each one gets a notice instead.  The mailbox the message was forwarded
 *    from is unknown there (the envelope sender may be the original
 *    author's, and nothing of the original may appear in a notice), so such
 *    a notice names no mailbox: notify/notice.c then says "your MSSante
 *    mailbox".
 *    When no recipient would be left, nothing is removed and nothing is
 *    notified: the plan says HOLD with a reason instead.  Postfix drops a
 *    message whose recipients were all deleted once it leaves the hold
 *    queue, so deleting them would amount to a silent discard; left intact
 *    in the hold queue the message is not lost and an administrator
 *    decides ("mssantectl held delete", or after fixing the forward
 *    "mssantectl held resubmit", never a release that skips the milter).
 */
#ifndef MSSANTE_FWD_PLAN_H
#define MSSANTE_FWD_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "forward/rules.h"
#include "policy/address.h"
#include "policy/classify.h"

#define FWD_HOLD_REASON_MAX 256

/* One envelope recipient, as the milter collected it at RCPT. */
struct fwd_rcpt {
    const char *raw;               /* libmilter's argv[0], given back for smfi_delrcpt */
    const struct mailaddr *addr;   /* parsed; NULL when it did not parse */
    enum addr_class cls;
    const struct fwd_rule *rule;   /* this mailbox's rule, NULL if none */
};

struct fwd_plan_input {
    const struct policy_env *env;  /* classifies targets; local_domains says who is local */
    bool local_submission;         /* seen through non_smtpd_milters */
    const struct mailaddr *sender; /* NULL for the null sender or one that did not parse */
    const struct fwd_rcpt *rcpts;
    size_t n_rcpts;
};

struct fwd_notice {
    char mailbox[FWD_ADDR_MAX];    /* the mailbox named; "" when unknown (s.2) */
    char target[FWD_ADDR_MAX];     /* the classic address notified */
};

/* A target the plan could not use (did not parse): for the log only. */
struct fwd_skipped {
    char mailbox[FWD_ADDR_MAX];
    char target[FWD_ADDR_MAX];
};

struct fwd_plan {
    char **add;                    /* "local@domain" to smfi_addrcpt, owned */
    size_t n_add;
    const char **remove;           /* fwd_rcpt.raw of recipients to smfi_delrcpt */
    size_t n_remove;
    struct fwd_notice *notices;    /* to notify_enqueue */
    size_t n_notices;
    struct fwd_skipped *skipped;
    size_t n_skipped;
    size_t n_rules_applied;        /* recipients whose rule was applied */
    size_t n_redirects_kept;       /* redirects turned into keep + notify */
    size_t n_reinjected;           /* classic recipients of s.2 (removed, or held) */
    bool hold;                     /* smfi_quarantine(hold_reason) */
    char hold_reason[FWD_HOLD_REASON_MAX];
};

/*
 * Compute the plan into *out (zeroed first).  Returns 0, or -1 when memory
 * ran out (then *out is empty: the caller answers 451, Postfix retries).
 */
int fwd_plan_compute(const struct fwd_plan_input *in, struct fwd_plan *out);

void fwd_plan_free(struct fwd_plan *p);

/* Nothing to do: no recipient change, no notice, no hold. */
bool fwd_plan_empty(const struct fwd_plan *p);

/* "fwd_add=1 fwd_del=1 notify=2 hold=no" for the message's log line. */
void fwd_plan_summary(const struct fwd_plan *p, char *buf, size_t size);

#endif
