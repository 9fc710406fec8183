/*
 * callbacks.c - the libmilter layer, kept thin.
 *
 * Each SMTP connection gets a struct conn (smfi_setpriv) holding the policy
 * state of the current message and what its log line needs.  Each callback
 * takes the list in force (live_acquire), feeds one step to policy/message.c,
 * releases the list, and turns the verdict into an SMFIS_* code:
 *
 *   ACT_REJECT / ACT_TEMPFAIL  smfi_setreply + SMFIS_REJECT / SMFIS_TEMPFAIL
 *   ACT_HOLD (end of message)  smfi_quarantine + SMFIS_ACCEPT
 *   DryRun                     never refuse: remember the first verdict that
 *                              would have applied, say it in an
 *                              X-MSSante-Verdict header at end of message
 *
 * Exactly one info line is logged per message: at end of message, at a
 * refusal that ends the transaction (MAIL, DATA, end of message), or when
 * the transaction ends otherwise (abort, disconnect).  A refusal at RCPT
 * only removes that recipient, so it is written into the line at the end.
 * The message is counted (stats/stats.h) where that line is written.
 *
 * Configuration: a connection uses the one in force when it opened
 * (c->cfg, a reference from milter/service.h) until it closes, whatever
 * reloads happen meanwhile.  libmilter may run the callbacks of one
 * connection on different threads (Debian's is built with a worker pool):
 * per-connection state lives in struct conn, never in thread-locals.
 *
 * Local submission (non_smtpd_milters): Postfix's cleanup server emulates
 * an SMTP session for mail from sendmail(1), and it must not be refused at
 * the simulated RCPT; the policy defers every refusal to end of message,
 * and this layer never refuses such mail before end of message either.
 *
 * Internal errors (no memory, a callback without its context) answer
 * 451 4.7.1: a milter that cannot decide must not let mail through.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmilter/mfapi.h>

#include "common/cidr.h"
#include "common/log.h"
#include "common/redis_pool.h"
#include "milter/callbacks.h"
#include "milter/forwarding.h"
#include "milter/held.h"
#include "milter/patients.h"
#include "milter/service.h"
#include "policy/message.h"
#include "policy/replies.h"
#include "stats/stats.h"
#include "whitelist/live.h"
#include "whitelist/whitelist.h"

#define QUEUE_ID_MAX   32
#define LOG_ADDR_MAX   (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 4)
#define RCPT_LOG_MAX   100     /* recipients named in the log line */
#define RCPT_LOG_BYTES 4096    /* and the room they may take */
#define VERDICT_HEADER "X-MSSante-Verdict"
#define CERT_LOG_MAX   (MSG_CERT_CN_MAX + 1)

enum step { STEP_MAIL, STEP_RCPT, STEP_DATA, STEP_EOM };

struct conn {
    bool local_submission;       /* Postfix cleanup's emulated session */
    bool internal_host;          /* an SMTP client whose address is in InternalHosts */
    char myhostname[ADDR_DOMAIN_MAX + 1];   /* Postfix's $myhostname (macro j), "" if none */
    const struct config *cfg;    /* the configuration in force at connect: a reference
                                  * (milter/service.h), so a reload never changes the
                                  * rules under a connection in flight */
    struct policy_env env;       /* lookup fields valid only inside a callback */

    /* Current message (reset at MAIL). */
    bool in_txn;                 /* MAIL seen, log line not yet written */
    uint64_t started;            /* stats_message_begin() at MAIL */
    struct msg_policy mp;
    char queue_id[QUEUE_ID_MAX];
    char sender[LOG_ADDR_MAX];
    char rcpts[RCPT_LOG_BYTES];  /* " rcpt=<a@b>/class" ... */
    size_t rcpts_len;
    unsigned n_rcpt_logged, n_rcpt_more, n_rcpt_ok;
    bool rcpt_refused;           /* a recipient was refused at RCPT ... */
    struct verdict rcpt_refusal; /* ... the first such refusal */
    bool have_would;             /* DryRun: a verdict would have applied ... */
    struct verdict would;        /* ... the first one */
    bool have_pending;           /* local submission: refusal kept for EOM */
    struct verdict pending;
    char cert_issuer[CERT_LOG_MAX];  /* {cert_issuer} for the log, made safe; "" = none */

