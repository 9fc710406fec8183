/*
 * plan.c - the end-of-message forwarding plan (rules in plan.h).
 *
 * Works in two passes over the recipients: the first applies the rules
 * and finds which recipients other rules target (those are "protected"
 * from their own redirect), the second decides the removals.  Addresses are
 * compared case-insensitively as "local@domain": Postfix folds case when it
 * looks a mailbox up, so "Dr.X@chu" and "dr.x@chu" are one recipient.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forward/plan.h"

#define HOLD_REASON "every recipient is outside the MSSante trust space " \
                    "(locally submitted forward); held instead of being sent"

/* Per-recipient working state. */
struct rstate {
    char addr[FWD_ADDR_MAX];   /* "local@domain", "" when it did not parse */
    bool local;                /* a local mailbox: its rule applies */
    bool protected_;           /* some other recipient's rule delivers to it */
    bool has_delivery;         /* its rule sends the message to an MSSante/patient target */
    bool keep_self;            /* its rule lists the mailbox itself */
    bool remove;
    bool reinjected;           /* removed (or held) by s.2 */
};

static bool same_addr(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static bool in_list(char *const *list, size_t n, const char *a)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (same_addr(list[i], a))
            return true;
    }
    return false;
}

static int push_add(struct fwd_plan *p, const char *a)
{
    char **grown, *copy;

    if ((copy = strdup(a)) == NULL)
        return -1;
    if ((grown = realloc(p->add, (p->n_add + 1) * sizeof(*grown))) == NULL) {
        free(copy);
        return -1;
    }
    grown[p->n_add++] = copy;
    p->add = grown;
    return 0;
}

static int push_notice(struct fwd_plan *p, const char *mailbox, const char *target)
{
    struct fwd_notice *grown;
    size_t i;

    for (i = 0; i < p->n_notices; i++) {
        if (same_addr(p->notices[i].mailbox, mailbox)
            && same_addr(p->notices[i].target, target))
            return 0;
    }
    if ((grown = realloc(p->notices, (p->n_notices + 1) * sizeof(*grown))) == NULL)
        return -1;
    p->notices = grown;
    snprintf(grown[p->n_notices].mailbox, FWD_ADDR_MAX, "%s", mailbox);
    snprintf(grown[p->n_notices].target, FWD_ADDR_MAX, "%s", target);
    p->n_notices++;
    return 0;
}

static int push_skipped(struct fwd_plan *p, const char *mailbox, const char *target)
{
    struct fwd_skipped *grown;

    if ((grown = realloc(p->skipped, (p->n_skipped + 1) * sizeof(*grown))) == NULL)
        return -1;
    p->skipped = grown;
    snprintf(grown[p->n_skipped].mailbox, FWD_ADDR_MAX, "%s", mailbox);
    snprintf(grown[p->n_skipped].target, FWD_ADDR_MAX, "%s", target);
    p->n_skipped++;
    return 0;
}

static int push_remove(struct fwd_plan *p, const char *raw)
{
    const char **grown = realloc(p->remove, (p->n_remove + 1) * sizeof(*grown));

    if (grown == NULL)
        return -1;
    grown[p->n_remove++] = raw;
    p->remove = grown;
    return 0;
}

/* Index of the recipient whose address is A, or -1. */
static long find_rcpt(const struct rstate *st, size_t n, const char *a)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (st[i].addr[0] != '\0' && same_addr(st[i].addr, a))
            return (long)i;
    }
    return -1;
}

static bool trust_space(enum addr_class c)
{
    return c == CLASS_MSSANTE || c == CLASS_PATIENT;
}

/*
 * Apply recipient I's rule: add its MSSante/patient targets, queue notices
 * for its classic ones, and mark the recipients it targets as protected.
 */
static int apply_rule(const struct fwd_plan_input *in, struct rstate *st, size_t i,
                      struct fwd_plan *p)
{
    const struct fwd_rule *rule = in->rcpts[i].rule;
    size_t t;

    for (t = 0; t < rule->n_targets; t++) {
        const char *target = rule->targets[t];
        struct mailaddr ta;
        char norm[FWD_ADDR_MAX];
        enum addr_class cls;
        long other;

        if (addr_parse(target, &ta, NULL) != ADDR_OK) {
            if (push_skipped(p, st[i].addr, target) < 0)
                return -1;
            continue;
        }
        addr_format(&ta, norm, sizeof(norm));
        if (same_addr(norm, st[i].addr)) {
            st[i].keep_self = true;
            continue;
        }
        cls = policy_classify(in->env, &ta, NULL);
        if (cls == CLASS_CLASSIC) {
            if (push_notice(p, st[i].addr, norm) < 0)
                return -1;
            continue;
        }
        if (!trust_space(cls)) {
            if (push_skipped(p, st[i].addr, target) < 0)
                return -1;
            continue;
        }
        st[i].has_delivery = true;
        other = find_rcpt(st, in->n_rcpts, norm);
        if (other >= 0)
            st[other].protected_ = true;     /* already a recipient: not added again */
        else if (!in_list(p->add, p->n_add, norm) && push_add(p, norm) < 0)
            return -1;
    }
    p->n_rules_applied++;
    return 0;
}

