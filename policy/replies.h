/*
 * replies.h - what a rule decides, and the SMTP replies mssante-milter
 * gives, in one place.
 *
 * Every verdict names its rule from a closed set (enum rule_id): the
 * stable id that goes into the verdict line and the counters, and the row
 * of the one table (replies.c) that holds the rule's action, its reply
 * codes and its text.  Each reply has an enhanced status code and a short
 * French sentence followed by its English translation: the person reading
 * the bounce is a health professional.  Texts are plain ASCII (SMTP
 * replies are 7-bit), so French is written without accents.
 */
#ifndef MSSANTE_REPLIES_H
#define MSSANTE_REPLIES_H

#include <stdbool.h>

#include "policy/hints.h"

#define VERDICT_TEXT_MAX 640

enum action {
    ACT_CONTINUE = 0,   /* no objection (yet) */
    ACT_REJECT,         /* 5xx */
    ACT_TEMPFAIL,       /* 4xx: Postfix keeps the mail and retries */
    ACT_HOLD            /* local submission we cannot decide: hold queue */
};

/* The rules; rule_name() gives the stable id of each. */
enum rule_id {
    RULE_NONE = 0,                      /* no rule applied */
    /* The trust space (policy/trustspace.c). */
    RULE_OUTBOUND_CLASSIC,              /* outbound-classic-recipient */
    RULE_INBOUND_SENDER,                /* inbound-classic-sender */
    RULE_NO_WHITELIST,                  /* no-whitelist */
    RULE_BAD_SENDER,                    /* bad-sender-address */
    RULE_BAD_RECIPIENT,                 /* bad-recipient-address */
    RULE_ROUTE_ADDRESS,                 /* route-address */
    RULE_OWN_DOMAIN_FORGED,             /* own-domain-forged */
    RULE_CERT_MISSING,                  /* operator-certificate-missing */
    RULE_CERT_MISMATCH,                 /* operator-certificate-mismatch */
    RULE_SYSTEM_RECIPIENT,              /* system-recipient */
    /* Patients (policy/patient.c, pipeline/stage_patients.c). */
    RULE_PATIENT_INS_KEY,               /* patient-ins-key */
    RULE_PATIENT_INS_SHAPE,             /* patient-ins-shape */
    RULE_PATIENT_TOO_MANY,              /* patient-too-many */
    RULE_FIN_WITH_CONTENT,              /* fin-with-content */
    RULE_PATIENT_NO_CONVERSATION,       /* patient-no-conversation */
    RULE_CONVERSATION_UNAVAILABLE,      /* conversation-state-unavailable */
    /* Forwarding (pipeline/stage_forward.c). */
    RULE_FORWARD_RULES_DOWN,            /* forward-rules-unavailable */
    RULE_FORWARD_QUEUE_DOWN,            /* forward-notify-queue */
    RULE_FORWARD_CLASSIC_ONLY,          /* forward-classic-only (hold) */
    RULE_FORWARD_NO_REDIS,              /* forward-no-notify-queue (hold) */
    /* The daemon. */
    RULE_INTERNAL,                      /* internal-error */
    RULE_SHUTTING_DOWN,                 /* shutting-down */
    RULE_COUNT
};

struct verdict {
    enum action action;
    enum rule_id rule;             /* RULE_NONE: no rule */
    char rcode[4];                 /* "550", "451" */
    char xcode[8];                 /* "5.7.1", "4.3.0" */
    char text[VERDICT_TEXT_MAX];   /* French sentence, then English; raw (no '%' escaping) */
};

/* A verdict that objects to nothing. */
struct verdict verdict_continue(void);

/* The rule's stable id ("outbound-classic-recipient", ...); NULL for
 * RULE_NONE. */
const char *rule_name(enum rule_id id);

const char *action_name(enum action a);         /* "accept", "reject", ... */

/* What RULE does when it applies (the table's action; ACT_CONTINUE for
 * RULE_NONE).  A verdict may carry a rule with ACT_CONTINUE: the rule
 * applied in a mode that only logs it (PatientKeyCheck warn, PatientInbound
 * log), and this says what it would have done. */
enum action rule_action(enum rule_id id);

/* Fill v with RULE's action and codes from the table, and a text of the
 * caller's (printf-style; '%' stays raw, anything but printable ASCII
 * becomes '?').  The helpers below use it with the table's texts. */
void verdict_set(struct verdict *v, enum rule_id rule, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The trust space.  The mixed-list refusal names up to N_LISTED of ADDRS
 * (N_TOTAL classic recipients in all), then as many of the N_HINTS
 * HINTS (policy/hints.h) as the reply has room for. */
void reply_outbound_classic(struct verdict *v, const char *const *addrs, unsigned n_listed,
                            unsigned n_total);
void reply_outbound_classic_hints(struct verdict *v, const char *const *addrs,
                                  unsigned n_listed, unsigned n_total,
                                  const struct rcpt_hint *hints, unsigned n_hints);
void reply_inbound_sender(struct verdict *v, const char *sender_domain);
void reply_no_whitelist(struct verdict *v);
void reply_bad_sender(struct verdict *v, const char *why);
void reply_bad_recipient(struct verdict *v, const char *why);

/* Trust boundary (issue 10).  Every text naming something from the
 * network (an address, a certificate CN) shows it cut and in printable
 * ASCII.  DOMAIN NULL: the null sender. */
void reply_route_address(struct verdict *v, bool sender, const char *addr);
void reply_own_domain_forged(struct verdict *v, const char *domain);
void reply_operator_cert_missing(struct verdict *v, const char *domain);
void reply_operator_cert_mismatch(struct verdict *v, const char *domain, const char *cn);
void reply_system_recipient(struct verdict *v, const char *addr);

/* Patients.  SHOWN is " <address>" or "" (the caller quotes it); BAD_CHAR
 * is the 1-based position of a character not allowed in an INS, 0 when
 * the length is wrong. */
void reply_patient_ins_key(struct verdict *v, const char *shown);
void reply_patient_ins_shape(struct verdict *v, const char *shown, unsigned bad_char,
                             unsigned length);
void reply_patient_too_many(struct verdict *v);
void reply_fin_with_content(struct verdict *v);
void reply_patient_no_conversation(struct verdict *v);
void reply_conversation_unavailable(struct verdict *v);

/* Forwarding.  REASON: why the message is held (English, for the hold queue). */
void reply_forward_rules_down(struct verdict *v);
void reply_forward_queue_down(struct verdict *v);
void reply_forward_hold(struct verdict *v, const char *reason);
void reply_forward_no_redis(struct verdict *v);

/* The daemon. */
void reply_internal(struct verdict *v);
void reply_shutting_down(struct verdict *v);

#endif
