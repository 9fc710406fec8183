/*
 * message.c - the trust-space rules applied to one message, step by step.
 *
 * The milter layer feeds MAIL FROM, each RCPT TO, DATA and end of message;
 * each step answers a verdict.  See message.h for the rules.  Notes on the
 * choices made here:
 *  - Direction is fixed at MAIL FROM: outbound when the sender's domain is
 *    one of our LocalDomains or the client authenticated (an authenticated
 *    client is one of our users even when it sends with a foreign or null
 *    envelope sender: treating it as inbound would let it mail health data
 *    to a classic address), inbound otherwise.
 *  - Outbound classic recipients are not refused at RCPT: the whole message
 *    is refused at DATA so that a mixed list reaches nobody, and the bounce
 *    names the offenders.
 *  - For local submission (non_smtpd_milters) every refusal is kept in
 *    mp->deferred and the step answers CONTINUE; msgpol_end returns it.  The
 *    first refusal wins: it is the one that explains the message's fate.
 *  - Without a whitelist nothing can be decided: SMTP mail is tempfailed at
 *    every step, local submissions are held (never lost, never let out).
 * Nothing here allocates: the state is the caller's struct msg_policy.
 */
#include <string.h>

#include "policy/message.h"
#include "policy/replies.h"

static struct verdict verdict_continue(void)
{
    struct verdict v;

    memset(&v, 0, sizeof(v));
    v.action = ACT_CONTINUE;
    return v;
}

static bool whitelist_missing(const struct msg_policy *mp)
{
    return mp->env == NULL || mp->env->is_listed == NULL;
}

/* Keep V for end of message unless an earlier refusal is already kept. */
static void defer(struct msg_policy *mp, const struct verdict *v, enum action a)
{
    if (mp->deferred.action != ACT_CONTINUE)
        return;
    mp->deferred = *v;
    mp->deferred.action = a;
}

/*
 * Answer with refusal V now (SMTP), or keep it for end of message and let
 * the step go on (local submission, where Postfix forbids refusing early).
 */
static struct verdict refuse(struct msg_policy *mp, const struct verdict *v)
{
    if (!mp->local_submission)
        return *v;
    defer(mp, v, v->action);
    return verdict_continue();
}

/* The "no whitelist" answer: tempfail over SMTP, hold a local submission. */
static struct verdict no_whitelist(struct msg_policy *mp)
{
    struct verdict v;

    reply_no_whitelist(&v);
    if (!mp->local_submission)
        return v;
    defer(mp, &v, ACT_HOLD);
    return verdict_continue();
}

void msgpol_begin(struct msg_policy *mp, const struct policy_env *env,
                  bool local_submission, bool authenticated)
{
    memset(mp, 0, sizeof(*mp));
    mp->env = env;
    mp->local_submission = local_submission;
    mp->authenticated = authenticated;
    mp->dir = DIR_INBOUND;
    mp->sender_class = CLASS_INVALID;   /* until a valid MAIL FROM is seen */
    mp->deferred = verdict_continue();
}

/*
 * sender_valid is true only for a real address; the null sender sets
 * null_sender instead.  sender_class stays CLASS_INVALID for both.
 */
struct verdict msgpol_sender(struct msg_policy *mp, const char *raw)
{
    const char *why = NULL;
    enum addr_status st = addr_parse(raw, &mp->sender, &why);
    struct verdict v;

    mp->null_sender = (st == ADDR_NULL);
    mp->sender_valid = (st == ADDR_OK);
    mp->sender_class = CLASS_INVALID;
    if (st == ADDR_OK) {
        mp->sender_class = policy_classify(mp->env, &mp->sender, NULL);
        mp->dir = (mp->authenticated || policy_is_local_domain(mp->env, mp->sender.domain))
                  ? DIR_OUTBOUND : DIR_INBOUND;
    } else {
        mp->dir = mp->authenticated ? DIR_OUTBOUND : DIR_INBOUND;
    }

