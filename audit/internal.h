/*
 * internal.h - what the parts of the forward audit share (not a public
 * interface: only the files of audit/ include it).
 *
 * The audit is split by job: audit.c holds the entry points, the type
 * guess and the report line; edit.c the machinery every reader uses
 * (line index, edit list and output, findings and import pairs, target
 * classification); maps.c reads and rewrites virtual(5) and aliases(5)
 * tables; sieve.c reads and rewrites Sieve scripts.
 *
 * The input is never re-serialised: every change is recorded as bytes to
 * drop (a mask over the input) and text to insert before a given byte, and
 * the output is the input with those edits applied.  Whatever no edit
 * touches - comments, order, white space, CRLF line ends - comes out byte
 * for byte, which is what lets an administrator review the result with a
 * plain diff.
 */
#ifndef MSSANTE_AUDIT_INTERNAL_H
#define MSSANTE_AUDIT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "audit/audit.h"
#include "common/err.h"
#include "common/strbuf.h"

/* Signs the comments a rewrite leaves in the file. */
#define NOTE_MARK "mssante-milter"

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

/* Class of an address-looking target: classic, in the trust space, or
 * neither (did not parse: left alone). */
enum tclass { T_KEEP = 0, T_CLASSIC, T_NOTADDR };

/* ---- edit.c ---- */

char *fwa_dupn(const char *s, size_t n);              /* malloc'd; NULL: no memory */
bool fwa_is_blank(char c);                            /* space, tab or CR */

/* Index the lines of a->d into a->lines (-1: out of memory). */
int fwa_split_lines(struct audit *a);
/* Line index (0-based) holding byte POS. */
size_t fwa_line_of(const struct audit *a, size_t pos);
/* Edits: drop the bytes [FROM, TO); insert TEXT (copied) before byte POS.
 * Out of memory sets a->nomem. */
void fwa_drop_range(struct audit *a, size_t from, size_t to);
void fwa_insert_text(struct audit *a, size_t pos, const char *text);
/* Apply the edits into a->res->output (-1: out of memory). */
int fwa_build_output(struct audit *a);

/* Append a finding / an import pair (once) to a->res; out of memory sets
 * a->nomem.  KEPT NULL means "none"; MAILBOX may be NULL. */
void fwa_add_finding(struct audit *a, enum fwd_finding_kind kind, unsigned line,
                     const char *lhs, const char *target, const char *kept,
                     bool catch_all, bool conditional);
void fwa_add_pair(struct audit *a, const char *mailbox, const char *lhs,
                  const char *target);
/* T_CLASSIC when VALUE parses as an address whose domain is classic. */
enum tclass fwa_classify_address(const struct audit *a, const char *value);

/* ---- maps.c ---- */

/* Audit and edit a virtual(5) or aliases(5) table (-1: out of memory). */
int fwa_audit_table(struct audit *a, enum fwd_audit_type type);

/* ---- sieve.c ---- */

/* Audit and edit a Sieve script (-1 + err: out of memory, or a script that
 * cannot be tokenised). */
int fwa_audit_sieve(struct audit *a, struct err *err);
/* A Sieve identifier character (FIRST: the first one of the word). */
bool fwa_ident_char(char c, bool first);

#endif
