/*
 * sieve.c - the forward audit of Sieve scripts (RFC 5228): a
 * tokenizer that keeps byte positions, the redirect commands found at
 * command position, and the edits that replace the classic ones (rules in
 * audit.h; shared machinery in edit.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit/internal.h"
#include "common/err.h"
#include "forward/rules.h"

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

bool fwa_ident_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
           || (!first && c >= '0' && c <= '9');
}

/* A quoted string at P (on the opening quote): value unescaped.  Returns
 * the position after the closing quote, or 0 when it is not closed. */
static size_t sieve_string(const struct audit *a, size_t p, struct strbuf *val)
{
    for (p++; p < a->len; p++) {
        if (a->d[p] == '"')
            return p + 1;
        if (a->d[p] == '\\' && p + 1 < a->len)
            p++;
        strbuf_put(val, a->d + p, 1);
    }
    return 0;
}

/* A "text:" multi-line string; P is after "text:".  Returns the position
 * after its closing "." line, or 0 when it has none. */
static size_t sieve_text(const struct audit *a, size_t p, struct strbuf *val)
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
    for (l = fwa_line_of(a, p) + 1; l < a->n_lines; l++) {
        const struct line *ln = &a->lines[l];
        size_t from = ln->start;

        if (ln->end - ln->start == 1 && a->d[ln->start] == '.')
            return ln->next;
        if (a->d[from] == '.' && ln->end > from + 1 && a->d[from + 1] == '.')
            from++;                         /* dot-stuffed */
        strbuf_put(val, a->d + from, ln->next - from);
    }
    return 0;
}

static int sieve_tokenize(const struct audit *a, struct stoks *ts, struct err *err)
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
                err_set(err, "line %zu: unterminated /* comment", fwa_line_of(a, p) + 1);
                return -1;
            }
            p = (size_t)(end - a->d) + 2;
        } else if (c == '"') {
            struct strbuf v = { 0 };

            strbuf_put(&v, "", 0);
            if ((p = sieve_string(a, p, &v)) == 0) {
                free(v.s);
                err_set(err, "line %zu: unterminated string", fwa_line_of(a, start) + 1);
                return -1;
            }
            if (v.failed || stok_push(ts, S_STRING, start, p, v.s, 0) < 0)
                goto nomem;
        } else if (fwa_ident_char(c, true)) {
            while (p < a->len && fwa_ident_char(a->d[p], false))
                p++;
            if (p - start == 4 && strncasecmp(a->d + start, "text", 4) == 0 && p < a->len
                && a->d[p] == ':') {
                struct strbuf v = { 0 };

                strbuf_put(&v, "", 0);
                if ((p = sieve_text(a, p + 1, &v)) == 0) {
                    free(v.s);
                    err_set(err, "line %zu: unterminated text: block",
                            fwa_line_of(a, start) + 1);
                    return -1;
                }
                if (v.failed || stok_push(ts, S_STRING, start, p, v.s, 0) < 0)
                    goto nomem;
            } else if (stok_push(ts, S_IDENT, start, p, fwa_dupn(a->d + start, p - start), 0) < 0
                       || ts->v[ts->n - 1].value == NULL) {
                goto nomem;
            }
        } else if (c == ':' && p + 1 < a->len && fwa_ident_char(a->d[p + 1], true)) {
            for (p++; p < a->len && fwa_ident_char(a->d[p], false); p++)
                ;
            if (stok_push(ts, S_TAG, start, p, fwa_dupn(a->d + start, p - start), 0) < 0
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
    err_set(err, "out of memory");
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

int fwa_audit_sieve(struct audit *a, struct err *err)
{
    struct stoks ts = { 0 };
    struct redirect *rd = NULL;
    size_t n_rd = 0, i, depth = 0;
    bool cmd_pos = true;
    const char *lhs = a->o->sieve_mailbox ? a->o->sieve_mailbox : "-";
    char mailbox[FWD_ADDR_MAX], *kept = NULL;
    struct strbuf kb = { 0 };
    int rc = -1;

    if (sieve_tokenize(a, &ts, err) < 0)
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
        r.cls = r.list ? T_NOTADDR : fwa_classify_address(a, ts.v[r.str].value);
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
            strbuf_puts(&kb, ", ");
        strbuf_puts(&kb, ts.v[rd[i].str].value);
    }
    if (kb.len == 0)
        strbuf_puts(&kb, "none");
    if (kb.failed)
        goto nomem;
    kept = kb.s;
    kb.s = NULL;

    if (a->o->sieve_mailbox == NULL
        || fwd_normalize_mailbox(a->o->sieve_mailbox, mailbox, sizeof(mailbox), NULL) < 0)
        mailbox[0] = '\0';
    for (i = 0; i < n_rd; i++) {
        const char *addr = ts.v[rd[i].str].value;
        unsigned line = (unsigned)fwa_line_of(a, ts.v[rd[i].str].start) + 1;
        char text[FWD_ADDR_MAX + 128];

        if (rd[i].cls == T_NOTADDR) {
            fwa_add_finding(a, FWD_FIND_NOT_ADDRESS, line, lhs, addr, NULL, false, false);
            continue;
        }
        if (rd[i].cls != T_CLASSIC)
            continue;
        fwa_add_finding(a, FWD_FIND_CLASSIC, line, lhs, addr, kept, false, rd[i].conditional);
        fwa_add_pair(a, mailbox[0] ? mailbox : NULL, lhs, addr);
        /* A Sieve bracket comment ends at the first star-slash. */
        if (strstr(addr, "*/") != NULL || strpbrk(addr, "\r\n") != NULL)
            addr = "a classic address";
        snprintf(text, sizeof(text), "%s/* " NOTE_MARK ": redirect%s to %s removed, "
                 "notified instead */", rd[i].copy ? "" : "keep; ",
                 rd[i].copy ? " :copy" : "", addr);
        fwa_drop_range(a, rd[i].start, rd[i].end);
        fwa_insert_text(a, rd[i].start, text);
    }
    rc = 0;
    goto out;
nomem:
    err_set(err, "out of memory");
out:
    free(kb.s);
    free(kept);
    free(rd);
    stoks_free(&ts);
    return rc;
}