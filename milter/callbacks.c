/*
 * callbacks.c - the libmilter glue: Postfix's milter events in, smfi_*
 * out.  What happens to a message is decided by the pipeline
 * (pipeline/pipeline.h); this file only reads what libmilter hands over,
 * passes it on, and turns each answer into an SMFIS_* code and a reply:
 *
 *   PL_CONTINUE          SMFIS_CONTINUE
 *   PL_REJECT/TEMPFAIL   smfi_setreply + SMFIS_REJECT / SMFIS_TEMPFAIL
 *   PL_SKIP              SMFIS_SKIP (SMFIS_CONTINUE for an MTA without it)
 *   PL_ACCEPT            SMFIS_ACCEPT (at DATA, a message accepted early:
 *                        Postfix sends nothing more of that message, and
 *                        takes the next one on the connection whole; at
 *                        end of message, a held one)
 * and it does for the pipeline, at end of message, the changes it asks
 * for (struct pl_mta): headers, recipients, quarantine.
 *
 * Each SMTP connection gets a struct conn (smfi_setpriv): the pipeline's
 * state and a reference to the configuration in force when it opened
 * (milter/cfgref.h), kept until it closes, whatever reloads happen
 * meanwhile.  libmilter may run the callbacks of one connection on
 * different threads (Debian's is built with a worker pool): per-connection
 * state lives in struct conn, never in thread-locals.
 *
 * Internal errors (no memory, a callback without its context) answer
 * 451 4.7.1: a milter that cannot decide must not let mail through.
 *
 * Every callback but the negotiation (which reads two flags of this file
 * and nothing else) runs its step through the gate (milter/gate.h): a
 * step that libmilter runs after smfi_main() returned touches nothing the
 * daemon shares, and main() frees nothing while a step let in runs.
 */
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <libmilter/mfapi.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "common/redis_pool.h"
#include "forward/cache.h"
#include "milter/callbacks.h"
#include "milter/cfgref.h"
#include "milter/drain.h"
#include "milter/gate.h"
#include "notify/service.h"
#include "pipeline/pipeline.h"
#include "pipeline/store_redis.h"
#include "policy/replies.h"
#include "stats/stats.h"

struct conn {
    const struct config *cfg;    /* the configuration in force at connect: a reference */
    struct pl_conn pl;
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

/* What the pipeline of every connection shares (set by callbacks_start). */
static struct pl_services services = { { NULL, NULL, NULL }, NULL, drain_stopping, NULL };
static struct redis_pool *pool;          /* NULL without Redis */
static struct fwd_cache *rules_cache;    /* NULL without Redis */
static struct notify_worker *worker;     /* NULL when another node sends */
static struct pl_store *store;           /* NULL without Redis */

/*
 * Memory back to the system once a burst of connections is over.  glibc
 * gives libmilter's threads up to 8 malloc arenas per core and keeps what
 * they freed: after 2,000 connections at once the RSS stayed near four
 * times its idle level (bench/README.md, scale).  So the threads share
 * MALLOC_ARENAS arenas (callbacks_start), and when the last open
 * connection closes, at most once a second, malloc_trim() gives the free
 * pages back: on a quiet server a few tens of microseconds now and then,
 * on a busy one it waits for a lull.  Measured: 10.9 MiB idle, 88 MiB at
 * the peak, 11.6 MiB after.
 */
#define TRIM_EVERY_MS 1000
#define MALLOC_ARENAS 4
static atomic_int open_conns;
static atomic_llong last_trim_ms;

static void conn_opened(void)
{
    atomic_fetch_add(&open_conns, 1);
}

static void conn_closed(void)
{
    long long now, last;

    if (atomic_fetch_sub(&open_conns, 1) != 1)
        return;
    now = monotonic_ms();
    last = atomic_load(&last_trim_ms);
    if (now - last >= TRIM_EVERY_MS && atomic_compare_exchange_strong(&last_trim_ms, &last, now))
        malloc_trim(0);
}

/* ---- answers ---------------------------------------------------------- */

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

static sfsistat reply(SMFICTX *ctx, const struct pl_answer *a)
{
    switch (a->code) {
    case PL_CONTINUE:
        return SMFIS_CONTINUE;
    case PL_REJECT:
        set_reply(ctx, &a->reply);
        return SMFIS_REJECT;
    case PL_TEMPFAIL:
        set_reply(ctx, &a->reply);
        return SMFIS_TEMPFAIL;
    case PL_SKIP:
        return atomic_load(&mta_lacks_skip) ? SMFIS_CONTINUE : SMFIS_SKIP;
    case PL_ACCEPT:
        return SMFIS_ACCEPT;
    }
    return SMFIS_TEMPFAIL;
}

static sfsistat internal_error(SMFICTX *ctx, struct conn *c, const char *what)
{
    struct pl_answer a = pl_internal_error(c != NULL ? &c->pl : NULL, what);

    return reply(ctx, &a);
}

/* The connection's context with the queue id of this step noted. */
static struct conn *context(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL)
        pl_queue_id(&c->pl, smfi_getsymval(ctx, "i"));
    return c;
}

