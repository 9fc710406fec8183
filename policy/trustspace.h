/*
 * trustspace.h - the trust-space rules applied to one message (MSSANTE.md s.5).
 *
 * Pure decision code: it is fed the envelope step by step and answers a
 * verdict at each step.  It never talks to libmilter, Redis or syslog; the
 * pipeline (pipeline/pipeline.h) turns verdicts into answers for the MTA
 * and one log line per message (and, under DryRun, into a header instead
 * of a refusal).
 *
 * Inside and outside (issue 10).  The client is *inside* when it
 * authenticated (SMTP AUTH), its address is in InternalHosts, or the
 * message is a local submission (sendmail); anything else is *outside*.
 * The envelope sender never makes a client inside.
 *
 * Rules, in the order they are applied at each recipient:
 *  - route address (sender or recipient with '%', '!', a quoted '@', an
 *    address literal): 550 5.1.3, inside and outside, at RCPT.
 *  - own domain forged: a sender in LocalDomains from the outside, unless
 *    the client's verified certificate CN is listed for that domain:
 *    550 5.7.1 at RCPT, whatever OperatorCertificate says.
 *  - operator certificate (OperatorCertificate log|enforce): from the
 *    outside, a sender whose domain is on the whitelist, or the null
 *    sender.  enforce: no verified certificate 450 4.7.1, a CN not listed
 *    for the sender's domain (null sender: for any domain) 550 5.7.1, at
 *    RCPT.  log: judged and logged only.
 *  - system recipient: a recipient Postfix delivers on this machine
 *    outside LocalDomains: accepted from a local submission (cron,
 *    logwatch), refused from the outside (550 5.7.1 at RCPT); from any
 *    other client it is a non-local recipient like any.  Postfix says so
 *    with {rcpt_mailer} "local" over SMTP; its cleanup server gives no
 *    {rcpt_mailer} to a local submission (Postfix 3.7 passes only
 *    {rcpt_addr} there), so without the macro the recipient's domain
 *    decides: "localhost" or Postfix's $myhostname (the j macro), the
 *    two domains a Postfix delivers on the machine whatever else it is
 *    set up for.
 *  - outbound (the client is inside, or the sender is in LocalDomains and
 *    was let in by the rule above): every non-local recipient must be
 *    MSSante or patient, whatever the envelope sender (null included);
 *    one classic recipient refuses the whole message at DATA, naming up
 *    to MSG_MAX_OFFENDERS.
 *  - inbound sender: a recipient in LocalDomains, from inside or outside:
 *    the sender domain must be MSSante; the null sender is accepted.
 *    Refused at RCPT.  A patient sender (PatientDomain) is left to the
 *    patient rule (pipeline/stage_patients.h).
 *  - no whitelist loaded at all: temporary failure (451 4.3.0).
 *  - local submission (non_smtpd_milters): the rules are the same; that
 *    Postfix forbids refusing the simulated RCPT, so that every refusal is
 *    held back until end of message, is the pipeline's business.
 * Every sender-based refusal is given at RCPT, not at MAIL, as Postfix's
 * own smtpd_delay_reject does: the log line then names the recipients.
 */
#ifndef MSSANTE_TRUSTSPACE_H
#define MSSANTE_TRUSTSPACE_H

#include <stdbool.h>
#include "policy/address.h"
#include "policy/classify.h"
#include "policy/replies.h"

#define MSG_MAX_OFFENDERS 5

#define MSG_CERT_CN_MAX 256      /* longest client certificate CN kept (X.520 allows 64) */

/* Which rules apply, and what the verdict line says (direction=):
 * outbound when the client is inside, or when the sender is in
 * LocalDomains (from the outside, only once the operator's certificate
 * let it in); inbound for everything else from the outside. */
enum direction { DIR_INBOUND = 0, DIR_OUTBOUND };

/* OperatorCertificate. */
enum cert_mode { CERT_MODE_OFF = 0, CERT_MODE_LOG, CERT_MODE_ENFORCE };

