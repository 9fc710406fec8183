/*
 * pipeline.c - one message's fate, step by step (see pipeline.h for the
 * stages and what this core decides).
 *
 * Follow one message down this file: pl_connect() says which side the
 * client is on; pl_mail() starts the transaction and asks the trust-space
 * rules about the sender; pl_rcpt() asks them, then the patient stage,
 * about each recipient, and records it for forwarding; pl_data() asks the
 * trust-space rules about the whole envelope, and accepts there a message
 * that nothing after DATA can change (EarlyAccept: pipeline/early.h), its
 * verdict line written then; the headers and the body of the others go
 * to the patient stage; pl_eom() takes what was kept for end of message,
 * lets forwarding replace the refusal it replaces, runs the patient and
 * forwarding stages, and answers.  Every answer goes through answer_for()
 * (DryRun, and the deferral of local submissions and holds), and every
 * transaction ends in exactly one verdict line (pl_log_message(); what
 * the line shows, and the text that goes into it: pipeline/verdict_log.h).
 *
 * Exactly one info line is logged per message: at end of message (or at
 * DATA for a message accepted early), at a
 * refusal that ends the transaction (MAIL, DATA, end of message), or when
 * the transaction ends otherwise (abort, disconnect).  A refusal at RCPT
 * only removes that recipient, so it is written into the line at the end.
 * The message is counted (stats/stats.h) where that line is written.
 *
 * Internal errors answer 451 4.7.1: a milter that cannot decide must not
 * let mail through.
 *
 * DIAGNOSTICS: the verdict line at info level (written by verdict_log.c
 * when this file says); internal errors at error level ("internal error:
 * ..."); a header or quarantine the MTA refused at warning or error
 * level, with the queue id.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/cidr.h"
#include "common/log.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage.h"
#include "pipeline/verdict_log.h"
#include "stats/stats.h"

enum step { STEP_MAIL, STEP_RCPT, STEP_DATA, STEP_EOM };

/* ---- the queue id ----------------------------------------------------------- */

void pl_queue_id(struct pl_conn *c, const char *id)
{
    if (c != NULL && id != NULL && id[0] != '\0')
        pl_log_field(c->msg.queue_id, sizeof(c->msg.queue_id), id);
}

/* ---- answers ------------------------------------------------------------------ */

static struct pl_answer answer(enum pl_code code)
{
    struct pl_answer a;

    memset(&a, 0, sizeof(a));
    a.code = code;
    return a;
}

static struct pl_answer refuse_with(const struct verdict *v)
{
    struct pl_answer a = answer(v->action == ACT_REJECT ? PL_REJECT : PL_TEMPFAIL);

    a.reply = *v;
    return a;
}

struct pl_answer pl_internal_error(struct pl_conn *c, const char *what)
{
    struct verdict v;

    log_error("internal error: %s", what);
    reply_internal(&v);
    if (c != NULL && c->msg.in_txn)
        pl_log_message(c, &v);
    return refuse_with(&v);
}

/* The daemon is stopping (SIGTERM): new sessions and new messages are
 * deferred, so that the messages in flight can finish. */
static struct pl_answer refuse_stopping(struct pl_conn *c)
{
    struct verdict v;

    reply_shutting_down(&v);
    if (c != NULL && c->msg.in_txn)
        pl_log_message(c, &v);
    return refuse_with(&v);
}

static bool stopping(const struct pl_services *svc)
{
    return svc->stopping != NULL && svc->stopping();
}

/*
 * A trust-space verdict before end of message.  Postfix forbids refusing
 * the emulated steps of a local submission: the first such refusal is
 * kept for end of message (without a whitelist, as a hold: never lost,
 * never let out) and the step goes on, whatever DryRun says.
 */
static struct verdict trust_step(struct pl_conn *c, struct verdict v)
{
    if (!c->local_submission || !pl_refusal(v.action))
        return v;
    if (!pl_refusal(c->msg.kept_trust.action)) {
        c->msg.kept_trust = v;
        if (v.rule == RULE_NO_WHITELIST)
            c->msg.kept_trust.action = ACT_HOLD;
    }
    return verdict_continue();
}

/*
 * The answer to a step's verdict V; *REFUSED says whether it refuses
 * (RCPT: only that recipient).  DryRun never refuses: the first verdict
 * that would have applied is remembered, as is a rule a log-only mode
 * let through (a verdict with a rule and no refusal).  Before end of message, a
 * refusal of a local submission (any stage's) and a hold are kept for it.
 * A refusal that ends the transaction writes its verdict line.
 */
