/*
 * fuzz_message.c - SMTP sessions driven step by step through the message
 * pipeline (pipeline/pipeline.c, as the daemon runs it), with the fixed
 * trust space of fuzzlib.c: the trust-space rules (policy/trustspace.c),
 * the patient and [FIN] rules (pipeline/stage_patients.c, policy/patient.c,
 * policy/bodyprobe.c, policy/ins.c), forwarding (pipeline/stage_forward.c)
 * and what the pipeline decides itself (the deferral of a local
 * submission's refusals, holds).
 *
 * Input: a script, one step per line (LF); arguments take the escapes
 * \n \r \t \\ and \xHH, so a body chunk can hold any byte:
 *
 *   CONNECT [local]     a new session (local: a sendmail submission)
 *   AUTH                the session authenticated ({auth_authen} at MAIL)
 *   CONV open|closed|down   what the conversation store answers from now on
 *   SET fin-accept | SET ins-warn   FinWithContent accept / PatientKeyCheck warn
 *   MAIL arg | RCPT arg | DATA | HDR Name: value | EOH | BODY chunk | EOM | ABORT
 *
 * Unknown lines are skipped.  The steps reach the session in the order an
 * MTA may send them (the order libmilter lets through): a step out of
 * place (RCPT before MAIL, a header before DATA) is dropped, a MAIL in
 * the middle of a message aborts it first, a body or end of message right
 * after the headers implies the end of headers.
 *
 * What the steps are driven through: struct session_ops, over the
 * pipeline (pipe_session below: only libmilter and Redis are left out, the
 * conversation store is a variable).
 *
 * The oracles, checked at each end of message the session accepts, from
 * the script alone (addr_parse aside, nothing of the code under test), on
 * the recipients accepted and not removed at end of message:
 *  - outbound (authenticated, or a sender in the local domain): every
 *    recipient accepted is in the trust space (listed, local, patient);
 *  - inbound: a local recipient accepted has a null, listed, or patient
 *    sender, and a patient sender writes to the pharmacy or, when the
 *    recipient was given, the store said the conversation was open;
 *  - without PatientKeyCheck warn, every patient recipient accepted has a
 *    valid INS matricule;
 *  - without FinWithContent accept, an outbound message to a patient that
 *    declares a closure (Subject exactly "[FIN]", or X-MSS-MES: FIN) is
 *    not accepted with a non-blank body unless a multipart Content-Type
 *    makes the answer depend on MIME structure (fuzz_bodyprobe's job).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "pipeline/pipeline.h"
#include "policy/ins.h"
#include "tests/fuzz/fuzz.h"

#define PHARMACY     "pharmacie@" FUZZ_LOCAL_DOMAIN
#define MAX_RCPT     64
#define ARG_MAX      2048

enum conv_answer { CONV_CLOSED = 0, CONV_OPEN = 1, CONV_DOWN = -1 };

/* What the session is told besides the SMTP steps. */
struct world {
    enum conv_answer conv;         /* the conversation store's answer */
    bool fin_accept;               /* FinWithContent accept */
    bool ins_warn;                 /* PatientKeyCheck warn */
};

/* ------------------------------------------------------------------ */
/* The session under test                                               */
/* ------------------------------------------------------------------ */

struct session_ops {
    void (*connect)(void *s, bool local_submission);
    struct verdict (*mail)(void *s, const char *arg, bool authenticated);
    struct verdict (*rcpt)(void *s, const char *arg);
    struct verdict (*data)(void *s);
    void (*header)(void *s, const char *name, const char *value);
    void (*eoh)(void *s);
    void (*body)(void *s, const void *buf, size_t len);
    struct verdict (*eom)(void *s);
    void (*abort)(void *s);
    /* Was RCPT (as given) removed from the message at its end? */
    bool (*removed)(void *s, const char *rcpt);
};

static struct verdict ok(void)
{
    return verdict_continue();
}

static bool refusal(const struct verdict *v)
{
    return v->action != ACT_CONTINUE;
}

