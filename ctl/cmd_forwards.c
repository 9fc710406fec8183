/*
 * cmd_forwards.c - "mssantectl forwards ...": the per-mailbox forwarding
 * rules the daemons apply at end of message (forward/rules.h, in Redis).
 *
 *   add MAILBOX copy|redirect TARGET...   append targets (the mode given wins)
 *   del MAILBOX [TARGET...]               remove targets, or the whole rule
 *   list [MAILBOX]                        the rules, classic targets marked
 *   export                                every rule as JSON
 *   import FILE [--replace]               rules from JSON ("-": standard input)
 *   audit FILE... / rewrite FILE          Postfix tables and Sieve scripts
 *                                         (cmd_forwards_audit.c)
 *
 * A rule is only ever applied to a local mailbox (LocalDomains), so a rule
 * for any other address is refused here rather than stored to no effect.
 * A classic target is accepted, with a warning: it will only ever get a
 * notice that a secure message is waiting, never the message (MSSANTE.md
 * s.4).  Every change takes effect with the next message of every daemon:
 * they read the rules for each message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "ctl/ctl.h"
#include "forward/rules.h"
#include "policy/address.h"
#include "policy/classify.h"
#include "whitelist/store.h"

#define JSON_MAX_BYTES (16L << 20)   /* an import document: 16 MiB is plenty */

/* ------------------------------------------------------------------ */
/* Shared with cmd_forwards_audit.c                                     */
/* ------------------------------------------------------------------ */

redisContext *fwd_ctl_connect(const struct config *cfg)
{
    struct err err;
    redisContext *c;

    if (!redis_configured(&cfg->redis)) {
        ctl_error("forwarding rules live in Redis, and %s has no Redis setting",
                  cfg->path ? cfg->path : "the configuration");
        return NULL;
    }
    if ((c = redis_connect(&cfg->redis, &err)) == NULL)
        ctl_error("%s", err.msg);
    return c;
}

int fwd_ctl_env(const struct config *cfg, bool required, struct wl_info *info,
                struct policy_env *env)
{
    memset(env, 0, sizeof(*env));
    env->local_domains = (const char *const *)cfg->rules.local_domains.v;
    env->n_local_domains = cfg->rules.local_domains.n;
    env->patient_domain = cfg->rules.patient_domain;
    if (wl_find(cfg, true, info) < 0) {
        if (!required)
            ctl_warn("without a whitelist, classic targets cannot be told apart");
        return -1;
    }
    env->is_listed = whitelist_lookup;
    env->is_cn_listed = whitelist_cn_lookup;
    env->lookup_ctx = info->wl;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Arguments                                                            */
/* ------------------------------------------------------------------ */

/* MAILBOX normalised into OUT; it must be a local mailbox. */
static int local_mailbox(const struct config *cfg, const char *arg, char *out, size_t size)
{
    struct err err;
    const char *at;

    if (fwd_normalize_mailbox(arg, out, size, &err) < 0) {
        ctl_error("%s", err.msg);
        return -1;
    }
    at = strrchr(out, '@');
    if (at == NULL || !config_is_local_domain(cfg, at + 1)) {
        ctl_error("%s is not in LocalDomains: the daemon applies forwarding rules to the "
                  "operator's own mailboxes only", out);
        return -1;
    }
    return 0;
}

/* The class of TARGET, or CLASS_INVALID when it does not parse or ENV has
 * no whitelist. */
static enum addr_class target_class(const struct policy_env *env, const char *target)
{
    struct mailaddr a;

