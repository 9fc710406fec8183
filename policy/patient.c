/*
 * patient.c - [FIN] closures, pharmacy mailboxes and the verdicts for
 * mail to and from patients (see patient.h for the rules; the body
 * emptiness probe lives in bodyprobe.c).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/text.h"
#include "policy/patient.h"
#include "policy/replies.h"
#include "policy/wildcard.h"

#define REPLY_ADDR_MAX 100   /* longest address quoted in a reply */

/* ------------------------------------------------------------------ */
/* [FIN] closures                                                       */
/* ------------------------------------------------------------------ */

/* Reply/forward markers mail clients put in front of a Subject, English
 * and French ("TR:" is Outlook's "transfert").  "fwd" before "fw". */
static const char *const subject_prefixes[] = { "re", "fwd", "fw", "tr" };

/* If S starts with a prefix and its colon, what follows; else NULL. */
static const char *skip_subject_prefix(const char *s)
{
    size_t i;

    for (i = 0; i < sizeof(subject_prefixes) / sizeof(subject_prefixes[0]); i++) {
        size_t n = strlen(subject_prefixes[i]);
        const char *t;

        if (strncasecmp(s, subject_prefixes[i], n) != 0)
            continue;
        t = text_skip_ws(s + n);
        if (*t == ':')
            return text_skip_ws(t + 1);
    }
    return NULL;
}

enum fin_kind patient_subject_fin(const char *subject)
{
    const char *s, *t;

    if (subject == NULL)
        return FIN_NONE;
    if (strcmp(subject, PATIENT_FIN_SUBJECT) == 0)
        return FIN_EXACT;
    s = text_skip_ws(subject);
    while ((t = skip_subject_prefix(s)) != NULL)
        s = t;
    if (*s != '[')
        return FIN_NONE;
    s = text_skip_ws(s + 1);
    if (strncasecmp(s, "fin", 3) != 0)
        return FIN_NONE;
    s = text_skip_ws(s + 3);
    if (*s != ']')
        return FIN_NONE;
    s = text_skip_ws(s + 1);
    return *s == '\0' ? FIN_VARIANT : FIN_NONE;
}

bool patient_mes_fin(const char *value)
{
    const char *s;

    if (value == NULL)
        return false;
    s = text_skip_ws(value);
    return strncasecmp(s, PATIENT_MES_FIN, 3) == 0 && *text_skip_ws(s + 3) == '\0';
}

