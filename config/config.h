/*
 * config.h - the mssante-milter.conf file, shared by the daemon and mssantectl.
 *
 * Format: one "Key value" per line, '#' starts a comment, keys are matched
 * case-insensitively (OpenDKIM convention).  List values are separated by
 * commas and/or white space.  Every error names the file and the line; the
 * parser keeps going so that "mssante-milter -n" can report all of them.
 *
 * struct config is made of the settings of the modules that read them,
 * each defined where it is used (struct redis_settings in common/redis.h,
 * struct live_settings in whitelist/live.h, ...): the key table
 * (config/keys.c) points into them, so a module takes its own struct and
 * never includes this file.  One row of the table per key carries its
 * parser, bounds, default, reload class, secrecy and description; the
 * defaults, the restart-only keys, the -n listing and the manual's key
 * list (checked by a test) all come from it.
 *
 * DIAGNOSTICS: config_load() prints "FILE:LINE: Key: what was expected,
 * got \"value\"" (or "FILE: ..." for a whole-file problem) for every error
 * it finds, to stderr or to the sink of config_load_report(), and returns
 * NULL if there was any.  config_keep_restart_keys() logs one warning per
 * restart-only key a reload wanted to change.
 */
#ifndef MSSANTE_CONFIG_H
#define MSSANTE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/log.h"
#include "common/logid.h"
#include "common/redis.h"
#include "notify/queue.h"
#include "pipeline/settings.h"
#include "policy/held.h"
#include "stats/stats.h"
#include "whitelist/fetch.h"
#include "whitelist/live.h"

/* The daemon itself (milter/): read at start only, but ShutdownTimeout. */
struct daemon_settings {
    char *socket;                /* Socket: libmilter spec; -p overrides */
    int socket_mode;             /* SocketMode, octal */
    char *user;                  /* UserID user[:group]; -u overrides */
    char *pid_file;              /* PidFile; -P overrides */
    int shutdown_timeout_ms;     /* ShutdownTimeout: applied at a reload */
};

struct config {
    char *path;                      /* the file this came from (owned) */
    struct daemon_settings daemon;   /* Socket, SocketMode, UserID, PidFile, ShutdownTimeout */
    struct log_settings log;         /* LogLevel, SyslogFacility, LogFile */
    struct logid_settings logid;     /* LogPatientId, LogPatientIdKeyFile */
    struct held_settings held;       /* HeldKeyFile */
    struct rules_settings rules;     /* LocalDomains ... Forwarding, the patient keys */
    struct redis_settings redis;     /* Redis*, RedisSentinels ... RedisMinReplicas */
    struct live_settings live;       /* WhitelistFile, SnapshotFile, WhitelistPoll, TLSPolicy* */
    struct fetch_settings fetch;     /* WhitelistURL ... WhitelistMaxAge */
    struct notify_settings notify;   /* Notify* */
    struct stats_settings stats;     /* StatsFile, StatsInterval, NodeName */
};

/*
 * Load FILE into a fresh config.  Returns NULL and prints every error
 * ("FILE:LINE: message") to stderr when anything is wrong.  A missing file
 * is an error.
 */
struct config *config_load(const char *file);

/* The same, but each error line goes to SINK(ARG, "FILE:LINE: message")
 * instead of stderr (a reload in the daemon logs them). */
typedef void (*config_error_sink)(void *arg, const char *line);
struct config *config_load_report(const char *file, config_error_sink sink, void *arg);

/* Defaults only (used by tests and when composing a config in code). */
struct config *config_defaults(void);

void config_free(struct config *cfg);

/* Parse "10s", "500ms", "5m", "6h", "1d" or a plain number of seconds.
 * Returns 0 and stores milliseconds, or -1. */
int config_parse_duration_ms(const char *text, long long *ms_out);

/* True when DOMAIN (already lower-cased, no trailing dot) is in LocalDomains. */
bool config_is_local_domain(const struct config *cfg, const char *domain);

/*
 * A reloaded FRESH gets RUNNING's value of every restart-only key, with a
 * warning logged for each one that differs ("reload: SocketMode changed to
 * 0600: needs a restart; keeping 0660").  -1 when out of memory.
 */
int config_keep_restart_keys(struct config *fresh, const struct config *running);

/* Every key with its value in force, one "Key value" line each, in the
 * table's order; an unset key and the secret one as comments (-n). */
void config_print(const struct config *cfg, FILE *out);

/* The table, for tests and tools that check the documentation against it:
 * the number of keys, and key I's name, default text (NULL: unset),
 * restart-only flag and one-line description.  NULL past the end. */
size_t config_key_count(void);
const char *config_key_name(size_t i);
const char *config_key_default(size_t i);
bool config_key_restart_only(size_t i);
const char *config_key_doc(size_t i);

#endif
