/*
 * cmd_whitelist.c - "mssantectl whitelist load FILE" and
 * "mssantectl whitelist status" (fetch and rollback live in cmd_fetch.c).
 *
 * load is how a new ANS list reaches every MX node: the file is parsed
 * with the daemon's parser, and only a list the daemon would accept is
 * published (as a new Redis version, switched atomically); a bad file
 * leaves Redis untouched.  The daemon's snapshot is refreshed too, so a
 * node that cold-starts while Redis is down serves this list.
 *
 * status says which list is in force and how old it is: the ANS list
 * changes every few days, and a stale one silently refuses new operators.
 *
 * tls-policy writes the Postfix smtp_tls_policy_maps table of the list in
 * force (whitelist/tlspolicy.h), the one the daemon keeps in TLSPolicyFile:
 * outbound mail to an MSSante domain then needs a verified certificate
 * whose name is one of the CNs its operator listed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/err.h"
#include "ctl/ctl.h"
#include "whitelist/ansxml.h"
#include "whitelist/domainset.h"
#include "whitelist/snapshot.h"
#include "whitelist/store.h"
#include "whitelist/tlspolicy.h"


/* Record the absolute path as the list's source: "status" is read later,
 * from another directory, often on another node. */
static void set_absolute_source(struct whitelist *wl, const char *file)
{
    char *abs = realpath(file, NULL);

    if (abs != NULL) {
        snprintf(wl->source, sizeof(wl->source), "%s", abs);
        free(abs);
    }
}

/* Refresh SnapshotFile with the version just published.  A failure is
 * only a warning: Redis, the source of truth, already has the list. */
static bool write_snapshot(const struct config *cfg, struct whitelist *wl, const char *id)
{
    struct err err;

    if (cfg->live.snapshot_file == NULL)
        return false;
    snprintf(wl->version, sizeof(wl->version), "%s", id);
    wl->loaded_at = time(NULL);
    if (snapshot_write(cfg->live.snapshot_file, wl, &err) < 0) {
        ctl_warn("published, but SnapshotFile not written: %s", err.msg);
        return false;
    }
    return true;
}

static int report_published(const struct ctl *ctl, const struct ans_list *list, const char *id,
                            bool snapshot_written)
{
    const struct whitelist *wl = list->wl;
    size_t count = domainset_count(wl->domains);
    json_t *o;

    if (!ctl->json) {
        printf("published version %s: %zu domains (%zu entries), generated %s, sha256 %s\n",
               id, count, wl->entries, wl->generated[0] ? wl->generated : "unknown",
               wl->sha256);
        return CTL_OK;
    }
    o = json_object();
    json_object_set_new(o, "published", json_true());
    json_object_set_new(o, "version", json_text(id));
    json_object_set_new(o, "count", json_integer((json_int_t)count));
    json_object_set_new(o, "entries", json_integer((json_int_t)wl->entries));
    json_object_set_new(o, "skipped", json_integer((json_int_t)list->skipped));
    json_object_set_new(o, "operator_cns", json_integer((json_int_t)certset_pairs(wl->certs)));
    json_object_set_new(o, "cn_skipped", json_integer((json_int_t)list->cn_skipped));
    json_object_set_new(o, "generated", json_string_or_null(wl->generated));
    json_object_set_new(o, "sha256", json_string_or_null(wl->sha256));
    json_object_set_new(o, "source", json_string_or_null(wl->source));
    json_object_set_new(o, "snapshot", snapshot_written ? json_text(ctl->cfg->live.snapshot_file)
                                                        : json_null());
    return print_json(o) == 0 ? CTL_OK : CTL_UNAVAILABLE;
}