    struct pat_msg pat;          /* patient rules (milter/patients.h) */
    struct fwd_msg fwd;          /* forwarding (milter/forwarding.h) */
    struct held_msg held;        /* X-MSSante-Held headers (milter/held.h) */
};

/*
 * Protocol features some MTA session went without (SMFIP_NR_HDR,
 * SMFIP_SKIP).  Process-wide, because cb_negotiate runs before the
 * connection has its struct conn, and sticky: once one session lacked a
 * feature no later one relies on it.  That is always safe: a session that
 * did negotiate it only loses an optimisation (libmilter turns a reply to
 * an NR_HDR header into no reply), while a session that did not never gets
 * an answer it cannot parse, since its negotiation precedes its headers.
 */
static atomic_bool mta_lacks_nr_hdr, mta_lacks_skip;

/* ---- small helpers ---------------------------------------------------- */

/* Copy text from the network into a log field: no spaces, quotes or
 * control characters, so that the line stays "key=value" parseable. */
static void copy_field(char *dst, size_t size, const char *src)
{
    size_t i;

    for (i = 0; src != NULL && src[i] != '\0' && i + 1 < size; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = (ch <= 0x20 || ch == 0x7f || ch == '"') ? '?' : (char)ch;
    }
    if (size > 0)
        dst[i] = '\0';
}

static void read_queue_id(SMFICTX *ctx, struct conn *c)
{
    const char *id = smfi_getsymval(ctx, "i");

    if (id != NULL && id[0] != '\0')
        copy_field(c->queue_id, sizeof(c->queue_id), id);
}

/* Point the policy at the list in force for the duration of one step. */
static void env_enter(struct conn *c)
{
    const struct whitelist *wl = live_acquire();

    c->env.is_listed = wl != NULL ? whitelist_lookup : NULL;
    c->env.is_cn_listed = wl != NULL ? whitelist_cn_lookup : NULL;
    c->env.lookup_ctx = wl;
}

static void env_leave(struct conn *c)
{
    c->env.is_listed = NULL;
    c->env.is_cn_listed = NULL;
    c->env.lookup_ctx = NULL;
    live_release();
}

static bool refusal(enum action a)
{
    return a != ACT_CONTINUE;
}

/* "<a@b>", "<>", or the raw text when it could not be parsed. */
static void format_addr(char *dst, size_t size, enum addr_status st,
                        const struct mailaddr *a, const char *raw)
{
    char buf[LOG_ADDR_MAX], bracketed[LOG_ADDR_MAX + 2];

    if (st == ADDR_NULL) {
        snprintf(dst, size, "<>");
    } else if (st == ADDR_OK) {
        addr_format(a, buf, sizeof(buf));
        snprintf(bracketed, sizeof(bracketed), "<%s>", buf);
        copy_field(dst, size, bracketed);
    } else {
        copy_field(dst, size, raw);
    }
}

static void reset_message(struct conn *c)
{
    c->in_txn = false;
    c->queue_id[0] = '\0';
    c->sender[0] = '\0';
    c->rcpts[0] = '\0';
    c->rcpts_len = 0;
    c->n_rcpt_logged = c->n_rcpt_more = c->n_rcpt_ok = 0;
    c->rcpt_refused = c->have_would = c->have_pending = false;
    c->cert_issuer[0] = '\0';
    patients_reset(&c->pat);
    forwarding_reset(&c->fwd);
    held_reset(&c->held);
}

static void note_rcpt(struct conn *c, const char *addr, enum addr_class cls, bool refused)
{
    size_t room = sizeof(c->rcpts) - c->rcpts_len;
    int n;

    if (c->n_rcpt_logged >= RCPT_LOG_MAX) {
        c->n_rcpt_more++;
        return;
    }
    n = snprintf(c->rcpts + c->rcpts_len, room, " rcpt=%s/%s%s", addr, addr_class_name(cls),
                 refused ? "/refused" : "");
    if (n < 0 || (size_t)n >= room) {
        c->rcpts[c->rcpts_len] = '\0';
        c->n_rcpt_more++;
        return;
    }
    c->rcpts_len += (size_t)n;
    c->n_rcpt_logged++;
}

/* " cert=STATUS[ cert_cn=CN][ cert_issuer="NAME"]", or "" when the
 * operator-certificate rule did not look at the message. */
