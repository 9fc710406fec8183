/*
 * cmd_forwards_audit.c - "mssantectl forwards audit|rewrite": forwards to
 * classic mail written in Postfix tables and Sieve scripts (issue 5 s.4;
 * the parsing and the rewriting are audit/audit.c's).
 *
 *   audit FILE... [--type virtual|aliases|sieve] [--domain D] [--mailbox M]
 *       one line per classic target (and per pipe/file target, as a note);
 *       exit status 1 when any classic target is found.
 *   rewrite FILE [--apply] [--print] [--type T] [--domain D] [--mailbox M]
 *       the same report, then one "import MAILBOX copy TARGET" line per
 *       rule to create.  A dry run by default: nothing is written.  --print
 *       shows the rewritten file instead.  --apply imports the rules into
 *       Redis first (an existing rule keeps its mode), then keeps the old
 *       file as FILE.bak (FILE.bak.N when taken) and replaces FILE
 *       atomically (same mode and owner), and prints the command that
 *       rebuilds the table (postmap, postalias; sievec for Dovecot).
 *
 * The rules are imported before the file is rewritten: if Redis fails,
 * nothing is changed; once the file no longer forwards a classic target,
 * its milter rule already sends the notices.
 *
 * --domain qualifies bare names (aliases(5) and "user" lines of a virtual
 * map) into mailboxes; --mailbox names the owner of a Sieve script.
 * Without them the report works, but those rules cannot be imported.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "audit/audit.h"
#include "common/err.h"
#include "ctl/ctl.h"
#include "forward/rules.h"

#define FILE_MAX      (64L << 20)    /* a Postfix table larger than this is not a source */
#define BACKUP_TRIES  100

struct audit_args {
    const char *files[64];
    size_t n_files;
    struct fwd_audit_opts opts;
    char domain[ADDR_DOMAIN_MAX + 1];
    char mailbox[FWD_ADDR_MAX];
    bool apply, print;
};

/* ------------------------------------------------------------------ */
/* Arguments                                                            */
/* ------------------------------------------------------------------ */

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value, or NULL. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);

    if (strncmp(argv[*i], name, len) != 0)
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        ctl_error("%s needs a value", name);
        return "";
    }
    return argv[++*i];
}

static int set_domain(struct audit_args *a, const char *value)
{
    snprintf(a->domain, sizeof(a->domain), "%s", value);
    if (value[0] == '\0' || strlen(value) >= sizeof(a->domain)
        || !addr_normalize_domain(a->domain)) {
        ctl_error("--domain: \"%s\" is not a domain name", value);
        return -1;
    }
    a->opts.default_domain = a->domain;
    return 0;
}

static int set_mailbox(struct audit_args *a, const char *value)
{
    struct err err;

    if (fwd_normalize_mailbox(value, a->mailbox, sizeof(a->mailbox), &err) < 0) {
        ctl_error("--mailbox: %s", err.msg);
        return -1;
    }
    a->opts.sieve_mailbox = a->mailbox;
    return 0;
}

/* Options anywhere after the sub-command; the rest are files. */
static int parse_args(int argc, char **argv, bool rewrite, struct audit_args *a)
{
    const char *v;
    int i;

    memset(a, 0, sizeof(*a));
    for (i = 2; i < argc; i++) {
        if ((v = option_value(argc, argv, &i, "--type")) != NULL) {
            if (fwd_audit_type_parse(v, &a->opts.type) < 0) {
                ctl_error("--type: expected virtual, aliases or sieve, got \"%s\"", v);
                return -1;
            }
        } else if ((v = option_value(argc, argv, &i, "--domain")) != NULL) {
            if (set_domain(a, v) < 0)
                return -1;
        } else if ((v = option_value(argc, argv, &i, "--mailbox")) != NULL) {
            if (set_mailbox(a, v) < 0)
                return -1;
        } else if (rewrite && strcmp(argv[i], "--apply") == 0) {
            a->apply = true;
        } else if (rewrite && strcmp(argv[i], "--print") == 0) {
            a->print = true;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            ctl_error("forwards %s: unknown option %s", argv[1], argv[i]);
            return -1;
        } else if (a->n_files == sizeof(a->files) / sizeof(a->files[0])) {
            ctl_error("forwards %s: too many files", argv[1]);
            return -1;
        } else {
            a->files[a->n_files++] = argv[i];
        }
    }
    if (a->n_files == 0 || (rewrite && a->n_files != 1)) {
        ctl_error(rewrite ? "usage: mssantectl forwards rewrite FILE [--apply] [--print] "
                            "[--type T] [--domain D] [--mailbox M]"
                          : "usage: mssantectl forwards audit FILE... [--type T] "
                            "[--domain D] [--mailbox M]");
        return -1;
    }
    if (rewrite && a->apply && a->print) {
        ctl_error("forwards rewrite: --apply and --print do not go together");
        return -1;
    }
    return 0;
}

