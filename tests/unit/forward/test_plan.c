/*
 * test_plan.c - the end-of-message forwarding plan (forward/plan.c):
 * copy and redirect to MSSante, patient, classic and mixed targets,
 * deduplication, recipients that are also targets, and the plan for a
 * forward re-injected through sendmail.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "forward/plan.h"
#include "tests/unit/testlib.h"

static const char *const listed[] = { "medecin.mssante.fr", "pharmacien.mssante.fr" };
static const char *const locals[] = { "chu-test.mssante.fr" };

static bool list_lookup(const void *ctx, const char *domain)
{
    size_t i;

    (void)ctx;
    for (i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
        if (strcmp(listed[i], domain) == 0)
            return true;
    }
    return false;
}

static const struct policy_env env = {
    list_lookup, NULL, locals, 1, "patient.mssante.fr", NULL
};

#define A_LOCAL   "dr.a@chu-test.mssante.fr"
#define B_LOCAL   "dr.b@chu-test.mssante.fr"
#define PEER      "confrere@medecin.mssante.fr"
#define PEER2     "officine@pharmacien.mssante.fr"
#define PATIENT   "279035121518989@patient.mssante.fr"
#define CLASSIC   "secretariat@outlook.fr"
#define CLASSIC2  "home@gmail.com"

/* A message under construction: up to 8 recipients. */
struct msg {
    struct mailaddr addr[8];
    struct fwd_rcpt r[8];
    char raw[8][FWD_ADDR_MAX + 2];
    struct fwd_rule rules[8];
    char *targets[8][8];
    size_t n;
    struct mailaddr sender;
    bool has_sender;
    bool local;
};

static void add_rcpt(struct msg *m, const char *a)
{
    size_t i = m->n++;

    snprintf(m->raw[i], sizeof(m->raw[i]), "<%s>", a);
    m->r[i].raw = m->raw[i];
    if (addr_parse(a, &m->addr[i], NULL) == ADDR_OK) {
        m->r[i].addr = &m->addr[i];
        m->r[i].cls = policy_classify(&env, &m->addr[i], NULL);
    } else {
        m->r[i].addr = NULL;
        m->r[i].cls = CLASS_INVALID;
    }
}

/* Give the last recipient a rule; targets NULL-terminated. */
static void set_rule(struct msg *m, enum fwd_mode mode, const char *t1, const char *t2,
                     const char *t3)
{
    size_t i = m->n - 1, k = 0;
    const char *t[3] = { t1, t2, t3 };
    size_t j;

    for (j = 0; j < 3; j++) {
        if (t[j] != NULL)
            m->targets[i][k++] = (char *)t[j];
    }
    m->rules[i].mailbox = NULL;
    m->rules[i].mode = mode;
    m->rules[i].targets = m->targets[i];
    m->rules[i].n_targets = k;
    m->r[i].rule = &m->rules[i];
}

static void set_sender(struct msg *m, const char *s, bool local_submission)
{
    m->has_sender = addr_parse(s, &m->sender, NULL) == ADDR_OK;
    m->local = local_submission;
}

static void compute(struct msg *m, struct fwd_plan *p)
{
    struct fwd_plan_input in;

    in.env = &env;
    in.local_submission = m->local;
    in.sender = m->has_sender ? &m->sender : NULL;
    in.rcpts = m->r;
    in.n_rcpts = m->n;
    CHECK(fwd_plan_compute(&in, p) == 0);
}

/* The plan as one line, so that each case states the whole expected
 * outcome: "add=a,b del=<x> notify=mb>t,... hold=no". */
static const char *show(const struct fwd_plan *p)
{
    static char buf[2048];
    size_t i, len;

    len = (size_t)snprintf(buf, sizeof(buf), "add=");
    for (i = 0; i < p->n_add; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "," : "", p->add[i]);
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, " del=");
    for (i = 0; i < p->n_remove; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "," : "",
                                p->remove[i]);
    len += (size_t)snprintf(buf + len, sizeof(buf) - len, " notify=");
    for (i = 0; i < p->n_notices; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s>%s", i ? "," : "",
                                p->notices[i].mailbox[0] ? p->notices[i].mailbox : "?",
                                p->notices[i].target);
    snprintf(buf + len, sizeof(buf) - len, " hold=%s", p->hold ? "yes" : "no");
    return buf;
}

static void test_copy_mssante(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_COPY, PEER, NULL, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add=" PEER " del= notify= hold=no");
    CHECK(p.n_rules_applied == 1);
    CHECK(!fwd_plan_empty(&p));
    fwd_plan_free(&p);
}

