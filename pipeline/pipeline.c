/*
 * pipeline.c - one message's fate, step by step (see pipeline.h for the
 * stages and what this core decides).
 *
 * Follow one message down this file: pl_connect() says which side the
 * client is on; pl_mail() starts the transaction and asks the trust-space
 * rules about the sender; pl_rcpt() asks them, then the patient stage,
 * about each recipient, and records it for forwarding; pl_data() asks the
 * trust-space rules about the whole envelope; the headers and the body go
 * to the patient stage; pl_eoh() accepts there a message that nothing
 * after DATA can change (EarlyAccept: pipeline/early.h), its verdict line
 * written then; pl_eom() takes what was kept for end of message,
 * lets forwarding replace the refusal it replaces, runs the patient and
 * forwarding stages, and answers.  Every answer goes through answer_for()
 * (DryRun, and the deferral of local submissions and holds), and every
 * transaction ends in exactly one verdict line (log_message()).
 *
 * Exactly one info line is logged per message: at end of message (or at
 * end of headers for a message accepted early), at a
 * refusal that ends the transaction (MAIL, DATA, end of message), or when
 * the transaction ends otherwise (abort, disconnect).  A refusal at RCPT
 * only removes that recipient, so it is written into the line at the end.
 * The message is counted (stats/stats.h) where that line is written.
 *
 * Internal errors answer 451 4.7.1: a milter that cannot decide must not
 * let mail through.
 *
 * DIAGNOSTICS: the verdict line at info level; internal errors at error
 * level ("internal error: ..."); a header or quarantine the MTA refused at
 * warning or error level, with the queue id.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/cidr.h"
#include "common/log.h"
#include "common/logid.h"
#include "pipeline/pipeline.h"
#include "pipeline/stage.h"
#include "stats/stats.h"
#include "whitelist/live.h"
#include "whitelist/whitelist.h"

enum step { STEP_MAIL, STEP_RCPT, STEP_DATA, STEP_EOM };

/* ---- the daemon's whitelist in force (pipeline/ports.h) ------------------ */

static void live_enter(void *arg, struct policy_env *env)
{
    const struct whitelist *wl = live_acquire();

    (void)arg;
    env->is_listed = wl != NULL ? whitelist_lookup : NULL;
    env->is_cn_listed = wl != NULL ? whitelist_cn_lookup : NULL;
    env->lookup_ctx = wl;
}

static void live_leave(void *arg, struct policy_env *env)
{
    (void)arg;
    env->is_listed = NULL;
    env->is_cn_listed = NULL;
    env->lookup_ctx = NULL;
    live_release();
}

const struct pl_lists pl_live_lists = { live_enter, live_leave, NULL };

/* ---- text for the log ------------------------------------------------------ */

const char *pl_qid(const char *qid)
{
    return qid != NULL && qid[0] != '\0' ? qid : "NOQUEUE";
}

void pl_log_field(char *dst, size_t size, const char *src)
{
    size_t i;

    for (i = 0; src != NULL && src[i] != '\0' && i + 1 < size; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch <= 0x20 || ch == 0x7f || ch == '"') ? '?' : (char)ch;
    }
    if (size > 0)
        dst[i] = '\0';
}

void pl_log_patients(char *dst, size_t size, const char *text, const char *patient_domain)
{
    logid_redact(text, patient_domain, dst, size);
}

/* Text from the network inside a quoted log field: no quote, no control
 * character, no non-ASCII byte. */
static void copy_quoted(char *dst, size_t size, const char *src)
{
    size_t i;

    for (i = 0; src != NULL && src[i] != '\0' && i + 1 < size; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') ? '?' : (char)ch;
    }
    if (size > 0)
        dst[i] = '\0';
}

/* "<a@b>", "<>", or the raw text when it could not be parsed; a patient's
 * address as LogPatientId says (RULES' PatientDomain). */