    if (whitelist_missing(mp))
        return no_whitelist(mp);
    if (st == ADDR_MALFORMED) {
        reply_bad_sender(&v, why);
        return refuse(mp, &v);
    }
    return verdict_continue();
}

/* Remember an outbound classic recipient for the DATA refusal. */
static void note_offender(struct msg_policy *mp, const struct mailaddr *a)
{
    char buf[sizeof(mp->offenders[0])];
    unsigned i;

    addr_format(a, buf, sizeof(buf));
    /* The same address given twice is one offender, not two. */
    for (i = 0; i < mp->n_offenders; i++) {
        if (strcmp(mp->offenders[i], buf) == 0)
            return;
    }
    if (mp->n_offenders < MSG_MAX_OFFENDERS)
        memcpy(mp->offenders[mp->n_offenders++], buf, sizeof(buf));
    mp->n_classic_total++;
}

struct verdict msgpol_recipient(struct msg_policy *mp, const char *raw,
                                enum addr_class *cls, struct mailaddr *parsed)
{
    struct mailaddr local_addr, *a = parsed ? parsed : &local_addr;
    const char *why = NULL;
    enum addr_status st = addr_parse(raw, a, &why);
    enum addr_class c = CLASS_INVALID;
    struct verdict v;

    mp->n_rcpt++;
    if (st == ADDR_NULL) {
        st = ADDR_MALFORMED;
        why = "the null address <> is not a recipient";
    }
    if (st == ADDR_OK)
        c = policy_classify(mp->env, a, NULL);
    if (cls)
        *cls = c;

    if (whitelist_missing(mp))
        return no_whitelist(mp);
    if (st == ADDR_MALFORMED) {
        reply_bad_recipient(&v, why);
        return refuse(mp, &v);
    }
    if (mp->dir == DIR_OUTBOUND) {
        if (c == CLASS_CLASSIC)
            note_offender(mp, a);
        return verdict_continue();
    }
    /* Inbound: only mail for our own mailboxes is ours to judge.  A
     * patient sender is the patient rule's to decide (milter/patients.c:
     * open conversation or pharmacy), not a trust-space refusal. */
    if (policy_is_local_domain(mp->env, a->domain) && !mp->null_sender
        && mp->sender_class != CLASS_MSSANTE && mp->sender_class != CLASS_PATIENT) {
        reply_inbound_sender(&v, mp->sender.domain);
        return refuse(mp, &v);
    }
    return verdict_continue();
}

struct verdict msgpol_data(struct msg_policy *mp)
{
    const char *names[MSG_MAX_OFFENDERS];
    struct verdict v;
    unsigned i;

    if (whitelist_missing(mp))
        return no_whitelist(mp);
    if (mp->dir != DIR_OUTBOUND || mp->n_classic_total == 0)
        return verdict_continue();
    for (i = 0; i < mp->n_offenders; i++)
        names[i] = mp->offenders[i];
    reply_outbound_classic(&v, names, mp->n_offenders, mp->n_classic_total);
    return refuse(mp, &v);
}

struct verdict msgpol_end(struct msg_policy *mp)
{
    if (whitelist_missing(mp)) {
        struct verdict v = no_whitelist(mp);    /* SMTP: tempfail; local: kept as HOLD */

        if (v.action != ACT_CONTINUE)
            return v;
    }
    if (mp->deferred.action != ACT_CONTINUE)
        return mp->deferred;
    return verdict_continue();
}

const char *direction_name(enum direction d)
{
    switch (d) {
    case DIR_INBOUND:
        return "inbound";
    case DIR_OUTBOUND:
        return "outbound";
    }
    return "unknown";
}

const char *action_name(enum action a)
{
    switch (a) {
    case ACT_CONTINUE:
        return "accept";
    case ACT_REJECT:
        return "reject";
    case ACT_TEMPFAIL:
        return "tempfail";
    case ACT_HOLD:
        return "hold";
    }
    return "unknown";
}