static struct pl_answer answer_for(struct pl_conn *c, const struct verdict *v, enum step step,
                                   bool *refused)
{
    struct pl_msg *m = &c->msg;

    *refused = false;
    if (!pl_refusal(v->action)) {
        /* A rule that applied in a mode that only logs it (PatientInbound
         * log): said as would= on the line, counted, never refused. */
        if (v->rule != RULE_NONE && !m->have_would) {
            m->would = *v;
            m->would.action = rule_action(v->rule);
            m->have_would = true;
        }
        return answer(PL_CONTINUE);
    }
    if (c->rules->dry_run) {
        if (!m->have_would) {
            m->would = *v;
            m->have_would = true;
        }
        return answer(PL_CONTINUE);
    }
    if (step != STEP_EOM && (c->local_submission || v->action == ACT_HOLD)) {
        if (!pl_refusal(m->kept.action))
            m->kept = *v;
        return answer(PL_CONTINUE);
    }
    if (v->action == ACT_HOLD)
        return answer(PL_CONTINUE);   /* handled by pl_eom() */
    *refused = true;
    if (step == STEP_RCPT) {
        if (!m->rcpt_refused) {
            m->rcpt_refusal = *v;
            m->rcpt_refused = true;
        }
    } else {
        pl_log_message(c, v);
    }
    return refuse_with(v);
}

/* ---- the list in force around a step ------------------------------------------ */

static void env_enter(struct pl_conn *c)
{
    c->svc->lists.enter(c->svc->lists.arg, &c->env);
}

static void env_leave(struct pl_conn *c)
{
    c->svc->lists.leave(c->svc->lists.arg, &c->env);
}

/* ---- connect ---------------------------------------------------------------------- */

/*
 * How local submission is recognised.  For mail from sendmail(1), Postfix's
 * cleanup server runs non_smtpd_milters with an emulated connect event:
 * client name "localhost", address 127.0.0.1 (::1 without IPv4) and port 0.
 * A real SMTP client always has a non-zero source port, even from the
 * loopback.  Checked against Postfix 3.7 by sending with "sendmail -C DIR"
 * through a private instance: the milter sees localhost/127.0.0.1 port 0,
 * while swaks through smtpd on 127.0.0.1 shows "localhost" too but a real
 * port, so the port is the deciding test.
 */
static bool is_local_submission(const char *hostname, const struct sockaddr *sa)
{
    if (sa == NULL || hostname == NULL || strcmp(hostname, "localhost") != 0)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        return sin->sin_port == 0 && ntohl(sin->sin_addr.s_addr) == INADDR_LOOPBACK;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        return sin6->sin6_port == 0 && IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr);
    }
    return false;
}


struct pl_answer pl_connect(struct pl_conn *c, const struct pl_services *svc,
                            const struct rules_settings *rules, bool debug,
                            const char *hostname, const struct sockaddr *sa,
                            const char *myhostname)
{
    if (stopping(svc))
        return refuse_stopping(NULL);
    memset(c, 0, sizeof(*c));
    c->svc = svc;
    c->rules = rules;
    c->debug = debug;
    c->local_submission = is_local_submission(hostname, sa);
    c->internal_host = !c->local_submission
                       && cidr_list_match_sockaddr(&rules->internal_hosts, sa);
    pl_log_field(c->myhostname, sizeof(c->myhostname), myhostname);
    pl_format_client(c->client, sizeof(c->client), sa);
    rules_policy_env(rules, &c->env);
    stats_connection_open();
    if (debug) {
        char addr[INET6_ADDRSTRLEN + 16];

        pl_describe_peer(addr, sizeof(addr), sa);
        log_debug("connect from %s%s%s", hostname ? hostname : "unknown", addr,
                  c->local_submission ? " (local submission)"
                  : c->internal_host ? " (InternalHosts)" : "");
    }
    return answer(PL_CONTINUE);
}

/* ---- MAIL, RCPT, DATA ------------------------------------------------------------ */

