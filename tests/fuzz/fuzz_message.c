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
 * pipeline (msgsession.c: only libmilter and Redis are left out, the
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "pipeline/pipeline.h"
#include "policy/ins.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/msgsession.h"

static bool refusal(const struct verdict *v)
{
    return v->action != ACT_CONTINUE;
}

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