static void format_addr(char *dst, size_t size, enum addr_status st,
                        const struct mailaddr *a, const char *raw,
                        const struct rules_settings *rules)
{
    char buf[PL_ADDR_LOG_MAX], bracketed[PL_ADDR_LOG_MAX + 2], safe[PL_ADDR_LOG_MAX + 2];

    if (st == ADDR_NULL) {
        snprintf(dst, size, "<>");
        return;
    }
    if (st == ADDR_OK) {
        addr_format(a, buf, sizeof(buf));
        snprintf(bracketed, sizeof(bracketed), "<%s>", buf);
        pl_log_field(safe, sizeof(safe), bracketed);
    } else {
        pl_log_field(safe, sizeof(safe), raw);
    }
    pl_log_patients(dst, size, safe, rules->patient_domain);
}

/* " KEY=<local@U-label>" for an address whose domain was written in
 * Unicode (the verdict line shows its A-labels first), or "". */
static void format_unicode(char *dst, size_t size, const char *key, const struct mailaddr *a)
{
    char buf[PL_ADDR_LOG_MAX], shown[PL_ADDR_LOG_MAX];

    dst[0] = '\0';
    if (!a->domain_utf8 || a->domain_idn_bad)
        return;
    snprintf(buf, sizeof(buf), "<%s@%s>", a->local, a->domain_u);
    pl_log_field(shown, sizeof(shown), buf);
    snprintf(dst, size, " %s=%s", key, shown);
}

void pl_queue_id(struct pl_conn *c, const char *id)
{
    if (c != NULL && id != NULL && id[0] != '\0')
        pl_log_field(c->msg.queue_id, sizeof(c->msg.queue_id), id);
}

/* ---- the verdict line --------------------------------------------------------- */

static bool refusal(enum action a)
{
    return a != ACT_CONTINUE;
}

static void note_rcpt(struct pl_msg *m, const char *addr, enum addr_class cls, bool refused,
                      const char *unicode)
{
    size_t room = sizeof(m->rcpts) - m->rcpts_len;
    int n;

    if (m->n_rcpt_logged >= PL_RCPT_LOG_MAX) {
        m->n_rcpt_more++;
        return;
    }
    n = snprintf(m->rcpts + m->rcpts_len, room, " rcpt=%s/%s%s%s", addr, addr_class_name(cls),
                 refused ? "/refused" : "", unicode);
    if (n < 0 || (size_t)n >= room) {
        m->rcpts[m->rcpts_len] = '\0';
        m->n_rcpt_more++;
        return;
    }
    m->rcpts_len += (size_t)n;
    m->n_rcpt_logged++;
}

/* " cert=STATUS[ cert_cn=CN][ cert_issuer="NAME"]", or "" when the
 * operator-certificate rule did not look at the message. */
static void format_cert(const struct pl_msg *m, char *buf, size_t size)
{
    const char *status = cert_status_name(m->mp.cert);
    char cn[PL_CERT_LOG_MAX];
    int n;

    buf[0] = '\0';
    if (status == NULL)
        return;
    n = snprintf(buf, size, " cert=%s", status);
    if (m->mp.cert_cn[0] != '\0' && n > 0 && (size_t)n < size) {
        pl_log_field(cn, sizeof(cn), m->mp.cert_cn);
        n += snprintf(buf + n, size - (size_t)n, " cert_cn=%s%s", cn,
                      m->mp.cert_cn_cut ? "..." : "");
    }
    if (m->cert_issuer[0] != '\0' && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " cert_issuer=\"%s\"", m->cert_issuer);
}

/* The counters of a message whose line was just written. */
static void count_message(const struct pl_msg *m, const struct verdict *final, bool would)
{
    struct stats_verdict done, kept;

    if (final != NULL) {
        done.action = final->action;
        done.rule = rule_name(final->rule);
    }
    kept.action = m->would.action;
    kept.rule = rule_name(m->would.rule);
    stats_message_end(final != NULL ? &done : NULL, would ? &kept : NULL, m->started);
}

