/*
 * status.h - what "mssantectl status" finds out about the daemon of this
 * machine (status_probe.c) before judging it (cmd_status.c).
 *
 * Two sources, neither of them the daemon's memory:
 *   - the process: PidFile names it; /proc says whether it is alive, is
 *     mssante-milter, and since when;
 *   - what the daemon publishes every StatsInterval (stats/node.h,
 *     stats/status.h): the HASH PREFIX stats:node:HOSTNAME in Redis,
 *     or else the StatsFile.  Publications older than three intervals, or
 *     made by another process than the one PidFile names, are not used:
 *     they describe a daemon that is gone or hung.
 */
#ifndef MSSANTE_CTL_STATUS_H
#define MSSANTE_CTL_STATUS_H

#include <stdbool.h>

#include "config/config.h"

struct redisContext;

struct st_daemon {
    bool pidfile_set;             /* PidFile is configured */
    bool running;                 /* its pid is alive and is mssante-milter */
    long pid;                     /* 0 when unknown */
    long long started;            /* Unix time, 0 when unknown */
    char why[512];                /* not running: why; else "" */
};

enum st_source { ST_FROM_NONE = 0, ST_FROM_REDIS, ST_FROM_FILE };

struct st_published {
    enum st_source source;        /* NONE: nothing usable (why says what was tried) */
    long long updated;            /* when it was published (Unix time) */
    long long pid;                /* 0 when not published (StatsFile) */
    long long started;
    bool list_loaded;
    char version[64];             /* of the list in force; "" when none or unknown */
    char generated[64];           /* its DateDeGeneration; "" when unknown */
    long long age;                /* seconds since generation when published; -1 unknown */
    char reload_last[16];         /* none, ok, failed; "" when not published */
    long long reload_time;
    char reload_error[300];       /* its first error when it failed (Redis only) */
    bool stale;                   /* NONE, but a publication was found: too old, or
                                   * another process's (the daemon stopped publishing) */
    char why[512];
};

/* The process PidFile names. */
void status_daemon(const struct config *cfg, struct st_daemon *d);

/* What the daemon D published: Redis C (NULL when not configured or
 * unreachable: then StatsFile).  NOW is the current time. */
void status_published(const struct config *cfg, struct redisContext *c,
                      const struct st_daemon *d, long long now, struct st_published *p);

#endif
