/*
 * stage_patients.h - the patient stage of the pipeline (MSSANTE.md s.3,
 * s.5).
 *
 * The pipeline core (pipeline/pipeline.c) calls one function per step;
 * the verdicts come back as struct verdict and go through the same path
 * as every other rule (DryRun, deferral of local submissions to end of
 * message, one log line per message).  The decisions themselves are
 * policy/patient.c's and the state is the store's (the conversations in
 * Redis, pipeline/ports.h): this stage feeds them what the MTA hands
 * over, and asks the MTA to rewrite the headers of a closure.
 *
 *   RCPT   every recipient in PatientDomain: INS matricule check (550 5.1.1
 *          or, with PatientKeyCheck warn, a log line); an outbound message
 *          remembers the patient.  A patient writing to a local mailbox:
 *          accepted for a pharmacy (PharmacyMailboxes), else only into an
 *          open conversation (Redis).
 *   header Subject ([FIN], variants), X-MSS-MES, the top-level
 *          Content-Type / Content-Disposition: only for outbound messages
 *          to patients.
 *   body   probed for emptiness only when the message may be a closure.
 *   EOM    open/refresh or close each patient's conversation, then (and
 *          only once that is recorded) rewrite a variant Subject to
 *          exactly "[FIN]" and add "X-MSS-MES: FIN".
 *
 * Redis unreachable (or not configured: a store without the conversation
 * operations) when state must be read or written: 451 4.3.0, never a
 * guess.
 */
#ifndef MSSANTE_STAGE_PATIENTS_H
#define MSSANTE_STAGE_PATIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pipeline/ports.h"
#include "pipeline/settings.h"
#include "policy/patient.h"
#include "policy/trustspace.h"

#define PAT_MAX_PATIENTS 100   /* patient recipients of one message; more get 452 4.5.3 */
#define PAT_ID_MAX       64    /* a patient id (matricule, or the raw local part in warn mode) */
#define PAT_MAX_SUBJECTS 32    /* Subject headers whose [FIN] variants can be rewritten */
#define PAT_CTYPE_MAX    1024  /* top-level Content-Type kept for the body probe */
#define PAT_LOG_MAX      2048  /* conv=... fields on the verdict line */

/* The patient side of one message; lives in struct pl_msg, reset at MAIL. */
struct pat_msg {
    bool active;                       /* outbound from a mailbox to >= 1 patient */
    unsigned n_patients;
    char patients[PAT_MAX_PATIENTS][PAT_ID_MAX + 1];

    /* Headers (only read when active). */
    unsigned n_subjects;
    uint32_t variant_subjects;         /* bit i: Subject number i+1 is a [FIN] variant */
    enum fin_kind subject_fin;         /* strongest kind seen: exact > variant > none */
    bool mes_fin;                      /* an X-MSS-MES: FIN header */
    unsigned n_ctypes;                 /* top-level Content-Type headers */
    char ctype[PAT_CTYPE_MAX];
    bool doubt;                        /* headers we cannot vouch for: "not empty" */
    const char *doubt_why;

    /* Body (only probed for a possible closure). */
    bool probing;
    struct body_probe probe;

    /* " conv=open:ID ..." for the message's verdict line. */
    char log[PAT_LOG_MAX];
    size_t log_len;
    unsigned log_more;
};

/* What an operator should know when Redis is not configured (REDIS
 * false), or NULL: without Redis every message to or from a patient (but
 * to a pharmacy) is deferred. */
const char *patients_config_warning(bool redis);

/* A new message (MAIL FROM): forget the previous one. */
void patients_reset(struct pat_msg *pm);

/*
 * RCPT, after the trust-space rule let it through: RCPT is the recipient
 * as parsed, CLS its class; MP the message so far; RULES the settings the
 * connection uses and STORE the conversations (NULL: no Redis);
 * patients_eom takes the same.  Returns the verdict for this recipient
 * (ACT_CONTINUE when the patient rules have nothing to say).  QID is for
 * the log ("" before Postfix assigned one).
 */
struct verdict patients_rcpt(struct pat_msg *pm, const struct rules_settings *rules,
                             const struct pl_store *store, const struct msg_policy *mp,
                             const struct mailaddr *rcpt, enum addr_class cls,
                             const char *qid);

/* One header of the message (name and value as the MTA gives them). */
void patients_header(struct pat_msg *pm, const char *name, const char *value);

/* End of headers: start the body probe when the message may be a closure. */
void patients_eoh(struct pat_msg *pm);

/* One body chunk.  Returns true while the patient rules still need the
 * body, false once they do not (the MTA may skip the rest). */
bool patients_body(struct pat_msg *pm, const void *buf, size_t len);

/*
 * End of message, once every other rule let it through: the [FIN] rules,
 * the conversation state in the store, then the header changes of a
 * closure, asked of MTA (not under DryRun).  MP must be the message's
 * policy state (its sender is the mailbox).  Returns the verdict (550
 * 5.7.1 [FIN] with content, 451 4.3.0 state not recorded, 451 4.7.1 header
 * change failed, or ACT_CONTINUE).
 */
struct verdict patients_eom(struct pat_msg *pm, const struct rules_settings *rules,
                            const struct pl_store *store, const struct pl_mta *mta,
                            const struct msg_policy *mp, const char *qid);

/* The fields to append to the verdict line ("" when none). */
const char *patients_log(const struct pat_msg *pm);

#endif