static void format_cert(const struct conn *c, char *buf, size_t size)
{
    const char *status = cert_status_name(c->mp.cert);
    char cn[CERT_LOG_MAX];
    int n;

    buf[0] = '\0';
    if (status == NULL)
        return;
    n = snprintf(buf, size, " cert=%s", status);
    if (c->mp.cert_cn[0] != '\0' && n > 0 && (size_t)n < size) {
        copy_field(cn, sizeof(cn), c->mp.cert_cn);
        n += snprintf(buf + n, size - (size_t)n, " cert_cn=%s%s", cn,
                      c->mp.cert_cn_cut ? "..." : "");
    }
    if (c->cert_issuer[0] != '\0' && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " cert_issuer=\"%s\"", c->cert_issuer);
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

/* The reply text goes through a printf-like expansion in the MTA. */
static void escape_percent(char *dst, size_t size, const char *src)
{
    size_t o = 0;

    for (; *src != '\0' && o + 2 < size; src++) {
        unsigned char ch = (unsigned char)*src;
        if (ch == '%')
            dst[o++] = '%';
        dst[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    dst[o] = '\0';
}

static void set_reply(SMFICTX *ctx, const struct verdict *v)
{
    char text[2 * VERDICT_TEXT_MAX + 1];

    escape_percent(text, sizeof(text), v->text);
    if (smfi_setreply(ctx, (char *)v->rcode, (char *)v->xcode, text) != MI_SUCCESS)
        log_warning("smfi_setreply refused reply %s %s (MTA will use its default text)",
                    v->rcode, v->xcode);
}

/*
 * The line (keep it stable, operators parse it):
 *   QUEUEID: direction=DIR sender=<a@b> rcpt=<c@d>/CLASS[/refused] ... [+N more]
 *   verdict=ACTION [would=ACTION] [rule=RULE] [auth=yes] [submission=local]
 *   [internal=yes] [cert=ok|none|mismatch [cert_cn=CN] [cert_issuer="CN"]]
 *   [dryrun=yes] [conv=OP:PATIENT ...] [patient="what the [FIN] rules saw"]
 *   [fwd_add=N fwd_del=N notify=N hold=yes|no] [fwd=memory|unavailable|no-redis]
 *   [reply="CODE X.Y.Z text" | reason="text"]
 * QUEUEID is NOQUEUE before Postfix assigned one.  FINAL is the verdict
 * that applied; NULL when the transaction ended without one ("abort").
 * direction= says which rules applied (policy/message.h): outbound for a
 * client inside (auth=, internal= or submission= says why) or a sender of
 * our own domains let in by its operator's certificate, inbound for the
 * rest of the outside.  cert= is there when the operator-certificate rule
 * looked at the message; the CN and issuer come from the network and are
 * made safe for the line.
 */
static void log_message(struct conn *c, const struct verdict *final)
{
    const char *verdict = final != NULL ? action_name(final->action) : "abort";
    const char *rule = final != NULL && refusal(final->action) ? rule_name(final->rule) : NULL;
    struct stats_verdict done, kept;
    char more[32] = "", would[96] = "", reply[VERDICT_TEXT_MAX + 32] = "";
    char cert[3 * CERT_LOG_MAX + 64] = "";

    if (c->n_rcpt_more > 0)
        snprintf(more, sizeof(more), " +%u more", c->n_rcpt_more);
    if (c->have_would && (final == NULL || !refusal(final->action))) {
        snprintf(would, sizeof(would), " would=%s", action_name(c->would.action));
        rule = rule_name(c->would.rule);
    }
    if (final != NULL && refusal(final->action)) {
        char text[VERDICT_TEXT_MAX];
        size_t i;

        snprintf(text, sizeof(text), "%s", final->text);
        for (i = 0; text[i] != '\0'; i++)
            if (text[i] == '"' || (unsigned char)text[i] < 0x20)
                text[i] = '\'';
        if (final->action == ACT_HOLD)
            snprintf(reply, sizeof(reply), " reason=\"%s\"", text);
        else
            snprintf(reply, sizeof(reply), " reply=\"%s %s %s\"", final->rcode, final->xcode,
                     text);
    }
    format_cert(c, cert, sizeof(cert));
    log_info("%s: direction=%s sender=%s%s%s verdict=%s%s%s%s%s%s%s%s%s%s%s%s",
             c->queue_id[0] ? c->queue_id : "NOQUEUE", direction_name(c->mp.dir),
             c->sender[0] ? c->sender : "<>", c->rcpts, more, verdict, would,
             rule ? " rule=" : "", rule ? rule : "",
             c->mp.authenticated ? " auth=yes" : "",
             c->local_submission ? " submission=local" : "",
             c->internal_host ? " internal=yes" : "", cert,
             c->cfg->rules.dry_run ? " dryrun=yes" : "", patients_log(&c->pat),
             forwarding_log(&c->fwd), reply);
    if (final != NULL) {
        done.action = final->action;
        done.rule = rule_name(final->rule);
    }
    kept.action = c->would.action;
    kept.rule = rule_name(c->would.rule);
    stats_message_end(final != NULL ? &done : NULL, would[0] ? &kept : NULL, c->started);
    c->in_txn = false;
}

/* End of a transaction that was not closed by end of message or a refusal. */
static void log_unfinished(struct conn *c)
{
    if (!c->in_txn)
        return;
    /* Every recipient was refused: that refusal is the message's fate. */
    if (c->rcpt_refused && c->n_rcpt_ok == 0)
        log_message(c, &c->rcpt_refusal);
    else
        log_message(c, NULL);
}

/* An internal error: never let the message through by default. */
static sfsistat internal_error(SMFICTX *ctx, struct conn *c, const char *what)
{
    struct verdict v;

    log_error("internal error: %s", what);
    reply_internal(&v);
    set_reply(ctx, &v);
    if (c != NULL && c->in_txn)
        log_message(c, &v);
    return SMFIS_TEMPFAIL;
}

/*
 * Turn the verdict of one step into a libmilter answer.  Sets *refused when
 * the step was refused (RCPT: only that recipient).
 */
static sfsistat apply(SMFICTX *ctx, struct conn *c, const struct verdict *v, enum step step,
                      bool *refused)
{
    *refused = false;
    if (!refusal(v->action))
        return SMFIS_CONTINUE;
    if (c->cfg->rules.dry_run) {
        if (!c->have_would) {
            c->would = *v;
            c->have_would = true;
        }
        return SMFIS_CONTINUE;
    }
    /* The policy already defers for local submission; this guards the
     * Postfix rule (and quarantine, which exists only at end of message)
     * whatever the policy answers. */
    if (step != STEP_EOM && (c->local_submission || v->action == ACT_HOLD)) {
        if (!c->have_pending) {
            c->pending = *v;
            c->have_pending = true;
        }
        return SMFIS_CONTINUE;
    }
    if (v->action == ACT_HOLD)
        return SMFIS_CONTINUE;   /* handled by the end-of-message callback */

    set_reply(ctx, v);
    *refused = true;
    if (step == STEP_RCPT) {
        if (!c->rcpt_refused) {
            c->rcpt_refusal = *v;
            c->rcpt_refused = true;
        }
    } else {
        log_message(c, v);
    }
    return v->action == ACT_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

/* The daemon is stopping (SIGTERM): new sessions and new messages are
 * deferred, so that the messages in flight can finish (milter/service.h). */
static sfsistat refuse_stopping(SMFICTX *ctx, struct conn *c)
{
    struct verdict v;

    service_stopping_reply(&v);
    set_reply(ctx, &v);
    if (c != NULL && c->in_txn)
        log_message(c, &v);
    return SMFIS_TEMPFAIL;
}

/* ---- callbacks -------------------------------------------------------- */

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

/* "[ADDR]:PORT" for the debug log. */
static void describe_peer(const struct sockaddr *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        port = ntohs(sin->sin_port);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        port = ntohs(sin6->sin6_port);
    }
    snprintf(buf, size, "[%s]:%u", ip, port);
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                             unsigned long f2, unsigned long f3, unsigned long *pf0,
                             unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    /* Steps we do not need.  Headers and body are read for the patient
     * rules ([FIN]); headers need no reply each (SMFIP_NR_HDR, which
     * libmilter fakes for an MTA without it), and the body of a message
     * no rule needs is cut short with SMFIS_SKIP when the MTA offers it. */
    const unsigned long skip = SMFIP_NOHELO | SMFIP_NOUNKNOWN;
    const unsigned long extra = SMFIP_NR_HDR | SMFIP_SKIP;
    const unsigned long actions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE
                                  | SMFIF_SETSYMLIST | SMFIF_ADDRCPT | SMFIF_DELRCPT;

    (void)ctx;
    (void)f2;
    (void)f3;
    if ((f0 & actions) != actions)
        log_warning("the MTA does not offer every milter action needed "
                    "(offered 0x%lx, wanted 0x%lx)", f0, actions);
    *pf0 = f0 & actions;
    if (!(f1 & SMFIP_NR_HDR))
        atomic_store(&mta_lacks_nr_hdr, true);
    if (!(f1 & SMFIP_SKIP))
        atomic_store(&mta_lacks_skip, true);
    *pf1 = f1 & (skip | extra);
    if (atomic_load(&mta_lacks_nr_hdr))
        *pf1 &= ~(unsigned long)SMFIP_NR_HDR;
    *pf2 = 0;
    *pf3 = 0;

    /* Ask for the macros we use, whatever the milter_*_macros settings. */
    if (*pf0 & SMFIF_SETSYMLIST) {
        /* {cert_subject} / {cert_issuer}: the CNs of the client certificate,
         * set only when Postfix verified it (smtpd_tls_CAfile); asked for at
         * MAIL rather than relying on milter_helo_macros.  {rcpt_mailer}:
         * "local" for a recipient delivered on this machine (system mail). */
        smfi_setsymlist(ctx, SMFIM_CONNECT, "j");
        smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen} {cert_subject} {cert_issuer}");
        smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i {rcpt_mailer}");
        smfi_setsymlist(ctx, SMFIM_DATA, "i");
        smfi_setsymlist(ctx, SMFIM_EOH, "i");
        smfi_setsymlist(ctx, SMFIM_EOM, "i");
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    struct conn *c;

    if (service_stopping())
        return refuse_stopping(ctx, NULL);
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return internal_error(ctx, NULL, "out of memory for a new connection");
    if ((c->cfg = service_config_acquire()) == NULL) {
        free(c);
        return internal_error(ctx, NULL, "no configuration in force");
    }
    c->local_submission = is_local_submission(hostname, hostaddr);
    c->internal_host = !c->local_submission
                       && cidr_list_match_sockaddr(&c->cfg->rules.internal_hosts, hostaddr);
    copy_field(c->myhostname, sizeof(c->myhostname), smfi_getsymval(ctx, "j"));
    c->env.local_domains = (const char *const *)c->cfg->rules.local_domains.v;
    c->env.n_local_domains = c->cfg->rules.local_domains.n;
    c->env.patient_domain = c->cfg->rules.patient_domain;
    if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
        service_config_release(c->cfg);
        free(c);
        return internal_error(ctx, NULL, "smfi_setpriv failed");
    }
    stats_connection_open();
    if (c->cfg->log.level >= LOGL_DEBUG) {
        char addr[INET6_ADDRSTRLEN + 16];
        describe_peer(hostaddr, addr, sizeof(addr));
        log_debug("connect from %s%s%s", hostname ? hostname : "unknown", addr,
                  c->local_submission ? " (local submission)"
                  : c->internal_host ? " (InternalHosts)" : "");
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn *c = smfi_getpriv(ctx);
    struct msg_client client;
    const char *auth;
    struct verdict v;
    bool refused;

    if (c == NULL || argv == NULL || argv[0] == NULL)
        return internal_error(ctx, c, "MAIL without connection context");
    log_unfinished(c);
    reset_message(c);
    c->in_txn = true;
    c->started = stats_message_begin();
    read_queue_id(ctx, c);
    auth = smfi_getsymval(ctx, "{auth_authen}");
    memset(&client, 0, sizeof(client));
    client.local_submission = c->local_submission;
    client.internal_host = c->internal_host;
    client.authenticated = auth != NULL && auth[0] != '\0';
    client.cert_cn = smfi_getsymval(ctx, "{cert_subject}");
    client.cert_mode = c->cfg->rules.operator_certificate;
    client.myhostname = c->myhostname;
    copy_quoted(c->cert_issuer, sizeof(c->cert_issuer), smfi_getsymval(ctx, "{cert_issuer}"));

    env_enter(c);
    msgpol_begin(&c->mp, &c->env, &client);
    v = msgpol_sender(&c->mp, argv[0]);
    env_leave(c);

    format_addr(c->sender, sizeof(c->sender),
                c->mp.sender_valid ? ADDR_OK : c->mp.null_sender ? ADDR_NULL : ADDR_MALFORMED,
                &c->mp.sender, argv[0]);
    if (service_stopping())
        return refuse_stopping(ctx, c);
    return apply(ctx, c, &v, STEP_MAIL, &refused);
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn *c = smfi_getpriv(ctx);
    char addr[LOG_ADDR_MAX];
    enum addr_class cls = CLASS_INVALID;
    struct mailaddr parsed;
    const char *mailer;
    struct verdict v;
    sfsistat rc;
    bool refused;

    if (c == NULL || !c->in_txn || argv == NULL || argv[0] == NULL)
        return internal_error(ctx, c, "RCPT outside a transaction");
    read_queue_id(ctx, c);
    mailer = smfi_getsymval(ctx, "{rcpt_mailer}");
    if (c->cfg->log.level >= LOGL_DEBUG) {
        char shown[LOG_ADDR_MAX], how[64];

        copy_field(shown, sizeof(shown), argv[0]);
        copy_field(how, sizeof(how), mailer != NULL ? mailer : "(none)");
        log_debug("%s: RCPT %s {rcpt_mailer}=%s", c->queue_id[0] ? c->queue_id : "NOQUEUE",
                  shown, how);
    }

    env_enter(c);
    v = msgpol_recipient(&c->mp, argv[0], mailer, &cls, &parsed);
    env_leave(c);
    if (!refusal(v.action))
        v = patients_rcpt(&c->pat, c->cfg, &c->mp, &parsed, cls, c->queue_id);

    rc = apply(ctx, c, &v, STEP_RCPT, &refused);
    format_addr(addr, sizeof(addr), cls == CLASS_INVALID ? ADDR_MALFORMED : ADDR_OK,
                &parsed, argv[0]);
    note_rcpt(c, addr, cls, refused);
    if (!refused) {
        c->n_rcpt_ok++;
        forwarding_rcpt(&c->fwd, argv[0], cls == CLASS_INVALID ? NULL : &parsed, cls);
    }
    return rc;
}

static sfsistat cb_data(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    struct verdict v;
    bool refused;

    if (c == NULL || !c->in_txn)
        return internal_error(ctx, c, "DATA outside a transaction");
    read_queue_id(ctx, c);

    env_enter(c);
    v = msgpol_data(&c->mp);
    env_leave(c);
    return apply(ctx, c, &v, STEP_DATA, &refused);
}

/* No reply per header (SMFIP_NR_HDR): a missing context is caught at EOH. */
static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL && c->in_txn) {
        patients_header(&c->pat, name, value);
        held_header(&c->held, name);
    }
    return atomic_load(&mta_lacks_nr_hdr) ? SMFIS_CONTINUE : SMFIS_NOREPLY;
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c == NULL)
        return internal_error(ctx, c, "end of headers without connection context");
    read_queue_id(ctx, c);
    patients_eoh(&c->pat);
    return SMFIS_CONTINUE;
}

