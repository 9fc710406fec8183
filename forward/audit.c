/*
 * audit.c - find forwards to classic mail in virtual(5) maps, aliases(5)
 * files and Sieve scripts, and rewrite them (what and why: audit.h).
 *
 * The input is never re-serialised: every change is recorded as bytes to
 * drop (a mask over the input) and text to insert before a given byte, and
 * the output is the input with those edits applied.  Whatever no edit
 * touches - comments, order, white space, CRLF line ends - comes out byte
 * for byte, which is what lets an administrator review the result with a
 * plain diff.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forward/audit.h"
#include "forward/rules.h"
#include "policy/address.h"

#define NOTE_MARK "mssante-milter"

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* A growing string. */
struct sbuf {
    char *s;
    size_t len, cap;
    bool failed;
};

static void sb_put(struct sbuf *b, const char *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        char *g;

        while (b->len + n + 1 > cap)
            cap *= 2;
        if ((g = realloc(b->s, cap)) == NULL) {
            b->failed = true;
            return;
        }
        b->s = g;
        b->cap = cap;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* ------------------------------------------------------------------ */
/* Lines and edits                                                      */
/* ------------------------------------------------------------------ */

struct line {
    size_t start;     /* first byte */
    size_t end;       /* end of the content: before "\r\n" or "\n" */
    size_t next;      /* start of the next line */
};

struct insertion {
    size_t pos;       /* inserted before this byte (len: at the end) */
    size_t seq;       /* keeps insertions at one position in order */
    char *text;
};

struct audit {
    const char *d;
    size_t len;
    const struct fwd_audit_opts *o;
    struct line *lines;
    size_t n_lines;
    unsigned char *drop;          /* one flag per input byte */
    struct insertion *ins;
    size_t n_ins;
    struct fwd_audit_result *res;
    bool nomem;
};

static int split_lines(struct audit *a)
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
static size_t line_of(const struct audit *a, size_t pos)
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

static void drop_range(struct audit *a, size_t from, size_t to)
{
    if (to > a->len)
        to = a->len;
    if (from < to)
        memset(a->drop + from, 1, to - from);
}

static void insert_text(struct audit *a, size_t pos, const char *text)
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
static int build_output(struct audit *a)
{
    struct sbuf out = { 0 };
    size_t pos, k = 0;

    if (a->n_ins > 0)
        qsort(a->ins, a->n_ins, sizeof(*a->ins), cmp_ins);
    sb_put(&out, "", 0);
    for (pos = 0; pos <= a->len; pos++) {
        size_t run = pos;

        while (k < a->n_ins && a->ins[k].pos == pos)
            sb_str(&out, a->ins[k++].text);
        if (pos == a->len)
            break;
        /* copy the run of kept bytes up to the next edit in one go */
        while (run < a->len && !a->drop[run]
               && (k >= a->n_ins || a->ins[k].pos > run))
            run++;
        if (run > pos) {
            sb_put(&out, a->d + pos, run - pos);
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

static void add_finding(struct audit *a, enum fwd_finding_kind kind, unsigned line,
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
static void add_pair(struct audit *a, const char *mailbox, const char *lhs,
                     const char *target)
{
    struct fwd_audit_result *r = a->res;
    struct fwd_import_pair *g, *p;
    char t[FWD_ADDR_MAX];
    size_t i;

    if (fwd_normalize_target(target, t, sizeof(t), NULL, 0) < 0)
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

/* Class of an address-looking target: classic, in the trust space, or
 * neither (did not parse: left alone). */
enum tclass { T_KEEP = 0, T_CLASSIC, T_NOTADDR };

static enum tclass classify_address(const struct audit *a, const char *value)
{
    struct mailaddr m;

    if (strchr(value, '@') == NULL)
        return T_KEEP;              /* a local name */
    if (addr_parse(value, &m, NULL) != ADDR_OK)
        return T_KEEP;              /* not ours to judge: untouched */
    return policy_classify(a->o->env, &m, NULL) == CLASS_CLASSIC ? T_CLASSIC : T_KEEP;
}

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

        while (p < to && (is_blank(a->d[p]) || a->d[p] == ','))
            p++;
        if (p >= to)
            break;
        start = p;
        while (p < to && !is_blank(a->d[p]) && a->d[p] != ',') {
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
            g[*n].value = dupn(a->d + start + 1, p - start - 2);
        else
            g[*n].value = dupn(a->d + start, p - start);
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
    return classify_address(a, value);
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
        if (fwd_normalize_mailbox(lhs, norm, sizeof(norm), NULL, 0) == 0)
            li->mailbox = strdup(norm);
        return;
    }
    /* A bare name (virtual "user" form, or an aliases(5) name). */
    li->ours = true;
    if (a->o->default_domain != NULL) {
        char full[FWD_ADDR_MAX + ADDR_DOMAIN_MAX];
        const char *name = lhs[0] == '\\' ? lhs + 1 : lhs;

        snprintf(full, sizeof(full), "%s@%s", name, a->o->default_domain);
        if (fwd_normalize_mailbox(full, norm, sizeof(norm), NULL, 0) == 0)
            li->mailbox = strdup(norm);
    }
}

/* "T1, T2" of the tokens that are not classic; "none". */
static char *kept_list(const struct tok *t, size_t n)
{
    struct sbuf b = { 0 };
    size_t i;

    for (i = 0; i < n; i++) {
        if (t[i].cls == T_CLASSIC)
            continue;
        if (b.len > 0)
            sb_str(&b, ", ");
        sb_str(&b, t[i].value);
    }
    if (b.len == 0)
        sb_str(&b, "none");
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
        drop_range(a, t[k].start, t[next].start);
    } else if (prev >= 0) {
        drop_range(a, t[prev].end, t[k].end);
    } else {
        size_t e = t[k].end;

        while (e < line_end && (is_blank(a->d[e]) || a->d[e] == ','))
            e++;
        drop_range(a, t[k].start, e);
    }
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
    if (!any_left && li->catch_all) {
        char note[256];

        snprintf(note, sizeof(note), "# " NOTE_MARK ": catch-all %s forwarded only to "
                 "classic addresses: commented out%s", lhs, line_end_of(a, phys[0]));
        insert_text(a, a->lines[phys[0]].start, note);
        for (i = 0; i < n_phys; i++)
            insert_text(a, a->lines[phys[i]].start, "#");
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
        drop_range(a, t[i].start, t[i].end);
        insert_text(a, t[i].start, self);
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
            drop_range(a, a->lines[phys[i]].start, a->lines[phys[i]].next);
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
        while (lhs_end > first->start && is_blank(a->d[lhs_end - 1]))
            lhs_end--;
    } else {
        for (lhs_end = first->start; lhs_end < first->end && !is_blank(a->d[lhs_end]);
             lhs_end++)
            ;
        rhs_start = lhs_end;
    }
    if (lhs_end == first->start || (lhs = dupn(a->d + first->start, lhs_end - first->start)) == NULL)
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
            add_finding(a, FWD_FIND_CLASSIC, line, lhs, t[i].value, kept, li.catch_all,
                        false);
            if (!li.catch_all)
                add_pair(a, li.mailbox, lhs, t[i].value);
        } else if (t[i].cls == T_NOTADDR) {
            add_finding(a, FWD_FIND_NOT_ADDRESS, line, lhs, t[i].value, NULL, false, false);
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
static int audit_table(struct audit *a, enum fwd_audit_type type)
{
    size_t *phys, i = 0;
    int rc = 0;

    if ((phys = calloc(a->n_lines + 1, sizeof(*phys))) == NULL)
        return -1;
    while (i < a->n_lines && rc == 0) {
        const struct line *ln = &a->lines[i];
        size_t n_phys = 0;

        if (ln->start == ln->end || is_blank(a->d[ln->start]) || a->d[ln->start] == '#') {
            i++;                            /* blank, comment or stray continuation */
            continue;
        }
        phys[n_phys++] = i++;
        while (i < a->n_lines) {
            const struct line *c = &a->lines[i];
            size_t p = c->start;

            if (c->start == c->end || !is_blank(a->d[c->start]))
                break;                      /* empty line or a new logical line */
            while (p < c->end && is_blank(a->d[p]))
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

/* ------------------------------------------------------------------ */
/* Sieve (RFC 5228)                                                     */
/* ------------------------------------------------------------------ */

enum stype { S_IDENT, S_TAG, S_STRING, S_NUMBER, S_PUNCT };

struct stok {
    enum stype type;
    size_t start, end;
    char *value;          /* identifiers and tags as written; strings unescaped */
    char punct;
};

struct stoks {
    struct stok *v;
    size_t n, cap;
};

static int stok_push(struct stoks *ts, enum stype type, size_t start, size_t end,
                     char *value, char punct)
{
    if (ts->n == ts->cap) {
        struct stok *g;
        size_t cap = ts->cap ? ts->cap * 2 : 64;

        if ((g = realloc(ts->v, cap * sizeof(*g))) == NULL) {
            free(value);
            return -1;
        }
        ts->v = g;
        ts->cap = cap;
    }
    ts->v[ts->n].type = type;
    ts->v[ts->n].start = start;
    ts->v[ts->n].end = end;
    ts->v[ts->n].value = value;
    ts->v[ts->n].punct = punct;
    ts->n++;
    return 0;
}

static void stoks_free(struct stoks *ts)
{
    size_t i;

    for (i = 0; i < ts->n; i++)
        free(ts->v[i].value);
    free(ts->v);
}

static bool ident_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
           || (!first && c >= '0' && c <= '9');
}

/* A quoted string at P (on the opening quote): value unescaped.  Returns
 * the position after the closing quote, or 0 when it is not closed. */
static size_t sieve_string(const struct audit *a, size_t p, struct sbuf *val)
{
    for (p++; p < a->len; p++) {
        if (a->d[p] == '"')
            return p + 1;
        if (a->d[p] == '\\' && p + 1 < a->len)
            p++;
        sb_put(val, a->d + p, 1);
    }
    return 0;
}

/* A "text:" multi-line string; P is after "text:".  Returns the position
 * after its closing "." line, or 0 when it has none. */
static size_t sieve_text(const struct audit *a, size_t p, struct sbuf *val)
{
    size_t l;

    while (p < a->len && (a->d[p] == ' ' || a->d[p] == '\t'))
        p++;
    if (p < a->len && a->d[p] == '#') {
        while (p < a->len && a->d[p] != '\n')
            p++;
    }
    if (p < a->len && a->d[p] == '\r')
        p++;
    if (p >= a->len || a->d[p] != '\n')
        return 0;
    for (l = line_of(a, p) + 1; l < a->n_lines; l++) {
        const struct line *ln = &a->lines[l];
        size_t from = ln->start;

        if (ln->end - ln->start == 1 && a->d[ln->start] == '.')
            return ln->next;
        if (a->d[from] == '.' && ln->end > from + 1 && a->d[from + 1] == '.')
            from++;                         /* dot-stuffed */
        sb_put(val, a->d + from, ln->next - from);
    }
    return 0;
}

static int sieve_tokenize(const struct audit *a, struct stoks *ts, char *err, size_t errlen)
{
    size_t p = 0;

    while (p < a->len) {
        char c = a->d[p];
        size_t start = p;

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            p++;
        } else if (c == '#') {
            while (p < a->len && a->d[p] != '\n')
                p++;
        } else if (c == '/' && p + 1 < a->len && a->d[p + 1] == '*') {
            const char *end = NULL;
            size_t q;

            for (q = p + 2; q + 1 < a->len; q++) {
                if (a->d[q] == '*' && a->d[q + 1] == '/') {
                    end = a->d + q;
                    break;
                }
            }
            if (end == NULL) {
                seterr(err, errlen, "line %zu: unterminated /* comment", line_of(a, p) + 1);
                return -1;
            }
            p = (size_t)(end - a->d) + 2;
        } else if (c == '"') {
            struct sbuf v = { 0 };

            sb_put(&v, "", 0);
            if ((p = sieve_string(a, p, &v)) == 0) {
                free(v.s);
                seterr(err, errlen, "line %zu: unterminated string", line_of(a, start) + 1);
                return -1;
            }
            if (v.failed || stok_push(ts, S_STRING, start, p, v.s, 0) < 0)
                goto nomem;
        } else if (ident_char(c, true)) {
            while (p < a->len && ident_char(a->d[p], false))
                p++;
            if (p - start == 4 && strncasecmp(a->d + start, "text", 4) == 0 && p < a->len
                && a->d[p] == ':') {
                struct sbuf v = { 0 };

                sb_put(&v, "", 0);
                if ((p = sieve_text(a, p + 1, &v)) == 0) {
                    free(v.s);
                    seterr(err, errlen, "line %zu: unterminated text: block",
                           line_of(a, start) + 1);
                    return -1;
                }
                if (v.failed || stok_push(ts, S_STRING, start, p, v.s, 0) < 0)
                    goto nomem;
            } else if (stok_push(ts, S_IDENT, start, p, dupn(a->d + start, p - start), 0) < 0
                       || ts->v[ts->n - 1].value == NULL) {
                goto nomem;
            }
        } else if (c == ':' && p + 1 < a->len && ident_char(a->d[p + 1], true)) {
            for (p++; p < a->len && ident_char(a->d[p], false); p++)
                ;
            if (stok_push(ts, S_TAG, start, p, dupn(a->d + start, p - start), 0) < 0
                || ts->v[ts->n - 1].value == NULL)
                goto nomem;
        } else if (c >= '0' && c <= '9') {
            while (p < a->len && a->d[p] >= '0' && a->d[p] <= '9')
                p++;
            if (p < a->len && strchr("KMGkmg", a->d[p]) != NULL)
                p++;
            if (stok_push(ts, S_NUMBER, start, p, NULL, 0) < 0)
                goto nomem;
        } else {
            p++;
            if (stok_push(ts, S_PUNCT, start, p, NULL, c) < 0)
                goto nomem;
        }
    }
    return 0;
nomem:
    seterr(err, errlen, "out of memory");
    return -1;
}

/* One redirect command. */
struct redirect {
    size_t start, end;    /* "redirect" .. ";" inclusive */
    size_t str;           /* token index of the address string */
    bool copy, list, conditional;
    enum tclass cls;
};

/* Parse the redirect command at token I; *next is where to carry on. */
static bool parse_redirect(const struct stoks *ts, size_t i, struct redirect *r, size_t *next)
{
    size_t j;
    int bracket = 0;
    bool have_str = false;

    memset(r, 0, sizeof(*r));
    r->start = ts->v[i].start;
    for (j = i + 1; j < ts->n; j++) {
        const struct stok *t = &ts->v[j];

        if (t->type == S_PUNCT && t->punct == ';' && bracket == 0)
            break;
        if (t->type == S_PUNCT && (t->punct == '{' || t->punct == '}')) {
            *next = j;                      /* malformed: leave it */
            return false;
        }
        if (t->type == S_PUNCT && t->punct == '[')
            bracket++;
        else if (t->type == S_PUNCT && t->punct == ']')
            bracket--;
        else if (t->type == S_TAG && strcasecmp(t->value, ":copy") == 0)
            r->copy = true;
        else if (t->type == S_TAG && strcasecmp(t->value, ":list") == 0)
            r->list = true;
        else if (t->type == S_STRING && bracket == 0) {
            r->str = j;                     /* the positional argument comes last */
            have_str = true;
        }
    }
    *next = j;
    if (j >= ts->n || !have_str)
        return false;
    r->end = ts->v[j].end;
    return true;
}

static int audit_sieve(struct audit *a, char *err, size_t errlen)
{
    struct stoks ts = { 0 };
    struct redirect *rd = NULL;
    size_t n_rd = 0, i, depth = 0;
    bool cmd_pos = true;
    const char *lhs = a->o->sieve_mailbox ? a->o->sieve_mailbox : "-";
    char mailbox[FWD_ADDR_MAX], *kept = NULL;
    struct sbuf kb = { 0 };
    int rc = -1;

    if (sieve_tokenize(a, &ts, err, errlen) < 0)
        goto out;
    for (i = 0; i < ts.n; i++) {
        const struct stok *t = &ts.v[i];
        struct redirect r;
        size_t next;

        if (t->type == S_PUNCT) {
            if (t->punct == '{')
                depth++;
            else if (t->punct == '}' && depth > 0)
                depth--;
            cmd_pos = t->punct == ';' || t->punct == '{' || t->punct == '}';
            continue;
        }
        if (t->type != S_IDENT || !cmd_pos) {
            cmd_pos = false;
            continue;
        }
        cmd_pos = false;
        if (strcasecmp(t->value, "redirect") != 0)
            continue;
        if (!parse_redirect(&ts, i, &r, &next)) {
            i = next - 1;                   /* the ';' or brace is seen next */
            continue;
        }
        r.conditional = depth > 0;
        r.cls = r.list ? T_NOTADDR : classify_address(a, ts.v[r.str].value);
        {
            struct redirect *g = realloc(rd, (n_rd + 1) * sizeof(*g));

            if (g == NULL)
                goto nomem;
            rd = g;
            rd[n_rd++] = r;
        }
        i = next - 1;
    }

    /* "kept": the address redirects of the script that stay. */
    for (i = 0; i < n_rd; i++) {
        if (rd[i].cls != T_KEEP)
            continue;
        if (kb.len > 0)
            sb_str(&kb, ", ");
        sb_str(&kb, ts.v[rd[i].str].value);
    }
    if (kb.len == 0)
        sb_str(&kb, "none");
    if (kb.failed)
        goto nomem;
    kept = kb.s;
    kb.s = NULL;

    if (a->o->sieve_mailbox == NULL
        || fwd_normalize_mailbox(a->o->sieve_mailbox, mailbox, sizeof(mailbox), NULL, 0) < 0)
        mailbox[0] = '\0';
    for (i = 0; i < n_rd; i++) {
        const char *addr = ts.v[rd[i].str].value;
        unsigned line = (unsigned)line_of(a, ts.v[rd[i].str].start) + 1;
        char text[FWD_ADDR_MAX + 128];

        if (rd[i].cls == T_NOTADDR) {
            add_finding(a, FWD_FIND_NOT_ADDRESS, line, lhs, addr, NULL, false, false);
            continue;
        }
        if (rd[i].cls != T_CLASSIC)
            continue;
        add_finding(a, FWD_FIND_CLASSIC, line, lhs, addr, kept, false, rd[i].conditional);
        add_pair(a, mailbox[0] ? mailbox : NULL, lhs, addr);
        /* A Sieve bracket comment ends at the first star-slash. */
        if (strstr(addr, "*/") != NULL || strpbrk(addr, "\r\n") != NULL)
            addr = "a classic address";
        snprintf(text, sizeof(text), "%s/* " NOTE_MARK ": redirect%s to %s removed, "
                 "notified instead */", rd[i].copy ? "" : "keep; ",
                 rd[i].copy ? " :copy" : "", addr);
        drop_range(a, rd[i].start, rd[i].end);
        insert_text(a, rd[i].start, text);
    }
    rc = 0;
    goto out;
nomem:
    seterr(err, errlen, "out of memory");
out:
    free(kb.s);
    free(kept);
    free(rd);
    stoks_free(&ts);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                         */
/* ------------------------------------------------------------------ */

int fwd_audit_type_parse(const char *text, enum fwd_audit_type *out)
{
    static const struct { const char *name; enum fwd_audit_type t; } names[] = {
        { "auto", FWD_AUDIT_AUTO }, { "virtual", FWD_AUDIT_VIRTUAL },
        { "aliases", FWD_AUDIT_ALIASES }, { "sieve", FWD_AUDIT_SIEVE },
    };
    size_t i;

    for (i = 0; text != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(text, names[i].name) == 0) {
            *out = names[i].t;
            return 0;
        }
    }
    return -1;
}

const char *fwd_audit_type_name(enum fwd_audit_type t)
{
    switch (t) {
    case FWD_AUDIT_VIRTUAL: return "virtual";
    case FWD_AUDIT_ALIASES: return "aliases";
    case FWD_AUDIT_SIEVE:   return "sieve";
    case FWD_AUDIT_AUTO:    break;
    }
    return "auto";
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

enum fwd_audit_type fwd_audit_guess_type(const char *name, const char *data, size_t len)
{
    static const char *const sieve_words[] = {
        "require", "if", "redirect", "keep", "fileinto", "discard", "stop",
    };
    const char *base = name ? strrchr(name, '/') : NULL;
    size_t p = 0;

    base = base ? base + 1 : name;
    if (base != NULL) {
        if (ends_with(base, ".sieve") || ends_with(base, ".siv"))
            return FWD_AUDIT_SIEVE;
        if (strcmp(base, "aliases") == 0 || ends_with(base, ".aliases"))
            return FWD_AUDIT_ALIASES;
    }
    while (p < len) {
        const char *nl = memchr(data + p, '\n', len - p);
        size_t end = nl ? (size_t)(nl - data) : len, w = p, i;
        bool quoted = false;

        if (p == end || is_blank(data[p]) || data[p] == '#') {
            p = end + 1;
            continue;
        }
        while (w < end && ident_char(data[w], w == p))
            w++;
        /* A Sieve command word followed by Sieve syntax on its line (a
         * virtual map may have a user called "keep" or "stop"). */
        for (i = 0; i < sizeof(sieve_words) / sizeof(sieve_words[0]); i++) {
            size_t n = strlen(sieve_words[i]);

            if (w - p != n || strncasecmp(data + p, sieve_words[i], n) != 0)
                continue;
            if (memchr(data + w, ';', end - w) || memchr(data + w, '{', end - w)
                || memchr(data + w, '[', end - w) || memchr(data + w, '"', end - w))
                return FWD_AUDIT_SIEVE;
            break;
        }
        /* "name:" is aliases(5); a first word with '@' before any ':' is a
         * virtual map key. */
        for (i = p; i < end && (quoted || !is_blank(data[i])); i++) {
            if (data[i] == '"')
                quoted = !quoted;
            else if (data[i] == ':' && !quoted)
                return FWD_AUDIT_ALIASES;
            else if (data[i] == '@' && !quoted)
                break;
        }
        return FWD_AUDIT_VIRTUAL;
    }
    return FWD_AUDIT_VIRTUAL;
}

void fwd_audit_result_free(struct fwd_audit_result *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->n_findings; i++) {
        free(r->findings[i].lhs);
        free(r->findings[i].target);
        free(r->findings[i].kept);
    }
    free(r->findings);
    for (i = 0; i < r->n_pairs; i++) {
        free(r->pairs[i].mailbox);
        free(r->pairs[i].lhs);
        free(r->pairs[i].target);
    }
    free(r->pairs);
    free(r->output);
    memset(r, 0, sizeof(*r));
}

int fwd_audit_run(const char *name, const char *data, size_t len,
                  const struct fwd_audit_opts *opts, struct fwd_audit_result *out,
                  char *err, size_t errlen)
{
    struct audit a;
    size_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&a, 0, sizeof(a));
    if (opts == NULL || opts->env == NULL || (data == NULL && len > 0)) {
        seterr(err, errlen, "audit: missing arguments");
        return -1;
    }
    a.d = data ? data : "";
    a.len = len;
    a.o = opts;
    a.res = out;
    out->type = opts->type != FWD_AUDIT_AUTO ? opts->type
                                              : fwd_audit_guess_type(name, a.d, len);
    if ((a.drop = calloc(len + 1, 1)) == NULL || split_lines(&a) < 0) {
        seterr(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    if (out->type == FWD_AUDIT_SIEVE)
        rc = audit_sieve(&a, err, errlen);
    else if ((rc = audit_table(&a, out->type)) < 0)
        seterr(err, errlen, "out of memory");
    if (rc == 0 && a.nomem) {
        seterr(err, errlen, "out of memory");
        rc = -1;
    }
    if (rc == 0 && build_output(&a) < 0) {
        seterr(err, errlen, "out of memory");
        rc = -1;
    }
out:
    for (i = 0; i < a.n_ins; i++)
        free(a.ins[i].text);
    free(a.ins);
    free(a.lines);
    free(a.drop);
    if (rc < 0) {
        enum fwd_audit_type t = out->type;

        fwd_audit_result_free(out);
        out->type = t;
    }
    return rc;
}

char *fwd_audit_format(const char *file, const struct fwd_finding *f)
{
    struct sbuf b = { 0 };
    char num[32];

    snprintf(num, sizeof(num), ":%u: ", f->line);
    sb_str(&b, file ? file : "-");
    sb_str(&b, num);
    sb_str(&b, f->lhs);
    sb_str(&b, " -> ");
    sb_str(&b, f->target);
    if (f->kind == FWD_FIND_NOT_ADDRESS) {
        sb_str(&b, " (not an address, left untouched)");
    } else {
        sb_str(&b, " (classic; kept: ");
        sb_str(&b, f->kept);
        if (f->catch_all)
            sb_str(&b, "; catch-all: no milter rule");
        if (f->conditional)
            sb_str(&b, "; conditional");
        sb_str(&b, ")");
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
