/*
 * verdict_log.c - the verdict line and the text that goes into it (what
 * each field says: the comment above pl_log_message() below).
 *
 * Apart from pipeline.c so that the core reads as one message's steps and
 * decisions, while what the line shows, and how text from the network is
 * made safe for it, is read and changed in one place.  pipeline.c decides
 * when the line is written; the stages use the same field helpers
 * (stage.h) for their own lines.
 *
 * DIAGNOSTICS: the verdict line, at info level.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "common/log.h"
#include "common/logid.h"
#include "pipeline/stage.h"
#include "pipeline/verdict_log.h"
#include "stats/stats.h"

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
void pl_copy_quoted(char *dst, size_t size, const char *src)
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
void pl_format_addr(char *dst, size_t size, enum addr_status st, const struct mailaddr *a,
                    const char *raw, const struct rules_settings *rules)
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
void pl_format_unicode(char *dst, size_t size, const char *key, const struct mailaddr *a)
{
    char buf[PL_ADDR_LOG_MAX], shown[PL_ADDR_LOG_MAX];

    dst[0] = '\0';
    if (!a->domain_utf8 || a->domain_idn_bad)
        return;
    snprintf(buf, sizeof(buf), "<%s@%s>", a->local, a->domain_u);
    pl_log_field(shown, sizeof(shown), buf);
    snprintf(dst, size, " %s=%s", key, shown);
}

/* ---- the client -------------------------------------------------------------- */

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
void pl_describe_peer(char *buf, size_t size, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN];
    unsigned port = peer_ip(sa, ip, sizeof(ip));

    snprintf(buf, size, "[%s]:%u", ip, port);
}

/* "[IP]" for client= on the line. */
void pl_format_client(char *dst, size_t size, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN];

    (void)peer_ip(sa, ip, sizeof(ip));
    snprintf(dst, size, "[%s]", ip);
}

/* ---- the verdict line --------------------------------------------------------- */

void pl_note_rcpt(struct pl_msg *m, const char *addr, enum addr_class cls, bool refused,
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

void pl_log_message(struct pl_conn *c, const struct verdict *final)
{
    struct pl_msg *m = &c->msg;
    const char *verdict = final != NULL ? action_name(final->action) : "abort";
    const char *rule = final != NULL && pl_refusal(final->action) ? rule_name(final->rule) : NULL;
    char more[32] = "", would[96] = "", reply[2 * VERDICT_TEXT_MAX + 32] = "";
    char cert[3 * PL_CERT_LOG_MAX + 64] = "";

    if (m->n_rcpt_more > 0)
        snprintf(more, sizeof(more), " +%u more", m->n_rcpt_more);
    if (m->have_would && (final == NULL || !pl_refusal(final->action))) {
        snprintf(would, sizeof(would), " would=%s", action_name(m->would.action));
        rule = rule_name(m->would.rule);
    }
    if (final != NULL && pl_refusal(final->action)) {
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
void pl_log_unfinished(struct pl_conn *c)
{
    if (!c->msg.in_txn)
        return;
    /* Every recipient was refused: that refusal is the message's fate. */
    if (c->msg.rcpt_refused && c->msg.n_rcpt_ok == 0)
        pl_log_message(c, &c->msg.rcpt_refusal);
    else
        pl_log_message(c, NULL);
}