    if (env->is_listed == NULL || addr_parse(target, &a, NULL) != ADDR_OK)
        return CLASS_INVALID;
    return policy_classify(env, &a, NULL);
}

/* ------------------------------------------------------------------ */
/* Output                                                               */
/* ------------------------------------------------------------------ */

static json_t *rule_json(const struct fwd_rule *r, const struct policy_env *env)
{
    json_t *o = json_object(), *t = json_array(), *notice = json_array();
    size_t i;

    for (i = 0; i < r->n_targets; i++) {
        json_array_append_new(t, json_text(r->targets[i]));
        if (target_class(env, r->targets[i]) == CLASS_CLASSIC)
            json_array_append_new(notice, json_text(r->targets[i]));
    }
    json_object_set_new(o, "mailbox", json_text(r->mailbox));
    json_object_set_new(o, "mode", json_text(fwd_mode_name(r->mode)));
    json_object_set_new(o, "targets", t);
    if (env->is_listed != NULL)
        json_object_set_new(o, "notice_only", notice);
    else
        json_decref(notice);
    return o;
}

/* "MAILBOX  MODE  T1, T2 (notice only), ..." */
static void rule_text(const struct fwd_rule *r, const struct policy_env *env)
{
    size_t i;

    printf("%s  %s  ", r->mailbox, fwd_mode_name(r->mode));
    for (i = 0; i < r->n_targets; i++)
        printf("%s%s%s", i ? ", " : "", r->targets[i],
               target_class(env, r->targets[i]) == CLASS_CLASSIC ? " (notice only)" : "");
    printf("\n");
}

/* ------------------------------------------------------------------ */
/* add / del                                                            */
/* ------------------------------------------------------------------ */

/* Tell what the targets will get; true when one of them gets the message. */
static bool warn_targets(const struct policy_env *env, const char *const *targets, size_t n)
{
    bool delivers = env->is_listed == NULL;
    size_t i;

    for (i = 0; i < n; i++) {
        enum addr_class cls = target_class(env, targets[i]);

        if (cls == CLASS_CLASSIC)
            ctl_warn("%s is outside the MSSante trust space: it will only get a notice "
                     "that a secure message is waiting, never the message", targets[i]);
        else if (cls == CLASS_MSSANTE || cls == CLASS_PATIENT)
            delivers = true;
    }
    return delivers;
}

static int forwards_add(const struct ctl *ctl, int argc, char **argv)
{
    const struct config *cfg = ctl->cfg;
    struct err err;
    char mailbox[FWD_ADDR_MAX];
    const char *const *targets = (const char *const *)argv + 4;
    size_t n = argc > 4 ? (size_t)(argc - 4) : 0;
    struct fwd_add_result res;
    struct fwd_rule *rule = NULL;
    struct policy_env env;
    struct wl_info info;
    enum fwd_mode mode;
    redisContext *c;
    bool have_list;
    int rc = CTL_OK;

    if (argc < 5) {
        ctl_error("usage: mssantectl forwards add MAILBOX copy|redirect TARGET...");
        return CTL_USAGE;
    }
    if (fwd_mode_parse(argv[3], &mode) < 0) {
        ctl_error("mode must be copy or redirect, got \"%s\"", argv[3]);
        return CTL_USAGE;
    }
    if (local_mailbox(cfg, argv[2], mailbox, sizeof(mailbox)) < 0)
        return CTL_USAGE;
    have_list = fwd_ctl_env(cfg, false, &info, &env) == 0;
    if (!warn_targets(&env, targets, n) && mode == FWD_REDIRECT)
        ctl_warn("no target of this redirect is in the trust space: the message stays "
                 "in %s, and the targets get notices", mailbox);
    if ((c = fwd_ctl_connect(cfg)) == NULL) {
        rc = CTL_UNAVAILABLE;
        goto out;
    }
    if (fwd_rules_add(c, cfg->redis.prefix, mailbox, mode, targets, n, 0, &res, &err) < 0) {
        ctl_error("%s", err.msg);
        rc = c->err ? CTL_UNAVAILABLE : CTL_USAGE;
        goto out_redis;
    }
    if (res.mode_changed)
        ctl_warn("%s: mode changed from %s to %s (one mode for all the targets of a "
                 "mailbox)", mailbox, fwd_mode_name(res.old_mode), fwd_mode_name(mode));
    if (fwd_rule_get(c, cfg->redis.prefix, mailbox, &rule, &err) <= 0) {
        ctl_error("%s", err.msg[0] ? err.msg : "the rule vanished after being written");
        rc = CTL_UNAVAILABLE;
        goto out_redis;
    }
    if (ctl->json) {
        json_t *o = rule_json(rule, &env);

        json_object_set_new(o, "created", json_boolean(res.created));
        json_object_set_new(o, "added", json_integer((json_int_t)res.n_added));
        json_object_set_new(o, "already_present", json_integer((json_int_t)res.n_present));
        if (print_json(o) < 0)
            rc = CTL_UNAVAILABLE;
    } else {
        printf("%s %zu target(s), %zu already there\n",
               res.created ? "new rule:" : "added", res.n_added, res.n_present);
        rule_text(rule, &env);
    }
    fwd_rule_free(rule);
out_redis:
    redisFree(c);
out:
    if (have_list)
        wl_info_release(&info);
    return rc;
}

static int forwards_del(const struct ctl *ctl, int argc, char **argv)
{
    const struct config *cfg = ctl->cfg;
    struct err err;
    char mailbox[FWD_ADDR_MAX];
    size_t removed = 0;
    bool gone = false;
    redisContext *c;
    int rc = CTL_OK;

    if (argc < 3) {
        ctl_error("usage: mssantectl forwards del MAILBOX [TARGET...]");
        return CTL_USAGE;
    }
    /* Any address that parses: a rule stored by an older configuration
     * whose domain has left LocalDomains must still be removable. */
    if (fwd_normalize_mailbox(argv[2], mailbox, sizeof(mailbox), &err) < 0) {
        ctl_error("%s", err.msg);
        return CTL_USAGE;
    }
    if ((c = fwd_ctl_connect(cfg)) == NULL)
        return CTL_UNAVAILABLE;
    if (fwd_rules_del(c, cfg->redis.prefix, mailbox, (const char *const *)argv + 3,
                      (size_t)(argc - 3), &removed, &gone, &err) < 0) {
        ctl_error("%s", err.msg);
        rc = c->err ? CTL_UNAVAILABLE : CTL_USAGE;
    } else if (ctl->json) {
        json_t *o = json_object();

        json_object_set_new(o, "mailbox", json_text(mailbox));
        json_object_set_new(o, "removed", json_integer((json_int_t)removed));
        json_object_set_new(o, "rule_deleted", json_boolean(gone));
        if (print_json(o) < 0)
            rc = CTL_UNAVAILABLE;
    } else {
        printf("%s: %zu target(s) removed%s\n", mailbox, removed,
               gone ? ", no rule left" : "");
    }
    redisFree(c);
    return rc;
}

/* ------------------------------------------------------------------ */
/* list / export / import                                               */
/* ------------------------------------------------------------------ */

static int forwards_list(const struct ctl *ctl, int argc, char **argv)
{
    const struct config *cfg = ctl->cfg;
    struct fwd_rules rs = { NULL, 0 };
    struct fwd_rule *one = NULL;
    struct err err;
    char mailbox[FWD_ADDR_MAX];
    struct policy_env env;
    struct wl_info info;
    redisContext *c;
    bool have_list;
    int rc = CTL_OK, found;
    size_t i;

    if (argc > 3) {
        ctl_error("usage: mssantectl forwards list [MAILBOX]");
        return CTL_USAGE;
    }
    if (argc == 3
        && fwd_normalize_mailbox(argv[2], mailbox, sizeof(mailbox), &err) < 0) {
        ctl_error("%s", err.msg);
        return CTL_USAGE;
    }
    if ((c = fwd_ctl_connect(cfg)) == NULL)
        return CTL_UNAVAILABLE;
    if (argc == 3) {
        found = fwd_rule_get(c, cfg->redis.prefix, mailbox, &one, &err);
        if (found > 0) {
            rs.v = one;
            rs.n = 1;
        }
    } else {
        found = fwd_rules_list(c, cfg->redis.prefix, &rs, &err);
    }
    redisFree(c);
    if (found < 0) {
        ctl_error("%s", err.msg);
        return CTL_UNAVAILABLE;
    }
    /* The whitelist only to mark classic targets: not read for nothing. */
    if (rs.n > 0) {
        have_list = fwd_ctl_env(cfg, false, &info, &env) == 0;
    } else {
        have_list = false;
        memset(&env, 0, sizeof(env));
    }
    if (ctl->json) {
        json_t *root = json_object(), *list = json_array();

        for (i = 0; i < rs.n; i++)
            json_array_append_new(list, rule_json(&rs.v[i], &env));
        json_object_set_new(root, "rules", list);
        if (print_json(root) < 0)
            rc = CTL_UNAVAILABLE;
    } else {
        for (i = 0; i < rs.n; i++)
            rule_text(&rs.v[i], &env);
    }
    if (argc == 3 && rs.n == 0) {
        if (!ctl->json)
            fprintf(stderr, "%s: no forwarding rule\n", mailbox);
        rc = CTL_FAIL;
    }
    if (one != NULL) {
        fwd_rule_free(one);
    } else {
        fwd_rules_clear(&rs);
    }
    if (have_list)
        wl_info_release(&info);
    return rc;
}

static int forwards_export(const struct ctl *ctl, int argc)
{
    struct fwd_rules rs = { NULL, 0 };
    struct err err;
    char *text;
    redisContext *c;
    int rc = CTL_OK;

    if (argc != 2) {
        ctl_error("usage: mssantectl forwards export");
        return CTL_USAGE;
    }
    if ((c = fwd_ctl_connect(ctl->cfg)) == NULL)
        return CTL_UNAVAILABLE;
    if (fwd_rules_list(c, ctl->cfg->redis.prefix, &rs, &err) < 0) {
        ctl_error("%s", err.msg);
        redisFree(c);
        return CTL_UNAVAILABLE;
    }
    redisFree(c);
    if ((text = fwd_rules_to_json(&rs)) == NULL) {
        ctl_error("out of memory");
        rc = CTL_UNAVAILABLE;
    } else if (fputs(text, stdout) == EOF) {
        rc = CTL_UNAVAILABLE;
    }
    free(text);
    fwd_rules_clear(&rs);
    return rc;
}

/* The whole of PATH ("-": standard input), NUL-terminated; NULL on error. */
static char *read_text(const char *path)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    size_t len = 0, cap = 4096, n;
    char *buf = NULL, *grown;