/* What the certificate rule found (the verdict line's cert=). */
enum cert_status {
    CERT_NOT_CHECKED = 0,   /* the rule does not apply to this message */
    CERT_OK,                /* verified CN listed for the sender's domain */
    CERT_NONE,              /* no verified client certificate */
    CERT_MISMATCH           /* verified, but its CN is not listed for that domain */
};

/* What the milter layer knows of the client when MAIL FROM arrives. */
struct msg_client {
    bool local_submission;         /* sendmail(1), through non_smtpd_milters */
    bool internal_host;            /* the client address is in InternalHosts */
    bool authenticated;            /* SMTP AUTH ({auth_authen}) */
    const char *cert_cn;           /* {cert_subject}: the CN of the client certificate
                                    * Postfix verified; NULL or "" when none.  Copied. */
    enum cert_mode cert_mode;      /* OperatorCertificate */
    const char *myhostname;        /* Postfix's $myhostname (macro j); NULL if unknown.
                                    * Copied. */
};

struct msg_policy {
    const struct policy_env *env;
    bool local_submission;         /* seen through non_smtpd_milters */
    bool authenticated;            /* {auth_authen} was set */
    bool internal_host;            /* client in InternalHosts */
    bool inside;                   /* any of the three above */
    enum cert_mode cert_mode;
    enum cert_status cert;         /* set at MAIL FROM */
    char cert_cn[MSG_CERT_CN_MAX + 1];   /* as Postfix gave it (cut if longer); "" = none */
    bool cert_cn_cut;              /* longer than MSG_CERT_CN_MAX: never matches */
    char myhostname[ADDR_DOMAIN_MAX + 1];   /* normalised; "" when unknown */
    bool sender_route;             /* the sender is a route address ... */
    const char *sender_route_why;  /* ... and why (static) */
    enum direction dir;
    bool null_sender;
    bool sender_valid;
    struct mailaddr sender;
    enum addr_class sender_class;
    unsigned n_rcpt;
    unsigned n_offenders;          /* classic recipients of an outbound message named in offenders[] */
    unsigned n_classic_total;      /* all classic recipients of an outbound message (>= n_offenders) */
    char offenders[MSG_MAX_OFFENDERS][ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
    struct rcpt_hint hints[MSG_MAX_OFFENDERS];   /* what may help, for each offender */
};

/* Start a message.  env->is_listed == NULL means "no whitelist available".
 * CLIENT may be NULL: an outside client without a certificate. */
void msgpol_begin(struct msg_policy *mp, const struct policy_env *env,
                  const struct msg_client *client);

/* MAIL FROM.  raw is libmilter's argv[0]. */
struct verdict msgpol_sender(struct msg_policy *mp, const char *raw);

/* RCPT TO.  RCPT_MAILER: Postfix's {rcpt_mailer} for this recipient (the
 * transport, "local" for local(8)); NULL when Postfix gave none.  *cls
 * (if non-NULL) receives the recipient's class, *parsed the address. */
struct verdict msgpol_recipient(struct msg_policy *mp, const char *raw, const char *rcpt_mailer,
                                enum addr_class *cls, struct mailaddr *parsed);

/* Does Postfix deliver A on this machine (see "system recipient")? */
bool msgpol_delivered_here(const struct msg_policy *mp, const struct mailaddr *a,
                           const char *rcpt_mailer);

/* DATA: the whole-message decision on the envelope (mixed recipients). */
struct verdict msgpol_data(struct msg_policy *mp);

/* End of message: the temporary failure of a missing whitelist, or nothing
 * (what was kept for end of message is the pipeline's: pipeline.h). */
struct verdict msgpol_end(struct msg_policy *mp);

const char *direction_name(enum direction d);   /* "inbound", "outbound" */
const char *cert_status_name(enum cert_status s);   /* "ok", "none", "mismatch", NULL */

#endif