/* ---- the changes asked at end of message (struct pl_mta) ---------------- */

static int mta_add_header(void *ctx, const char *name, const char *value)
{
    return smfi_addheader(ctx, (char *)name, (char *)value) == MI_SUCCESS ? 0 : -1;
}

static int mta_change_header(void *ctx, const char *name, int index, const char *value)
{
    return smfi_chgheader(ctx, (char *)name, index, (char *)value) == MI_SUCCESS ? 0 : -1;
}

static int mta_add_rcpt(void *ctx, const char *rcpt)
{
    return smfi_addrcpt(ctx, (char *)rcpt) == MI_SUCCESS ? 0 : -1;
}

static int mta_del_rcpt(void *ctx, const char *rcpt)
{
    return smfi_delrcpt(ctx, (char *)rcpt) == MI_SUCCESS ? 0 : -1;
}

static int mta_quarantine(void *ctx, const char *reason)
{
    return smfi_quarantine(ctx, (char *)reason) == MI_SUCCESS ? 0 : -1;
}

/* ---- the steps -------------------------------------------------------- */

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

static void conn_free(struct conn *c)
{
    cfgref_release(c->cfg);
    free(c);
}

static sfsistat step_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    struct pl_answer a;
    struct conn *c;

    if ((c = calloc(1, sizeof(*c))) == NULL)
        return internal_error(ctx, NULL, "out of memory for a new connection");
    if ((c->cfg = cfgref_acquire()) == NULL) {
        free(c);
        return internal_error(ctx, NULL, "no configuration in force");
    }
    a = pl_connect(&c->pl, &services, &c->cfg->rules, c->cfg->log.level >= LOGL_DEBUG,
                   hostname, hostaddr, smfi_getsymval(ctx, "j"));
    if (a.code != PL_CONTINUE) {
        conn_free(c);
        return reply(ctx, &a);
    }
    if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
        pl_close(&c->pl);
        conn_free(c);
        return internal_error(ctx, NULL, "smfi_setpriv failed");
    }
    conn_opened();
    return SMFIS_CONTINUE;
}

static sfsistat step_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn *c = smfi_getpriv(ctx);
    struct pl_mail_in in;
    struct pl_answer a;

    if (c == NULL || argv == NULL || argv[0] == NULL)
        return internal_error(ctx, c, "MAIL without connection context");
    in.arg = argv[0];
    in.queue_id = smfi_getsymval(ctx, "i");
    in.auth_authen = smfi_getsymval(ctx, "{auth_authen}");
    in.cert_subject = smfi_getsymval(ctx, "{cert_subject}");
    in.cert_issuer = smfi_getsymval(ctx, "{cert_issuer}");
    a = pl_mail(&c->pl, &in);
    return reply(ctx, &a);
}

static sfsistat step_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn *c = smfi_getpriv(ctx);
    struct pl_answer a;

    if (c == NULL || !c->pl.msg.in_txn || argv == NULL || argv[0] == NULL)
        return internal_error(ctx, c, "RCPT outside a transaction");
    pl_queue_id(&c->pl, smfi_getsymval(ctx, "i"));
    a = pl_rcpt(&c->pl, argv[0], smfi_getsymval(ctx, "{rcpt_mailer}"));
    return reply(ctx, &a);
}

/*
 * DATA may answer SMFIS_ACCEPT (EarlyAccept).  Postfix's milter client
 * (src/milter/milter8.c) takes an accept at any event but connect and
 * HELO as "accept this message" (its state MILTER8_STAT_ACCEPT_MSG).
 * smtpd hands its milters to the cleanup server, which sends the
 * headers, body and end of message, only after the DATA event, and only
 * those still active (milter8_active(): not one that accepted): this
 * milter gets nothing more of the message.  At the end of the transaction
 * smtpd's abort puts it back in the envelope state (milter8_abort()), so
 * the next MAIL on the same connection is sent whole; libmilter itself
 * goes back to its HELO state after an accept.  t_early_accept.sh checks
 * it with two messages on one SMTP connection, the first accepted at
 * DATA, the second to a patient.
 */