/*
 * The pipeline (pipeline/pipeline.h), as the daemon runs it but for the
 * world around it: the fixed whitelist of fuzzlib.c, a store whose
 * conversations answer what the script says (and that has no forwarding
 * rule), an MTA that takes every change and writes down the recipients it
 * is asked to remove.  Forwarding is on: a forward made elsewhere (a local
 * submission toward a classic address) loses its classic recipients.
 */
struct pipe_session {
    const struct world *world;
    bool open;                     /* C is connected */
    struct pl_conn c;
    struct rules_settings rules;
    struct pl_store store;
    struct pl_services svc;
    char removed[MAX_RCPT][ARG_MAX];   /* recipients the MTA was asked to remove */
    unsigned n_removed;
};

static char *pharmacies[] = { PHARMACY, NULL };
static char *local_domains[] = { FUZZ_LOCAL_DOMAIN, NULL };

static void lists_enter(void *arg, struct policy_env *env)
{
    const struct policy_env *fixed = fuzz_policy_env();

    (void)arg;
    env->is_listed = fixed->is_listed;
    env->is_cn_listed = fixed->is_cn_listed;
    env->lookup_ctx = fixed->lookup_ctx;
}

static void lists_leave(void *arg, struct policy_env *env)
{
    (void)arg;
    env->is_listed = NULL;
    env->is_cn_listed = NULL;
    env->lookup_ctx = NULL;
}

static int conv_is_open(void *arg, const char *mailbox, const char *patient, struct err *err)
{
    const struct pipe_session *s = arg;

    (void)mailbox;
    (void)patient;
    if (s->world->conv == CONV_DOWN)
        err_set(err, "the script says the store is down");
    return (int)s->world->conv;
}

static int conv_record(void *arg, bool close, const char *mailbox, const char *const *patients,
                       size_t n, const char *qid, long long now, long long ttl, int *result,
                       struct err *err)
{
    const struct pipe_session *s = arg;

    (void)close;
    (void)mailbox;
    (void)patients;
    (void)qid;
    (void)now;
    (void)ttl;
    if (s->world->conv == CONV_DOWN) {
        err_set(err, "the script says the store is down");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        result[i] = 1;
    return 0;
}

static int rules_get(void *arg, const char *const *mailboxes, size_t n, struct fwd_rule **rules,
                     bool *from_memory, struct err *err)
{
    (void)arg;
    (void)mailboxes;
    (void)err;
    *from_memory = false;
    for (size_t i = 0; i < n; i++)
        rules[i] = NULL;
    return 0;
}

static int notices_queue(void *arg, const char *const *mailboxes, const char *const *targets,
                         size_t n, struct err *err)
{
    (void)arg;
    (void)mailboxes;
    (void)targets;
    (void)n;
    (void)err;
    return 0;
}

static int mta_header(void *ctx, const char *name, const char *value)
{
    (void)ctx;
    (void)name;
    (void)value;
    return 0;
}

static int mta_change_header(void *ctx, const char *name, int index, const char *value)
{
    (void)index;
    return mta_header(ctx, name, value);
}

static int mta_rcpt(void *ctx, const char *rcpt)
{
    (void)ctx;
    (void)rcpt;
    return 0;
}

static int mta_del_rcpt(void *ctx, const char *rcpt)
{
    struct pipe_session *s = ctx;

    if (s->n_removed < MAX_RCPT)
        snprintf(s->removed[s->n_removed++], ARG_MAX, "%s", rcpt);
    return 0;
}

static int mta_quarantine(void *ctx, const char *reason)
{
    return mta_rcpt(ctx, reason);
}

/* The pipeline's answer as the verdict the driver reads: a hold is no
 * acceptance. */
static struct verdict verdict_of(const struct pl_answer *a)
{
    struct verdict v = ok();