/*
 * The line (keep it stable, operators parse it):
 *   QUEUEID: direction=DIR sender=<a@b> [sender_u=<a@U>]
 *   rcpt=<c@d>/CLASS[/refused] [rcpt_u=<c@U>] ... [+N more]
 *   verdict=ACTION [would=ACTION] [rule=RULE] [auth=yes] [submission=local]
 *   [internal=yes] [cert=ok|none|mismatch [cert_cn=CN] [cert_issuer="CN"]]
 *   [dryrun=yes] [conv=OP:PATIENT ...] [patient="what the [FIN] rules saw"]
 *   [ins=PATIENT:bad-key|bad-shape[:accepted] ...]
 *   [fwd_add=N fwd_del=N notify=N hold=yes|no] [fwd=memory|unavailable|no-redis]
 *   [reply="CODE X.Y.Z text" | reason="text"] client=[IP]
 * QUEUEID is NOQUEUE before Postfix assigned one.  FINAL is the verdict
 * that applied; NULL when the transaction ended without one ("abort").
 * direction= says which rules applied (policy/trustspace.h): outbound for
 * a client inside (auth=, internal= or submission= says why) or a sender
 * of our own domains let in by its operator's certificate; for the rest
 * of the outside, inbound when a recipient is in LocalDomains, relay when
 * none is (the inbound rules applied, but the mail is not ours).  cert= is
 * there when the operator-certificate rule looked at the message; the CN
 * and issuer come from the network and are made safe for the line.  An
 * address whose domain was written in Unicode (SMTPUTF8) is shown in
 * A-labels, the form it was judged in, followed by its _u= form as
 * written.  client= is the SMTP client's address (the loopback for a local
 * submission), last so that the fields before keep their places.  Patient
 * addresses and ids are shown as LogPatientId says, in the reply too.
 */
/* direction=: "relay" is inbound mail none of whose recipients is ours. */
static const char *direction_of(const struct pl_msg *m)
{
    if (m->mp.dir == DIR_INBOUND && m->mp.n_rcpt > 0 && m->n_rcpt_local == 0)
        return "relay";
    return direction_name(m->mp.dir);
}

static void log_message(struct pl_conn *c, const struct verdict *final)
{
    struct pl_msg *m = &c->msg;
    const char *verdict = final != NULL ? action_name(final->action) : "abort";
    const char *rule = final != NULL && refusal(final->action) ? rule_name(final->rule) : NULL;
    char more[32] = "", would[96] = "", reply[2 * VERDICT_TEXT_MAX + 32] = "";
    char cert[3 * PL_CERT_LOG_MAX + 64] = "";

    if (m->n_rcpt_more > 0)
        snprintf(more, sizeof(more), " +%u more", m->n_rcpt_more);
    if (m->have_would && (final == NULL || !refusal(final->action))) {
        snprintf(would, sizeof(would), " would=%s", action_name(m->would.action));
        rule = rule_name(m->would.rule);
    }
    if (final != NULL && refusal(final->action)) {
        char text[2 * VERDICT_TEXT_MAX];
        size_t i;

        pl_log_patients(text, sizeof(text), final->text, c->rules->patient_domain);
        for (i = 0; text[i] != '\0'; i++)
            if (text[i] == '"' || (unsigned char)text[i] < 0x20)
                text[i] = '\'';
        if (final->action == ACT_HOLD)
            snprintf(reply, sizeof(reply), " reason=\"%s\"", text);
        else
            snprintf(reply, sizeof(reply), " reply=\"%s %s %s\"", final->rcode, final->xcode,
                     text);
    }
    format_cert(m, cert, sizeof(cert));
    log_info("%s: direction=%s sender=%s%s%s%s verdict=%s%s%s%s%s%s%s%s%s%s%s%s client=%s",
             pl_qid(m->queue_id), direction_of(m),
             m->sender[0] ? m->sender : "<>", m->sender_u, m->rcpts, more, verdict, would,
             rule ? " rule=" : "", rule ? rule : "",
             m->mp.authenticated ? " auth=yes" : "",
             c->local_submission ? " submission=local" : "",
             c->internal_host ? " internal=yes" : "", cert,
             c->rules->dry_run ? " dryrun=yes" : "", patients_log(&m->pat),
             forwarding_log(&m->fwd), reply, c->client);
    count_message(m, final, would[0] != '\0');
    m->fate = final != NULL ? *final : verdict_continue();
    m->in_txn = false;
}