/* The entries the list goes without, by name. */
static void warn_skipped(const struct ans_list *list)
{
    char text[ANS_SKIPPED_NAMED * (ANS_SKIPPED_TEXT + 24) + 64];

    if (list->skipped > 0)
        ctl_warn("%zu <Nom> value%s not a valid domain name, skipped", list->skipped,
                 list->skipped == 1 ? " is" : "s are");
    if (list->cn_skipped > 0)
        ctl_warn("%zu <DNCertificatOperateur> value%s no usable CN, skipped",
                 list->cn_skipped, list->cn_skipped == 1 ? " has" : "s have");
    if (list->skipped + list->cn_skipped == 0)
        return;
    ans_list_skipped_text(list, text, sizeof(text));
    ctl_warn("skipped: %s", text);
}

/*
 * Is WL the very list in force (same content: sha256 of the file)?  Then
 * nothing is published: a new version of the same list would only make
 * every daemon load it again and TLSPolicyFile be rewritten.  1 (ID gets
 * the version in force), 0 (publish), -1 after saying why.
 */
static int same_as_current(redisContext *c, const char *prefix, const struct whitelist *wl,
                           char *id, size_t size)
{
    struct store_meta meta;
    struct err err;
    int rc = store_current_version(c, prefix, id, size, &err);

    if (rc > 0)
        rc = store_read_meta(c, prefix, id, &meta, &err);
    if (rc < 0) {
        ctl_error("%s", err.msg);
        return -1;
    }
    return rc > 0 && wl->sha256[0] != '\0' && strcmp(meta.sha256, wl->sha256) == 0 ? 1 : 0;
}

static int report_unchanged(const struct ctl *ctl, const char *id)
{
    json_t *o;

    if (!ctl->json) {
        printf("unchanged: version %s in force is this very list; nothing published\n", id);
        return CTL_OK;
    }
    o = json_object();
    json_object_set_new(o, "published", json_false());
    json_object_set_new(o, "unchanged", json_true());
    json_object_set_new(o, "version", json_text(id));
    return print_json(o) == 0 ? CTL_OK : CTL_UNAVAILABLE;
}

static int whitelist_load(const struct ctl *ctl, const char *file)
{
    const struct config *cfg = ctl->cfg;
    struct err err;
    char id[64];
    struct ans_list *list;
    redisContext *c;
    bool published = false, snap;
    int rc;

    if (!redis_configured(&cfg->redis)) {
        ctl_error("whitelist load publishes to Redis, and %s has no Redis setting",
                  cfg->path ? cfg->path : "the configuration");
        return CTL_USAGE;
    }
    list = ans_parse_file(file, &err);
    if (list == NULL) {
        ctl_error("refused, nothing published: %s", err.msg);
        return CTL_FAIL;
    }
    set_absolute_source(list->wl, file);
    warn_skipped(list);
    c = redis_connect(&cfg->redis, &err);
    if (c == NULL) {
        ctl_error("%s", err.msg);
        ans_list_free(list);
        return CTL_UNAVAILABLE;
    }
    if ((rc = same_as_current(c, cfg->redis.prefix, list->wl, id, sizeof(id))) != 0) {
        redisFree(c);
        ans_list_free(list);
        return rc > 0 ? report_unchanged(ctl, id) : CTL_UNAVAILABLE;
    }
    rc = store_publish(c, cfg->redis.prefix, list, false, &published, id, sizeof(id),
                       &err);
    redisFree(c);
    if (rc < 0 || !published) {
        ctl_error("not published: %s",
                  rc < 0 ? err.msg : "publish declined");
        ans_list_free(list);
        return CTL_UNAVAILABLE;
    }
    snap = write_snapshot(cfg, list->wl, id);
    rc = report_published(ctl, list, id, snap);
    ans_list_free(list);
    return rc;
}

/* Age of the list = now - DateDeGeneration; -1 in *known when unparsable. */
static long long list_age(const struct wl_info *info, bool *known)
{
    time_t gen;

    *known = iso8601_to_time(info->generated, &gen) == 0;
    return *known ? (long long)(time(NULL) - gen) : 0;
}