static void test_redirect_mssante(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, PEER, NULL, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add=" PEER " del=<" A_LOCAL "> notify= hold=no");
    fwd_plan_free(&p);
}

static void test_copy_patient(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, PATIENT, NULL, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add=" PATIENT " del=<" A_LOCAL "> notify= hold=no");
    fwd_plan_free(&p);
}

static void test_copy_classic(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_COPY, CLASSIC, NULL, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add= del= notify=" A_LOCAL ">" CLASSIC " hold=no");
    CHECK(p.n_redirects_kept == 0);
    fwd_plan_free(&p);
}

/* A redirect to classic addresses only keeps the message in the mailbox. */
static void test_redirect_classic(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, CLASSIC, CLASSIC2, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add= del= notify=" A_LOCAL ">" CLASSIC "," A_LOCAL ">" CLASSIC2
              " hold=no");
    CHECK(p.n_redirects_kept == 1);
    fwd_plan_free(&p);
}

static void test_redirect_mixed(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, CLASSIC, PEER, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add=" PEER " del=<" A_LOCAL "> notify=" A_LOCAL ">" CLASSIC
              " hold=no");
    CHECK(p.n_redirects_kept == 0);
    fwd_plan_free(&p);
}

static void test_copy_mixed(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_COPY, PEER, CLASSIC, PEER2);
    compute(&m, &p);
    CHECK_STR(show(&p), "add=" PEER "," PEER2 " del= notify=" A_LOCAL ">" CLASSIC " hold=no");
    fwd_plan_free(&p);
}

/* Two mailboxes with the same targets: one addition, one notice each. */
static void test_dedup(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_COPY, PEER, CLASSIC, NULL);
    add_rcpt(&m, B_LOCAL);
    set_rule(&m, FWD_COPY, "Confrere@MEDECIN.mssante.fr", CLASSIC, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add=" PEER " del= notify=" A_LOCAL ">" CLASSIC "," B_LOCAL ">"
              CLASSIC " hold=no");
    fwd_plan_free(&p);
}

/* The target is already a recipient: not added again. */
static void test_target_is_recipient(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_COPY, PEER, NULL, NULL);
    add_rcpt(&m, "CONFRERE@medecin.mssante.fr");
    compute(&m, &p);
    CHECK_STR(show(&p), "add= del= notify= hold=no");
    CHECK(fwd_plan_empty(&p));
    fwd_plan_free(&p);

    /* A redirect whose target is already a recipient still removes the
     * mailbox: the target gets the message anyway. */
    memset(&m, 0, sizeof(m));
    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, B_LOCAL, NULL, NULL);
    add_rcpt(&m, B_LOCAL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add= del=<" A_LOCAL "> notify= hold=no");
    fwd_plan_free(&p);
}

/* Two mailboxes redirecting to each other must not both vanish. */
static void test_mutual_redirect(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, B_LOCAL, NULL, NULL);
    add_rcpt(&m, B_LOCAL);
    set_rule(&m, FWD_REDIRECT, A_LOCAL, NULL, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add= del= notify= hold=no");
    fwd_plan_free(&p);
}

/* One level only: B's own rule is not applied because A's rule added it. */
static void test_no_chain(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_COPY, B_LOCAL, NULL, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add=" B_LOCAL " del= notify= hold=no");
    fwd_plan_free(&p);
}

/* A rule listing the mailbox itself keeps it, even in redirect mode. */
static void test_keep_self(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, "DR.A@chu-test.mssante.fr", PEER, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add=" PEER " del= notify= hold=no");
    fwd_plan_free(&p);
}

/* Rules apply to local mailboxes only, and unusable targets are reported. */
static void test_not_local_and_skipped(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, PEER);                       /* listed but not ours */
    set_rule(&m, FWD_REDIRECT, PEER2, NULL, NULL);
    compute(&m, &p);
    CHECK(fwd_plan_empty(&p));
    CHECK(p.n_rules_applied == 0);
    fwd_plan_free(&p);

    memset(&m, 0, sizeof(m));
    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, "not an address", NULL, NULL);
    compute(&m, &p);
    CHECK_STR(show(&p), "add= del= notify= hold=no");
    CHECK(p.n_skipped == 1);
    CHECK(p.n_skipped == 1 && strcmp(p.skipped[0].target, "not an address") == 0);
    CHECK(p.n_redirects_kept == 1);
    fwd_plan_free(&p);
}