    if (a->code == PL_REJECT || a->code == PL_TEMPFAIL)
        v = a->reply;
    else if (a->code == PL_ACCEPT)
        v.action = ACT_HOLD;
    return v;
}

static void log_discard(enum log_level level, const char *text, void *arg)
{
    (void)level;
    (void)text;
    (void)arg;
}

static void pipe_init(struct pipe_session *s, const struct world *w)
{
    memset(s, 0, sizeof(*s));
    s->world = w;
    s->rules.local_domains.v = local_domains;
    s->rules.local_domains.n = 1;
    s->rules.patient_domain = FUZZ_PATIENT_DOMAIN;
    s->rules.operator_certificate = CERT_MODE_OFF;
    s->rules.forwarding = true;
    s->rules.pharmacy_mailboxes.v = pharmacies;
    s->rules.pharmacy_mailboxes.n = 1;
    s->rules.conversation_ttl = 30 * 86400;
    s->store = (struct pl_store){
        .conv_is_open = conv_is_open,
        .conv_record = conv_record,
        .rules_get = rules_get,
        .notices_queue = notices_queue,
        .arg = s,
    };
    s->svc.lists = (struct pl_lists){ lists_enter, lists_leave, NULL };
    s->svc.store = &s->store;
    log_set_sink(log_discard, NULL);
}

/* The SET lines apply from the next step on (the patient keys are read at
 * each step, like a configuration in force). */
static struct pipe_session *pipe_of(void *p)
{
    struct pipe_session *s = p;

    s->rules.patient_key_warn = s->world->ins_warn;
    s->rules.fin_content_accept = s->world->fin_accept;
    return s;
}

static void pipe_close(struct pipe_session *s)
{
    if (s->open)
        pl_close(&s->c);
    s->open = false;
}

static void pipe_connect(void *p, bool local_submission)
{
    struct pipe_session *s = pipe_of(p);
    struct sockaddr_in sin;
    struct pl_answer a;

    pipe_close(s);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(local_submission ? INADDR_LOOPBACK : 0xc0000201u);
    sin.sin_port = htons(local_submission ? 0 : 40000);
    a = pl_connect(&s->c, &s->svc, &s->rules, false,
                   local_submission ? "localhost" : "client.example",
                   (const struct sockaddr *)&sin, NULL);
    s->open = a.code == PL_CONTINUE;
}

static struct verdict pipe_mail(void *p, const char *arg, bool authenticated)
{
    struct pipe_session *s = pipe_of(p);
    struct pl_mail_in in = { arg, "", authenticated ? "user" : NULL, NULL, NULL };
    struct pl_answer a = pl_mail(&s->c, &in);

    s->n_removed = 0;
    return verdict_of(&a);
}

/* No {rcpt_mailer}: the recipient's domain says whether it is delivered
 * here (localhost only: no $myhostname). */
static struct verdict pipe_rcpt(void *p, const char *arg)
{
    struct pl_answer a = pl_rcpt(&pipe_of(p)->c, arg, NULL);

    return verdict_of(&a);
}

static struct verdict pipe_data(void *p)
{
    struct pl_answer a = pl_data(&pipe_of(p)->c);

    return verdict_of(&a);
}

static void pipe_header(void *p, const char *name, const char *value)
{
    pl_header(&pipe_of(p)->c, name, value);
}

static void pipe_eoh(void *p)
{
    pl_eoh(&pipe_of(p)->c);
}

static void pipe_body(void *p, const void *buf, size_t len)
{
    (void)pl_body(&pipe_of(p)->c, buf, len);
}

static struct verdict pipe_eom(void *p)
{
    struct pipe_session *s = pipe_of(p);
    const struct pl_mta mta = {
        mta_header, mta_change_header, mta_rcpt, mta_del_rcpt, mta_quarantine, s,
    };
    struct pl_answer a = pl_eom(&s->c, &mta);

