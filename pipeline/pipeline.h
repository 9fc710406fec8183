/*
 * pipeline.h - one message's fate: the steps of an SMTP transaction in,
 * an answer for the MTA out, and one verdict line per message.
 *
 * The glue (milter/callbacks.c) calls one function per milter event, fed
 * with plain data (the client's address, the macros as strings), and
 * turns each struct pl_answer into a libmilter reply; at end of message
 * the pipeline asks the glue for the changes it decided (struct pl_mta).
 * Nothing here calls libmilter, so the unit tests and the fuzz target
 * drive whole messages through the very same code.
 *
 * The stages, in order, each in a file of its own:
 *   trust space   policy/trustspace.c: MAIL, RCPT, DATA, end of message
 *   patients      pipeline/stage_patients.c: RCPT, headers, body, end
 *   forwarding    pipeline/stage_forward.c: RCPT (recorded), end
 * A stage answers a verdict (policy/replies.h: a rule from a closed set,
 * its reply codes and text).  This core decides, in one place each:
 *   - local submission (Postfix's cleanup server emulates the SMTP steps
 *     of mail from sendmail(1) and forbids refusing them), and a hold
 *     (quarantine exists only at end of message): a refusal before end of
 *     message is kept for it; the first one kept is the message's fate, a
 *     trust-space one first (it says why the envelope is wrong), then any
 *     other; without a whitelist a local submission is held;
 *   - DryRun: nothing is refused; the first refusal that would have
 *     applied is remembered, said on the verdict line and in an
 *     X-MSSante-Verdict header; a rule a log-only mode let through
 *     (PatientInbound log) is remembered and said the same way on the
 *     line;
 *   - the stop (SIGTERM): new messages are deferred (451 4.3.2);
 *   - a hold: the X-MSSante-Held header, signed with the HeldKeyFile key
 *     of struct pl_services, and the sender's notice (pipeline/held.h);
 *     the X-MSSante-Held headers a message that takes the whole path
 *     arrived with are deleted;
 *   - the verdict line (keep its format stable, operators parse it:
 *     pipeline/verdict_log.c writes it) and the counters of each message
 *     (stats/stats.h).  Patients' addresses and identifiers appear in
 *     it, and in every other line of the pipeline, as LogPatientId says
 *     (common/logid.h).
 *
 * Threads: a connection's steps may run on different threads, one at a
 * time; all per-connection state is in struct pl_conn.
 */
#ifndef MSSANTE_PIPELINE_H
#define MSSANTE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "pipeline/early.h"
#include "pipeline/held.h"
#include "pipeline/ports.h"
#include "pipeline/settings.h"
#include "pipeline/stage_forward.h"
#include "pipeline/stage_patients.h"
#include "policy/replies.h"
#include "policy/trustspace.h"

#define PL_QUEUE_ID_MAX   32
#define PL_ADDR_LOG_MAX   (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 4)
#define PL_RCPT_LOG_MAX   100     /* recipients named in the verdict line */
#define PL_RCPT_LOG_BYTES 4096    /* and the room they may take */
#define PL_CERT_LOG_MAX   (MSG_CERT_CN_MAX + 1)
#define PL_VERDICT_HEADER "X-MSSante-Verdict"
#define PL_CLIENT_MAX     (48 + 3)  /* "[" INET6_ADDRSTRLEN "]" */

/* What the daemon set up once, shared by every connection. */
struct pl_services {
    struct pl_lists lists;         /* the whitelist in force */
    const struct pl_store *store;  /* conversations, rules, notices; NULL: no Redis */
    bool (*stopping)(void);        /* a stop was asked for; NULL: never */
    const unsigned char *held_key; /* HeldKeyFile's key (HELD_KEY_BYTES) that signs the
                                    * X-MSSante-Held header; NULL: a hold is deferred */
};

/* What the pipeline answers the MTA. */
enum pl_code {
    PL_CONTINUE = 0,   /* go on (at end of message: accepted) */
    PL_REJECT,         /* refuse with REPLY (5xx) */
    PL_TEMPFAIL,       /* refuse with REPLY (4xx) */
    PL_SKIP,           /* body: the rest is not needed */
    PL_ACCEPT          /* accepted: nothing more of the message is needed
                        * (DATA: EarlyAccept, pipeline/early.h; end of
                        * message: into the hold queue) */
};

struct pl_answer {
    enum pl_code code;
    struct verdict reply;          /* PL_REJECT, PL_TEMPFAIL: codes and raw text */
};

