/*
 * trustspace.c - the trust-space rules applied to one message, step by step.
 *
 * The pipeline (pipeline/pipeline.c) feeds MAIL FROM, each RCPT TO, DATA
 * and end of message; each step answers a verdict.  See trustspace.h for
 * the rules.  Notes on the choices made here:
 *  - Inside or outside is fixed at MAIL FROM from what the milter knows of
 *    the client (AUTH, InternalHosts, local submission), never from the
 *    envelope: the attacker writes the envelope.  An inside client's mail
 *    to a non-local recipient is outbound whatever its sender (a foreign
 *    one, the null sender): treating it as inbound would let it mail health
 *    data to a classic address.
 *  - A sender in LocalDomains from the outside is a forgery unless the
 *    client proved to be another MTA of the same operator (a verified
 *    certificate CN listed for that domain); the mail it is then let
 *    through with is outbound too, as it always was: its non-local
 *    recipients must be MSSante.
 *  - Route addresses are refused, never judged: the policy cannot know
 *    where Postfix would deliver them.  The sender's route form is found at
 *    MAIL FROM but refused at RCPT, like every sender rule here.
 *  - The certificate rule's finding (mp->cert) is computed at MAIL FROM
 *    in every mode but off, so that log mode can say what enforce would
 *    have done.
 *  - Outbound classic recipients are not refused at RCPT: the whole message
 *    is refused at DATA so that a mixed list reaches nobody, and the bounce
 *    names the offenders, with a hint for each when one applies (a typo of
 *    a listed domain, the old Apicrypt, a .mssante.fr domain not on the
 *    list: policy/hints.h), looked for once per named offender, with the
 *    list in force at its RCPT.
 *  - Every step answers what the rules say, whoever the client is: that a
 *    local submission (non_smtpd_milters) may only be refused at end of
 *    message is the pipeline's business (pipeline/pipeline.c), as is
 *    holding it rather than deferring it when there is no whitelist.
 *  - Without a whitelist nothing can be decided: every step answers a
 *    temporary failure.
 * Nothing here allocates: the state is the caller's struct msg_policy.
 */
#include <string.h>

#include "policy/replies.h"
#include "policy/trustspace.h"

static bool whitelist_missing(const struct msg_policy *mp)
{
    return mp->env == NULL || mp->env->is_listed == NULL;
}

/* The "no whitelist" answer: nothing can be decided. */
static struct verdict no_whitelist(void)
{
    struct verdict v;

    reply_no_whitelist(&v);
    return v;
}

void msgpol_begin(struct msg_policy *mp, const struct policy_env *env,
                  const struct msg_client *client)
{
    memset(mp, 0, sizeof(*mp));
    mp->env = env;
    if (client != NULL) {
        mp->local_submission = client->local_submission;
        mp->authenticated = client->authenticated;
        mp->internal_host = client->internal_host;
        mp->cert_mode = client->cert_mode;
        if (client->cert_cn != NULL) {
            size_t len = strlen(client->cert_cn);

            mp->cert_cn_cut = len > MSG_CERT_CN_MAX;
            if (mp->cert_cn_cut)
                len = MSG_CERT_CN_MAX;
            memcpy(mp->cert_cn, client->cert_cn, len);
            mp->cert_cn[len] = '\0';
        }
        if (client->myhostname != NULL && strlen(client->myhostname) < sizeof(mp->myhostname)) {
            memcpy(mp->myhostname, client->myhostname, strlen(client->myhostname) + 1);
            if (!addr_normalize_domain(mp->myhostname))
                mp->myhostname[0] = '\0';
        }
    }
    mp->inside = mp->local_submission || mp->authenticated || mp->internal_host;
    mp->dir = mp->inside ? DIR_OUTBOUND : DIR_INBOUND;
    mp->sender_class = CLASS_INVALID;   /* until a valid MAIL FROM is seen */
}