const char *fin_kind_name(enum fin_kind k)
{
    switch (k) {
    case FIN_NONE:    return "none";
    case FIN_EXACT:   return "exact";
    case FIN_VARIANT: return "variant";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* Pharmacy mailboxes                                                   */
/* ------------------------------------------------------------------ */

/* Equal domains, ignoring case and one trailing dot on either side. */
static bool domain_eq(const char *a, const char *b)
{
    size_t alen = strlen(a), blen = strlen(b);

    if (alen > 0 && a[alen - 1] == '.')
        alen--;
    if (blen > 0 && b[blen - 1] == '.')
        blen--;
    return alen > 0 && alen == blen && strncasecmp(a, b, alen) == 0;
}

bool patient_pharmacy_entry_valid(const char *entry)
{
    const char *at, *s;

    if (entry == NULL || (at = strchr(entry, '@')) == NULL || strchr(at + 1, '@') != NULL)
        return false;
    if (at[1] == '\0' || at[1] == '.' || strcmp(at + 1, ".") == 0)
        return false;
    if (strchr(at + 1, '*') != NULL)
        return false;              /* wildcards in the local part only */
    for (s = entry; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (c <= ' ' || c == 0x7f || c == ',')
            return false;
    }
    return true;
}

bool patient_is_pharmacy(const char *const *entries, size_t n,
                         const char *local, const char *domain)
{
    size_t i;

    if (entries == NULL || local == NULL || domain == NULL)
        return false;
    for (i = 0; i < n; i++) {
        const char *e = entries[i], *at;
        size_t llen;

        if (e == NULL || (at = strrchr(e, '@')) == NULL || !domain_eq(at + 1, domain))
            continue;
        llen = (size_t)(at - e);
        if (llen == 0)
            return true;   /* "@domain": every mailbox there */
        if (wildcard_match(e, llen, local))
            return true;   /* the local part, '*' standing for any run */
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Replies                                                              */
/* ------------------------------------------------------------------ */

void patient_reply_bad_ins(struct verdict *v, const struct ins_result *r, const char *addr)
{
    char shown[REPLY_ADDR_MAX + 4];

    /* " <addr>" or nothing; the expected key never appears here. */
    if (addr != NULL && addr[0] != '\0')
        snprintf(shown, sizeof(shown), " <%.*s>", REPLY_ADDR_MAX, addr);
    else
        shown[0] = '\0';
    if (r->status == INS_BAD_KEY)
        reply_patient_ins_key(v, shown);
    else if (r->shape == INS_SHAPE_CHAR)
        reply_patient_ins_shape(v, shown, r->position, INS_LEN);
    else
        reply_patient_ins_shape(v, shown, 0, INS_LEN);
}

/* ------------------------------------------------------------------ */
/* Decisions                                                            */
/* ------------------------------------------------------------------ */

struct verdict patient_outbound_rcpt(const struct patient_policy *pp, const char *local,
                                     const char *addr, struct ins_result *ins)
{
    struct verdict v = verdict_continue();

    if (ins_check(local, ins) == INS_OK)
        return v;
    patient_reply_bad_ins(&v, ins, addr);
    if (pp != NULL && pp->ins_warn)
        v.action = ACT_CONTINUE;   /* rule and text stay set: logged, not sent */
    return v;
}

struct verdict patient_inbound_rcpt(bool pharmacy, int conv_open)
{
    struct verdict v = verdict_continue();

    if (pharmacy || conv_open == 1)
        return v;
    if (conv_open == 0)
        reply_patient_no_conversation(&v);
    else
        reply_conversation_unavailable(&v);   /* never refuse a patient on a guess */
    return v;
}

struct verdict patient_inbound_decide(const struct patient_policy *pp, bool pharmacy,
                                      int conv_open)
{
    struct verdict v = patient_inbound_rcpt(pharmacy, conv_open);

    if (pp != NULL && pp->inbound_log && v.rule == RULE_PATIENT_NO_CONVERSATION)
        v.action = ACT_CONTINUE;   /* rule and text stay set: logged, not sent */
    return v;
}

bool patient_closure_candidate(const struct patient_msg *m)
{
    return m->subject_fin != FIN_NONE || m->mes_fin;
}

struct verdict patient_outbound_eom(const struct patient_policy *pp,
                                    const struct patient_msg *m, struct patient_plan *plan)
{
    struct verdict v = verdict_continue();
    /* A closure whatever the body: the exact Subject, or the header. */
    bool declared = m->subject_fin == FIN_EXACT || m->mes_fin;

    memset(plan, 0, sizeof(*plan));
    if (!declared && m->subject_fin != FIN_VARIANT) {
        plan->op = PATOP_OPEN;
        plan->note = "ordinary message";
        return v;
    }
    if (m->body_empty) {
        plan->op = PATOP_CLOSE;
        if (m->subject_fin == FIN_VARIANT) {
            plan->rewrite_subject = true;
            plan->add_mes_header = !m->mes_fin;
            plan->note = "closure, subject rewritten to [FIN]";
        } else {
            plan->note = m->subject_fin == FIN_EXACT ? "closure" : "closure (X-MSS-MES: FIN)";
        }
        return v;
    }
    if (!declared) {
        /* "[fin]" with text is not a closure for the patient's operator
         * either: the patient reads it, nothing is lost. */
        plan->op = PATOP_OPEN;
        plan->note = "closure-like subject with content: ordinary message";
        return v;
    }
    if (pp != NULL && pp->fin_content_accept) {
        plan->op = PATOP_CLOSE;
        plan->content_lost = true;
        plan->note = "closure with content accepted (FinWithContent accept): content lost";
        return v;
    }
    plan->op = PATOP_NONE;
    plan->note = "closure with content refused";
    reply_fin_with_content(&v);
    return v;
}