static void reset_message(struct pl_msg *m)
{
    m->in_txn = false;
    m->queue_id[0] = '\0';
    m->sender[0] = '\0';
    m->sender_u[0] = '\0';
    m->rcpts[0] = '\0';
    m->rcpts_len = 0;
    m->n_rcpt_logged = m->n_rcpt_more = m->n_rcpt_ok = m->n_rcpt_local = 0;
    m->n_rcpt_patient = 0;
    m->n_headers = 0;
    m->rcpt_refused = m->have_would = false;
    m->kept_trust = verdict_continue();
    m->kept = verdict_continue();
    m->cert_issuer[0] = '\0';
    patients_reset(&m->pat);
    forwarding_reset(&m->fwd);
    held_reset(&m->held);
}

struct pl_answer pl_mail(struct pl_conn *c, const struct pl_mail_in *in)
{
    struct pl_msg *m = &c->msg;
    struct msg_client client;
    struct verdict v;
    bool refused;

    pl_log_unfinished(c);
    reset_message(m);
    pl_queue_id(c, in->queue_id);
    m->in_txn = true;
    m->started = stats_message_begin();
    memset(&client, 0, sizeof(client));
    client.local_submission = c->local_submission;
    client.internal_host = c->internal_host;
    client.authenticated = in->auth_authen != NULL && in->auth_authen[0] != '\0';
    client.cert_cn = in->cert_subject;
    client.cert_mode = c->rules->operator_certificate;
    client.myhostname = c->myhostname;
    pl_copy_quoted(m->cert_issuer, sizeof(m->cert_issuer), in->cert_issuer);

    env_enter(c);
    msgpol_begin(&m->mp, &c->env, &client);
    v = msgpol_sender(&m->mp, in->arg);
    env_leave(c);

    pl_format_addr(m->sender, sizeof(m->sender),
                m->mp.sender_valid ? ADDR_OK : m->mp.null_sender ? ADDR_NULL : ADDR_MALFORMED,
                &m->mp.sender, in->arg, c->rules);
    if (m->mp.sender_valid)
        pl_format_unicode(m->sender_u, sizeof(m->sender_u), "sender_u", &m->mp.sender);
    if (stopping(c->svc))
        return refuse_stopping(c);
    v = trust_step(c, v);
    return answer_for(c, &v, STEP_MAIL, &refused);
}

struct pl_answer pl_rcpt(struct pl_conn *c, const char *arg, const char *mailer)
{
    struct pl_msg *m = &c->msg;
    char addr[PL_ADDR_LOG_MAX], unicode[PL_ADDR_LOG_MAX + 16] = "";
    enum addr_class cls = CLASS_INVALID;
    struct mailaddr parsed;
    struct pl_answer a;
    struct verdict v;
    bool refused;

    if (c->debug) {
        char safe[PL_ADDR_LOG_MAX], shown[PL_ADDR_LOG_MAX], how[64];

        pl_log_field(safe, sizeof(safe), arg);
        pl_log_patients(shown, sizeof(shown), safe, c->rules->patient_domain);
        pl_log_field(how, sizeof(how), mailer != NULL ? mailer : "(none)");
        log_debug("%s: RCPT %s {rcpt_mailer}=%s", pl_qid(m->queue_id), shown, how);
    }

    env_enter(c);
    v = msgpol_recipient(&m->mp, arg, mailer, &cls, &parsed);
    env_leave(c);
    v = trust_step(c, v);
    if (!pl_refusal(v.action))
        v = patients_rcpt(&m->pat, c->rules, c->svc->store, &m->mp, &parsed, cls,
                          m->queue_id);

    a = answer_for(c, &v, STEP_RCPT, &refused);
    pl_format_addr(addr, sizeof(addr), cls == CLASS_INVALID ? ADDR_MALFORMED : ADDR_OK,
                &parsed, arg, c->rules);
    if (cls != CLASS_INVALID)
        pl_format_unicode(unicode, sizeof(unicode), "rcpt_u", &parsed);
    pl_note_rcpt(m, addr, cls, refused, unicode);
    if (cls != CLASS_INVALID && policy_is_local_domain(&c->env, parsed.domain))
        m->n_rcpt_local++;
    if (!refused) {
        m->n_rcpt_ok++;
        if (cls == CLASS_PATIENT)
            m->n_rcpt_patient++;
        forwarding_rcpt(&m->fwd, arg, cls == CLASS_INVALID ? NULL : &parsed, cls);
    }
    return a;
}

/* Is nothing after DATA able to change this message's fate
 * (pipeline/early.h)?  The forwarding rules are read here, once,
 * whatever EarlyAccept says, so that both settings read them alike. */
static enum early_why decide_early(struct pl_conn *c)
{
    struct pl_msg *m = &c->msg;
    struct early_data_in in;