/* The body is read only while a rule needs it; then the rest is skipped. */
static sfsistat cb_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c == NULL)
        return internal_error(ctx, c, "body without connection context");
    if (patients_body(&c->pat, buf, len))
        return SMFIS_CONTINUE;
    return atomic_load(&mta_lacks_skip) ? SMFIS_CONTINUE : SMFIS_SKIP;
}

static void add_dry_run_header(SMFICTX *ctx, const struct conn *c)
{
    char value[128];

    if (c->have_would)
        snprintf(value, sizeof(value), "%s rule=%s (dry run)", action_name(c->would.action),
                 c->would.rule != RULE_NONE ? rule_name(c->would.rule) : "unknown");
    else
        snprintf(value, sizeof(value), "accept (dry run)");
    if (smfi_addheader(ctx, VERDICT_HEADER, value) != MI_SUCCESS)
        log_warning("%s: cannot add the %s header",
                    c->queue_id[0] ? c->queue_id : "NOQUEUE", VERDICT_HEADER);
}

static sfsistat hold(SMFICTX *ctx, struct conn *c, const struct verdict *v)
{
    char reason[VERDICT_TEXT_MAX + 64];

    snprintf(reason, sizeof(reason), "mssante-milter %s: %s",
             v->rule != RULE_NONE ? rule_name(v->rule) : "hold", v->text);
    if (held_mark(ctx, v, c->local_submission, c->queue_id) < 0)
        return internal_error(ctx, c, "cannot add the X-MSSante-Held header");
    if (smfi_quarantine(ctx, reason) != MI_SUCCESS)
        return internal_error(ctx, c, "smfi_quarantine failed");
    held_notify(c->cfg, &c->mp, c->local_submission, c->queue_id);
    log_message(c, v);
    return SMFIS_ACCEPT;
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    struct verdict v;
    bool refused;
    sfsistat rc;

    if (c == NULL || !c->in_txn)
        return internal_error(ctx, c, "end of message outside a transaction");
    read_queue_id(ctx, c);
    if (held_strip(ctx, &c->held, c->queue_id) < 0)
        return internal_error(ctx, c, "cannot delete an X-MSSante-Held header");

    env_enter(c);
    v = msgpol_end(&c->mp);
    env_leave(c);
    /* A forward re-injected through sendmail: the plan removes and
     * notifies the classic recipients instead (milter/forwarding.h). */
    if (forwarding_replaces(c->cfg, &c->mp, &v)) {
        memset(&v, 0, sizeof(v));
        v.action = ACT_CONTINUE;
    }
    if (!refusal(v.action) && c->have_pending)
        v = c->pending;
    if (!refusal(v.action))
        v = patients_eom(ctx, &c->pat, c->cfg, &c->mp, c->queue_id);
    if (!refusal(v.action))
        v = forwarding_eom(ctx, &c->fwd, c->cfg, &c->mp, &c->env, c->queue_id);

    if (c->cfg->rules.dry_run) {
        (void)apply(ctx, c, &v, STEP_EOM, &refused);
        add_dry_run_header(ctx, c);
        memset(&v, 0, sizeof(v));
        v.action = ACT_CONTINUE;
        log_message(c, &v);
        return SMFIS_CONTINUE;
    }
    if (v.action == ACT_HOLD)
        return hold(ctx, c, &v);
    rc = apply(ctx, c, &v, STEP_EOM, &refused);
    if (!refused)
        log_message(c, &v);
    return rc;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL) {
        log_unfinished(c);
        reset_message(c);
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL) {
        log_unfinished(c);
        smfi_setpriv(ctx, NULL);
        service_config_release(c->cfg);
        forwarding_free(&c->fwd);
        free(c);
        stats_connection_close();
    }
    return SMFIS_CONTINUE;
}

