/*
 * rules.h - per-mailbox forwarding rules, stored in Redis.
 *
 * A local MSSante mailbox may copy or redirect its mail to one or more
 * targets (MSSANTE.md s.4).  The rule only records what the mailbox owner
 * asked for; what each target actually gets (the message, or a content-free
 * notice for a classic address) is decided per message by forward/plan.c.
 *
 * Layout (PREFIX is RedisPrefix, "mssante:" by default):
 *   PREFIX fwd:MAILBOX    HASH mode (copy|redirect), targets (JSON array of
 *                         strings), updated (Unix seconds)
 *   PREFIX fwd-idx        SET of MAILBOX, for listing
 *   PREFIX fwd-version    INCR'd by every write: a reader that caches rules
 *                         can tell cheaply that something changed
 *
 * Addresses:
 *   MAILBOX is "local@domain" lower-cased as a whole (Postfix folds case on
 *   lookup, so both spellings are one mailbox; conversation/store.h does
 *   the same).  A target is kept as first written, domain lower-cased (the
 *   form addr_parse gives); two targets that differ only in case are the
 *   same target.  Both must parse with addr_parse(); the null address, a
 *   target equal to its own mailbox and more than FWD_MAX_TARGETS targets
 *   are refused.
 *
 * Mode: one mode per mailbox, applying to all its targets.  "add" appends
 * targets and sets the mode to the one given (the last word wins, and the
 * caller is told the old mode so that it can say so); with
 * FWD_ADD_KEEP_MODE an existing rule keeps its mode and the given mode only
 * applies to a new rule (what "forwards rewrite" uses when it imports the
 * classic targets it took out of a Postfix table: for a classic target copy
 * and redirect behave the same, and an existing redirect to an MSSante
 * target must not silently become a copy).
 *
 * Writes to one mailbox are optimistic transactions (WATCH/MULTI/EXEC,
 * retried a few times), so two administrators adding targets at once never
 * lose one.  Every function returns -1 with a one-line error in ERR on a
 * Redis failure or an invalid argument; the caller owns the connection.
 */
#ifndef MSSANTE_FWD_RULES_H
#define MSSANTE_FWD_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "policy/address.h"

#define FWD_ADDR_MAX    (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2)  /* "local@domain" + NUL */
#define FWD_MAX_TARGETS 32

enum fwd_mode { FWD_COPY = 0, FWD_REDIRECT };

struct fwd_rule {
    char *mailbox;        /* normalised, owned */
    enum fwd_mode mode;
    char **targets;       /* normalised, in the order they were added, owned */
    size_t n_targets;
};

struct fwd_rules {        /* a set of rules: list, import, export */
    struct fwd_rule *v;
    size_t n;
};

/* "copy" / "redirect". */
const char *fwd_mode_name(enum fwd_mode m);
/* 0 and *out set, or -1 for anything else (case-insensitive). */
int fwd_mode_parse(const char *text, enum fwd_mode *out);

/* Mailbox IN ("a@b", "<a@b>") into OUT as "local@domain", all lower-case.
 * -1 + err when it does not parse. */
int fwd_normalize_mailbox(const char *in, char *out, size_t outlen, struct err *err);
/* Target IN into OUT as "local@domain", domain lower-cased. */
int fwd_normalize_target(const char *in, char *out, size_t outlen, struct err *err);

/* Free a rule returned by fwd_rule_get (NULL is fine). */
void fwd_rule_free(struct fwd_rule *r);
/* Free the rules' contents and reset the set to empty. */
void fwd_rules_clear(struct fwd_rules *rs);

/* The rule of MAILBOX: 1 found (*out set, caller frees), 0 none, -1 error. */
int fwd_rule_get(redisContext *c, const char *prefix, const char *mailbox,
                 struct fwd_rule **out, struct err *err);

/*
 * The rules of N mailboxes in one pipelined round trip (what the milter
 * calls at end of message with the local recipients).  out[i] is the rule
 * of mailboxes[i] or NULL; the caller frees each.  A mailbox that does not
 * parse simply has no rule.  Returns how many were found, or -1 (then every
 * out[i] is NULL).
 */
int fwd_rules_get_many(redisContext *c, const char *prefix, const char *const *mailboxes,
                       size_t n, struct fwd_rule **out, struct err *err);

#define FWD_ADD_KEEP_MODE 0x1   /* an existing rule keeps its mode */

struct fwd_add_result {
    bool created;           /* the mailbox had no rule */
    bool mode_changed;      /* an existing rule's mode was changed ... */
    enum fwd_mode old_mode; /* ... from this one */
    size_t n_added;         /* targets appended */
    size_t n_present;       /* targets that were already there */
};

/* Append TARGETS (deduplicated) to MAILBOX's rule, creating it if needed.
 * All arguments are checked before anything is written. */
int fwd_rules_add(redisContext *c, const char *prefix, const char *mailbox,
                  enum fwd_mode mode, const char *const *targets, size_t n,
                  unsigned flags, struct fwd_add_result *res, struct err *err);

/*
 * Remove TARGETS from MAILBOX's rule, or the whole rule when N is 0.  A rule
 * left without targets is deleted.  *n_removed (if non-NULL) counts the
 * targets removed (all of them when N is 0), *gone says whether the rule
 * no longer exists.  Removing what is not there is not an error.
 */
int fwd_rules_del(redisContext *c, const char *prefix, const char *mailbox,
                  const char *const *targets, size_t n, size_t *n_removed, bool *gone,
                  struct err *err);

/* Set MAILBOX's rule to exactly MODE + TARGETS (import --replace). */
int fwd_rules_set(redisContext *c, const char *prefix, const struct fwd_rule *rule,
                  struct err *err);

/* Every rule, sorted by mailbox, into *out (cleared first). */
int fwd_rules_list(redisContext *c, const char *prefix, struct fwd_rules *out,
                   struct err *err);

/* Current value of PREFIX fwd-version (0 when never written), or -1. */
long long fwd_rules_version(redisContext *c, const char *prefix, struct err *err);

/*
 * JSON, through jansson:
 *   {"rules":[{"mailbox":"a@b","mode":"copy","targets":["x@y"]}, ...]}
 * fwd_rules_to_json returns a malloc'd, indented text ending with a newline.
 * fwd_rules_from_json checks everything (addresses, modes, duplicates: a
 * mailbox listed twice is an error, a target listed twice is kept once) and
 * names the faulty element ("rules[2].targets[0]: ..."); nothing is
 * returned unless the whole document is valid.
 */
char *fwd_rules_to_json(const struct fwd_rules *rs);
int fwd_rules_from_json(const char *text, struct fwd_rules *out, struct err *err);

struct fwd_import_result {
    size_t n_rules;         /* rules in the document */
    size_t n_created;       /* mailboxes that had no rule */
    size_t n_targets_added; /* targets written (append mode) */
};

/*
 * Write RS to Redis.  With REPLACE each mailbox's rule becomes exactly the
 * one in the document; otherwise the targets are appended as by "add" (the
 * document's mode wins).  Mailboxes absent from the document are untouched.
 * Rules are written one by one: on an error, those before it are written.
 */
int fwd_rules_import(redisContext *c, const char *prefix, const struct fwd_rules *rs,
                     bool replace, struct fwd_import_result *res, struct err *err);

#endif
