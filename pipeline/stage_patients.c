/*
 * stage_patients.c - the patient stage of the pipeline: what the MTA hands
 * over goes to policy/patient.c for a decision and to the store (the
 * conversations in Redis, pipeline/ports.h) for the state; a closure's
 * header changes go to the MTA (see stage_patients.h for the steps).
 *
 * Notes on the choices made here:
 *  - The patient's id is the INS matricule as ins_check() normalises it
 *    ("2a" -> "2A"); only PatientKeyCheck warn lets a malformed one
 *    through, and then the local part as given is the id, so that the
 *    patient's reply from that same address finds the conversation.
 *  - Only a valid envelope sender can own a conversation: an outbound
 *    message with the null sender (an authenticated client's DSN) to a
 *    patient is checked (matricule, and a [FIN] with content is refused
 *    like any other), but records nothing and is not rewritten.
 *  - The state is written last, by patients_commit(), which the pipeline
 *    calls once the message's fate is final (every stage let it through):
 *    a [FIN] that a later step answers 451 must not lock the patient out
 *    with a message Postfix then retries.  The header changes of a closure
 *    are asked before that; a failure to record answers 451, and Postfix
 *    then discards them.  A closure is never accepted unless every
 *    conversation was recorded.  conv_close is idempotent per queue id, so
 *    running the whole batch again after a failure part-way (the store's
 *    retry on a fresh connection) records no closure twice.
 *  - Under DryRun the state is still recorded (so that it is right on the
 *    day DryRun is switched off), but the message is not rewritten.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/logid.h"
#include "common/text.h"
#include "pipeline/stage.h"
#include "pipeline/stage_patients.h"
#include "policy/replies.h"

#define MAILBOX_MAX (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2)

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static struct patient_policy policy_of(const struct rules_settings *rules)
{
    struct patient_policy pp;

    memset(&pp, 0, sizeof(pp));
    pp.ins_warn = rules->patient_key_warn;
    pp.fin_content_accept = rules->fin_content_accept;
    pp.inbound_log = rules->patient_inbound_log;
    pp.pharmacies = (const char *const *)rules->pharmacy_mailboxes.v;
    pp.n_pharmacies = rules->pharmacy_mailboxes.n;
    return pp;
}

/* Append " FMT..." to the verdict line fields; past the room, count it. */
static void add_log(struct pat_msg *pm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_log(struct pat_msg *pm, const char *fmt, ...)
{
    size_t room = sizeof(pm->log) - pm->log_len;
    va_list ap;
    int n;

    /* Keep room for " +N more". */
    if (room <= 32) {
        pm->log_more++;
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(pm->log + pm->log_len, room - 32, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room - 32) {
        pm->log[pm->log_len] = '\0';
        pm->log_more++;
        return;
    }
    pm->log_len += (size_t)n;
}

/* Log text from the network: no spaces, quotes or control characters. */
static void safe_copy(char *dst, size_t size, const char *src)
{
    size_t i;

    for (i = 0; src[i] != '\0' && i + 1 < size; i++) {
        unsigned char ch = (unsigned char)src[i];

        dst[i] = (ch <= 0x20 || ch >= 0x7f || ch == '"') ? '?' : (char)ch;
    }
    dst[i] = '\0';
}

/*
 * The conversation id of the patient whose local part is LOCAL, given the
 * INS check's result R: the normalised matricule, or (malformed, warn
 * mode only) the local part itself.  -1 when it does not fit.
 */
static int patient_id(const char *local, const struct ins_result *r, char *out, size_t size)
{
    const char *id = r->status == INS_BAD_SHAPE ? local : r->normalized;

    if (id[0] == '\0' || strlen(id) >= size || strlen(id) > PAT_ID_MAX)
        return -1;
    memcpy(out, id, strlen(id) + 1);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Set-up                                                               */
/* ------------------------------------------------------------------ */

const char *patients_config_warning(bool redis)
{
    if (redis)
        return NULL;
    return "Redis is not configured: patient conversations cannot be recorded, so mail "
           "to patients, and from patients except to PharmacyMailboxes, is deferred "
           "(451 4.3.0)";
}

/* ------------------------------------------------------------------ */
/* RCPT                                                                 */
/* ------------------------------------------------------------------ */

void patients_reset(struct pat_msg *pm)
{
    /* The big buffers are only read up to what the counters say. */
    pm->active = false;
    pm->n_patients = 0;
    pm->n_subjects = 0;
    pm->variant_subjects = 0;
    pm->subject_fin = FIN_NONE;
    pm->mes_fin = false;
    pm->n_ctypes = 0;
    pm->ctype[0] = '\0';
    pm->doubt = false;
    pm->doubt_why = NULL;
    pm->probing = false;
    pm->op = PATOP_NONE;
    pm->op_note = NULL;
    pm->log[0] = '\0';
    pm->log_len = 0;
    pm->log_more = 0;
}

/* Remember patient ID for end of message (once, however often given). */
static struct verdict remember_patient(struct pat_msg *pm, const char *id)
{
    struct verdict v = verdict_continue();
    unsigned i;

    for (i = 0; i < pm->n_patients; i++)
        if (strcasecmp(pm->patients[i], id) == 0)
            return v;
    if (pm->n_patients == PAT_MAX_PATIENTS) {
        reply_patient_too_many(&v);
        return v;
    }
    snprintf(pm->patients[pm->n_patients++], sizeof(pm->patients[0]), "%s", id);
    pm->active = true;
    return v;
}

/* A recipient in PatientDomain, whatever the direction. */
static struct verdict to_patient(struct pat_msg *pm, const struct rules_settings *rules,
                                 const struct pl_store *store,
                                 const struct msg_policy *mp, const struct mailaddr *rcpt,
                                 const char *qid)
{
    struct patient_policy pp = policy_of(rules);
    char addr[MAILBOX_MAX], safe[MAILBOX_MAX], shown[LOGID_MAX + MAILBOX_MAX];
    char id[PAT_ID_MAX + 1];
    struct ins_result ins;
    struct verdict v;

    addr_format(rcpt, addr, sizeof(addr));
    safe_copy(safe, sizeof(safe), addr);
    pl_log_patients(shown, sizeof(shown), safe, rules->patient_domain);
    v = patient_outbound_rcpt(&pp, rcpt->local, addr, &ins);
    /* On the verdict line, which names the address (rcpt=) and the reply:
     * one line for a refused patient address, never the expected key. */
    if (ins.status != INS_OK) {
        char pid[LOGID_MAX];

        logid_format(rcpt->local, pid, sizeof(pid));
        add_log(pm, " ins=%s:%s%s", pid, ins_status_name(ins.status),
                v.action != ACT_CONTINUE ? "" : ":accepted");
    }
    if (v.action != ACT_CONTINUE)
        return v;
    if (mp->dir != DIR_OUTBOUND)
        return verdict_continue();
    /* Only a local mailbox writing to the patient owns a conversation; but
     * the [FIN] rules apply whatever the envelope sender: the patient's
     * operator discards a closure's content all the same. */
    if (!mp->sender_valid) {
        pm->active = true;
        return verdict_continue();
    }
    if (patient_id(rcpt->local, &ins, id, sizeof(id)) < 0) {
        patient_reply_bad_ins(&v, &ins, addr);   /* longer than any local part may be */
        return v;
    }
    if (store == NULL || store->conv_record == NULL) {
        log_warning("%s: message to patient <%s> deferred: Redis is not configured, "
                    "the conversation cannot be recorded", pl_qid(qid), shown);
        reply_conversation_unavailable(&v);
        return v;
    }
    return remember_patient(pm, id);
}

/* A patient writing to local mailbox RCPT: pharmacy, or open conversation
 * (PatientInbound log: admitted without one, logged, and the verdict
 * carries the refusal it escaped, for the line's would=). */
static struct verdict from_patient(struct pat_msg *pm, const struct rules_settings *rules,
                                   const struct pl_store *store,
                                   const struct msg_policy *mp, const struct mailaddr *rcpt,
                                   const char *qid)
{
    struct err err;
    char mailbox[MAILBOX_MAX], shown[MAILBOX_MAX], id[PAT_ID_MAX + 1];
    struct patient_policy pp = policy_of(rules);
    struct ins_result ins;
    struct verdict v;
    bool pharmacy;
    int open = 0;

    addr_format(rcpt, mailbox, sizeof(mailbox));
    safe_copy(shown, sizeof(shown), mailbox);
    pharmacy = patient_is_pharmacy((const char *const *)rules->pharmacy_mailboxes.v,
                                   rules->pharmacy_mailboxes.n, rcpt->local, rcpt->domain);
    if (pharmacy) {
        add_log(pm, " conv=pharmacy:<%s>", shown);
        return patient_inbound_rcpt(true, 0);
    }
    (void)ins_check(mp->sender.local, &ins);
    if (patient_id(mp->sender.local, &ins, id, sizeof(id)) < 0) {
        open = 0;   /* no such conversation can exist */
    } else if (store == NULL || store->conv_is_open == NULL) {
        log_warning("%s: patient message to <%s> deferred: Redis is not configured, "
                    "the conversation cannot be checked", pl_qid(qid), shown);
        open = -1;
    } else {
        open = store->conv_is_open(store->arg, mailbox, id, &err);
        if (open < 0)
            log_error("%s: conversation state for <%s>: %s", pl_qid(qid), shown, err.msg);
    }
    if (open == 1)
        add_log(pm, " conv=reply:<%s>", shown);
    v = patient_inbound_decide(&pp, false, open);
    if (v.action == ACT_CONTINUE && v.rule == RULE_PATIENT_NO_CONVERSATION) {
        char who[PAT_ID_MAX + 1];

        safe_copy(who, sizeof(who), mp->sender.local);
        add_log(pm, " conv=unsolicited:<%s>", shown);
        log_notice("%s: patient %s wrote to <%s> without an open conversation: admitted "
                   "(PatientInbound log)", pl_qid(qid), who, shown);
    }
    return v;
}

struct verdict patients_rcpt(struct pat_msg *pm, const struct rules_settings *rules,
                             const struct pl_store *store,
                             const struct msg_policy *mp, const struct mailaddr *rcpt,
                             enum addr_class cls, const char *qid)
{
    if (rules == NULL || rcpt == NULL)
        return verdict_continue();
    if (cls == CLASS_PATIENT)
        return to_patient(pm, rules, store, mp, rcpt, qid);
    /* From inside or outside alike (issue 10): the client's side never
     * lets a patient start a conversation. */
    if (mp->sender_valid && mp->sender_class == CLASS_PATIENT && cls != CLASS_INVALID
        && strlist_contains(&rules->local_domains, rcpt->domain))
        return from_patient(pm, rules, store, mp, rcpt, qid);
    return verdict_continue();
}

/* ------------------------------------------------------------------ */
/* Headers and body                                                     */
/* ------------------------------------------------------------------ */

static void doubt(struct pat_msg *pm, const char *why)
{
    if (!pm->doubt) {
        pm->doubt = true;
        pm->doubt_why = why;
    }
}

/* A top-level Content-Disposition other than a plain "inline" makes the
 * whole message a file: content, for a closure. */
static bool plain_inline(const char *value)
{
    const char *s = text_skip_ws(value);

    return strncasecmp(s, "inline", 6) == 0 && text_is_blank(s + 6);
}

static void subject_header(struct pat_msg *pm, const char *value)
{
    enum fin_kind k = patient_subject_fin(value);
    unsigned idx = pm->n_subjects++;

    if (k == FIN_EXACT || (k == FIN_VARIANT && pm->subject_fin == FIN_NONE))
        pm->subject_fin = k;
    if (k != FIN_VARIANT)
        return;
    if (idx < PAT_MAX_SUBJECTS)
        pm->variant_subjects |= (uint32_t)1 << idx;
    else
        doubt(pm, "too many Subject headers to rewrite");
}

void patients_header(struct pat_msg *pm, const char *name, const char *value)
{
    if (!pm->active || name == NULL || value == NULL)
        return;
    if (strcasecmp(name, "Subject") == 0) {
        subject_header(pm, value);
    } else if (strcasecmp(name, PATIENT_MES_HEADER) == 0) {
        if (patient_mes_fin(value))
            pm->mes_fin = true;
    } else if (strcasecmp(name, "Content-Type") == 0) {
        /* Two of them: which one the reader obeys is anyone's guess. */
        if (pm->n_ctypes++ > 0)
            doubt(pm, "two Content-Type headers");
        else if (strlen(value) >= sizeof(pm->ctype))
            doubt(pm, "Content-Type header too long to check");
        else
            snprintf(pm->ctype, sizeof(pm->ctype), "%s", value);
    } else if (strcasecmp(name, "Content-Disposition") == 0) {
        if (!plain_inline(value))
            doubt(pm, "the message is an attachment");
    }
}

void patients_eoh(struct pat_msg *pm)
{
    struct patient_msg m;

    pm->probing = false;
    if (!pm->active)
        return;
    memset(&m, 0, sizeof(m));
    m.subject_fin = pm->subject_fin;
    m.mes_fin = pm->mes_fin;
    if (!patient_closure_candidate(&m))
        return;
    body_probe_init(&pm->probe, pm->n_ctypes == 1 && !pm->doubt ? pm->ctype : NULL);
    pm->probing = true;
}

bool patients_body(struct pat_msg *pm, const void *buf, size_t len)
{
    if (!pm->probing || pm->doubt)
        return false;
    body_probe_feed(&pm->probe, buf, len);
    /* Once content is found nothing that follows can make it empty. */
    return body_probe_why(&pm->probe) == NULL;
}

/* ------------------------------------------------------------------ */
/* End of message                                                       */
/* ------------------------------------------------------------------ */

/* Write the plan's state for every patient; -1 after logging why. */
static int record(struct pat_msg *pm, const struct rules_settings *rules,
                  const struct pl_store *store, enum patient_op op,
                  const struct msg_policy *mp, const char *qid)
{
    const char *ids[PAT_MAX_PATIENTS];
    int result[PAT_MAX_PATIENTS];
    struct err err;
    char mailbox[MAILBOX_MAX], shown[MAILBOX_MAX];
    unsigned i;

    addr_format(&mp->sender, mailbox, sizeof(mailbox));
    for (i = 0; i < pm->n_patients; i++)
        ids[i] = pm->patients[i];
    err_set(&err, "Redis is not configured");
    /* Safe to run twice: refreshes, and closures idempotent per queue id. */
    if (store == NULL || store->conv_record == NULL
        || store->conv_record(store->arg, op == PATOP_CLOSE, mailbox, ids, pm->n_patients, qid,
                           (long long)time(NULL), rules->conversation_ttl, result, &err) < 0) {
        safe_copy(shown, sizeof(shown), mailbox);
        log_error("%s: conversation state of <%s> not recorded: %s", pl_qid(qid),
                  shown, err.msg);
        return -1;
    }
    for (i = 0; i < pm->n_patients; i++) {
        const char *what = op == PATOP_CLOSE ? (result[i] ? "close" : "close-again")
                                             : (result[i] ? "open" : "refresh");
        char id[LOGID_MAX];

        logid_format(pm->patients[i], id, sizeof(id));
        add_log(pm, " conv=%s:%s", what, id);
    }
    return 0;
}

/* A closure: each [FIN] variant Subject becomes exactly "[FIN]", and the
 * message says so in X-MSS-MES when it did not already. */
static int rewrite(const struct pl_mta *mta, struct pat_msg *pm, const struct patient_plan *plan,
                   const char *qid)
{
    bool add = plan->add_mes_header;
    unsigned i;

    for (i = 0; i < PAT_MAX_SUBJECTS && i < pm->n_subjects; i++) {
        if (!(pm->variant_subjects & ((uint32_t)1 << i)))
            continue;
        if (mta->change_header(mta->ctx, "Subject", (int)(i + 1), PATIENT_FIN_SUBJECT) < 0) {
            log_error("%s: cannot rewrite Subject header #%u", pl_qid(qid), i + 1);
            return -1;
        }
        add = add || !pm->mes_fin;
    }
    if (add && mta->add_header(mta->ctx, PATIENT_MES_HEADER, PATIENT_MES_FIN) < 0) {
        log_error("%s: cannot add the %s header", pl_qid(qid), PATIENT_MES_HEADER);
        return -1;
    }
    return 0;
}

/* Say what the [FIN] rules made of the message, on its verdict line. */
static struct verdict noted(struct pat_msg *pm, const char *note, struct verdict v)
{
    if (note != NULL)
        add_log(pm, " patient=\"%s\"", note);
    return v;
}

static void log_content(const struct pat_msg *pm, const char *qid)
{
    const char *why = pm->doubt ? pm->doubt_why
                      : pm->probing ? body_probe_why(&pm->probe) : NULL;

    log_info("%s: closure-like message with content: %s", pl_qid(qid),
             why != NULL ? why : "body not read");
}

struct verdict patients_eom(struct pat_msg *pm, const struct rules_settings *rules,
                            const struct pl_mta *mta, const char *qid)
{
    struct patient_policy pp;
    struct patient_plan plan;
    struct patient_msg m;
    struct verdict v;

    if (rules == NULL || !pm->active)
        return verdict_continue();
    pp = policy_of(rules);
    memset(&m, 0, sizeof(m));
    m.subject_fin = pm->subject_fin;
    m.mes_fin = pm->mes_fin;
    m.body_empty = pm->probing && !pm->doubt && body_probe_empty(&pm->probe);
    v = patient_outbound_eom(&pp, &m, &plan);
    if (patient_closure_candidate(&m) && !m.body_empty)
        log_content(pm, qid);
    if (v.action != ACT_CONTINUE || plan.op == PATOP_NONE)
        return noted(pm, plan.note, v);
    if (pm->n_patients == 0)          /* the null sender: no conversation to record */
        return noted(pm, "no mailbox to record a conversation for", v);
    if (plan.op == PATOP_CLOSE && (plan.rewrite_subject || pm->variant_subjects != 0)
        && !rules->dry_run && rewrite(mta, pm, &plan, qid) < 0) {
        reply_internal(&v);
        return noted(pm, plan.note, v);
    }
    /* What patients_commit() records, and says on the verdict line. */
    pm->op = plan.op;
    pm->op_note = plan.note;
    if (plan.op == PATOP_CLOSE && (plan.rewrite_subject || pm->variant_subjects != 0)) {
        /* DryRun records the closure but leaves the message as it was sent. */
        if (rules->dry_run)
            pm->op_note = "closure, subject not rewritten (DryRun)";
        else if (!plan.rewrite_subject && !plan.content_lost)
            pm->op_note = "closure, subject rewritten to [FIN]";
    }
    return v;
}

struct verdict patients_commit(struct pat_msg *pm, const struct rules_settings *rules,
                               const struct pl_store *store, const struct msg_policy *mp,
                               const char *qid)
{
    struct verdict v = verdict_continue();
    enum patient_op op = pm->op;

    if (op == PATOP_NONE)
        return v;
    pm->op = PATOP_NONE;
    if (record(pm, rules, store, op, mp, qid) < 0)
        reply_conversation_unavailable(&v);
    return noted(pm, pm->op_note, v);
}

void patients_forget(struct pat_msg *pm)
{
    if (pm->op == PATOP_NONE)
        return;
    pm->op = PATOP_NONE;
    add_log(pm, " conv=not-recorded");
    (void)noted(pm, pm->op_note, verdict_continue());
}

const char *patients_log(const struct pat_msg *pm)
{
    static _Thread_local char buf[PAT_LOG_MAX + 32];

    if (pm->log_more == 0)
        return pm->log;
    snprintf(buf, sizeof(buf), "%s +%u more", pm->log, pm->log_more);
    return buf;
}