static int status_json(const struct config *cfg, const struct wl_info *info)
{
    json_t *o = json_object();
    char loaded[32], age[32];
    bool known;
    long long secs = list_age(info, &known);

    format_utc(info->loaded, loaded, sizeof(loaded));
    format_age(secs, age, sizeof(age));
    json_object_set_new(o, "version", json_text(info->version));
    json_object_set_new(o, "origin", json_text(wl_origin_name(info->origin)));
    json_object_set_new(o, "generated", json_string_or_null(info->generated));
    json_object_set_new(o, "loaded", info->loaded > 0 ? json_text(loaded) : json_null());
    json_object_set_new(o, "loaded_unix", info->loaded > 0
                        ? json_integer((json_int_t)info->loaded) : json_null());
    json_object_set_new(o, "age", known ? json_text(age) : json_null());
    json_object_set_new(o, "age_seconds", known ? json_integer((json_int_t)secs) : json_null());
    json_object_set_new(o, "count", json_integer((json_int_t)info->count));
    json_object_set_new(o, "entries", json_integer((json_int_t)info->entries));
    json_object_set_new(o, "sha256", json_string_or_null(info->sha256));
    json_object_set_new(o, "source", json_string_or_null(info->source));
    json_object_set_new(o, "previous", json_string_or_null(info->previous));
    json_object_set_new(o, "fetch", fetch_status_json(cfg));
    return print_json(o);
}

static void status_text(const struct config *cfg, const struct wl_info *info)
{
    char loaded[32], age[32];
    bool known;
    long long secs = list_age(info, &known);

    format_utc(info->loaded, loaded, sizeof(loaded));
    format_age(secs, age, sizeof(age));
    printf("version:    %s\n", info->version);
    printf("origin:     %s\n", wl_origin_name(info->origin));
    printf("generated:  %s\n", info->generated[0] ? info->generated : "unknown");
    printf("loaded:     %s\n", loaded);
    printf("age:        %s\n", known ? age : "unknown");
    printf("count:      %zu\n", info->count);
    printf("entries:    %zu\n", info->entries);
    printf("sha256:     %s\n", info->sha256[0] ? info->sha256 : "unknown");
    printf("source:     %s\n", info->source[0] ? info->source : "unknown");
    printf("previous:   %s\n", info->previous[0] ? info->previous : "none");
    fetch_status_text(cfg);
}

static int whitelist_status(const struct ctl *ctl)
{
    struct wl_info info;
    int rc = CTL_OK;

    if (wl_find(ctl->cfg, false, &info) < 0)
        return CTL_UNAVAILABLE;
    if (ctl->json) {
        if (status_json(ctl->cfg, &info) < 0)
            rc = CTL_UNAVAILABLE;
    } else {
        status_text(ctl->cfg, &info);
    }
    wl_info_release(&info);
    return rc;
}

static void tls_warn(void *arg, const char *domain, const char *cn)
{
    (void)arg;
    if (cn != NULL)
        ctl_warn("CN \"%s\" of %s is not a plain host name: left out of its match= list",
                 cn, domain);
    else
        ctl_warn("%s has no usable CN: not in the table", domain);
}

struct tls_args {
    const char *out;                 /* NULL: standard output */
    enum tls_policy_level level;
};

/* [--out FILE] [--level secure|encrypt], also as --out=FILE. */
static int tls_parse_args(const struct ctl *ctl, int argc, char **argv, struct tls_args *a)
{
    int i;

    a->out = NULL;
    a->level = ctl->cfg->live.tls_policy_encrypt ? TLS_POLICY_ENCRYPT : TLS_POLICY_SECURE;
    for (i = 2; i < argc; i++) {
        const char *v = NULL;

        if (strncmp(argv[i], "--out=", 6) == 0 || strncmp(argv[i], "--level=", 8) == 0)
            v = strchr(argv[i], '=') + 1;
        else if ((strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "--level") == 0)
                 && i + 1 < argc)
            v = argv[i + 1];
        if (v == NULL || v[0] == '\0') {
            ctl_error("usage: mssantectl whitelist tls-policy [--out FILE]"
                      " [--level secure|encrypt]");
            return -1;
        }
        if (strncmp(argv[i], "--out", 5) == 0) {
            a->out = v;
        } else if (tls_policy_level_parse(v, &a->level) < 0) {
            ctl_error("--level: expected secure or encrypt, got \"%s\"", v);
            return -1;
        }
        if (strchr(argv[i], '=') == NULL)
            i++;
    }
    if (ctl->json && a->out == NULL) {
        ctl_error("whitelist tls-policy: --json needs --out (the table itself is not JSON)");
        return -1;
    }
    return 0;
}

