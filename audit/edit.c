/*
 * edit.c - the machinery every forward-audit reader shares: text
 * buffers, the line index, the edit list (bytes to drop, text to insert)
 * and the output built from it, findings and import pairs, and the class
 * of an address target (what and why: audit.h, internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit/internal.h"
#include "forward/rules.h"
#include "policy/address.h"

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

char *fwa_dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

bool fwa_is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* ------------------------------------------------------------------ */
/* Lines and edits                                                      */
/* ------------------------------------------------------------------ */

int fwa_split_lines(struct audit *a)
{
    size_t pos = 0, cap = 0;

    while (pos < a->len) {
        const char *nl = memchr(a->d + pos, '\n', a->len - pos);
        size_t next = nl ? (size_t)(nl - a->d) + 1 : a->len;
        size_t end = nl ? (size_t)(nl - a->d) : a->len;

        if (nl && end > pos && a->d[end - 1] == '\r')
            end--;
        if (a->n_lines == cap) {
            struct line *g;

            cap = cap ? cap * 2 : 64;
            if ((g = realloc(a->lines, cap * sizeof(*g))) == NULL)
                return -1;
            a->lines = g;
        }
        a->lines[a->n_lines].start = pos;
        a->lines[a->n_lines].end = end;
        a->lines[a->n_lines].next = next;
        a->n_lines++;
        pos = next;
    }
    return 0;
}

/* Line index (0-based) holding byte POS. */
size_t fwa_line_of(const struct audit *a, size_t pos)
{
    size_t lo = 0, hi = a->n_lines;

    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;

        if (a->lines[mid].start <= pos)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void fwa_drop_range(struct audit *a, size_t from, size_t to)
{
    if (to > a->len)
        to = a->len;
    if (from < to)
        memset(a->drop + from, 1, to - from);
}

void fwa_insert_text(struct audit *a, size_t pos, const char *text)
{
    struct insertion *g;
    char *copy;

    if ((copy = strdup(text)) == NULL
        || (g = realloc(a->ins, (a->n_ins + 1) * sizeof(*g))) == NULL) {
        free(copy);
        a->nomem = true;
        return;
    }
    a->ins = g;
    g[a->n_ins].pos = pos;
    g[a->n_ins].seq = a->n_ins;
    g[a->n_ins].text = copy;
    a->n_ins++;
}

static int cmp_ins(const void *x, const void *y)
{
    const struct insertion *a = x, *b = y;

    if (a->pos != b->pos)
        return a->pos < b->pos ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The input with the edits applied. */
int fwa_build_output(struct audit *a)
{
    struct strbuf out = { 0 };
    size_t pos, k = 0;

    if (a->n_ins > 0)
        qsort(a->ins, a->n_ins, sizeof(*a->ins), cmp_ins);
    strbuf_put(&out, "", 0);
    for (pos = 0; pos <= a->len; pos++) {
        size_t run = pos;

        while (k < a->n_ins && a->ins[k].pos == pos)
            strbuf_puts(&out, a->ins[k++].text);
        if (pos == a->len)
            break;
        /* copy the run of kept bytes up to the next edit in one go */
        while (run < a->len && !a->drop[run]
               && (k >= a->n_ins || a->ins[k].pos > run))
            run++;
        if (run > pos) {
            strbuf_put(&out, a->d + pos, run - pos);
            pos = run - 1;
        }
    }
    if (out.failed) {
        free(out.s);
        return -1;
    }
    a->res->output = out.s;
    a->res->output_len = out.len;
    a->res->changed = out.len != a->len || memcmp(out.s, a->d, a->len) != 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Findings and pairs                                                   */
/* ------------------------------------------------------------------ */

void fwa_add_finding(struct audit *a, enum fwd_finding_kind kind, unsigned line,
                     const char *lhs, const char *target, const char *kept,
                     bool catch_all, bool conditional)
{
    struct fwd_audit_result *r = a->res;
    struct fwd_finding *g, *f;

    if ((g = realloc(r->findings, (r->n_findings + 1) * sizeof(*g))) == NULL) {
        a->nomem = true;
        return;
    }
    r->findings = g;
    f = &g[r->n_findings];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->line = line;
    f->lhs = strdup(lhs);
    f->target = strdup(target);
    f->kept = strdup(kept ? kept : "none");
    f->catch_all = catch_all;
    f->conditional = conditional;
    r->n_findings++;
    if (f->lhs == NULL || f->target == NULL || f->kept == NULL)
        a->nomem = true;
    if (kind == FWD_FIND_CLASSIC)
        r->n_classic++;
}

/* Record (MAILBOX, TARGET) for import, once.  MAILBOX may be NULL. */
void fwa_add_pair(struct audit *a, const char *mailbox, const char *lhs,
                  const char *target)
{
    struct fwd_audit_result *r = a->res;
    struct fwd_import_pair *g, *p;
    char t[FWD_ADDR_MAX];
    size_t i;

    if (fwd_normalize_target(target, t, sizeof(t), NULL) < 0)
        return;
    for (i = 0; i < r->n_pairs; i++) {
        bool same_mb = (mailbox == NULL && r->pairs[i].mailbox == NULL
                        && strcmp(r->pairs[i].lhs, lhs) == 0)
                       || (mailbox != NULL && r->pairs[i].mailbox != NULL
                           && strcmp(r->pairs[i].mailbox, mailbox) == 0);

        if (same_mb && strcasecmp(r->pairs[i].target, t) == 0)
            return;
    }
    if ((g = realloc(r->pairs, (r->n_pairs + 1) * sizeof(*g))) == NULL) {
        a->nomem = true;
        return;
    }
    r->pairs = g;
    p = &g[r->n_pairs++];
    p->mailbox = mailbox ? strdup(mailbox) : NULL;
    p->lhs = strdup(lhs);
    p->target = strdup(t);
    if ((mailbox && p->mailbox == NULL) || p->lhs == NULL || p->target == NULL)
        a->nomem = true;
}

enum tclass fwa_classify_address(const struct audit *a, const char *value)
{
    struct mailaddr m;

    if (strchr(value, '@') == NULL)
        return T_KEEP;              /* a local name */
    if (addr_parse(value, &m, NULL) != ADDR_OK)
        return T_KEEP;              /* not ours to judge: untouched */
    return policy_classify(a->o->env, &m, NULL) == CLASS_CLASSIC ? T_CLASSIC : T_KEEP;
}