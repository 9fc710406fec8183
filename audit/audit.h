/*
 * audit.h - find and rewrite forwards to classic mail in Postfix tables and
 * Sieve scripts ("mssantectl forwards audit|rewrite", issue 5 s.4).
 *
 * Pure: the caller reads the file and writes the result; this module only
 * parses and edits text in memory.  Three kinds of input:
 *
 *   virtual   virtual(5) alias map source: "lhs  rhs1, rhs2".  A logical
 *             line starts in column 1; lines starting with white space
 *             continue it; a line whose first non-blank character is '#'
 *             is a comment (it does not end a logical line when indented);
 *             an empty line ends one.  Targets are separated by commas
 *             and/or white space, "double quotes" group.
 *   aliases   aliases(5): "name: rhs, rhs", same continuation rules; a
 *             target may also be "|command", "/file" or ":include:/file".
 *   sieve     RFC 5228 scripts: "redirect [:copy] "addr";" commands.
 *
 * Which rules count (a "finding"):
 *   virtual   the lhs is "user@domain" or "@domain" (catch-all) with a
 *             domain in LocalDomains, or a bare "user" (Postfix matches it
 *             for $myorigin/$mydestination: local by definition).  A
 *             virtual alias domain declaration ("domain  anything") has no
 *             address on its right side, so it never yields a finding.
 *             Other domains are not ours and are left alone.
 *   aliases   every name: aliases(5) names are local by definition.
 *   sieve     every redirect: the script belongs to a local mailbox (given
 *             with --mailbox, shown as "-" when unknown).
 * and, in such a rule, each target whose domain classifies CLASS_CLASSIC
 * (policy/classify.h).  "|command", "/file" and ":include:" targets are not
 * addresses: they are reported as notes and left untouched.
 *
 * Report lines (fwd_audit_format), one per classic target or note:
 *   FILE:LINE: LHS -> TARGET (classic; kept: T1, T2)
 *   FILE:LINE: LHS -> TARGET (classic; kept: none)
 *   FILE:LINE: @dom -> TARGET (classic; kept: none; catch-all: no milter rule)
 *   FILE:LINE: LHS -> TARGET (classic; kept: none; conditional)      [sieve]
 *   FILE:LINE: LHS -> |/usr/bin/prog (not an address, left untouched)
 * LINE is where the target is written; LHS and targets appear as written
 * (surrounding double quotes removed); "kept" lists the rule's other
 * targets, which the rewrite leaves in place (for a Sieve script: the
 * script's redirects that are not classic).
 *
 * Rewrite (what preserves delivery: the mail must stay in the mailbox):
 *   - each classic target is taken out of its rule together with one
 *     separator; a continuation line left with no target is removed, and a
 *     comma left dangling after the last target is dropped;
 *   - a rule left with no target points at the mailbox itself instead of
 *     disappearing (a line removed from a virtual map would make an alias
 *     without a mailbox bounce): virtual "lhs lhs", aliases "name: \name"
 *     (the backslash stops alias expansion, aliases(5));
 *   - a catch-all "@domain" left with no target cannot point at itself: the
 *     whole logical line is commented out ("#" in front of each of its
 *     lines, after a "# mssante-milter: ..." line saying why), so unknown
 *     addresses of the domain bounce instead of leaving the trust space;
 *   - Sieve: a "redirect :copy" to a classic address is replaced by a
 *     comment, a plain "redirect" by "keep;" and a comment (a plain
 *     redirect cancels the implicit keep; keep guarantees the message stays
 *     in the mailbox, on the safe side even when another redirect remains).
 * Every other byte is kept as it was: comments, order, white space, CRLF.
 * The (mailbox, classic target) pairs are returned for import as milter
 * copy rules, so that each target gets a notice instead (Sieve conditions
 * are not carried over: the milter rule notifies for every message).
 * A pair's mailbox is the lhs normalised; a bare name is qualified with
 * default_domain, and stays NULL when none is given or the lhs is a
 * catch-all (then it cannot be imported: the caller says so).
 */
#ifndef MSSANTE_AUDIT_H
#define MSSANTE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "policy/classify.h"

enum fwd_audit_type {
    FWD_AUDIT_AUTO = 0,      /* guess from the file name, then the content */
    FWD_AUDIT_VIRTUAL,
    FWD_AUDIT_ALIASES,
    FWD_AUDIT_SIEVE
};

struct fwd_audit_opts {
    enum fwd_audit_type type;
    const struct policy_env *env;   /* LocalDomains + whitelist lookup */
    const char *default_domain;     /* qualifies bare names; NULL: keep them bare */
    const char *sieve_mailbox;      /* owner of a Sieve script; NULL: unknown */
};

enum fwd_finding_kind {
    FWD_FIND_CLASSIC,        /* a classic target: rewritten and imported */
    FWD_FIND_NOT_ADDRESS     /* a pipe, file or :include: target: a note only */
};

struct fwd_finding {
    enum fwd_finding_kind kind;
    unsigned line;           /* 1-based line of the target */
    char *lhs;               /* as written */
    char *target;            /* as written */
    char *kept;              /* "T1, T2" or "none" */
    bool catch_all;          /* "@domain" lhs */
    bool conditional;        /* Sieve: inside an if/elsif/else block */
};

struct fwd_import_pair {
    char *mailbox;           /* normalised "local@domain", NULL when unknown */
    char *lhs;               /* as written, for messages */
    char *target;            /* normalised */
};

struct fwd_audit_result {
    enum fwd_audit_type type;        /* the kind actually used */
    struct fwd_finding *findings;
    size_t n_findings;
    size_t n_classic;                /* findings of kind FWD_FIND_CLASSIC */
    char *output;                    /* the rewritten text (always set on success) */
    size_t output_len;
    bool changed;                    /* output differs from the input */
    struct fwd_import_pair *pairs;   /* deduplicated */
    size_t n_pairs;
};

/*
 * Audit and rewrite DATA (LEN bytes) read from NAME (used to guess the
 * type and in nothing else).  Returns 0 and fills *out (the caller frees it
 * with fwd_audit_result_free), or -1 + err (out of memory, or a Sieve
 * script that cannot be tokenised: an unterminated string or comment).
 */
int fwd_audit_run(const char *name, const char *data, size_t len,
                  const struct fwd_audit_opts *opts, struct fwd_audit_result *out,
                  struct err *err);

void fwd_audit_result_free(struct fwd_audit_result *r);

/* One report line, without the line end, malloc'd (NULL: out of memory). */
char *fwd_audit_format(const char *file, const struct fwd_finding *f);

/* "virtual" / "aliases" / "sieve" (and "auto") <-> the enum; -1 unknown. */
int fwd_audit_type_parse(const char *text, enum fwd_audit_type *out);
const char *fwd_audit_type_name(enum fwd_audit_type t);

/* The kind of a file from its name and content (never FWD_AUDIT_AUTO):
 * *.sieve / *.siv -> sieve; a name "aliases" or ending in ".aliases" ->
 * aliases; otherwise the first significant line decides: a Sieve command
 * word (require, if, redirect, keep, fileinto, discard, stop) -> sieve,
 * "name:" -> aliases, anything else -> virtual. */
enum fwd_audit_type fwd_audit_guess_type(const char *name, const char *data, size_t len);

#endif
