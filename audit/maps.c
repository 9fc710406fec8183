/*
 * maps.c - the forward audit of Postfix tables: reads virtual(5) and
 * aliases(5) sources as logical lines (continuations, comments), finds the
 * classic targets of local rules and records the edits that take them out
 * (rules in audit.h; shared machinery in edit.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit/internal.h"
#include "forward/rules.h"
#include "policy/address.h"

/* ------------------------------------------------------------------ */
/* Tables: virtual(5) and aliases(5)                                    */
/* ------------------------------------------------------------------ */

struct tok {
    size_t start, end;     /* as written, quotes included */
    size_t line;           /* 0-based line index */
    char *value;           /* unquoted when wholly quoted */
    enum tclass cls;
    bool alive;
};

/* Split [from, to) of one physical line into targets appended to *v. */
static int tokenize_targets(struct audit *a, size_t from, size_t to, size_t line,
                            struct tok **v, size_t *n)
{
    size_t p = from;

    while (p < to) {
        size_t start;
        struct tok *g;

        while (p < to && (fwa_is_blank(a->d[p]) || a->d[p] == ','))
            p++;
        if (p >= to)
            break;
        start = p;
        while (p < to && !fwa_is_blank(a->d[p]) && a->d[p] != ',') {
            if (a->d[p] == '"') {
                for (p++; p < to && a->d[p] != '"'; p++) {
                    if (a->d[p] == '\\' && p + 1 < to)
                        p++;
                }
            }
            if (p < to)
                p++;
        }
        if ((g = realloc(*v, (*n + 1) * sizeof(*g))) == NULL)
            return -1;
        *v = g;
        memset(&g[*n], 0, sizeof(g[*n]));
        g[*n].start = start;
        g[*n].end = p;
        g[*n].line = line;
        g[*n].alive = true;
        if (p - start >= 2 && a->d[start] == '"' && a->d[p - 1] == '"')
            g[*n].value = fwa_dupn(a->d + start + 1, p - start - 2);
        else
            g[*n].value = fwa_dupn(a->d + start, p - start);
        if (g[*n].value == NULL)
            return -1;
        (*n)++;
    }
    return 0;
}

static enum tclass classify_table_target(const struct audit *a, enum fwd_audit_type type,
                                         const char *value)
{
    if (type == FWD_AUDIT_ALIASES) {
        if (value[0] == '|' || value[0] == '/' || strncasecmp(value, ":include:", 9) == 0)
            return T_NOTADDR;
        if (value[0] == '\\')
            return T_KEEP;          /* "\name": the local mailbox itself */
    }
    return fwa_classify_address(a, value);
}

/* What the lhs of a table rule is. */
struct lhs_info {
    bool ours;            /* a local mailbox or domain: audit it */
    bool catch_all;       /* "@domain" */
    char *mailbox;        /* normalised, NULL when it cannot be known */
};

static void lhs_examine(const struct audit *a, enum fwd_audit_type type, const char *lhs,
                        struct lhs_info *li)
{
    char norm[FWD_ADDR_MAX];

    memset(li, 0, sizeof(*li));
    if (type == FWD_AUDIT_VIRTUAL && lhs[0] == '@') {
        char dom[ADDR_DOMAIN_MAX + 1];

        snprintf(dom, sizeof(dom), "%s", lhs + 1);
        li->catch_all = true;
        li->ours = addr_normalize_domain(dom) && policy_is_local_domain(a->o->env, dom);
        return;
    }
    if (type == FWD_AUDIT_VIRTUAL && strchr(lhs, '@') != NULL) {
        struct mailaddr m;

        if (addr_parse(lhs, &m, NULL) != ADDR_OK || !policy_is_local_domain(a->o->env, m.domain))
            return;
        li->ours = true;
        if (fwd_normalize_mailbox(lhs, norm, sizeof(norm), NULL) == 0)
            li->mailbox = strdup(norm);
        return;
    }
    /* A bare name (virtual "user" form, or an aliases(5) name). */
    li->ours = true;
    if (a->o->default_domain != NULL) {
        char full[FWD_ADDR_MAX + ADDR_DOMAIN_MAX];
        const char *name = lhs[0] == '\\' ? lhs + 1 : lhs;

        snprintf(full, sizeof(full), "%s@%s", name, a->o->default_domain);
        if (fwd_normalize_mailbox(full, norm, sizeof(norm), NULL) == 0)
            li->mailbox = strdup(norm);
    }
}

