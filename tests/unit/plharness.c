/*
 * plharness.c - the pipeline without libmilter and Redis, for the unit
 * tests (see plharness.h).
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/logid.h"
#include "tests/unit/plharness.h"

const struct plh_client PLH_OUTSIDE = { "192.0.2.1", 40000, "client.example", NULL, NULL,
                                        NULL };
const struct plh_client PLH_INTERNAL = { "10.0.0.7", 40000, "webmail", NULL, NULL, NULL };
const struct plh_client PLH_AUTH = { "192.0.2.2", 40000, "roaming", NULL, "dr.martin", NULL };
const struct plh_client PLH_LOCAL = { "127.0.0.1", 0, "localhost", "MX.Hopital-Exemple.FR.",
                                      NULL, NULL };

const struct policy_env *plh_env;
struct rules_settings plh_rules;
int plh_conv = 1;
unsigned plh_records, plh_closures, plh_notices, plh_held_notices, plh_rules_reads;
char plh_notice_log[1024];
bool plh_mta_refuses;
bool plh_notices_refused;
char plh_mta_log[8192];
const struct plh_rule *plh_rules_of;

static char *local_domains[] = { PLH_LOCAL_DOMAIN, NULL };

/* ---- the whitelist in force ------------------------------------------------ */

static void lists_enter(void *arg, struct policy_env *env)
{
    (void)arg;
    env->is_listed = plh_env != NULL ? plh_env->is_listed : NULL;
    env->lookup_ctx = plh_env != NULL ? plh_env->lookup_ctx : NULL;
    env->is_cn_listed = plh_env != NULL ? plh_env->is_cn_listed : NULL;
}

static void lists_leave(void *arg, struct policy_env *env)
{
    (void)arg;
    env->is_listed = NULL;
    env->lookup_ctx = NULL;
    env->is_cn_listed = NULL;
}

/* ---- the store --------------------------------------------------------------- */

static int conv_is_open(void *arg, const char *mailbox, const char *patient, struct err *err)
{
    (void)arg;
    (void)mailbox;
    (void)patient;
    if (plh_conv < 0)
        err_set(err, "test store: down");
    return plh_conv;
}

static int conv_record(void *arg, bool close, const char *mailbox, const char *const *patients,
                       size_t n, const char *qid, long long now, long long ttl, int *result,
                       struct err *err)
{
    (void)arg;
    (void)mailbox;
    (void)patients;
    (void)qid;
    (void)now;
    (void)ttl;
    if (plh_conv < 0) {
        err_set(err, "test store: down");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        result[i] = 1;
    plh_records += (unsigned)n;
    if (close)
        plh_closures += (unsigned)n;
    return 0;
}

static struct fwd_rule *rule_of(const char *mailbox)
{
    struct fwd_rule *r;