static int tls_report(const struct ctl *ctl, const struct tls_args *a,
                      const struct wl_info *info, const struct tls_policy_stats *st)
{
    json_t *o;

    if (!ctl->json) {
        printf("wrote %s: %zu domains, level %s, from whitelist version %s (%s)\n", a->out,
               st->domains, tls_policy_level_name(a->level), info->version,
               wl_origin_name(info->origin));
        return CTL_OK;
    }
    o = json_object();
    json_object_set_new(o, "file", json_text(a->out));
    json_object_set_new(o, "level", json_text(tls_policy_level_name(a->level)));
    json_object_set_new(o, "domains", json_integer((json_int_t)st->domains));
    json_object_set_new(o, "cns", json_integer((json_int_t)st->cns));
    json_object_set_new(o, "dropped_cns", json_integer((json_int_t)st->cns_dropped));
    json_object_set_new(o, "dropped_domains", json_integer((json_int_t)st->domains_dropped));
    json_object_set_new(o, "version", json_text(info->version));
    json_object_set_new(o, "origin", json_text(wl_origin_name(info->origin)));
    return print_json(o) == 0 ? CTL_OK : CTL_UNAVAILABLE;
}

static int whitelist_tls_policy(const struct ctl *ctl, int argc, char **argv)
{
    struct err err;
    struct tls_policy_stats st;
    struct tls_args a;
    struct wl_info info;
    int rc;

    if (tls_parse_args(ctl, argc, argv, &a) < 0)
        return CTL_USAGE;
    if (wl_find(ctl->cfg, true, &info) < 0)
        return CTL_UNAVAILABLE;
    if (info.wl->certs == NULL) {
        ctl_error("the list in use carries no operator certificate CNs (a snapshot in the"
                  " old format 1): no table written");
        wl_info_release(&info);
        return CTL_UNAVAILABLE;
    }
    if (a.out == NULL) {
        rc = tls_policy_print(stdout, info.wl, a.level, &st, tls_warn, NULL) < 0
             ? CTL_UNAVAILABLE : CTL_OK;
    } else if (tls_policy_write(a.out, info.wl, a.level, &st, tls_warn, NULL,
                                &err) < 0) {
        ctl_error("%s", err.msg);
        rc = CTL_UNAVAILABLE;
    } else {
        rc = tls_report(ctl, &a, &info, &st);
    }
    wl_info_release(&info);
    return rc;
}

int cmd_whitelist(const struct ctl *ctl, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "load") == 0) {
        if (argc != 3) {
            ctl_error("usage: mssantectl whitelist load FILE");
            return CTL_USAGE;
        }
        return whitelist_load(ctl, argv[2]);
    }
    if (argc >= 2 && strcmp(argv[1], "status") == 0) {
        if (argc != 2) {
            ctl_error("usage: mssantectl whitelist status");
            return CTL_USAGE;
        }
        return whitelist_status(ctl);
    }
    if (argc >= 2 && strcmp(argv[1], "tls-policy") == 0)
        return whitelist_tls_policy(ctl, argc, argv);
    if (argc >= 2 && strcmp(argv[1], "fetch") == 0)
        return cmd_whitelist_fetch(ctl, argc, argv);
    if (argc >= 2 && strcmp(argv[1], "rollback") == 0)
        return cmd_whitelist_rollback(ctl, argc, argv);
    ctl_error("whitelist: expected \"load FILE\", \"status\", \"tls-policy\", \"fetch\" or"
              " \"rollback\"%s%s",
              argc >= 2 ? ", not " : "", argc >= 2 ? argv[1] : "");
    return CTL_USAGE;
}