    if (fp == NULL) {
        ctl_error("%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if ((grown = realloc(buf, cap + 1)) == NULL) {
            ctl_error("out of memory");
            break;
        }
        buf = grown;
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (len < cap) {
            if (ferror(fp)) {
                ctl_error("%s: read error", path);
                break;
            }
            buf[len] = '\0';
            if (fp != stdin)
                fclose(fp);
            return buf;
        }
        if (cap >= (size_t)JSON_MAX_BYTES) {
            ctl_error("%s: larger than %ld bytes", path, JSON_MAX_BYTES);
            break;
        }
        cap *= 2;
    }
    free(buf);
    if (fp != stdin)
        fclose(fp);
    return NULL;
}

static int forwards_import(const struct ctl *ctl, int argc, char **argv)
{
    const struct config *cfg = ctl->cfg;
    struct fwd_rules rs = { NULL, 0 };
    struct fwd_import_result res;
    const char *file = NULL;
    struct err err;
    char *text;
    bool replace = false;
    redisContext *c;
    int i, rc = CTL_OK;
    size_t k;

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--replace") == 0) {
            replace = true;
        } else if (file == NULL) {
            file = argv[i];
        } else {
            file = NULL;
            break;
        }
    }
    if (file == NULL) {
        ctl_error("usage: mssantectl forwards import FILE [--replace]");
        return CTL_USAGE;
    }
    if ((text = read_text(file)) == NULL)
        return CTL_USAGE;
    if (fwd_rules_from_json(text, &rs, &err) < 0) {
        ctl_error("%s: %s", file, err.msg);
        free(text);
        return CTL_FAIL;
    }
    free(text);
    /* Nothing is written unless every mailbox is one of ours. */
    for (k = 0; k < rs.n; k++) {
        const char *at = strrchr(rs.v[k].mailbox, '@');

        if (at == NULL || !config_is_local_domain(cfg, at + 1)) {
            ctl_error("%s: rules[%zu]: %s is not in LocalDomains; nothing imported", file, k,
                      rs.v[k].mailbox);
            fwd_rules_clear(&rs);
            return CTL_FAIL;
        }
    }
    if ((c = fwd_ctl_connect(cfg)) == NULL) {
        fwd_rules_clear(&rs);
        return CTL_UNAVAILABLE;
    }
    if (fwd_rules_import(c, cfg->redis.prefix, &rs, replace, &res, &err) < 0) {
        ctl_error("%s (the rules before it were written)", err.msg);
        rc = CTL_UNAVAILABLE;
    } else if (ctl->json) {
        json_t *o = json_object();

        json_object_set_new(o, "rules", json_integer((json_int_t)res.n_rules));
        json_object_set_new(o, "created", json_integer((json_int_t)res.n_created));
        json_object_set_new(o, "targets_added", json_integer((json_int_t)res.n_targets_added));
        json_object_set_new(o, "replace", json_boolean(replace));
        if (print_json(o) < 0)
            rc = CTL_UNAVAILABLE;
    } else if (replace) {
        printf("%zu rule(s) set (%zu new)\n", res.n_rules, res.n_created);
    } else {
        printf("%zu rule(s): %zu new, %zu target(s) added\n", res.n_rules, res.n_created,
               res.n_targets_added);
    }
    redisFree(c);
    fwd_rules_clear(&rs);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */
/* ------------------------------------------------------------------ */

int cmd_forwards(const struct ctl *ctl, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";

    if (strcmp(sub, "add") == 0)
        return forwards_add(ctl, argc, argv);
    if (strcmp(sub, "del") == 0)
        return forwards_del(ctl, argc, argv);
    if (strcmp(sub, "list") == 0)
        return forwards_list(ctl, argc, argv);
    if (strcmp(sub, "export") == 0)
        return forwards_export(ctl, argc);
    if (strcmp(sub, "import") == 0)
        return forwards_import(ctl, argc, argv);
    if (strcmp(sub, "audit") == 0)
        return cmd_forwards_audit(ctl, argc, argv);
    if (strcmp(sub, "rewrite") == 0)
        return cmd_forwards_rewrite(ctl, argc, argv);
    ctl_error("forwards: expected add, del, list, export, import, audit or rewrite%s%s",
              sub[0] ? ", got " : "", sub);
    return CTL_USAGE;
}
