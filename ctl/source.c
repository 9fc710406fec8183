/*
 * source.c - find the whitelist the daemon would be serving.
 *
 * The order mirrors the daemon so that "mssantectl check" answers what
 * the daemon answers:
 *   - Redis configured and holding a current version: that version;
 *   - Redis configured but unreachable (or unreadable): SnapshotFile, the
 *     daemon's cold-start list, with a warning;
 *   - Redis reachable but empty: WhitelistFile, which the daemon publishes
 *     at start in that case (then SnapshotFile);
 *   - no Redis: WhitelistFile (then SnapshotFile).
 * Every fallback is announced on stderr: an operator must never mistake a
 * stale copy for the list in force.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "ctl/ctl.h"
#include "whitelist/ansxml.h"
#include "whitelist/domainset.h"
#include "whitelist/snapshot.h"
#include "whitelist/store.h"


const char *wl_origin_name(enum wl_origin o)
{
    switch (o) {
    case WL_FROM_REDIS:
        return "redis";
    case WL_FROM_SNAPSHOT:
        return "snapshot";
    case WL_FROM_FILE:
        return "file";
    }
    return "unknown";
}

void wl_info_release(struct wl_info *info)
{
    whitelist_free(info->wl);
    info->wl = NULL;
}

/* Copy a whole whitelist's metadata into info, which takes ownership. */
static void info_take(struct wl_info *info, enum wl_origin origin, struct whitelist *wl)
{
    info->origin = origin;
    snprintf(info->version, sizeof(info->version), "%s", wl->version);
    snprintf(info->generated, sizeof(info->generated), "%s", wl->generated);
    snprintf(info->sha256, sizeof(info->sha256), "%s", wl->sha256);
    snprintf(info->source, sizeof(info->source), "%s", wl->source);
    info->loaded = wl->loaded_at;
    info->count = domainset_count(wl->domains);
    info->entries = wl->entries;
    info->wl = wl;
}

static int from_file(const struct config *cfg, struct wl_info *info)
{
    struct err err;
    struct ans_list *list;
    struct whitelist *wl;
    struct stat st;

    if (cfg->live.file == NULL)
        return -1;
    list = ans_parse_file(cfg->live.file, &err);
    if (list == NULL) {
        ctl_warn("WhitelistFile unusable: %s", err.msg);
        return -1;
    }
    wl = ans_list_take_whitelist(list);
    snprintf(wl->version, sizeof(wl->version), "file");
    /* The file's own date is the best "loaded" there is. */
    if (wl->loaded_at == 0 && stat(cfg->live.file, &st) == 0)
        wl->loaded_at = st.st_mtime;
    info_take(info, WL_FROM_FILE, wl);
    return 0;
}

static int from_snapshot(const struct config *cfg, struct wl_info *info)
{
    struct err err;
    struct whitelist *wl;

    if (cfg->live.snapshot_file == NULL)
        return -1;
    wl = snapshot_read(cfg->live.snapshot_file, &err);
    if (wl == NULL) {
        ctl_warn("SnapshotFile unusable: %s", err.msg);
        return -1;
    }
    if (wl->certs == NULL)
        ctl_warn("SnapshotFile %s is in the old format 1: it holds no operator"
                 " certificate CNs", cfg->live.snapshot_file);
    info_take(info, WL_FROM_SNAPSHOT, wl);
    return 0;
}

/* 1 read, 0 Redis holds no list, -1 Redis could not be read (warned). */
static int from_redis(const struct config *cfg, bool need_domains, struct wl_info *info)
{
    struct err err;
    char id[64];
    redisContext *c;
    int rc;

    c = redis_connect(&cfg->redis, &err);
    if (c == NULL) {
        ctl_warn("%s", err.msg);
        return -1;
    }
    rc = store_current_version(c, cfg->redis.prefix, id, sizeof(id), &err);
    if (rc == 1 && need_domains) {
        struct whitelist *wl = store_load_version(c, cfg->redis.prefix, id, &err);

        if (wl != NULL)
            info_take(info, WL_FROM_REDIS, wl);
        else
            rc = -1;
    } else if (rc == 1) {
        struct store_meta m;
        int mrc = store_read_meta(c, cfg->redis.prefix, id, &m, &err);

        if (mrc == 0)
            err_set(&err, "redis: current version %s has no metadata", id);
        if (mrc <= 0) {
            rc = -1;
        } else {
            info->origin = WL_FROM_REDIS;
            snprintf(info->version, sizeof(info->version), "%s", m.version);
            snprintf(info->generated, sizeof(info->generated), "%s", m.generated);
            snprintf(info->sha256, sizeof(info->sha256), "%s", m.sha256);
            snprintf(info->source, sizeof(info->source), "%s", m.source);
            info->loaded = (time_t)m.loaded;
            info->count = m.count;
            info->entries = m.entries;
        }
    }
    if (rc == 1
        && store_previous_version(c, cfg->redis.prefix, info->previous,
                                  sizeof(info->previous), &err) < 0) {
        wl_info_release(info);
        rc = -1;
    }
    if (rc < 0)
        ctl_warn("%s", err.msg);
    redisFree(c);
    return rc;
}

int wl_find(const struct config *cfg, bool need_domains, struct wl_info *info)
{
    memset(info, 0, sizeof(*info));
    if (!redis_configured(&cfg->redis)) {
        if (from_file(cfg, info) == 0)
            return 0;
        if (from_snapshot(cfg, info) == 0) {
            ctl_warn("using SnapshotFile %s", cfg->live.snapshot_file);
            return 0;
        }
        ctl_error("no whitelist available: %s",
                  cfg->live.file ? "WhitelistFile could not be read"
                                      : "neither Redis nor WhitelistFile is configured");
        return -1;
    }
    switch (from_redis(cfg, need_domains, info)) {
    case 1:
        return 0;
    case 0:
        ctl_warn("Redis holds no whitelist yet (mssantectl whitelist load FILE publishes one)");
        if (from_file(cfg, info) == 0) {
            ctl_warn("using WhitelistFile %s, which the daemon publishes at start",
                     cfg->live.file);
            return 0;
        }
        break;
    default:
        break;
    }
    if (from_snapshot(cfg, info) == 0) {
        ctl_warn("using SnapshotFile %s (version %s), not Redis", cfg->live.snapshot_file,
                 info->version[0] ? info->version : "?");
        return 0;
    }
    ctl_error("no whitelist available: Redis cannot provide one and %s",
              cfg->live.snapshot_file ? "SnapshotFile could not be read" : "no SnapshotFile is configured");
    return -1;
}