/* One transaction (MAIL FROM to its end), reset at MAIL. */
struct pl_msg {
    bool in_txn;                   /* MAIL seen, verdict line not yet written */
    uint64_t started;              /* stats_message_begin() at MAIL */
    struct msg_policy mp;          /* the trust-space stage's state */
    char queue_id[PL_QUEUE_ID_MAX];
    char sender[PL_ADDR_LOG_MAX];
    char sender_u[PL_ADDR_LOG_MAX + 16];   /* " sender_u=<a@U-label>" or "" */
    char rcpts[PL_RCPT_LOG_BYTES]; /* " rcpt=<a@b>/class" ... */
    size_t rcpts_len;
    unsigned n_rcpt_logged, n_rcpt_more, n_rcpt_ok;
    unsigned n_rcpt_patient;       /* accepted recipients in PatientDomain */
    unsigned n_headers;            /* headers the MTA sent (the debug log) */
    unsigned n_rcpt_local;         /* recipients in LocalDomains: none from the outside
                                    * is relayed mail, not inbound */
    bool rcpt_refused;             /* a recipient was refused at RCPT ... */
    struct verdict rcpt_refusal;   /* ... the first such refusal */
    bool have_would;               /* DryRun, or a log-only mode (PatientInbound log):
                                    * a verdict would have applied ... */
    struct verdict would;          /* ... the first one */
    struct verdict kept_trust;     /* kept for end of message: a trust-space refusal */
    struct verdict kept;           /* ... any other refusal, or a hold */
    char cert_issuer[PL_CERT_LOG_MAX];   /* {cert_issuer}, made safe; "" = none */
    struct verdict fate;           /* what the last verdict line said (tests, tools):
                                    * RULE_NONE and ACT_CONTINUE for an abort */
    struct pat_msg pat;            /* the patients stage */
    struct fwd_msg fwd;            /* the forwarding stage */
    struct held_msg held;          /* X-MSSante-Held headers (pipeline/held.h) */
};

/* One SMTP connection. */
struct pl_conn {
    const struct pl_services *svc;
    const struct rules_settings *rules;   /* the configuration in force at connect: a
                                           * reload never changes the rules under a
                                           * connection in flight */
    bool debug;                    /* LogLevel debug at connect */
    bool local_submission;         /* Postfix cleanup's emulated session */
    bool internal_host;            /* an SMTP client in InternalHosts */
    char client[PL_CLIENT_MAX];    /* "[IP]" of the client, for every verdict line */
    char myhostname[ADDR_DOMAIN_MAX + 1];   /* Postfix's $myhostname (macro j), "" if none */
    struct policy_env env;         /* the domains; the list's fields inside a step only */
    struct pl_msg msg;
};

/* A new connection from HOSTNAME at SA (the MTA's connect event),
 * MYHOSTNAME being the j macro.  SVC and RULES must outlive pl_close().
 * PL_TEMPFAIL (451 4.3.2) while stopping: C is then not set up. */
struct pl_answer pl_connect(struct pl_conn *c, const struct pl_services *svc,
                            const struct rules_settings *rules, bool debug,
                            const char *hostname, const struct sockaddr *sa,
                            const char *myhostname);

/* The queue id the MTA gave at this step (the i macro), before the step
 * (but MAIL, which takes it in struct pl_mail_in): "" or NULL keeps the
 * one known. */
void pl_queue_id(struct pl_conn *c, const char *id);

/* MAIL FROM: ARG is the argument as the MTA gives it; the macros are
 * the queue id (i) of the new message, {auth_authen}, {cert_subject} and
 * {cert_issuer} (NULL when unset). */
struct pl_mail_in {
    const char *arg;
    const char *queue_id;
    const char *auth_authen;
    const char *cert_subject;
    const char *cert_issuer;
};
struct pl_answer pl_mail(struct pl_conn *c, const struct pl_mail_in *in);

/* RCPT TO: ARG as given, MAILER the {rcpt_mailer} macro (NULL when unset).
 * A refusal refuses this recipient only. */
struct pl_answer pl_rcpt(struct pl_conn *c, const char *arg, const char *mailer);

/* DATA: PL_ACCEPT for a message nothing after DATA can change
 * (EarlyAccept, pipeline/early.h; its verdict line is written then, and
 * the MTA sends nothing more of it), a refusal of the whole envelope
 * (mixed list), or PL_CONTINUE. */
struct pl_answer pl_data(struct pl_conn *c);
void pl_header(struct pl_conn *c, const char *name, const char *value);
/* End of headers: always PL_CONTINUE. */
struct pl_answer pl_eoh(struct pl_conn *c);

/* One body chunk: PL_SKIP once no rule needs the rest. */
struct pl_answer pl_body(struct pl_conn *c, const void *buf, size_t len);

/* End of message: the changes decided are asked of MTA. */
struct pl_answer pl_eom(struct pl_conn *c, const struct pl_mta *mta);

/* The transaction was abandoned (the MTA's abort): its verdict line. */
void pl_abort(struct pl_conn *c);

/* The connection is closing: the last verdict line, everything freed. */
void pl_close(struct pl_conn *c);

/* The connection is closing once the daemon is stopping and what it
 * shares may be gone (milter/gate.h): C's own memory is freed, and
 * nothing else is touched (no verdict line, no counter, not SVC). */
void pl_discard(struct pl_conn *c);

/* An internal error the glue found (no context, no memory): 451 4.7.1,
 * logged, and the transaction's verdict line when one is open (C may be
 * NULL). */
struct pl_answer pl_internal_error(struct pl_conn *c, const char *what);

/* What an operator should know at start about RULES with or without
 * Redis (REDIS): up to two warnings, NULL after the last. */
void pl_config_warnings(const struct rules_settings *rules, bool redis, const char *out[3]);

/* ", DryRun: ..." / ", PatientInbound log: ...", or "": the modes that let
 * through what a rule refuses, for the start and reload lines, so that
 * one left on is seen. */
const char *pl_modes_note(const struct rules_settings *rules);

#endif