/* The whole file, in *len bytes (may hold NULs: the audit decides). */
static char *slurp(const char *path, size_t *len, struct stat *st)
{
    char *buf = NULL;
    ssize_t n;
    size_t got = 0;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, st) < 0) {
        ctl_error("%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st->st_mode) || st->st_size > FILE_MAX) {
        ctl_error("%s: not a regular file of at most %ld bytes", path, FILE_MAX);
        goto fail;
    }
    if ((buf = malloc((size_t)st->st_size + 1)) == NULL) {
        ctl_error("out of memory");
        goto fail;
    }
    while (got < (size_t)st->st_size
           && (n = read(fd, buf + got, (size_t)st->st_size - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ctl_error("%s: %s", path, strerror(errno));
            goto fail;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *len = got;
    close(fd);
    return buf;
fail:
    free(buf);
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Reports                                                              */
/* ------------------------------------------------------------------ */

static int print_findings(const char *file, const struct fwd_audit_result *r)
{
    size_t i;

    for (i = 0; i < r->n_findings; i++) {
        char *line = fwd_audit_format(file, &r->findings[i]);

        if (line == NULL) {
            ctl_error("out of memory");
            return -1;
        }
        printf("%s\n", line);
        free(line);
    }
    return 0;
}

static json_t *findings_json(const char *file, const struct fwd_audit_result *r)
{
    json_t *o = json_object(), *list = json_array();
    size_t i;

    for (i = 0; i < r->n_findings; i++) {
        const struct fwd_finding *f = &r->findings[i];
        json_t *j = json_object();

        json_object_set_new(j, "line", json_integer(f->line));
        json_object_set_new(j, "lhs", json_text(f->lhs));
        json_object_set_new(j, "target", json_text(f->target));
        json_object_set_new(j, "kind", json_text(f->kind == FWD_FIND_CLASSIC
                                                 ? "classic" : "not-an-address"));
        json_object_set_new(j, "kept", json_text(f->kept));
        json_object_set_new(j, "catch_all", json_boolean(f->catch_all));
        json_object_set_new(j, "conditional", json_boolean(f->conditional));
        json_array_append_new(list, j);
    }
    json_object_set_new(o, "file", json_text(file));
    json_object_set_new(o, "type", json_text(fwd_audit_type_name(r->type)));
    json_object_set_new(o, "classic", json_integer((json_int_t)r->n_classic));
    json_object_set_new(o, "findings", list);
    return o;
}

/* Audit FILE into *r.  0, or -1 after saying why. */
static int run_audit(const char *file, const struct fwd_audit_opts *opts,
                     struct fwd_audit_result *r, struct stat *st)
{
    struct err err;
    char *data;
    size_t len = 0;
    int rc;

    if ((data = slurp(file, &len, st)) == NULL)
        return -1;
    rc = fwd_audit_run(file, data, len, opts, r, &err);
    free(data);
    if (rc < 0)
        ctl_error("%s: %s", file, err.msg);
    return rc;
}

int cmd_forwards_audit(const struct ctl *ctl, int argc, char **argv)
{
    struct audit_args a;
    struct policy_env env;
    struct wl_info info;
    json_t *files = NULL;
    size_t i, classic = 0;
    int rc = CTL_OK;

    if (parse_args(argc, argv, false, &a) < 0)
        return CTL_USAGE;
    if (fwd_ctl_env(ctl->cfg, true, &info, &env) < 0)
        return CTL_UNAVAILABLE;
    a.opts.env = &env;
    if (ctl->json)
        files = json_array();
    for (i = 0; i < a.n_files; i++) {
        struct fwd_audit_result r;
        struct stat st;

        if (run_audit(a.files[i], &a.opts, &r, &st) < 0) {
            rc = CTL_USAGE;
            continue;
        }
        classic += r.n_classic;
        if (files != NULL)
            json_array_append_new(files, findings_json(a.files[i], &r));
        else if (print_findings(a.files[i], &r) < 0)
            rc = CTL_UNAVAILABLE;
        fwd_audit_result_free(&r);
    }
    if (files != NULL) {
        json_t *root = json_object();

        json_object_set_new(root, "files", files);
        json_object_set_new(root, "classic", json_integer((json_int_t)classic));
        if (print_json(root) < 0)
            rc = CTL_UNAVAILABLE;
    }
    wl_info_release(&info);
    if (rc == CTL_OK && classic > 0)
        rc = CTL_FAIL;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Rewrite                                                              */
/* ------------------------------------------------------------------ */

/* A pair that can become a milter rule: a mailbox of ours. */
static bool importable(const struct config *cfg, const struct fwd_import_pair *p)
{
    const char *at = p->mailbox != NULL ? strrchr(p->mailbox, '@') : NULL;

    return at != NULL && config_is_local_domain(cfg, at + 1);
}

static void warn_unimportable(const struct config *cfg, const struct fwd_audit_result *r)
{
    size_t i;

    for (i = 0; i < r->n_pairs; i++) {
        const struct fwd_import_pair *p = &r->pairs[i];

        if (importable(cfg, p))
            continue;
        if (p->mailbox == NULL)
            ctl_warn("%s -> %s: no mailbox to attach a notice rule to (give --domain or "
                     "--mailbox); the target would get nothing", p->lhs, p->target);
        else
            ctl_warn("%s -> %s: %s is not in LocalDomains; no notice rule", p->lhs, p->target,
                     p->mailbox);
    }
}

/* Import the pairs as copy rules (an existing rule keeps its mode).
 * Returns the number of targets added, or -1. */
static long import_pairs(const struct config *cfg, const struct fwd_audit_result *r,
                         size_t *n_mailboxes)
{
    struct err err;
    redisContext *c;
    long added = 0;
    size_t i, j;

    *n_mailboxes = 0;
    if ((c = fwd_ctl_connect(cfg)) == NULL)
        return -1;
    for (i = 0; i < r->n_pairs; i++) {
        const char *targets[FWD_MAX_TARGETS];
        struct fwd_add_result res;
        size_t n = 0;
        bool seen = false;

        if (!importable(cfg, &r->pairs[i]))
            continue;
        /* The pairs of one mailbox together, once. */
        for (j = 0; j < i && !seen; j++)
            seen = importable(cfg, &r->pairs[j])
                   && strcmp(r->pairs[j].mailbox, r->pairs[i].mailbox) == 0;
        if (seen)
            continue;
        for (j = i; j < r->n_pairs && n < FWD_MAX_TARGETS; j++)
            if (importable(cfg, &r->pairs[j])
                && strcmp(r->pairs[j].mailbox, r->pairs[i].mailbox) == 0)
                targets[n++] = r->pairs[j].target;
        if (fwd_rules_add(c, cfg->redis.prefix, r->pairs[i].mailbox, FWD_COPY, targets, n,
                          FWD_ADD_KEEP_MODE, &res, &err) < 0) {
            ctl_error("%s: %s", r->pairs[i].mailbox, err.msg);
            redisFree(c);
            return -1;
        }
        added += (long)res.n_added;
        (*n_mailboxes)++;
    }
    redisFree(c);
    return added;
}

/* Keep the current FILE as FILE.bak (or FILE.bak.N): a hard link when the
 * file system allows it, else a copy.  The name chosen goes to BAK. */
static int backup(const char *file, const char *data, size_t len, const struct stat *st,
                  char *bak, size_t size)
{
    int i, fd;

    for (i = 0; i < BACKUP_TRIES; i++) {
        if (i == 0)
            snprintf(bak, size, "%s.bak", file);
        else
            snprintf(bak, size, "%s.bak.%d", file, i);
        if (link(file, bak) == 0)
            return 0;
        if (errno == EEXIST)
            continue;
        /* No hard links here: write a copy instead. */
        if ((fd = open(bak, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->st_mode & 07777)) < 0) {
            if (errno == EEXIST)
                continue;
            break;
        }
        if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0) {
            close(fd);
            unlink(bak);
            break;
        }
        close(fd);
        return 0;
    }
    ctl_error("%s: cannot keep a backup: %s", file, strerror(errno));
    return -1;
}

/* Replace FILE with DATA atomically: a temporary file in the same
 * directory, same mode and owner, synced, renamed over it. */
static int write_atomic(const char *file, const char *data, size_t len, const struct stat *st)
{
    char tmp[4096], dir[4096];
    ssize_t n;
    size_t off = 0;
    int fd, dfd;

    if (snprintf(tmp, sizeof(tmp), "%s.mssante-XXXXXX", file) >= (int)sizeof(tmp)) {
        ctl_error("%s: path too long", file);
        return -1;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        ctl_error("%s: cannot create a temporary file: %s", file, strerror(errno));
        return -1;
    }
    while (off < len) {
        if ((n = write(fd, data + off, len - off)) < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        off += (size_t)n;
    }
    if (fchmod(fd, st->st_mode & 07777) < 0)
        goto fail;
    /* Only root can give the file back to its owner; others own it already. */
    if (fchown(fd, st->st_uid, st->st_gid) < 0 && errno != EPERM)
        goto fail;
    if (fsync(fd) < 0 || close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, file) < 0)
        goto fail;
    snprintf(dir, sizeof(dir), "%s", file);
    if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
fail:
    ctl_error("%s: cannot write: %s", file, strerror(errno));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

static void print_rebuild(const char *file, enum fwd_audit_type type)
{
    switch (type) {
    case FWD_AUDIT_VIRTUAL:
        printf("now run: postmap %s\n", file);
        break;
    case FWD_AUDIT_ALIASES:
        printf("now run: postalias %s\n", file);
        break;
    default:
        printf("now run, if your server compiles Sieve scripts (Dovecot): sievec %s\n", file);
        break;
    }
}

static int apply(const struct config *cfg, const char *file, const struct fwd_audit_result *r,
                 const struct stat *st)
{
    char bak[4096], *orig;
    size_t len = 0, n_mailboxes = 0;
    struct stat now;
    long added = 0;
    bool any = false;
    size_t i;

    for (i = 0; i < r->n_pairs; i++)
        any = any || importable(cfg, &r->pairs[i]);
    if (any && (added = import_pairs(cfg, r, &n_mailboxes)) < 0) {
        ctl_error("%s not changed", file);
        return CTL_UNAVAILABLE;
    }
    /* The backup holds the file as it is now, not as it was audited. */
    if ((orig = slurp(file, &len, &now)) == NULL)
        return CTL_UNAVAILABLE;
    if (now.st_ino != st->st_ino || now.st_mtime != st->st_mtime || now.st_size != st->st_size) {
        ctl_error("%s changed while being rewritten; run the command again", file);
        free(orig);
        return CTL_UNAVAILABLE;
    }
    if (backup(file, orig, len, st, bak, sizeof(bak)) < 0
        || write_atomic(file, r->output, r->output_len, st) < 0) {
        free(orig);
        return CTL_UNAVAILABLE;
    }
    free(orig);
    printf("imported: %ld target(s) for %zu mailbox(es)\n", added, n_mailboxes);
    printf("backup: %s\n", bak);
    printf("rewrote: %s\n", file);
    print_rebuild(file, r->type);
    return CTL_OK;
}

int cmd_forwards_rewrite(const struct ctl *ctl, int argc, char **argv)
{
    const struct config *cfg = ctl->cfg;
    struct fwd_audit_result r;
    struct audit_args a;
    struct policy_env env;
    struct wl_info info;
    struct stat st;
    const char *file;
    int rc = CTL_OK;
    size_t i;

    if (parse_args(argc, argv, true, &a) < 0)
        return CTL_USAGE;
    file = a.files[0];
    if (fwd_ctl_env(cfg, true, &info, &env) < 0)
        return CTL_UNAVAILABLE;
    a.opts.env = &env;
    if (run_audit(file, &a.opts, &r, &st) < 0) {
        wl_info_release(&info);
        return CTL_USAGE;
    }
    if (a.print) {
        if (fwrite(r.output, 1, r.output_len, stdout) != r.output_len)
            rc = CTL_UNAVAILABLE;
        goto out;
    }
    if (print_findings(file, &r) < 0) {
        rc = CTL_UNAVAILABLE;
        goto out;
    }
    for (i = 0; i < r.n_pairs; i++)
        printf("import %s copy %s\n", r.pairs[i].mailbox ? r.pairs[i].mailbox : "-",
               r.pairs[i].target);
    warn_unimportable(cfg, &r);
    if (!r.changed)
        fprintf(stderr, "%s: nothing to rewrite\n", file);
    else if (!a.apply)
        fprintf(stderr, "%s: dry run, nothing written (--apply imports the rules, keeps a "
                "backup and rewrites the file)\n", file);
    else
        rc = apply(cfg, file, &r, &st);
out:
    fwd_audit_result_free(&r);
    wl_info_release(&info);
    return rc;
}