/* Is the verified certificate's CN listed for DOMAIN (NULL: any domain)? */
static bool cn_listed(const struct msg_policy *mp, const char *domain)
{
    if (mp->cert_cn[0] == '\0' || mp->cert_cn_cut || mp->env == NULL
        || mp->env->is_cn_listed == NULL)
        return false;
    return mp->env->is_cn_listed(mp->env->lookup_ctx, domain, mp->cert_cn);
}

/* The certificate's finding for a check against DOMAIN (NULL: any). */
static enum cert_status judge_cn(const struct msg_policy *mp, const char *domain)
{
    if (mp->cert_cn[0] == '\0')
        return CERT_NONE;
    return cn_listed(mp, domain) ? CERT_OK : CERT_MISMATCH;
}

/*
 * The operator-certificate finding, for mail from the outside: always for
 * a sender of our own domains (the forgery rule holds in every mode);
 * with OperatorCertificate log or enforce, for a sender whose domain is
 * on the whitelist and for the null sender (whose CN may be any listed
 * operator's: a bounce has no domain to match).
 */
static enum cert_status judge_certificate(const struct msg_policy *mp)
{
    const struct mailaddr *s = &mp->sender;

    if (mp->inside || mp->sender_route)
        return CERT_NOT_CHECKED;
    if (mp->sender_valid && policy_is_local_domain(mp->env, s->domain))
        return judge_cn(mp, s->domain);
    if (mp->cert_mode == CERT_MODE_OFF)
        return CERT_NOT_CHECKED;
    if (mp->null_sender)
        return judge_cn(mp, NULL);
    if (mp->sender_valid && !s->domain_literal && !s->domain_idn_bad
        && mp->env->is_listed(mp->env->lookup_ctx, s->domain))
        return judge_cn(mp, s->domain);
    return CERT_NOT_CHECKED;
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

    /* Postfix's cleanup server hands the null sender of a local submission
     * (sendmail -f '<>') as "", the way Sendmail 8.13 did; smtpd always
     * brackets the argument, so "" can only be that. */
    if (raw != NULL && raw[0] == '\0')
        st = ADDR_NULL;

    mp->null_sender = (st == ADDR_NULL);
    mp->sender_valid = (st == ADDR_OK);
    mp->sender_class = CLASS_INVALID;
    mp->sender_route = false;
    mp->sender_route_why = NULL;
    mp->cert = CERT_NOT_CHECKED;
    if (st == ADDR_OK) {
        mp->sender_class = policy_classify(mp->env, &mp->sender, NULL);
        mp->sender_route = addr_route_form(&mp->sender, &mp->sender_route_why);
    }

    if (whitelist_missing(mp))
        return no_whitelist();
    if (st == ADDR_MALFORMED) {
        reply_bad_sender(&v, why);
        return v;
    }
    mp->cert = judge_certificate(mp);
    /* Another MTA of our operator, sending for one of our domains. */
    if (!mp->inside && mp->cert == CERT_OK && policy_is_local_domain(mp->env, mp->sender.domain))
        mp->dir = DIR_OUTBOUND;
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
    if (mp->n_offenders < MSG_MAX_OFFENDERS) {
        hint_for(mp->env, a, &mp->hints[mp->n_offenders]);
        memcpy(mp->offenders[mp->n_offenders++], buf, sizeof(buf));
    }
    mp->n_classic_total++;
}

/* The rules about the sender, for mail from the outside (see trustspace.h). */
static bool outside_sender_refused(struct msg_policy *mp, struct verdict *v)
{
    const struct mailaddr *s = &mp->sender;

    if (mp->inside)
        return false;
    if (mp->sender_valid && policy_is_local_domain(mp->env, s->domain)) {
        if (mp->cert == CERT_OK)
            return false;
        reply_own_domain_forged(v, s->domain);
        return true;
    }
    if (mp->cert_mode != CERT_MODE_ENFORCE)
        return false;
    if (mp->cert == CERT_NONE) {
        reply_operator_cert_missing(v, mp->null_sender ? NULL : s->domain);
        return true;
    }
    if (mp->cert == CERT_MISMATCH) {
        reply_operator_cert_mismatch(v, mp->null_sender ? NULL : s->domain, mp->cert_cn);
        return true;
    }
    return false;
}