/* The Redis connections the milter threads share (NULL without Redis). */
static struct redis_pool *pool;

int callbacks_register(const struct config *cfg)
{
    struct smfiDesc desc;

    if (redis_configured(&cfg->redis)
        && (pool = redis_pool_new(&cfg->redis, stats_redis_error)) == NULL) {
        log_error("out of memory");
        return -1;
    }
    patients_init(pool);
    held_init(pool);
    forwarding_init(cfg, pool);
    memset(&desc, 0, sizeof(desc));
    desc.xxfi_name = "mssante-milter";
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_SETSYMLIST
                      | SMFIF_ADDRCPT | SMFIF_DELRCPT;
    desc.xxfi_connect = cb_connect;
    desc.xxfi_envfrom = cb_envfrom;
    desc.xxfi_envrcpt = cb_envrcpt;
    desc.xxfi_data = cb_data;
    desc.xxfi_header = cb_header;
    desc.xxfi_eoh = cb_eoh;
    desc.xxfi_body = cb_body;
    desc.xxfi_eom = cb_eom;
    desc.xxfi_abort = cb_abort;
    desc.xxfi_close = cb_close;
    desc.xxfi_negotiate = cb_negotiate;
    if (smfi_register(desc) == MI_FAILURE) {
        log_error("smfi_register failed");
        return -1;
    }
    return 0;
}

void callbacks_shutdown(void)
{
    redis_pool_free(pool);
    pool = NULL;
}
