/*
 * config.h - the mssante-milter.conf file, shared by the daemon and mssantectl.
 *
 * Format: one "Key value" per line, '#' starts a comment, keys are matched
 * case-insensitively (OpenDKIM convention).  List values are separated by
 * commas and/or white space.  Every error names the file and the line; the
 * parser keeps going so that "mssante-milter -n" can report all of them.
 */
#ifndef MSSANTE_CONFIG_H
#define MSSANTE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOGL_ERROR = 0, LOGL_WARNING, LOGL_NOTICE, LOGL_INFO, LOGL_DEBUG };

struct redis_endpoint {
    char *host;          /* NULL when unix_path is set */
    int port;
    char *unix_path;     /* "unix:/path" form */
};

struct config {
    char *path;                  /* file this came from (owned) */

    char *socket;                /* libmilter spec; -p overrides */
    int socket_mode;             /* SocketMode, octal, default 0660 */
    char *user;                  /* UserID user[:group]; -u overrides */
    char *pid_file;              /* PidFile; -P overrides */

    char **local_domains;        /* LocalDomains, lower-cased, NULL-terminated */
    size_t n_local_domains;
    char *patient_domain;        /* PatientDomain, default patient.mssante.fr */

    char *whitelist_file;        /* WhitelistFile: ANS XML */
    bool redis_enabled;          /* Redis given */
    struct redis_endpoint redis; /* Redis */
    char *redis_password;        /* RedisPassword */
    int redis_timeout_ms;        /* RedisTimeout, default 2000 ms */
    char *redis_prefix;          /* RedisPrefix, default "mssante:" */
    char *snapshot_file;         /* SnapshotFile */
    int whitelist_poll_ms;       /* WhitelistPoll, default 10 s */

    bool dry_run;                /* DryRun */
    enum log_level log_level;    /* LogLevel, default info */
    char *syslog_facility;       /* SyslogFacility, default mail */
};

/*
 * Load FILE into a fresh config.  Returns NULL and prints every error
 * ("FILE:LINE: message") to stderr when anything is wrong; with
 * report_all the caller gets all errors, not just the first.
 * A missing file is an error.
 */
struct config *config_load(const char *file);

/* Defaults only (used by tests and when composing a config in code). */
struct config *config_defaults(void);

void config_free(struct config *cfg);

/* Parse "10s", "500ms", "5m", "6h", "1d" or a plain number of seconds.
 * Returns 0 and stores milliseconds, or -1. */
int config_parse_duration_ms(const char *text, long long *ms_out);

/* Parse "HOST:PORT", "[v6]:PORT" or "unix:/path" into ep. Returns 0 or -1. */
int config_parse_redis(const char *text, struct redis_endpoint *ep);

/* True when DOMAIN (already lower-cased, no trailing dot) is in LocalDomains. */
bool config_is_local_domain(const struct config *cfg, const char *domain);

#endif