    forwarding_data(&m->fwd, c->rules, c->svc->store, &c->env, m->queue_id);
    in.early_accept = c->rules->early_accept;
    in.dry_run = c->rules->dry_run;
    in.local_submission = c->local_submission;
    in.kept = pl_refusal(m->kept_trust.action) || pl_refusal(m->kept.action);
    in.patient = m->n_rcpt_patient > 0 || m->pat.active;
    in.forwarding = forwarding_pending(&m->fwd, c->rules, c->svc->store, &m->mp);
    return early_at_data(&in);
}

/* DATA: the whole envelope is known.  A message nothing after DATA can
 * change is accepted here (EarlyAccept, pipeline/early.h): its verdict
 * line is written now, and the MTA sends nothing more of it. */
struct pl_answer pl_data(struct pl_conn *c)
{
    struct pl_answer a;
    enum early_why why;
    struct verdict v;
    bool refused;

    env_enter(c);
    v = msgpol_data(&c->msg.mp);
    env_leave(c);
    v = trust_step(c, v);
    a = answer_for(c, &v, STEP_DATA, &refused);
    if (a.code != PL_CONTINUE)
        return a;
    why = decide_early(c);
    if (c->debug)
        log_debug("%s: early accept at DATA: %s", pl_qid(c->msg.queue_id), early_why_name(why));
    if (why != EARLY_OK)
        return a;
    if (c->debug)
        log_debug("%s: accepted at DATA (EarlyAccept): the MTA sends nothing more of it",
                  pl_qid(c->msg.queue_id));
    v = verdict_continue();
    pl_log_message(c, &v);
    return answer(PL_ACCEPT);
}

/* ---- headers and body -------------------------------------------------------------- */

void pl_header(struct pl_conn *c, const char *name, const char *value)
{
    if (c->msg.in_txn) {
        c->msg.n_headers++;
        patients_header(&c->msg.pat, name, value);
        held_header(&c->msg.held, name);
    }
}

/* End of headers.  The debug line shows which messages the MTA sent
 * headers of (none of a message accepted at DATA). */
struct pl_answer pl_eoh(struct pl_conn *c)
{
    if (c->debug)
        log_debug("%s: end of headers (%u header(s))%s", pl_qid(c->msg.queue_id),
                  c->msg.n_headers, c->msg.in_txn ? "" : " after the verdict");
    patients_eoh(&c->msg.pat);
    return answer(PL_CONTINUE);
}

/* The body is read only while a rule needs it; then the rest is skipped. */
struct pl_answer pl_body(struct pl_conn *c, const void *buf, size_t len)
{
    return answer(patients_body(&c->msg.pat, buf, len) ? PL_CONTINUE : PL_SKIP);
}

/* ---- end of message ------------------------------------------------------------------ */

static void add_dry_run_header(struct pl_conn *c, const struct pl_mta *mta)
{
    const struct pl_msg *m = &c->msg;
    char value[128];

    if (m->have_would)
        snprintf(value, sizeof(value), "%s rule=%s (dry run)", action_name(m->would.action),
                 m->would.rule != RULE_NONE ? rule_name(m->would.rule) : "unknown");
    else
        snprintf(value, sizeof(value), "accept (dry run)");
    if (mta->add_header(mta->ctx, PL_VERDICT_HEADER, value) < 0)
        log_warning("%s: cannot add the %s header", pl_qid(m->queue_id), PL_VERDICT_HEADER);
}

/* A hold: the message goes to Postfix's hold queue with the reason, and
 * says why in its X-MSSante-Held header; the sender of a local submission
 * is told. */
static struct pl_answer hold(struct pl_conn *c, const struct pl_mta *mta,
                             const struct verdict *v)
{
    char raw[VERDICT_TEXT_MAX + 64], reason[2 * VERDICT_TEXT_MAX + 64];

    /* Postfix logs the reason: a patient's address as LogPatientId says. */
    snprintf(raw, sizeof(raw), "mssante-milter %s: %s",
             v->rule != RULE_NONE ? rule_name(v->rule) : "hold", v->text);
    pl_log_patients(reason, sizeof(reason), raw, c->rules->patient_domain);
    if (held_mark(mta, c->svc->held_key, v, c->local_submission, c->msg.queue_id) < 0)
        return pl_internal_error(c, "cannot add the X-MSSante-Held header");
    if (mta->quarantine(mta->ctx, reason) < 0)
        return pl_internal_error(c, "smfi_quarantine failed");
    held_notify(c->svc->store, &c->msg.mp, c->local_submission, c->msg.queue_id);
    pl_log_message(c, v);
    return answer(PL_ACCEPT);
}