/* A route address as sender, or as recipient A. */
static bool route_refused(struct msg_policy *mp, const struct mailaddr *a, struct verdict *v)
{
    char text[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];

    if (mp->sender_route) {
        reply_route_address(v, true, addr_format(&mp->sender, text, sizeof(text)));
        return true;
    }
    if (addr_route_form(a, NULL)) {
        reply_route_address(v, false, addr_format(a, text, sizeof(text)));
        return true;
    }
    return false;
}

bool msgpol_delivered_here(const struct msg_policy *mp, const struct mailaddr *a,
                           const char *rcpt_mailer)
{
    if (rcpt_mailer != NULL && rcpt_mailer[0] != '\0')
        return strcmp(rcpt_mailer, "local") == 0;
    if (a == NULL || a->domain_literal)
        return false;
    return strcmp(a->domain, "localhost") == 0
           || (mp->myhostname[0] != '\0' && strcmp(a->domain, mp->myhostname) == 0);
}

struct verdict msgpol_recipient(struct msg_policy *mp, const char *raw, const char *rcpt_mailer,
                                enum addr_class *cls, struct mailaddr *parsed)
{
    struct mailaddr local_addr, *a = parsed ? parsed : &local_addr;
    char text[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
    const char *why = NULL;
    enum addr_status st = addr_parse(raw, a, &why);
    enum addr_class c = CLASS_INVALID;
    struct verdict v;
    bool local_rcpt;

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
        return no_whitelist();
    if (st == ADDR_MALFORMED) {
        reply_bad_recipient(&v, why);
        return v;
    }
    if (route_refused(mp, a, &v) || outside_sender_refused(mp, &v))
        return v;
    local_rcpt = policy_is_local_domain(mp->env, a->domain);
    if (!local_rcpt && msgpol_delivered_here(mp, a, rcpt_mailer)) {
        /* A system mailbox of this machine (root@localhost): system mail
         * from a local submission; nobody's business from the outside. */
        if (!mp->inside) {
            reply_system_recipient(&v, addr_format(a, text, sizeof(text)));
            return v;
        }
        if (mp->local_submission)
            return verdict_continue();
    }
    if (mp->dir == DIR_OUTBOUND && c == CLASS_CLASSIC)
        note_offender(mp, a);
    /* Our own mailboxes, from inside or outside: the sender must be in the
     * trust space.  A patient sender is the patient rule's to decide
     * (pipeline/stage_patients.c: open conversation or pharmacy). */
    if (local_rcpt && !mp->null_sender && mp->sender_class != CLASS_MSSANTE
        && mp->sender_class != CLASS_PATIENT) {
        reply_inbound_sender(&v, mp->sender.domain);
        return v;
    }
    return verdict_continue();
}

struct verdict msgpol_data(struct msg_policy *mp)
{
    const char *names[MSG_MAX_OFFENDERS];
    struct verdict v;
    unsigned i;

    if (whitelist_missing(mp))
        return no_whitelist();
    if (mp->dir != DIR_OUTBOUND || mp->n_classic_total == 0)
        return verdict_continue();
    for (i = 0; i < mp->n_offenders; i++)
        names[i] = mp->offenders[i];
    reply_outbound_classic_hints(&v, names, mp->n_offenders, mp->n_classic_total, mp->hints,
                                 mp->n_offenders);
    return v;
}

struct verdict msgpol_end(struct msg_policy *mp)
{
    return whitelist_missing(mp) ? no_whitelist() : verdict_continue();
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

const char *cert_status_name(enum cert_status s)
{
    switch (s) {
    case CERT_NOT_CHECKED:
        return NULL;
    case CERT_OK:
        return "ok";
    case CERT_NONE:
        return "none";
    case CERT_MISMATCH:
        return "mismatch";
    }
    return NULL;
}