    for (const struct plh_rule *t = plh_rules_of; t != NULL && t->mailbox != NULL; t++) {
        if (strcasecmp(t->mailbox, mailbox) != 0)
            continue;
        if ((r = calloc(1, sizeof(*r))) == NULL || (r->mailbox = strdup(mailbox)) == NULL
            || (r->targets = calloc(4, sizeof(char *))) == NULL)
            abort();
        r->mode = t->redirect ? FWD_REDIRECT : FWD_COPY;
        for (size_t i = 0; i < 4 && t->targets[i] != NULL; i++)
            if ((r->targets[r->n_targets++] = strdup(t->targets[i])) == NULL)
                abort();
        return r;
    }
    return NULL;
}

static int rules_get(void *arg, const char *const *mailboxes, size_t n, struct fwd_rule **rules,
                     bool *from_memory, struct err *err)
{
    (void)arg;
    (void)err;
    *from_memory = false;
    plh_rules_reads++;
    for (size_t i = 0; i < n; i++)
        rules[i] = rule_of(mailboxes[i]);
    return 0;
}

static int notices_queue(void *arg, const char *const *mailboxes, const char *const *targets,
                         size_t n, struct err *err)
{
    size_t used = strlen(plh_notice_log);

    (void)arg;
    if (plh_notices_refused) {
        err_set(err, "test store: the notice queue refuses the write");
        return -1;
    }
    for (size_t i = 0; i < n && used < sizeof(plh_notice_log); i++)
        used += (size_t)snprintf(plh_notice_log + used, sizeof(plh_notice_log) - used,
                                 "notice to %s about \"%s\"\n", targets[i], mailboxes[i]);
    plh_notices += (unsigned)n;
    return 0;
}

static int held_notice_queue(void *arg, const char *sender, const char *qid, struct err *err)
{
    (void)arg;
    (void)sender;
    (void)qid;
    (void)err;
    plh_held_notices++;
    return 0;
}

static struct pl_store store;

/* The HeldKeyFile key of the tests (PLH_HELD_KEY). */
const unsigned char plh_held_key[HELD_KEY_BYTES] = PLH_HELD_KEY;

struct pl_services plh_svc = { { lists_enter, lists_leave, NULL }, &store, NULL, plh_held_key };

void plh_store_without_forwarding(void)
{
    store.rules_get = NULL;
    store.notices_queue = NULL;
}

void plh_store_none(void)
{
    plh_svc.store = NULL;
}

/* ---- the MTA ------------------------------------------------------------------ */

static int note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int note(const char *fmt, ...)
{
    size_t used = strlen(plh_mta_log);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(plh_mta_log + used, sizeof(plh_mta_log) - used, fmt, ap);
    va_end(ap);
    return plh_mta_refuses ? -1 : 0;
}

static int add_header(void *ctx, const char *name, const char *value)
{
    (void)ctx;
    return note("add_header %s: %s\n", name, value);
}

static int change_header(void *ctx, const char *name, int index, const char *value)
{
    (void)ctx;
    if (value == NULL)
        return note("delete_header %s #%d\n", name, index);
    return note("change_header %s #%d: %s\n", name, index, value);
}

static int add_rcpt(void *ctx, const char *rcpt)
{
    (void)ctx;
    return note("add_rcpt %s\n", rcpt);
}

static int del_rcpt(void *ctx, const char *rcpt)
{
    (void)ctx;
    return note("del_rcpt %s\n", rcpt);
}

static int quarantine(void *ctx, const char *reason)
{
    (void)ctx;
    return note("quarantine %s\n", reason);
}

const struct pl_mta plh_mta = {
    add_header, change_header, add_rcpt, del_rcpt, quarantine, NULL,
};

/* ---- the log ------------------------------------------------------------------ */

char plh_log[16384];

static void log_sink(enum log_level level, const char *text, void *arg)
{
    size_t used = strlen(plh_log);

    (void)level;
    (void)arg;
    snprintf(plh_log + used, sizeof(plh_log) - used, "%s\n", text);
}

const char *plh_verdict_line(void)
{
    static char line[8192];
    const char *p = plh_log, *last = NULL;

    for (; (p = strstr(p, " verdict=")) != NULL; p++)
        last = p;
    if (last == NULL)
        return "";
    while (last > plh_log && last[-1] != '\n')
        last--;
    snprintf(line, sizeof(line), "%.*s", (int)strcspn(last, "\n"), last);
    return line;
}

/* ---- set-up and steps ---------------------------------------------------------- */

void plh_init(void)
{
    static struct err why;

    cidr_list_free(&plh_rules.internal_hosts);
    memset(&plh_rules, 0, sizeof(plh_rules));
    plh_rules.local_domains.v = local_domains;
    plh_rules.local_domains.n = 1;
    plh_rules.patient_domain = "patient.mssante.fr";
    if (cidr_list_parse("10.0.0.0/8", &plh_rules.internal_hosts, &why) < 0)
        abort();
    plh_rules.operator_certificate = CERT_MODE_OFF;
    plh_rules.conversation_ttl = 30 * 86400;
    plh_rules.forwarding = true;
    plh_conv = 1;
    plh_records = plh_closures = plh_notices = plh_held_notices = plh_rules_reads = 0;
    plh_notice_log[0] = '\0';
    plh_mta_refuses = false;
    plh_notices_refused = false;
    plh_mta_log[0] = '\0';
    plh_log[0] = '\0';
    log_set_sink(log_sink, NULL);
    /* The lines these tests read name patients in clear (LogPatientId
     * clear); test_logid and t_patient_log cover the other modes. */
    logid_set_mode(LOGID_CLEAR);
    plh_rules_of = NULL;
    store.conv_is_open = conv_is_open;
    store.conv_record = conv_record;
    store.rules_get = rules_get;
    store.notices_queue = notices_queue;
    store.held_notice_queue = held_notice_queue;
    store.arg = NULL;
    plh_svc.store = &store;
}

struct pl_answer plh_connect(struct pl_conn *c, const struct plh_client *cl)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, cl->ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)cl->port);
    } else if (inet_pton(AF_INET6, cl->ip, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)cl->port);
    } else {
        abort();
    }
    return pl_connect(c, &plh_svc, &plh_rules, false, cl->hostname,
                      (const struct sockaddr *)&ss, cl->myhostname);
}

struct pl_answer plh_mail(struct pl_conn *c, const struct plh_client *cl, const char *arg)
{
    struct pl_mail_in in = { arg, "", cl->auth, cl->cert_cn, NULL };

    return pl_mail(c, &in);
}

struct pl_answer plh_content(struct pl_conn *c, const char *const *headers, const char *body)
{
    struct pl_answer a;

    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        char name[256];
        const char *colon = strchr(headers[i], ':');
        const char *value = colon != NULL ? colon + 1 : "";

        snprintf(name, sizeof(name), "%.*s", colon ? (int)(colon - headers[i]) : 0, headers[i]);
        if (*value == ' ')
            value++;        /* libmilter drops the space after the colon */
        pl_header(c, name, value);
    }
    a = pl_eoh(c);
    if (a.code == PL_CONTINUE && body != NULL && body[0] != '\0')
        (void)pl_body(c, body, strlen(body));
    return a;
}
