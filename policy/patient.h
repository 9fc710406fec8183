/*
 * patient.h - decisions about mail to and from patients (MSSANTE.md s.3, s.5).
 *
 * Pure code, like the rest of policy/: no Redis, no libmilter, no syslog.
 * The milter layer feeds it what it saw (headers, body chunks, the answer
 * the conversation store gave) and turns the verdicts into SMTP replies;
 * conversation/store.h holds the state itself.
 *
 * The four pieces:
 *  - [FIN] closures: is the Subject exactly "[FIN]", clearly meant as one
 *    (rewritten to the exact form), or not a closure at all; X-MSS-MES: FIN;
 *  - body emptiness: a streaming probe fed the body chunks as libmilter
 *    hands them over, which says whether a closure would swallow content
 *    (policy/bodyprobe.h, included here);
 *  - pharmacy mailboxes, which patients may write to first;
 *  - the verdicts and bilingual replies for each case.
 */
#ifndef MSSANTE_PATIENT_H
#define MSSANTE_PATIENT_H

#include <stdbool.h>
#include <stddef.h>
#include "policy/bodyprobe.h"
#include "policy/ins.h"
#include "policy/trustspace.h"

#define PATIENT_FIN_SUBJECT "[FIN]"
#define PATIENT_MES_HEADER  "X-MSS-MES"
#define PATIENT_MES_FIN     "FIN"

/* ------------------------------------------------------------------ */
/* [FIN] closures                                                       */
/* ------------------------------------------------------------------ */

enum fin_kind {
    FIN_NONE = 0,   /* not a closure: an ordinary message */
    FIN_EXACT,      /* the Subject is exactly "[FIN]" */
    FIN_VARIANT     /* meant as a closure: to be rewritten to exactly "[FIN]" */
};

/*
 * Classify a Subject value as libmilter gives it (without the space after
 * the colon; folding CR/LF kept).  FIN_VARIANT is: any mix of white space,
 * reply/forward prefixes ("Re:", "RE :", "Fwd:", "Fw:", "TR:", repeated),
 * then "[", "fin" in any case, "]" with white space allowed inside the
 * brackets, then nothing but white space.  Everything else is FIN_NONE, on
 * purpose: "[FIN] merci", "FIN", "Fin du traitement" or an RFC 2047
 * encoded "[FIN]" are delivered as ordinary messages, which the patient
 * reads in full.  Guessing "closure" there could make the patient's
 * operator discard text the professional meant to send.
 */
enum fin_kind patient_subject_fin(const char *subject);

/* An X-MSS-MES header value meaning "close": "FIN", any case, trimmed. */
bool patient_mes_fin(const char *value);

const char *fin_kind_name(enum fin_kind k);   /* "none", "exact", "variant" */

/* ------------------------------------------------------------------ */
/* Pharmacy mailboxes                                                   */
/* ------------------------------------------------------------------ */

/*
 * PharmacyMailboxes entries are "local@domain" (one mailbox), "@domain"
 * (every mailbox of that domain), or a local part with '*' wildcards
 * ("pharmacie-*@lgpi.mssante.fr": '*' stands for any run of characters,
 * none included; policy/wildcard.h, bounded whatever the recipient
 * writes).  The domain takes no wildcard: a pattern never reaches beyond
 * the domain it names.  Matching ignores case in both parts and one
 * trailing dot on the domain.  Ignoring case in the local part is
 * deliberate: these are our own mailboxes, and Postfix folds case when it
 * looks them up, so "Pharmacie@..." and "pharmacie@..." reach the same
 * mailbox; an exact match would refuse patients for a capital letter and
 * protect nothing.
 */
bool patient_pharmacy_entry_valid(const char *entry);

bool patient_is_pharmacy(const char *const *entries, size_t n,
                         const char *local, const char *domain);

/* ------------------------------------------------------------------ */
/* Decisions                                                            */
/* ------------------------------------------------------------------ */

/* The patient settings of the config.  All-zero is the strict default. */
struct patient_policy {
    bool ins_warn;                 /* PatientKeyCheck warn: log a bad matricule, accept */
    bool fin_content_accept;       /* FinWithContent accept: close anyway, content is lost */
    bool inbound_log;              /* PatientInbound log: admit a patient without an open
                                    * conversation, logged (a rollout's first weeks) */
    const char *const *pharmacies; /* PharmacyMailboxes */
    size_t n_pharmacies;
};

/*
 * RCPT to a patient address on an outbound message.  LOCAL is the address's
 * local part, ADDR the whole address (for the reply; may be NULL).  *ins
 * gets the check's details (its reason goes in the log; its normalized
 * matricule is the patient's id for the conversation store).
 * Returns ACT_REJECT 550 5.1.1 for a bad matricule, or ACT_CONTINUE.  With
 * ins_warn, a bad matricule gives ACT_CONTINUE with rule and text set: the
 * caller logs it as "would have refused".
 */
struct verdict patient_outbound_rcpt(const struct patient_policy *pp, const char *local,
                                     const char *addr, struct ins_result *ins);

/*
 * RCPT to a local mailbox from a patient.  PHARMACY is
 * patient_is_pharmacy() for that mailbox; CONV_OPEN is conv_is_open()'s
 * answer (1 open, 0 not, -1 store unreachable) and is not looked at for a
 * pharmacy, so the caller need not ask the store then.
 */
struct verdict patient_inbound_rcpt(bool pharmacy, int conv_open);

/*
 * The same under PP's PatientInbound.  enforce (PP NULL too): as above,
 * 550 5.7.1 without an open conversation.  log: the message is admitted
 * (ACT_CONTINUE) with the rule and text of that refusal set, for the
 * caller to log it as "would have refused"; a store that cannot answer
 * (-1) still gives 451 4.3.0, in both modes: whether the patient may
 * write is then unknown, and Postfix keeps the mail.
 */
struct verdict patient_inbound_decide(const struct patient_policy *pp, bool pharmacy,
                                      int conv_open);

/* What the headers and body of an outbound message to patients said. */
struct patient_msg {
    enum fin_kind subject_fin;     /* patient_subject_fin() of the Subject */
    bool mes_fin;                  /* an X-MSS-MES: FIN header is present */
    bool body_empty;               /* body_probe_empty(); only read for closures */
};

enum patient_op {
    PATOP_NONE = 0,   /* message refused: record nothing */
    PATOP_OPEN,       /* open or refresh each patient's conversation */
    PATOP_CLOSE       /* close each patient's conversation */
};

struct patient_plan {
    enum patient_op op;
    bool rewrite_subject;          /* set Subject to exactly "[FIN]" */
    bool add_mes_header;           /* add "X-MSS-MES: FIN" */
    bool content_lost;             /* closed with content (FinWithContent accept) */
    const char *note;              /* English, for the log line */
};

/* True when the message may be a closure, i.e. the body must be probed. */
bool patient_closure_candidate(const struct patient_msg *m);

/*
 * End of an outbound message with patient recipients: what to record, what
 * to rewrite, and the verdict (ACT_REJECT 550 5.7.1 for a closure with
 * content under FinWithContent reject, else ACT_CONTINUE).  The caller
 * then writes the state (conv_open_or_refresh / conv_close for each
 * patient) and, if that fails, answers reply_conversation_unavailable():
 * a closure is never accepted without being recorded.
 */
struct verdict patient_outbound_eom(const struct patient_policy *pp,
                                    const struct patient_msg *m, struct patient_plan *plan);

/* The refusal of a malformed patient address ADDR (policy/replies.h). */
void patient_reply_bad_ins(struct verdict *v, const struct ins_result *r, const char *addr);

#endif