/* End of a transaction that was not closed by end of message or a refusal. */
static void log_unfinished(struct pl_conn *c)
{
    if (!c->msg.in_txn)
        return;
    /* Every recipient was refused: that refusal is the message's fate. */
    if (c->msg.rcpt_refused && c->msg.n_rcpt_ok == 0)
        log_message(c, &c->msg.rcpt_refusal);
    else
        log_message(c, NULL);
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
        log_message(c, &v);
    return refuse_with(&v);
}

/* The daemon is stopping (SIGTERM): new sessions and new messages are
 * deferred, so that the messages in flight can finish. */
static struct pl_answer refuse_stopping(struct pl_conn *c)
{
    struct verdict v;

    reply_shutting_down(&v);
    if (c != NULL && c->msg.in_txn)
        log_message(c, &v);
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
    if (!c->local_submission || !refusal(v.action))
        return v;
    if (!refusal(c->msg.kept_trust.action)) {
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
    if (!refusal(v->action)) {
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
        if (!refusal(m->kept.action))
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
        log_message(c, v);
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

/* The client's address as IP ("unknown" when the MTA gave none) and port. */
static unsigned peer_ip(const struct sockaddr *sa, char *ip, size_t size)
{
    snprintf(ip, size, "unknown");
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, ip, (socklen_t)size);
        return ntohs(sin->sin_port);
    }
    if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, (socklen_t)size);
        return ntohs(sin6->sin6_port);
    }
    return 0;
}