/* s.2: the classic recipients of a locally submitted trust-space message. */
static void mark_reinjected(const struct fwd_plan_input *in, struct rstate *st)
{
    size_t i;

    if (!in->local_submission || in->sender == NULL)
        return;
    if (!trust_space(policy_classify(in->env, in->sender, NULL)))
        return;
    for (i = 0; i < in->n_rcpts; i++) {
        if (in->rcpts[i].cls == CLASS_CLASSIC && in->rcpts[i].addr != NULL)
            st[i].reinjected = true;
    }
}

static void reset(struct fwd_plan *p)
{
    memset(p, 0, sizeof(*p));
}

int fwd_plan_compute(const struct fwd_plan_input *in, struct fwd_plan *out)
{
    struct rstate *st;
    size_t i, left;

    reset(out);
    if (in == NULL || in->n_rcpts == 0)
        return 0;
    if ((st = calloc(in->n_rcpts, sizeof(*st))) == NULL)
        return -1;
    for (i = 0; i < in->n_rcpts; i++) {
        const struct fwd_rcpt *r = &in->rcpts[i];

        if (r->addr == NULL)
            continue;
        addr_format(r->addr, st[i].addr, sizeof(st[i].addr));
        st[i].local = r->cls == CLASS_MSSANTE
                      && policy_is_local_domain(in->env, r->addr->domain);
    }

    /* Pass 1: rules. */
    for (i = 0; i < in->n_rcpts; i++) {
        if (st[i].local && in->rcpts[i].rule != NULL && apply_rule(in, st, i, out) < 0)
            goto nomem;
    }
    /* Pass 2: which redirects remove their mailbox. */
    for (i = 0; i < in->n_rcpts; i++) {
        const struct fwd_rule *rule = in->rcpts[i].rule;

        if (!st[i].local || rule == NULL || rule->mode != FWD_REDIRECT)
            continue;
        if (st[i].has_delivery && !st[i].keep_self && !st[i].protected_)
            st[i].remove = true;
        else if (!st[i].has_delivery)
            out->n_redirects_kept++;
    }
    /* Forwards made elsewhere. */
    mark_reinjected(in, st);

    left = out->n_add;
    for (i = 0; i < in->n_rcpts; i++) {
        if (!st[i].remove && !st[i].reinjected)
            left++;
    }
    for (i = 0; i < in->n_rcpts; i++) {
        if (!st[i].reinjected)
            continue;
        out->n_reinjected++;
        if (left == 0)
            continue;               /* held below: nothing removed or notified */
        if (push_remove(out, in->rcpts[i].raw) < 0 || push_notice(out, "", st[i].addr) < 0)
            goto nomem;
    }
    if (left == 0 && out->n_reinjected > 0) {
        out->hold = true;
        snprintf(out->hold_reason, sizeof(out->hold_reason), "%s", HOLD_REASON);
    }
    for (i = 0; i < in->n_rcpts; i++) {
        if (st[i].remove && push_remove(out, in->rcpts[i].raw) < 0)
            goto nomem;
    }
    free(st);
    return 0;
nomem:
    free(st);
    fwd_plan_free(out);
    return -1;
}

void fwd_plan_free(struct fwd_plan *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n_add; i++)
        free(p->add[i]);
    free(p->add);
    free(p->remove);
    free(p->notices);
    free(p->skipped);
    reset(p);
}

bool fwd_plan_empty(const struct fwd_plan *p)
{
    return p == NULL
           || (p->n_add == 0 && p->n_remove == 0 && p->n_notices == 0 && !p->hold);
}

void fwd_plan_summary(const struct fwd_plan *p, char *buf, size_t size)
{
    if (buf == NULL || size == 0)
        return;
    if (p == NULL) {
        buf[0] = '\0';
        return;
    }
    snprintf(buf, size, "fwd_add=%zu fwd_del=%zu notify=%zu hold=%s", p->n_add, p->n_remove,
             p->n_notices, p->hold ? "yes" : "no");
}
