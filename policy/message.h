/*
 * message.h - the trust-space rules applied to one message (MSSANTE.md s.5).
 *
 * Pure decision code: it is fed the envelope step by step and answers a
 * verdict at each step.  It never talks to libmilter, Redis or syslog; the
 * milter layer turns verdicts into SMFIS_* codes, replies and log lines
 * (and, under DryRun, into a header instead of a refusal).
 *
 * Rules:
 *  - outbound (sender domain in LocalDomains, or the client authenticated):
 *    every recipient must be MSSante or patient; one classic recipient
 *    refuses the whole message at DATA, naming up to MSG_MAX_OFFENDERS.
 *  - inbound (anything else) to a local mailbox: the sender domain must be
 *    MSSante; the null sender is accepted.  Refused at RCPT.  A patient
 *    sender (PatientDomain) is left to the patient rule (milter/patients.h).
 *  - no whitelist loaded at all: temporary failure (451 4.3.0).
 *  - local submission (non_smtpd_milters): Postfix forbids refusing the
 *    simulated RCPT, so every refusal is held back until end of message.
 */
#ifndef MSSANTE_MESSAGE_H
#define MSSANTE_MESSAGE_H

#include <stdbool.h>
#include "policy/address.h"
#include "policy/classify.h"

#define MSG_MAX_OFFENDERS 5
#define VERDICT_TEXT_MAX 640

enum direction { DIR_INBOUND = 0, DIR_OUTBOUND };

enum action {
    ACT_CONTINUE = 0,   /* no objection (yet) */
    ACT_REJECT,         /* 5xx */
    ACT_TEMPFAIL,       /* 4xx: Postfix keeps the mail and retries */
    ACT_HOLD            /* local submission we cannot decide: hold queue */
};

struct verdict {
    enum action action;
    const char *rule;              /* stable id for logs/metrics, NULL if none */
    char rcode[4];                 /* "550", "451" */
    char xcode[8];                 /* "5.7.1", "4.3.0" */
    char text[VERDICT_TEXT_MAX];   /* French sentence, then English; raw (no '%' escaping) */
};

struct msg_policy {
    const struct policy_env *env;
    bool local_submission;         /* seen through non_smtpd_milters */
    bool authenticated;            /* {auth_authen} was set */
    enum direction dir;
    bool null_sender;
    bool sender_valid;
    struct mailaddr sender;
    enum addr_class sender_class;
    unsigned n_rcpt;
    unsigned n_offenders;          /* classic recipients of an outbound message named in offenders[] */
    unsigned n_classic_total;      /* all classic recipients of an outbound message (>= n_offenders) */
    char offenders[MSG_MAX_OFFENDERS][ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
    struct verdict deferred;       /* first refusal held back for end of message */
};

/* Start a message.  env->is_listed == NULL means "no whitelist available". */
void msgpol_begin(struct msg_policy *mp, const struct policy_env *env,
                  bool local_submission, bool authenticated);

/* MAIL FROM.  raw is libmilter's argv[0]. */
struct verdict msgpol_sender(struct msg_policy *mp, const char *raw);

/* RCPT TO.  *cls (if non-NULL) receives the recipient's class, *parsed the address. */
struct verdict msgpol_recipient(struct msg_policy *mp, const char *raw,
                                enum addr_class *cls, struct mailaddr *parsed);

/* DATA: the whole-message decision on the envelope (mixed recipients). */
struct verdict msgpol_data(struct msg_policy *mp);

/* End of message: for local submissions, anything held back until now. */
struct verdict msgpol_end(struct msg_policy *mp);

const char *direction_name(enum direction d);   /* "inbound", "outbound" */
const char *action_name(enum action a);         /* "accept", "reject", ... */

#endif
