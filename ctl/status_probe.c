/*
 * status_probe.c - find the daemon and read what it last published, for
 * "mssantectl status" (sources and their limits: status.h).
 *
 * The process: the pid in PidFile must be alive (kill 0; EPERM counts as
 * alive: a monitoring user may not signal the daemon) and its /proc/PID/comm
 * must be mssante-milter, so that a pid file left behind by a crash, whose
 * number another program now has, is not taken for the daemon.  Its start
 * time comes from /proc/PID/stat (clock ticks after boot) and /proc/stat's
 * btime.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/redis.h"
#include "ctl/ctl.h"
#include "ctl/status.h"
#include "stats/node.h"

#define DAEMON_COMM   "mssante-milter"
#define STALE_ROUNDS  3          /* publications missed before the state is stale */
#define STALE_SLACK_S 5

/* ---- the process --------------------------------------------------------- */

static int read_small(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return 0;
}

/* When PID started (Unix time), 0 when /proc cannot tell. */
static long long process_start(long pid)
{
    char path[64], buf[4096], *p;
    unsigned long long ticks = 0;
    long long btime = 0;
    long hz = sysconf(_SC_CLK_TCK);

    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    if (read_small(path, buf, sizeof(buf)) < 0 || (p = strrchr(buf, ')')) == NULL)
        return 0;
    /* After "pid (comm)": state is field 3, starttime field 22. */
    for (int field = 3; field <= 22 && p != NULL; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%llu", &ticks) != 1)
        return 0;
    if (read_small("/proc/stat", buf, sizeof(buf)) < 0 || (p = strstr(buf, "\nbtime ")) == NULL
        || sscanf(p + 7, "%lld", &btime) != 1 || hz <= 0)
        return 0;
    return btime + (long long)(ticks / (unsigned long long)hz);
}

void status_daemon(const struct config *cfg, struct st_daemon *d)
{
    char buf[64], path[64], comm[64] = "";
    char *end;

    memset(d, 0, sizeof(*d));
    d->pidfile_set = cfg->daemon.pid_file != NULL;
    if (!d->pidfile_set) {
        snprintf(d->why, sizeof(d->why), "PidFile is not set: the daemon cannot be found");
        return;
    }
    if (read_small(cfg->daemon.pid_file, buf, sizeof(buf)) < 0) {
        snprintf(d->why, sizeof(d->why), "not running: PidFile %s: %s", cfg->daemon.pid_file,
                 strerror(errno));
        return;
    }
    d->pid = strtol(buf, &end, 10);
    if (d->pid <= 0 || (*end != '\0' && *end != '\n')) {
        snprintf(d->why, sizeof(d->why), "PidFile %s holds no process id", cfg->daemon.pid_file);
        d->pid = 0;
        return;
    }
    if (kill((pid_t)d->pid, 0) < 0 && errno == ESRCH) {
        snprintf(d->why, sizeof(d->why), "not running: PidFile %s names pid %ld, which is "
                 "gone (crashed or killed?)", cfg->daemon.pid_file, d->pid);
        return;
    }
    snprintf(path, sizeof(path), "/proc/%ld/comm", d->pid);
    if (read_small(path, comm, sizeof(comm)) == 0)
        comm[strcspn(comm, "\n")] = '\0';
    if (strcmp(comm, DAEMON_COMM) != 0) {
        snprintf(d->why, sizeof(d->why), "not running: PidFile %s names pid %ld, which is "
                 "%s%s, not " DAEMON_COMM " (a pid file left behind)", cfg->daemon.pid_file,
                 d->pid, comm[0] ? "" : "unreadable", comm);
        return;
    }
    d->running = true;
    d->started = process_start(d->pid);
}

/* ---- what it published: Redis --------------------------------------------------- */

static bool stale(long long updated, const struct config *cfg, long long now)
{
    long long interval = cfg->stats.interval_ms / 1000;

    return now - updated > STALE_ROUNDS * (interval > 0 ? interval : 1) + STALE_SLACK_S;
}

static void take_field(struct st_published *p, const char *name, const char *v)
{
    if (strcmp(name, "updated") == 0)
        p->updated = atoll(v);
    else if (strcmp(name, "pid") == 0)
        p->pid = atoll(v);
    else if (strcmp(name, "started") == 0)
        p->started = atoll(v);
    else if (strcmp(name, "whitelist:version") == 0)
        snprintf(p->version, sizeof(p->version), "%s", strcmp(v, "none") == 0 ? "" : v);
    else if (strcmp(name, "whitelist:generated") == 0)
        snprintf(p->generated, sizeof(p->generated), "%s", v);
    else if (strcmp(name, "whitelist:age") == 0)
        p->age = atoll(v);
    else if (strcmp(name, "reload:last") == 0)
        snprintf(p->reload_last, sizeof(p->reload_last), "%s", v);
    else if (strcmp(name, "reload:time") == 0)
        p->reload_time = atoll(v);
    else if (strcmp(name, "reload:error") == 0)
        snprintf(p->reload_error, sizeof(p->reload_error), "%s", v);
}

/* 0 usable, -1 not (p->why says why). */
static int from_redis(const struct config *cfg, redisContext *c, const struct st_daemon *d,
                      long long now, struct st_published *p)
{
    char node[STATS_NODE_MAX];
    redisReply *r;

    stats_node_name(cfg->stats.node_name, node, sizeof(node));
    r = redisCommand(c, "HGETALL %s" STATS_NODE_KEY "%s", cfg->redis.prefix, node);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        snprintf(p->why, sizeof(p->why), "Redis: HGETALL %s" STATS_NODE_KEY "%s failed",
                 cfg->redis.prefix, node);
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING
            && r->element[i + 1]->type == REDIS_REPLY_STRING)
            take_field(p, r->element[i]->str, r->element[i + 1]->str);
    if (r->elements == 0)
        snprintf(p->why, sizeof(p->why), "nothing published in Redis for node %s", node);
    else if (d->running && p->pid != d->pid)
        snprintf(p->why, sizeof(p->why), "Redis holds the state of pid %lld, not of the "
                 "running pid %ld (a daemon of a release without it, or another one)",
                 p->pid, d->pid), p->stale = true;
    else if (stale(p->updated, cfg, now))
        snprintf(p->why, sizeof(p->why), "the daemon last published to Redis %llds ago",
                 now - p->updated), p->stale = true;
    else
        p->source = ST_FROM_REDIS;
    freeReplyObject(r);
    p->list_loaded = p->version[0] != '\0';
    return p->source == ST_FROM_REDIS ? 0 : -1;
}