/*
 * What the trust space says at end of message: a refusal it kept for a
 * local submission, unless forwarding replaces it; then any other
 * refusal kept.
 */
static struct verdict eom_kept(struct pl_conn *c)
{
    struct pl_msg *m = &c->msg;
    struct verdict v;

    env_enter(c);
    v = msgpol_end(&m->mp);
    env_leave(c);
    v = trust_step(c, v);
    if (!pl_refusal(v.action) && pl_refusal(m->kept_trust.action))
        v = m->kept_trust;
    /* A forward re-injected through sendmail: the plan removes and
     * notifies the classic recipients instead (stage_forward.h). */
    if (forwarding_replaces(c->rules, c->svc->store, &m->mp, &v))
        v = verdict_continue();
    if (!pl_refusal(v.action) && pl_refusal(m->kept.action))
        v = m->kept;
    return v;
}

/*
 * The one place where a message's effects outside the message are made
 * (the conversations in Redis), once its fate V is final: only for a
 * message about to be delivered (accepted, or DryRun, which delivers
 * everything).  Last, after every step that can still refuse or defer,
 * so that a message Postfix retries has changed nothing.  A failure here
 * defers the message (451); what an earlier step queued (forwarding's
 * notices) is then queued again at the retry: a notice sent twice is the
 * lesser harm.
 */
static struct verdict commit(struct pl_conn *c, struct verdict v)
{
    struct pl_msg *m = &c->msg;
    struct verdict rec;

    if (pl_refusal(v.action) && !c->rules->dry_run) {
        patients_forget(&m->pat);
        return v;
    }
    rec = patients_commit(&m->pat, c->rules, c->svc->store, &m->mp, m->queue_id);
    return pl_refusal(v.action) ? v : rec;     /* DryRun: the first refusal stays */
}

struct pl_answer pl_eom(struct pl_conn *c, const struct pl_mta *mta)
{
    struct pl_msg *m = &c->msg;
    struct pl_answer a;
    struct verdict v;
    bool refused;

    if (held_strip(mta, &m->held, m->queue_id) < 0)
        return pl_internal_error(c, "cannot delete an X-MSSante-Held header");
    v = eom_kept(c);

    if (!pl_refusal(v.action))
        v = patients_eom(&m->pat, c->rules, mta, m->queue_id);
    if (!pl_refusal(v.action)) {
        struct fwd_eom_ctx x = {
            c->rules, c->svc->store, &c->svc->lists, mta, &c->env, &m->mp, m->queue_id,
        };

        v = forwarding_eom(&m->fwd, &x);
    }
    v = commit(c, v);
    if (c->rules->dry_run) {
        (void)answer_for(c, &v, STEP_EOM, &refused);
        add_dry_run_header(c, mta);
        v = verdict_continue();
        pl_log_message(c, &v);
        return answer(PL_CONTINUE);
    }
    if (v.action == ACT_HOLD)
        return hold(c, mta, &v);
    a = answer_for(c, &v, STEP_EOM, &refused);
    if (!refused)
        pl_log_message(c, &v);
    return a;
}

/* ---- the end ------------------------------------------------------------------------- */

void pl_abort(struct pl_conn *c)
{
    pl_log_unfinished(c);
    reset_message(&c->msg);
}

void pl_close(struct pl_conn *c)
{
    pl_log_unfinished(c);
    forwarding_free(&c->msg.fwd);
    stats_connection_close();
}

const char *pl_modes_note(const struct rules_settings *rules)
{
    if (rules->dry_run && rules->patient_inbound_log)
        return ", DryRun: nothing refused, PatientInbound log";
    if (rules->dry_run)
        return ", DryRun: nothing refused";
    if (rules->patient_inbound_log)
        return ", PatientInbound log: patients admitted without a conversation";
    return "";
}

void pl_discard(struct pl_conn *c)
{
    forwarding_free(&c->msg.fwd);
}

void pl_config_warnings(const struct rules_settings *rules, bool redis, const char *out[3])
{
    size_t n = 0;

    if ((out[n] = patients_config_warning(redis)) != NULL)
        n++;
    if ((out[n] = forwarding_config_warning(rules, redis)) != NULL)
        n++;
    out[n] = NULL;
}