/* s.2: a forward re-injected through sendmail toward a classic address. */
static void test_reinjected(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, CLASSIC);
    add_rcpt(&m, PEER2);
    set_sender(&m, PEER, true);
    compute(&m, &p);
    CHECK_STR(show(&p), "add= del=<" CLASSIC "> notify=?>" CLASSIC " hold=no");
    CHECK(p.n_reinjected == 1);
    CHECK(p.n_notices == 1 && p.notices[0].mailbox[0] == '\0');
    fwd_plan_free(&p);

    /* Sender in one of our domains, plus a local mailbox with a rule. */
    memset(&m, 0, sizeof(m));
    add_rcpt(&m, CLASSIC);
    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, PEER, NULL, NULL);
    set_sender(&m, B_LOCAL, true);
    compute(&m, &p);
    CHECK_STR(show(&p), "add=" PEER " del=<" CLASSIC ">,<" A_LOCAL "> notify=?>" CLASSIC
              " hold=no");
    fwd_plan_free(&p);
}

/* Nothing would be left: hold, and leave recipients and notices alone. */
static void test_reinjected_hold(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;
    char sum[128];

    add_rcpt(&m, CLASSIC);
    add_rcpt(&m, CLASSIC2);
    set_sender(&m, A_LOCAL, true);
    compute(&m, &p);
    CHECK_STR(show(&p), "add= del= notify= hold=yes");
    CHECK(p.n_reinjected == 2);
    CHECK(strstr(p.hold_reason, "trust space") != NULL);
    fwd_plan_summary(&p, sum, sizeof(sum));
    CHECK_STR(sum, "fwd_add=0 fwd_del=0 notify=0 hold=yes");
    fwd_plan_free(&p);

    /* A rule that adds an MSSante recipient leaves someone: no hold. */
    memset(&m, 0, sizeof(m));
    add_rcpt(&m, CLASSIC);
    add_rcpt(&m, A_LOCAL);
    set_rule(&m, FWD_REDIRECT, CLASSIC2, NULL, NULL);
    set_sender(&m, PATIENT, true);
    compute(&m, &p);
    CHECK_STR(show(&p), "add= del=<" CLASSIC "> notify=" A_LOCAL ">" CLASSIC2 ",?>" CLASSIC
              " hold=no");
    fwd_plan_free(&p);
}

/* The re-injection plan applies to local submissions from the trust space
 * only: SMTP mail, a classic or null sender are left to the other rules. */
static void test_reinjection_scope(void)
{
    struct msg m = { 0 };
    struct fwd_plan p;

    add_rcpt(&m, CLASSIC);
    set_sender(&m, A_LOCAL, false);
    compute(&m, &p);
    CHECK(fwd_plan_empty(&p));
    fwd_plan_free(&p);

    memset(&m, 0, sizeof(m));
    add_rcpt(&m, CLASSIC);
    set_sender(&m, CLASSIC2, true);
    compute(&m, &p);
    CHECK(fwd_plan_empty(&p));
    fwd_plan_free(&p);

    memset(&m, 0, sizeof(m));
    add_rcpt(&m, CLASSIC);
    m.local = true;             /* null sender */
    compute(&m, &p);
    CHECK(fwd_plan_empty(&p));
    CHECK(p.n_reinjected == 0);
    fwd_plan_free(&p);
}

static const struct test_case cases[] = {
    { "copy mssante", test_copy_mssante },
    { "redirect mssante", test_redirect_mssante },
    { "copy patient", test_copy_patient },
    { "copy classic", test_copy_classic },
    { "A redirect to classic addresses only keeps the message in the mailbox", test_redirect_classic },
    { "redirect mixed", test_redirect_mixed },
    { "copy mixed", test_copy_mixed },
    { "Two mailboxes with the same targets: one addition, one notice each", test_dedup },
    { "The target is already a recipient: not added again", test_target_is_recipient },
    { "Two mailboxes redirecting to each other must not both vanish", test_mutual_redirect },
    { "One level only: B's own rule is not applied because A's rule added it", test_no_chain },
    { "A rule listing the mailbox itself keeps it, even in redirect mode", test_keep_self },
    { "Rules apply to local mailboxes only, and unusable targets are reported", test_not_local_and_skipped },
    { "s.2: a forward re-injected through sendmail toward a classic address", test_reinjected },
    { "Nothing would be left: hold, and leave recipients and notices alone", test_reinjected_hold },
    { "reinjection scope", test_reinjection_scope },
};
TEST_MAIN(cases)
