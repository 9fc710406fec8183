/*
 * audit.c - find forwards to classic mail in virtual(5) maps, aliases(5)
 * files and Sieve scripts, and rewrite them (what and why: audit.h).
 *
 * This file holds the entry points: the type of a file, the run that
 * hands the text to the table reader (maps.c) or the Sieve reader
 * (sieve.c) and builds the output (edit.c), and the report line.  How the
 * parts fit: internal.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit/audit.h"
#include "audit/internal.h"
#include "common/err.h"

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

        if (p == end || fwa_is_blank(data[p]) || data[p] == '#') {
            p = end + 1;
            continue;
        }
        while (w < end && fwa_ident_char(data[w], w == p))
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
        for (i = p; i < end && (quoted || !fwa_is_blank(data[i])); i++) {
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
                  struct err *err)
{
    struct audit a;
    size_t i;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&a, 0, sizeof(a));
    if (opts == NULL || opts->env == NULL || (data == NULL && len > 0)) {
        err_set(err, "audit: missing arguments");
        return -1;
    }
    a.d = data ? data : "";
    a.len = len;
    a.o = opts;
    a.res = out;
    out->type = opts->type != FWD_AUDIT_AUTO ? opts->type
                                              : fwd_audit_guess_type(name, a.d, len);
    if ((a.drop = calloc(len + 1, 1)) == NULL || fwa_split_lines(&a) < 0) {
        err_set(err, "out of memory");
        rc = -1;
        goto out;
    }
    if (out->type == FWD_AUDIT_SIEVE)
        rc = fwa_audit_sieve(&a, err);
    else if ((rc = fwa_audit_table(&a, out->type)) < 0)
        err_set(err, "out of memory");
    if (rc == 0 && a.nomem) {
        err_set(err, "out of memory");
        rc = -1;
    }
    if (rc == 0 && fwa_build_output(&a) < 0) {
        err_set(err, "out of memory");
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
    struct strbuf b = { 0 };
    char num[32];

    snprintf(num, sizeof(num), ":%u: ", f->line);
    strbuf_puts(&b, file ? file : "-");
    strbuf_puts(&b, num);
    strbuf_puts(&b, f->lhs);
    strbuf_puts(&b, " -> ");
    strbuf_puts(&b, f->target);
    if (f->kind == FWD_FIND_NOT_ADDRESS) {
        strbuf_puts(&b, " (not an address, left untouched)");
    } else {
        strbuf_puts(&b, " (classic; kept: ");
        strbuf_puts(&b, f->kept);
        if (f->catch_all)
            strbuf_puts(&b, "; catch-all: no milter rule");
        if (f->conditional)
            strbuf_puts(&b, "; conditional");
        strbuf_puts(&b, ")");
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