static sfsistat step_data(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    struct pl_answer a;

    if (c == NULL || !c->pl.msg.in_txn)
        return internal_error(ctx, c, "DATA outside a transaction");
    pl_queue_id(&c->pl, smfi_getsymval(ctx, "i"));
    a = pl_data(&c->pl);
    return reply(ctx, &a);
}

/* No reply per header (SMFIP_NR_HDR): a missing context is caught at EOH.
 * A message accepted at DATA sends none. */
static sfsistat step_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL && name != NULL && value != NULL)
        pl_header(&c->pl, name, value);
    return atomic_load(&mta_lacks_nr_hdr) ? SMFIS_CONTINUE : SMFIS_NOREPLY;
}

static sfsistat step_eoh(SMFICTX *ctx)
{
    struct conn *c = context(ctx);
    struct pl_answer a;

    if (c == NULL)
        return internal_error(ctx, c, "end of headers without connection context");
    a = pl_eoh(&c->pl);
    return reply(ctx, &a);
}

static sfsistat step_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
    struct conn *c = smfi_getpriv(ctx);
    struct pl_answer a;

    if (c == NULL)
        return internal_error(ctx, c, "body without connection context");
    a = pl_body(&c->pl, buf, len);
    return reply(ctx, &a);
}

static sfsistat step_eom(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    struct pl_mta mta = {
        mta_add_header, mta_change_header, mta_add_rcpt, mta_del_rcpt, mta_quarantine, ctx,
    };
    struct pl_answer a;

    if (c == NULL || !c->pl.msg.in_txn)
        return internal_error(ctx, c, "end of message outside a transaction");
    pl_queue_id(&c->pl, smfi_getsymval(ctx, "i"));
    a = pl_eom(&c->pl, &mta);
    return reply(ctx, &a);
}

static sfsistat step_abort(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL)
        pl_abort(&c->pl);
    return SMFIS_CONTINUE;
}

static sfsistat step_close(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL) {
        smfi_setpriv(ctx, NULL);
        pl_close(&c->pl);
        conn_free(c);
        conn_closed();
    }
    return SMFIS_CONTINUE;
}

/* ---- the gate: each step, as libmilter calls it ------------------------ */

/*
 * A step that comes after smfi_main() returned (milter/gate.h): what the
 * daemon shares may be freed already, so nothing of it is read, not even
 * the log.  The message is deferred (451 4.3.2, from a constant table).
 */
static sfsistat stopped(SMFICTX *ctx)
{
    char text[2 * VERDICT_TEXT_MAX + 1];
    struct verdict v;

    reply_shutting_down(&v);
    escape_percent(text, sizeof(text), v.text);
    /* Refused: the MTA's own 4xx text, the same deferral. */
    (void)smfi_setreply(ctx, (char *)v.rcode, (char *)v.xcode, text);
    return SMFIS_TEMPFAIL;
}

/* ... and a session that closes then frees its own memory only: no
 * verdict line, no counter, no reference given back. */
static sfsistat stopped_close(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL) {
        smfi_setpriv(ctx, NULL);
        pl_discard(&c->pl);
        free(c);
    }
    return SMFIS_CONTINUE;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    sfsistat r;

    if (!gate_enter())
        return stopped(ctx);
    r = step_connect(ctx, hostname, hostaddr);
    gate_leave();
    return r;
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    sfsistat r;

    if (!gate_enter())
        return stopped(ctx);
    r = step_envfrom(ctx, argv);
    gate_leave();
    return r;
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    sfsistat r;

    if (!gate_enter())
        return stopped(ctx);
    r = step_envrcpt(ctx, argv);
    gate_leave();
    return r;
}

static sfsistat cb_data(SMFICTX *ctx)
{
    sfsistat r;

    if (!gate_enter())
        return stopped(ctx);
    r = step_data(ctx);
    gate_leave();
    return r;
}

/* A header gets no reply: a closed gate defers the message at EOH. */
static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    sfsistat r;

    if (!gate_enter())
        return atomic_load(&mta_lacks_nr_hdr) ? SMFIS_CONTINUE : SMFIS_NOREPLY;
    r = step_header(ctx, name, value);
    gate_leave();
    return r;
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    sfsistat r;

    if (!gate_enter())
        return stopped(ctx);
    r = step_eoh(ctx);
    gate_leave();
    return r;
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *buf, size_t len)
{
    sfsistat r;

    if (!gate_enter())
        return stopped(ctx);
    r = step_body(ctx, buf, len);
    gate_leave();
    return r;
}