    return verdict_of(&a);
}

static void pipe_abort(void *p)
{
    pl_abort(&pipe_of(p)->c);
}

static bool pipe_removed(void *p, const char *rcpt)
{
    const struct pipe_session *s = p;

    for (unsigned i = 0; i < s->n_removed; i++)
        if (strcmp(s->removed[i], rcpt) == 0)
            return true;
    return false;
}

static const struct session_ops pipe_ops = {
    pipe_connect, pipe_mail, pipe_rcpt, pipe_data, pipe_header, pipe_eoh, pipe_body,
    pipe_eom, pipe_abort, pipe_removed,
};

/* ------------------------------------------------------------------ */
/* The oracles                                                          */
/* ------------------------------------------------------------------ */

/* What the driver saw of the message in progress. */
struct seen {
    bool authenticated;
    char sender[ARG_MAX];
    char rcpt[MAX_RCPT][ARG_MAX];  /* accepted recipients (the first MAX_RCPT) */
    enum conv_answer conv[MAX_RCPT];   /* the store's answer when each was given */
    unsigned n_rcpt;
    bool subject_fin_exact;
    bool mes_fin;
    bool multipart;
    bool body_text;                /* a byte other than SP, HTAB, CR, LF */
};

static bool in_trust_space(const char *arg)
{
    struct mailaddr a;

    return addr_parse(arg, &a, NULL) == ADDR_OK && !a.domain_literal && !a.domain_idn_bad
           && (fuzz_domain_listed(a.domain) || strcmp(a.domain, FUZZ_LOCAL_DOMAIN) == 0
               || strcmp(a.domain, FUZZ_PATIENT_DOMAIN) == 0);
}

static bool is_patient(const struct mailaddr *a)
{
    return strcmp(a->domain, FUZZ_PATIENT_DOMAIN) == 0;
}

/* Postfix delivers these on the machine: system mail (root@localhost),
 * accepted from a local submission only.  The model gives no $myhostname. */
static bool delivered_here(const struct mailaddr *a)
{
    return !a->domain_literal && strcmp(a->domain, "localhost") == 0;
}

/* Mail to a local mailbox, from inside or outside: the sender must be in
 * the trust space (a local one counts), the null sender, or a patient let
 * in by an open conversation or to a pharmacy. */
static void check_local_rcpt(const struct seen *m, const struct mailaddr *snd, enum addr_status st)
{
    unsigned i;

    for (i = 0; i < m->n_rcpt; i++) {
        struct mailaddr r;

        if (addr_parse(m->rcpt[i], &r, NULL) != ADDR_OK || strcmp(r.domain, FUZZ_LOCAL_DOMAIN) != 0)
            continue;
        if (st == ADDR_NULL || (st == ADDR_OK && (fuzz_domain_listed(snd->domain)
                                                  || strcmp(snd->domain, FUZZ_LOCAL_DOMAIN) == 0)))
            continue;
        FUZZ_ASSERT(st == ADDR_OK && is_patient(snd),
                    "<%s> accepted for local <%s>", m->sender, m->rcpt[i]);
        if (strcasecmp(r.local, "pharmacie") == 0)
            continue;
        FUZZ_ASSERT(m->conv[i] == CONV_OPEN, "patient <%s> let in without an open conversation",
                    m->sender);
    }
}

/*
 * The rules of MSSANTE.md s.5 as issue 10 left them: the model's clients
 * are inside when they authenticated or submit locally, outside otherwise
 * (no InternalHosts, no client certificate).  From the outside a sender of
 * our own domain is a forgery; from the inside every recipient must be in
 * the trust space (system mail of a local submission apart); route
 * addresses never pass.
 */
static void check_accepted(const struct seen *m, const struct world *w, bool local_submission)
{
    struct mailaddr snd, r;
    /* Postfix hands the null sender of sendmail -f '<>' over as "". */
    enum addr_status st = m->sender[0] == '\0' ? ADDR_NULL : addr_parse(m->sender, &snd, NULL);
    bool inside = m->authenticated || local_submission;
    bool to_patient = false;
    unsigned i;

    FUZZ_ASSERT(m->n_rcpt == 0 || st != ADDR_OK || !addr_route_form(&snd, NULL),
                "route-form sender <%s> accepted", m->sender);
    FUZZ_ASSERT(m->n_rcpt == 0 || inside || st != ADDR_OK
                || strcmp(snd.domain, FUZZ_LOCAL_DOMAIN) != 0,
                "our own domain <%s> accepted from the outside", m->sender);
    for (i = 0; i < m->n_rcpt; i++) {
        struct ins_result ins;
        enum addr_status rs = addr_parse(m->rcpt[i], &r, NULL);

        FUZZ_ASSERT(rs != ADDR_OK || !addr_route_form(&r, NULL), "route-form recipient <%s> accepted",
                    m->rcpt[i]);
        if (inside && !(local_submission && rs == ADDR_OK && delivered_here(&r)))
            FUZZ_ASSERT(in_trust_space(m->rcpt[i]), "from the inside <%s> accepted for <%s>",
                        m->sender, m->rcpt[i]);
        if (!inside && rs == ADDR_OK && delivered_here(&r))
            FUZZ_ASSERT(false, "system recipient <%s> accepted from the outside", m->rcpt[i]);
        if (rs != ADDR_OK || !is_patient(&r))
            continue;
        to_patient = true;
        FUZZ_ASSERT(w->ins_warn || ins_check(r.local, &ins) == INS_OK,
                    "patient address <%s> accepted", m->rcpt[i]);
    }
    check_local_rcpt(m, &snd, st);
    if (inside && to_patient && !w->fin_accept && (m->subject_fin_exact || m->mes_fin)
        && !m->multipart)
        FUZZ_ASSERT(!m->body_text, "[FIN] from <%s> with content accepted", m->sender);
}

/* ------------------------------------------------------------------ */
/* The driver                                                           */
/* ------------------------------------------------------------------ */

enum phase { PH_IDLE = 0, PH_MAIL, PH_RCPT, PH_DATA, PH_BODY };

struct driver {
    const struct session_ops *ops;
    void *s;
    struct world world;
    bool local_submission;
    bool authenticated;
    enum phase phase;
    struct seen seen;
};

/* Decode the escapes of ARG (LEN bytes) into OUT (ARG_MAX).  Returns the
 * decoded length; the result is NUL-terminated (and cut at ARG_MAX - 1). */
static size_t unescape(const char *arg, size_t len, char *out)
{
    size_t i, n = 0;

    for (i = 0; i < len && n < ARG_MAX - 1; i++) {
        char c = arg[i];

        if (c == '\\' && i + 1 < len) {
            char e = arg[++i];

            if (e == 'n')
                c = '\n';
            else if (e == 'r')
                c = '\r';
            else if (e == 't')
                c = '\t';
            else if (e == 'x' && i + 2 < len) {
                char hex[3] = { arg[i + 1], arg[i + 2], '\0' };

                c = (char)strtol(hex, NULL, 16);
                i += 2;
            } else
                c = e;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return n;
}

static void end_message(struct driver *d)
{
    d->phase = PH_IDLE;
    memset(&d->seen, 0, sizeof(d->seen));
}

static void do_mail(struct driver *d, const char *arg)
{
    struct verdict v;

    if (d->phase != PH_IDLE)
        d->ops->abort(d->s);
    end_message(d);
    v = d->ops->mail(d->s, arg, d->authenticated);
    if (refusal(&v))
        return;
    d->phase = PH_MAIL;
    d->seen.authenticated = d->authenticated;
    snprintf(d->seen.sender, sizeof(d->seen.sender), "%s", arg);
}

static void do_rcpt(struct driver *d, const char *arg)
{
    struct verdict v;

    if (d->phase != PH_MAIL && d->phase != PH_RCPT)
        return;
    v = d->ops->rcpt(d->s, arg);
    if (refusal(&v))
        return;
    d->phase = PH_RCPT;
    if (d->seen.n_rcpt < MAX_RCPT) {
        d->seen.conv[d->seen.n_rcpt] = d->world.conv;
        snprintf(d->seen.rcpt[d->seen.n_rcpt++], ARG_MAX, "%s", arg);
    }
}

static void do_data(struct driver *d)
{
    struct verdict v;

    if (d->phase != PH_RCPT)
        return;
    v = d->ops->data(d->s);
    if (refusal(&v)) {
        end_message(d);
        return;
    }
    d->phase = PH_DATA;
}

/* "FIN" in any case, with white space around. */
static bool says_fin(const char *v)
{
    size_t n;

    while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
        v++;
    n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    return n == 3 && strncasecmp(v, "fin", 3) == 0;
}

static void do_header(struct driver *d, const char *line)
{
    const char *colon = strchr(line, ':');
    char name[ARG_MAX];
    const char *value;

    if (d->phase != PH_DATA || colon == NULL || colon == line)
        return;
    memcpy(name, line, (size_t)(colon - line));
    name[colon - line] = '\0';
    value = colon + 1;
    if (*value == ' ')
        value++;          /* libmilter drops the space after the colon */
    d->ops->header(d->s, name, value);
    if (strcasecmp(name, "Subject") == 0 && strcmp(value, "[FIN]") == 0)
        d->seen.subject_fin_exact = true;
    if (strcasecmp(name, "X-MSS-MES") == 0 && says_fin(value))
        d->seen.mes_fin = true;
    if (strcasecmp(name, "Content-Type") == 0 && strcasestr(value, "multipart") != NULL)
        d->seen.multipart = true;
}

static void do_eoh(struct driver *d)
{
    if (d->phase != PH_DATA)
        return;
    d->ops->eoh(d->s);
    d->phase = PH_BODY;
}

static void do_body(struct driver *d, const char *chunk, size_t len)
{
    size_t i;

    if (d->phase == PH_DATA)
        do_eoh(d);
    if (d->phase != PH_BODY)
        return;
    d->ops->body(d->s, chunk, len);
    for (i = 0; i < len; i++)
        if (chunk[i] != ' ' && chunk[i] != '\t' && chunk[i] != '\r' && chunk[i] != '\n')
            d->seen.body_text = true;
}

static void do_eom(struct driver *d)
{
    struct verdict v;

    if (d->phase == PH_DATA)
        do_eoh(d);
    if (d->phase != PH_BODY)
        return;
    v = d->ops->eom(d->s);
    if (v.action == ACT_CONTINUE) {
        static struct seen delivered;
        unsigned i;

        /* What the message is delivered to: the recipients accepted, but
         * those removed at end of message. */
        delivered = d->seen;
        delivered.n_rcpt = 0;
        for (i = 0; i < d->seen.n_rcpt; i++) {
            if (d->ops->removed(d->s, d->seen.rcpt[i]))
                continue;
            delivered.conv[delivered.n_rcpt] = d->seen.conv[i];
            memcpy(delivered.rcpt[delivered.n_rcpt++], d->seen.rcpt[i], ARG_MAX);
        }
        check_accepted(&delivered, &d->world, d->local_submission);
    }
    end_message(d);
}

static void do_connect(struct driver *d, const char *arg)
{
    if (d->phase != PH_IDLE)
        d->ops->abort(d->s);
    end_message(d);
    d->local_submission = strcmp(arg, "local") == 0;
    d->authenticated = false;
    d->ops->connect(d->s, d->local_submission);
}

static void step(struct driver *d, const char *line, size_t len)
{
    char arg[ARG_MAX];
    const char *sp = memchr(line, ' ', len);
    size_t wlen = sp ? (size_t)(sp - line) : len;
    size_t alen = sp ? unescape(sp + 1, len - wlen - 1, arg) : unescape("", 0, arg);

#define IS(w) (wlen == strlen(w) && memcmp(line, w, wlen) == 0)
    if (IS("CONNECT"))
        do_connect(d, arg);
    else if (IS("AUTH"))
        d->authenticated = true;
    else if (IS("CONV"))
        d->world.conv = strcmp(arg, "open") == 0 ? CONV_OPEN
                        : strcmp(arg, "down") == 0 ? CONV_DOWN : CONV_CLOSED;
    else if (IS("SET") && strcmp(arg, "fin-accept") == 0)
        d->world.fin_accept = true;
    else if (IS("SET") && strcmp(arg, "ins-warn") == 0)
        d->world.ins_warn = true;
    else if (IS("MAIL"))
        do_mail(d, arg);
    else if (IS("RCPT"))
        do_rcpt(d, arg);
    else if (IS("DATA"))
        do_data(d);
    else if (IS("HDR"))
        do_header(d, arg);
    else if (IS("EOH"))
        do_eoh(d);
    else if (IS("BODY"))
        do_body(d, arg, alen);
    else if (IS("EOM"))
        do_eom(d);
    else if (IS("ABORT")) {
        if (d->phase != PH_IDLE)
            d->ops->abort(d->s);
        end_message(d);
    }
#undef IS
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pipe_session session;
    static struct driver d;
    const char *p = (const char *)data, *end = p + size;

    memset(&d, 0, sizeof(d));
    pipe_init(&session, &d.world);
    d.ops = &pipe_ops;
    d.s = &session;
    d.ops->connect(d.s, false);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

        step(&d, p, len);
        p += len + (nl != NULL);
    }
    pipe_close(&session);
    return 0;
}