/* "T1, T2" of the tokens that are not classic; "none". */
static char *kept_list(const struct tok *t, size_t n)
{
    struct strbuf b = { 0 };
    size_t i;

    for (i = 0; i < n; i++) {
        if (t[i].cls == T_CLASSIC)
            continue;
        if (b.len > 0)
            strbuf_puts(&b, ", ");
        strbuf_puts(&b, t[i].value);
    }
    if (b.len == 0)
        strbuf_puts(&b, "none");
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* The line end used by line L ("\r\n" or "\n"). */
static const char *line_end_of(const struct audit *a, size_t l)
{
    const struct line *ln = &a->lines[l];

    return ln->next - ln->end == 2 ? "\r\n" : "\n";
}

/*
 * Take the dead token K out, with one separator (rules in audit.h):
 * before the next live token on its line, else after the previous one,
 * else the token and the separators that follow it on its line.
 */
static void drop_token(struct audit *a, struct tok *t, size_t n, size_t k)
{
    size_t j, line_end = a->lines[t[k].line].end;
    long prev = -1, next = -1;

    for (j = k + 1; j < n && t[j].line == t[k].line; j++) {
        if (t[j].alive) {
            next = (long)j;
            break;
        }
    }
    for (j = k; j-- > 0 && t[j].line == t[k].line;) {
        if (t[j].alive) {
            prev = (long)j;
            break;
        }
    }
    if (next >= 0) {
        fwa_drop_range(a, t[k].start, t[next].start);
    } else if (prev >= 0) {
        fwa_drop_range(a, t[prev].end, t[k].end);
    } else {
        size_t e = t[k].end;

        while (e < line_end && (fwa_is_blank(a->d[e]) || a->d[e] == ','))
            e++;
        fwa_drop_range(a, t[k].start, e);
    }
}

/*
 * Would LHS, written as a target, be read back as one target, itself?
 * An aliases(5) name runs up to the ':', so it may hold white space,
 * commas or quotes, which split or join targets: "c i@d" written back
 * would forward to "\c" and to the address "i@d".
 */
static bool one_target(const char *lhs)
{
    return strpbrk(lhs, " \t\r,\"") == NULL;
}

/* A rule left with no target that cannot point at itself: comment out
 * every line of it, after a line saying why, so that its mail bounces
 * instead of leaving the trust space. */
static void comment_out(struct audit *a, const char *lhs, bool catch_all, const size_t *phys,
                        size_t n_phys)
{
    char note[FWD_ADDR_MAX + 160];
    size_t i;

    snprintf(note, sizeof(note), "# " NOTE_MARK ": %s%.200s forwarded only to classic addresses%s: "
             "commented out%s", catch_all ? "catch-all " : "", lhs,
             catch_all ? "" : " and cannot point at itself", line_end_of(a, phys[0]));
    fwa_insert_text(a, a->lines[phys[0]].start, note);
    for (i = 0; i < n_phys; i++)
        fwa_insert_text(a, a->lines[phys[i]].start, "#");
}

/* Apply the rewrite of one logical line (physical lines PHYS, targets T). */
static void rewrite_rule(struct audit *a, enum fwd_audit_type type, const char *lhs,
                         const struct lhs_info *li, const size_t *phys, size_t n_phys,
                         struct tok *t, size_t n)
{
    size_t i, replaced = n, last_alive = n;
    bool any_left = false;

    for (i = 0; i < n; i++) {
        if (t[i].cls != T_CLASSIC)
            any_left = true;
    }
    if (!any_left && (li->catch_all || !one_target(lhs))) {
        comment_out(a, lhs, li->catch_all, phys, n_phys);
        return;
    }
    if (!any_left) {
        /* The first classic target becomes the mailbox itself. */
        char self[FWD_ADDR_MAX + 2];

        if (type == FWD_AUDIT_ALIASES)
            snprintf(self, sizeof(self), "%s%s", lhs[0] == '\\' ? "" : "\\", lhs);
        else
            snprintf(self, sizeof(self), "%s", lhs);
        for (i = 0; i < n && t[i].cls != T_CLASSIC; i++)
            ;
        replaced = i;
        fwa_drop_range(a, t[i].start, t[i].end);
        fwa_insert_text(a, t[i].start, self);
    }
    for (i = 0; i < n; i++) {
        if (t[i].cls == T_CLASSIC && i != replaced) {
            t[i].alive = false;
            drop_token(a, t, n, i);
        }
    }
    /* A continuation line left without a target goes away entirely. */
    for (i = 1; i < n_phys; i++) {
        size_t j;
        bool had = false, alive = false;

        for (j = 0; j < n; j++) {
            if (t[j].line == phys[i]) {
                had = true;
                alive = alive || t[j].alive;
            }
        }
        if (had && !alive)
            fwa_drop_range(a, a->lines[phys[i]].start, a->lines[phys[i]].next);
    }
    /* No comma left dangling after the last target. */
    for (i = 0; i < n; i++) {
        if (t[i].alive)
            last_alive = i;
    }
    if (last_alive < n) {
        size_t p, stop = a->lines[phys[n_phys - 1]].end;

        for (p = t[last_alive].end; p < stop; p++) {
            if (!a->drop[p] && a->d[p] == ',')
                a->drop[p] = 1;
        }
    }
}

/* Audit one logical line made of physical lines PHYS[0..N_PHYS). */
static int table_rule(struct audit *a, enum fwd_audit_type type, const size_t *phys,
                      size_t n_phys)
{
    const struct line *first = &a->lines[phys[0]];
    size_t lhs_end, rhs_start, i, n = 0;
    struct tok *t = NULL;
    struct lhs_info li;
    char *lhs = NULL, *kept = NULL;
    bool classic = false;
    int rc = -1;

    memset(&li, 0, sizeof(li));
    /* The lhs: up to white space (virtual) or the first ':' outside
     * quotes (aliases). */
    if (type == FWD_AUDIT_ALIASES) {
        bool q = false;

        for (lhs_end = first->start; lhs_end < first->end; lhs_end++) {
            if (a->d[lhs_end] == '"')
                q = !q;
            else if (a->d[lhs_end] == ':' && !q)
                break;
        }
        if (lhs_end >= first->end)
            return 0;                       /* no ':': not an alias */
        rhs_start = lhs_end + 1;
        while (lhs_end > first->start && fwa_is_blank(a->d[lhs_end - 1]))
            lhs_end--;
    } else {
        for (lhs_end = first->start; lhs_end < first->end && !fwa_is_blank(a->d[lhs_end]);
             lhs_end++)
            ;
        rhs_start = lhs_end;
    }
    if (lhs_end == first->start
        || (lhs = fwa_dupn(a->d + first->start, lhs_end - first->start)) == NULL)
        return lhs_end == first->start ? 0 : -1;

    if (tokenize_targets(a, rhs_start, first->end, phys[0], &t, &n) < 0)
        goto out;
    for (i = 1; i < n_phys; i++) {
        if (tokenize_targets(a, a->lines[phys[i]].start, a->lines[phys[i]].end, phys[i],
                             &t, &n) < 0)
            goto out;
    }
    lhs_examine(a, type, lhs, &li);
    if (!li.ours) {
        rc = 0;
        goto out;
    }
    for (i = 0; i < n; i++) {
        t[i].cls = classify_table_target(a, type, t[i].value);
        classic = classic || t[i].cls == T_CLASSIC;
    }
    if ((kept = kept_list(t, n)) == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        unsigned line = (unsigned)t[i].line + 1;

        if (t[i].cls == T_CLASSIC) {
            fwa_add_finding(a, FWD_FIND_CLASSIC, line, lhs, t[i].value, kept,
                            li.catch_all, false);
            if (!li.catch_all)
                fwa_add_pair(a, li.mailbox, lhs, t[i].value);
        } else if (t[i].cls == T_NOTADDR) {
            fwa_add_finding(a, FWD_FIND_NOT_ADDRESS, line, lhs, t[i].value, NULL, false, false);
        }
    }
    if (classic)
        rewrite_rule(a, type, lhs, &li, phys, n_phys, t, n);
    rc = 0;
out:
    for (i = 0; i < n; i++)
        free(t[i].value);
    free(t);
    free(kept);
    free(lhs);
    free(li.mailbox);
    return rc;
}

/* Walk the logical lines of a table (continuation rules in audit.h). */
int fwa_audit_table(struct audit *a, enum fwd_audit_type type)
{
    size_t *phys, i = 0;
    int rc = 0;

    if ((phys = calloc(a->n_lines + 1, sizeof(*phys))) == NULL)
        return -1;
    while (i < a->n_lines && rc == 0) {
        const struct line *ln = &a->lines[i];
        size_t n_phys = 0;

        if (ln->start == ln->end || fwa_is_blank(a->d[ln->start]) || a->d[ln->start] == '#') {
            i++;                            /* blank, comment or stray continuation */
            continue;
        }
        phys[n_phys++] = i++;
        while (i < a->n_lines) {
            const struct line *c = &a->lines[i];
            size_t p = c->start;

            if (c->start == c->end || !fwa_is_blank(a->d[c->start]))
                break;                      /* empty line or a new logical line */
            while (p < c->end && fwa_is_blank(a->d[p]))
                p++;
            if (p == c->end)
                break;                      /* white space only: ends the line */
            if (a->d[p] != '#')
                phys[n_phys++] = i;         /* indented comments are skipped */
            i++;
        }
        rc = table_rule(a, type, phys, n_phys);
    }
    free(phys);
    return rc;
}