static sfsistat cb_eom(SMFICTX *ctx)
{
    sfsistat r;

    if (!gate_enter())
        return stopped(ctx);
    r = step_eom(ctx);
    gate_leave();
    return r;
}

static sfsistat cb_abort(SMFICTX *ctx)
{
    sfsistat r;

    if (!gate_enter())
        return SMFIS_CONTINUE;
    r = step_abort(ctx);
    gate_leave();
    return r;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    sfsistat r;

    if (!gate_enter())
        return stopped_close(ctx);
    r = step_close(ctx);
    gate_leave();
    return r;
}

int callbacks_register(void)
{
    struct smfiDesc desc;

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

/* ---- what every connection's pipeline shares --------------------------- */

/* The worker's outcomes, into this node's counters (stats/stats.h). */
static void worker_event(void *arg, enum notify_event ev)
{
    (void)arg;
    if (ev == NOTIFY_EVENT_SENT)
        stats_notify(STATS_NOTIFY_SENT, 1);
    else if (ev == NOTIFY_EVENT_FAILED)
        stats_notify(STATS_NOTIFY_FAILED, 1);
}

/* How old the copy of the forwarding rules may be before a message reads
 * Redis (and the copy is checked against the rules' version): a rule
 * written with mssantectl applies within a second (WhitelistPoll when
 * shorter), at the cost of one Redis round trip a second under load
 * instead of one per message (forward/cache.h). */
#define RULES_FRESH_MS 1000

/* With Redis: the pool, the rules kept in memory, the notice worker and
 * the store over them.  0, or -1 after logging why. */
static int start_redis(const struct config *cfg)
{
    struct err err;

    if ((pool = redis_pool_new(&cfg->redis, stats_redis_error)) == NULL
        || (rules_cache = fwd_cache_new(pool, cfg->redis.prefix,
                                        cfg->live.poll_ms < RULES_FRESH_MS ? cfg->live.poll_ms
                                                                           : RULES_FRESH_MS))
               == NULL) {
        log_error("out of memory");
        return -1;
    }
    /* The rules in memory, for when Redis cannot be read later.  (Forwarding
     * may be switched on by a reload: the copy then fills as rules are read.) */
    if (cfg->rules.forwarding)
        fwd_cache_refresh(rules_cache, true);
    if (notify_service_start(&cfg->notify, &cfg->redis,
                             cfg->rules.local_domains.n > 0 ? cfg->rules.local_domains.v[0]
                                                            : NULL,
                             worker_event, stats_redis_error, &worker, &err) < 0) {
        log_error("cannot start the notice worker: %s", err.msg);
        return -1;
    }
    if ((store = pl_store_redis_new(pool, cfg->redis.prefix, rules_cache, worker)) == NULL) {
        log_error("out of memory");
        return -1;
    }
    services.store = store;
    return 0;
}

int callbacks_close(long long timeout_ms)
{
    unsigned running = gate_close();

    if (running == 0)
        return 0;
    log_notice("stopping: waiting up to %llds for %u milter step(s) still running",
               timeout_ms / 1000, running);
    if (gate_wait_idle(timeout_ms) == 0)
        return 0;
    log_error("stopping: milter step(s) still running after %llds: exiting without "
              "freeing what they use", timeout_ms / 1000);
    return -1;
}

int callbacks_start(const struct config *cfg, const unsigned char *held_key)
{
    /* A few malloc arenas shared by libmilter's threads rather than one
     * per thread: less memory kept after a burst (see TRIM_EVERY_MS). */
    mallopt(M_ARENA_MAX, MALLOC_ARENAS);
    services.lists = pl_live_lists;
    services.held_key = held_key;
    if (redis_configured(&cfg->redis) && start_redis(cfg) < 0) {
        callbacks_stop();
        callbacks_free();
        return -1;
    }
    return 0;
}

void callbacks_stop(void)
{
    notify_worker_stop(worker);
    worker = NULL;
}

void callbacks_free(void)
{
    services.store = NULL;
    services.held_key = NULL;
    pl_store_redis_free(store);
    store = NULL;
    fwd_cache_free(rules_cache);
    rules_cache = NULL;
    redis_pool_free(pool);
    pool = NULL;
}
