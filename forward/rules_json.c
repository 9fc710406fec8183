/*
 * rules_json.c - forwarding rules as a JSON document, for "forwards
 * export" and "forwards import" (format in rules.h).
 *
 * Import is all or nothing at the parsing stage: the whole document is
 * checked (addresses, modes, duplicate mailboxes) and every error names
 * the faulty element, so an administrator can fix the file before a
 * single rule is written.  Writing the checked set then goes through the
 * public calls of rules.c, one rule at a time.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/err.h"
#include "common/redis.h"
#include "forward/rules.h"
#include "forward/rules_internal.h"

char *fwd_rules_to_json(const struct fwd_rules *rs)
{
    json_t *root = json_object(), *arr = json_array();
    char *text = NULL, *withnl;
    size_t i, j, len;

    if (root == NULL || arr == NULL || json_object_set(root, "rules", arr) != 0)
        goto out;
    for (i = 0; rs != NULL && i < rs->n; i++) {
        const struct fwd_rule *r = &rs->v[i];
        json_t *o = json_object(), *t = json_array();

        if (o == NULL || t == NULL) {
            json_decref(o);
            json_decref(t);
            goto out;
        }
        json_object_set_new(o, "mailbox", json_string(r->mailbox));
        json_object_set_new(o, "mode", json_string(fwd_mode_name(r->mode)));
        for (j = 0; j < r->n_targets; j++)
            json_array_append_new(t, json_string(r->targets[j]));
        json_object_set_new(o, "targets", t);
        if (json_array_append_new(arr, o) != 0)
            goto out;
    }
    if ((text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
        goto out;
    len = strlen(text);
    if ((withnl = realloc(text, len + 2)) == NULL) {
        free(text);
        text = NULL;
        goto out;
    }
    text = withnl;
    text[len] = '\n';
    text[len + 1] = '\0';
out:
    json_decref(arr);
    json_decref(root);
    return text;
}

/* One element of "rules": a checked rule into R. */
static int rule_from_json(json_t *o, size_t idx, struct fwd_rule *r, struct err *err)
{
    json_t *jm = json_object_get(o, "mailbox"), *jmode = json_object_get(o, "mode");
    json_t *jt = json_object_get(o, "targets"), *v;
    char norm[FWD_ADDR_MAX];
    struct err why;
    const char *key;
    size_t i;

    if (!json_is_object(o)) {
        err_set(err, "rules[%zu]: not an object", idx);
        return -1;
    }
    json_object_foreach(o, key, v) {
        if (strcmp(key, "mailbox") != 0 && strcmp(key, "mode") != 0
            && strcmp(key, "targets") != 0) {
            err_set(err, "rules[%zu]: unknown member \"%s\"", idx, key);
            return -1;
        }
    }
    if (!json_is_string(jm)) {
        err_set(err, "rules[%zu].mailbox: missing or not a string", idx);
        return -1;
    }
    if (fwd_normalize_mailbox(json_string_value(jm), norm, sizeof(norm), &why) < 0) {
        err_set(err, "rules[%zu].mailbox: %s", idx, why.msg);
        return -1;
    }
    if ((r->mailbox = strdup(norm)) == NULL)
        goto nomem;
    if (!json_is_string(jmode) || fwd_mode_parse(json_string_value(jmode), &r->mode) != 0) {
        err_set(err, "rules[%zu].mode: must be \"copy\" or \"redirect\"", idx);
        return -1;
    }
    if (!json_is_array(jt) || json_array_size(jt) == 0) {
        err_set(err, "rules[%zu].targets: missing, empty or not an array", idx);
        return -1;
    }
    json_array_foreach(jt, i, v) {
        char t[FWD_ADDR_MAX];

        if (!json_is_string(v)) {
            err_set(err, "rules[%zu].targets[%zu]: not a string", idx, i);
            return -1;
        }
        if (fwd_normalize_target(json_string_value(v), t, sizeof(t), &why) < 0) {
            err_set(err, "rules[%zu].targets[%zu]: %s", idx, i, why.msg);
            return -1;
        }
        if (strcasecmp(t, r->mailbox) == 0) {
            err_set(err, "rules[%zu].targets[%zu]: %s forwards to itself", idx, i, t);
            return -1;
        }
        if (fwd_append_target(&r->targets, &r->n_targets, t) < 0)
            goto nomem;
    }
    if (r->n_targets > FWD_MAX_TARGETS) {
        err_set(err, "rules[%zu].targets: more than %d targets", idx, FWD_MAX_TARGETS);
        return -1;
    }
    return 0;
nomem:
    err_set(err, "rules[%zu]: out of memory", idx);
    return -1;
}

int fwd_rules_from_json(const char *text, struct fwd_rules *out, struct err *err)
{
    json_error_t jerr;
    json_t *root, *arr, *o;
    size_t i, j;

    fwd_rules_clear(out);
    if ((root = json_loads(text ? text : "", 0, &jerr)) == NULL) {
        err_set(err, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return -1;
    }
    arr = json_object_get(root, "rules");
    if (!json_is_object(root) || !json_is_array(arr)) {
        err_set(err, "expected an object with a \"rules\" array");
        json_decref(root);
        return -1;
    }
    if ((out->v = calloc(json_array_size(arr) + 1, sizeof(*out->v))) == NULL) {
        err_set(err, "out of memory");
        json_decref(root);
        return -1;
    }
    json_array_foreach(arr, i, o) {
        if (rule_from_json(o, i, &out->v[i], err) < 0) {
            out->n = i + 1;     /* so that the partial rule is freed too */
            goto fail;
        }
        out->n = i + 1;
        for (j = 0; j < i; j++) {
            if (strcmp(out->v[j].mailbox, out->v[i].mailbox) == 0) {
                err_set(err, "rules[%zu]: mailbox %s already given in rules[%zu]",
                        i, out->v[i].mailbox, j);
                goto fail;
            }
        }
    }
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    fwd_rules_clear(out);
    return -1;
}

int fwd_rules_import(redisContext *c, const char *prefix, const struct fwd_rules *rs,
                     bool replace, struct fwd_import_result *res, struct err *err)
{
    struct fwd_import_result dummy;
    size_t i;

    if (res == NULL)
        res = &dummy;
    memset(res, 0, sizeof(*res));
    for (i = 0; rs != NULL && i < rs->n; i++) {
        const struct fwd_rule *r = &rs->v[i];
        struct fwd_add_result ar;

        if (replace) {
            struct fwd_rule *old = NULL;

            if (fwd_rule_get(c, prefix, r->mailbox, &old, err) < 0)
                return -1;
            if (old == NULL)
                res->n_created++;
            fwd_rule_free(old);
            if (fwd_rules_set(c, prefix, r, err) < 0)
                return -1;
            res->n_targets_added += r->n_targets;
        } else {
            if (fwd_rules_add(c, prefix, r->mailbox, r->mode,
                              (const char *const *)r->targets, r->n_targets, 0, &ar,
                              err) < 0)
                return -1;
            res->n_created += ar.created;
            res->n_targets_added += ar.n_added;
        }
        res->n_rules++;
    }
    return 0;
}
