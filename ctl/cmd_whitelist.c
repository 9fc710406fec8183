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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "ctl/ctl.h"
#include "whitelist/ansxml.h"
#include "whitelist/domainset.h"
#include "whitelist/snapshot.h"
#include "whitelist/store.h"

#define ERR_MAX 1024

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
    char err[ERR_MAX];

    if (cfg->snapshot_file == NULL)
        return false;
    snprintf(wl->version, sizeof(wl->version), "%s", id);
    wl->loaded_at = time(NULL);
    if (snapshot_write(cfg->snapshot_file, wl, err, sizeof(err)) < 0) {
        ctl_warn("published, but SnapshotFile not written: %s", err);
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
    json_object_set_new(o, "snapshot", snapshot_written ? json_text(ctl->cfg->snapshot_file)
                                                        : json_null());
    return print_json(o) == 0 ? CTL_OK : CTL_UNAVAILABLE;
}

static int whitelist_load(const struct ctl *ctl, const char *file)
{
    const struct config *cfg = ctl->cfg;
    char err[ERR_MAX], id[64];
    struct ans_list *list;
    redisContext *c;
    bool published = false, snap;
    int rc;

    if (!cfg->redis_enabled) {
        ctl_error("whitelist load publishes to Redis, and %s has no Redis setting",
                  cfg->path ? cfg->path : "the configuration");
        return CTL_USAGE;
    }
    list = ans_parse_file(file, err, sizeof(err));
    if (list == NULL) {
        ctl_error("refused, nothing published: %s", err);
        return CTL_FAIL;
    }
    set_absolute_source(list->wl, file);
    if (list->skipped > 0)
        ctl_warn("%zu <Nom> value%s not a valid domain name, skipped", list->skipped,
                 list->skipped == 1 ? " is" : "s are");
    if (list->cn_skipped > 0)
        ctl_warn("%zu <DNCertificatOperateur> value%s no usable CN, skipped",
                 list->cn_skipped, list->cn_skipped == 1 ? " has" : "s have");
    c = store_connect(cfg, err, sizeof(err));
    if (c == NULL) {
        ctl_error("%s", err);
        ans_list_free(list);
        return CTL_UNAVAILABLE;
    }
    rc = store_publish(c, cfg->redis_prefix, list, false, &published, id, sizeof(id),
                       err, sizeof(err));
    redisFree(c);
    if (rc < 0 || !published) {
        ctl_error("not published: %s",
                  rc < 0 ? err : "publish declined");
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

    *known = parse_iso8601(info->generated, &gen) == 0;
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
    if (argc >= 2 && strcmp(argv[1], "fetch") == 0)
        return cmd_whitelist_fetch(ctl, argc, argv);
    if (argc >= 2 && strcmp(argv[1], "rollback") == 0)
        return cmd_whitelist_rollback(ctl, argc, argv);
    ctl_error("whitelist: expected \"load FILE\", \"status\", \"fetch\" or \"rollback\"%s%s",
              argc >= 2 ? ", not " : "", argc >= 2 ? argv[1] : "");
    return CTL_USAGE;
}