/* ---- what it published: the StatsFile ------------------------------------------- */

/* The value of a "name value" or "name{labels} value" line. */
static bool metric(const char *line, const char *name, long long *value)
{
    size_t n = strlen(name);

    if (strncmp(line, name, n) != 0 || (line[n] != ' ' && line[n] != '{'))
        return false;
    line = strrchr(line, ' ');
    *value = line != NULL ? (long long)strtod(line + 1, NULL) : 0;
    return line != NULL;
}

/* LABEL="value" of a metric line into BUF. */
static void label(const char *line, const char *name, char *buf, size_t size)
{
    char key[64];
    const char *p, *end;

    snprintf(key, sizeof(key), "%s=\"", name);
    buf[0] = '\0';
    if ((p = strstr(line, key)) == NULL)
        return;
    p += strlen(key);
    if ((end = strchr(p, '"')) != NULL)
        snprintf(buf, size, "%.*s", (int)(end - p), p);
}

static void file_line(struct st_published *p, const char *line, bool *reload_ok_seen,
                      long long *reload_ok)
{
    long long v;

    if (metric(line, "mssante_milter_whitelist_loaded", &v))
        p->list_loaded = v == 1;
    else if (metric(line, "mssante_milter_whitelist_age_seconds", &v))
        p->age = v;
    else if (metric(line, "mssante_milter_start_time_seconds", &v))
        p->started = v;
    else if (metric(line, "mssante_milter_last_reload_success", &v))
        *reload_ok_seen = true, *reload_ok = v;
    else if (metric(line, "mssante_milter_last_reload_timestamp_seconds", &v))
        p->reload_time = v;
    else if (metric(line, "mssante_milter_whitelist_info", &v)) {
        label(line, "version", p->version, sizeof(p->version));
        label(line, "generated", p->generated, sizeof(p->generated));
    }
}

static int from_file(const struct config *cfg, const struct st_daemon *d, long long now,
                     struct st_published *p)
{
    char line[1024];
    bool reload_seen = false;
    long long reload_ok = 0;
    struct stat st;
    FILE *f;

    if ((f = fopen(cfg->stats.file, "r")) == NULL || fstat(fileno(f), &st) < 0) {
        snprintf(p->why + strlen(p->why), sizeof(p->why) - strlen(p->why), "%sStatsFile %s: %s",
                 p->why[0] ? "; " : "", cfg->stats.file, strerror(errno));
        if (f != NULL)
            fclose(f);
        return -1;
    }
    p->updated = (long long)st.st_mtime;
    while (fgets(line, sizeof(line), f) != NULL)
        file_line(p, line, &reload_seen, &reload_ok);
    fclose(f);
    snprintf(p->reload_last, sizeof(p->reload_last), "%s",
             !reload_seen ? "none" : reload_ok ? "ok" : "failed");
    if (stale(p->updated, cfg, now) || (d->running && d->started > 0
                                        && p->updated + 1 < d->started)) {
        snprintf(p->why + strlen(p->why), sizeof(p->why) - strlen(p->why),
                 "%sStatsFile %s was last written %llds ago", p->why[0] ? "; " : "",
                 cfg->stats.file, now - p->updated);
        p->stale = true;
        return -1;
    }
    p->source = ST_FROM_FILE;
    return 0;
}

void status_published(const struct config *cfg, redisContext *c, const struct st_daemon *d,
                      long long now, struct st_published *p)
{
    memset(p, 0, sizeof(*p));
    p->age = -1;
    if (c != NULL && from_redis(cfg, c, d, now, p) == 0)
        return;
    if (c == NULL && redis_configured(&cfg->redis))
        snprintf(p->why, sizeof(p->why), "Redis cannot be read");
    if (cfg->stats.file != NULL) {
        char why[sizeof(p->why)];
        bool stale_redis = p->stale;

        snprintf(why, sizeof(why), "%s", p->why);
        memset(p, 0, sizeof(*p));
        p->age = -1;
        snprintf(p->why, sizeof(p->why), "%s", why);
        p->stale = stale_redis;
        if (from_file(cfg, d, now, p) == 0)
            return;
    }
    if (p->why[0] == '\0')
        snprintf(p->why, sizeof(p->why), "the daemon publishes its state nowhere: set "
                 "StatsFile, or Redis");
    p->source = ST_FROM_NONE;
}