/* "[ADDR]:PORT" for the debug log. */
static void describe_peer(const struct sockaddr *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port = peer_ip(sa, ip, sizeof(ip));

    snprintf(buf, size, "[%s]:%u", ip, port);
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
    {
        char ip[INET6_ADDRSTRLEN];

        (void)peer_ip(sa, ip, sizeof(ip));
        snprintf(c->client, sizeof(c->client), "[%s]", ip);
    }
    rules_policy_env(rules, &c->env);
    stats_connection_open();
    if (debug) {
        char addr[INET6_ADDRSTRLEN + 16];

        describe_peer(sa, addr, sizeof(addr));
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
    m->early = EARLY_NOT_DECIDED;
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

    log_unfinished(c);
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
    copy_quoted(m->cert_issuer, sizeof(m->cert_issuer), in->cert_issuer);

    env_enter(c);
    msgpol_begin(&m->mp, &c->env, &client);
    v = msgpol_sender(&m->mp, in->arg);
    env_leave(c);

    format_addr(m->sender, sizeof(m->sender),
                m->mp.sender_valid ? ADDR_OK : m->mp.null_sender ? ADDR_NULL : ADDR_MALFORMED,
                &m->mp.sender, in->arg, c->rules);
    if (m->mp.sender_valid)
        format_unicode(m->sender_u, sizeof(m->sender_u), "sender_u", &m->mp.sender);
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
    if (!refusal(v.action))
        v = patients_rcpt(&m->pat, c->rules, c->svc->store, &m->mp, &parsed, cls,
                          m->queue_id);

    a = answer_for(c, &v, STEP_RCPT, &refused);
    format_addr(addr, sizeof(addr), cls == CLASS_INVALID ? ADDR_MALFORMED : ADDR_OK,
                &parsed, arg, c->rules);
    if (cls != CLASS_INVALID)
        format_unicode(unicode, sizeof(unicode), "rcpt_u", &parsed);
    note_rcpt(m, addr, cls, refused, unicode);
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
    in.kept = refusal(m->kept_trust.action) || refusal(m->kept.action);
    in.patient = m->n_rcpt_patient > 0 || m->pat.active;
    in.forwarding = forwarding_pending(&m->fwd, c->rules, c->svc->store, &m->mp);
    return early_at_data(&in);
}

struct pl_answer pl_data(struct pl_conn *c)
{
    struct pl_answer a;
    struct verdict v;
    bool refused;

    env_enter(c);
    v = msgpol_data(&c->msg.mp);
    env_leave(c);
    v = trust_step(c, v);
    a = answer_for(c, &v, STEP_DATA, &refused);
    if (a.code == PL_CONTINUE) {
        c->msg.early = decide_early(c);
        if (c->debug)
            log_debug("%s: early accept at DATA: %s", pl_qid(c->msg.queue_id),
                      early_why_name(c->msg.early));
    }
    return a;
}

/* ---- headers and body -------------------------------------------------------------- */

void pl_header(struct pl_conn *c, const char *name, const char *value)
{
    if (c->msg.in_txn) {
        patients_header(&c->msg.pat, name, value);
        held_header(&c->msg.held, name);
    }
}

/* End of headers: a message decided at DATA is accepted here, its
 * verdict line written now (pipeline/early.h). */
struct pl_answer pl_eoh(struct pl_conn *c)
{
    struct pl_msg *m = &c->msg;
    enum early_why why;
    struct verdict v;

    patients_eoh(&m->pat);
    if (!m->in_txn || m->early == EARLY_NOT_DECIDED)
        return answer(PL_CONTINUE);
    why = early_at_eoh(m->early, m->held.n_seen);
    if (c->debug && why != m->early)
        log_debug("%s: early accept at end of headers: %s", pl_qid(m->queue_id),
                  early_why_name(why));
    if (why != EARLY_OK)
        return answer(PL_CONTINUE);
    if (c->debug)
        log_debug("%s: accepted at end of headers (EarlyAccept): the MTA sends nothing more "
                  "of it", pl_qid(m->queue_id));
    v = verdict_continue();
    log_message(c, &v);
    return answer(PL_ACCEPT);
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
    if (held_mark(mta, v, c->local_submission, c->msg.queue_id) < 0)
        return pl_internal_error(c, "cannot add the X-MSSante-Held header");
    if (mta->quarantine(mta->ctx, reason) < 0)
        return pl_internal_error(c, "smfi_quarantine failed");
    held_notify(c->svc->store, &c->msg.mp, c->local_submission, c->msg.queue_id);
    log_message(c, v);
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
    if (!refusal(v.action) && refusal(m->kept_trust.action))
        v = m->kept_trust;
    /* A forward re-injected through sendmail: the plan removes and
     * notifies the classic recipients instead (stage_forward.h). */
    if (forwarding_replaces(c->rules, c->svc->store, &m->mp, &v))
        v = verdict_continue();
    if (!refusal(v.action) && refusal(m->kept.action))
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

    if (refusal(v.action) && !c->rules->dry_run) {
        patients_forget(&m->pat);
        return v;
    }
    rec = patients_commit(&m->pat, c->rules, c->svc->store, &m->mp, m->queue_id);
    return refusal(v.action) ? v : rec;     /* DryRun: the first refusal stays */
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

    if (!refusal(v.action))
        v = patients_eom(&m->pat, c->rules, mta, m->queue_id);
    if (!refusal(v.action)) {
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
        log_message(c, &v);
        return answer(PL_CONTINUE);
    }
    if (v.action == ACT_HOLD)
        return hold(c, mta, &v);
    a = answer_for(c, &v, STEP_EOM, &refused);
    if (!refused)
        log_message(c, &v);
    return a;
}

/* ---- the end ------------------------------------------------------------------------- */

void pl_abort(struct pl_conn *c)
{
    log_unfinished(c);
    reset_message(&c->msg);
}

void pl_close(struct pl_conn *c)
{
    log_unfinished(c);
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
