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

#include "common/cidr.h"
#include "common/log.h"
#include "policy/message.h"

struct notify_template;      /* notify/message.h */

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

    /* Trust boundary (policy/message.h): which clients are inside, and
     * what the operator certificate of an outside client must be. */
    struct cidr_list internal_hosts;   /* InternalHosts, default 127.0.0.0/8 ::1;
                                        * "none": empty */
    enum cert_mode operator_certificate;   /* OperatorCertificate, default log */

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

    /* Whitelist fetcher (whitelist/refresh.h): where the ANS list is
     * downloaded from, how, and what a download must look like. */
    char *whitelist_url;               /* WhitelistURL, https only */
    char *whitelist_ca_file;           /* WhitelistCAFile; NULL = system bundle */
    char *whitelist_client_cert;       /* WhitelistClientCert (mutual TLS) */
    char *whitelist_client_key;        /* WhitelistClientKey; NULL = in the cert */
    int whitelist_connect_timeout_ms;  /* WhitelistConnectTimeout, default 10 s */
    int whitelist_timeout_ms;          /* WhitelistTimeout, default 120 s */
    size_t whitelist_max_size;         /* WhitelistMaxSize, bytes, default 32M */
    int whitelist_min_domains;         /* WhitelistMinDomains, default 1000 */
    int whitelist_max_shrink;          /* WhitelistMaxShrink, percent, default 20 */
    int whitelist_refresh_ms;          /* WhitelistRefresh, 0 = no refresh thread */
    int whitelist_max_age_ms;          /* WhitelistMaxAge, 0 = no warning */

    /* Outbound TLS toward the trust space (whitelist/tlspolicy.h): the
     * Postfix smtp_tls_policy_maps table the daemon keeps in step with
     * the list in force. */
    char *tls_policy_file;             /* TLSPolicyFile; NULL = not written */
    bool tls_policy_encrypt;           /* TLSPolicyLevel encrypt (default secure) */

    /* Patients (milter/patients.h): INS check, [FIN], conversations. */
    bool patient_key_warn;             /* PatientKeyCheck warn (default reject) */
    bool fin_content_accept;           /* FinWithContent accept (default reject) */
    char **pharmacy_mailboxes;         /* PharmacyMailboxes, NULL-terminated */
    size_t n_pharmacy_mailboxes;
    long long conversation_ttl;        /* ConversationTTL, seconds, default 30 days */

    /* Operations (milter/stats.h, milter/service.h). */
    char *stats_file;                  /* StatsFile: Prometheus text file; NULL = none */
    int stats_interval_ms;             /* StatsInterval, default 15 s */
    int shutdown_timeout_ms;           /* ShutdownTimeout, default 15 s */

    /* Forwarding and notices (milter/forwarding.h, notify/queue.h). */
    bool forwarding;                   /* Forwarding, default yes (needs Redis) */
    bool notify_worker;                /* NotifyWorker, default yes (needs Redis) */
    char *notify_smtp;                 /* NotifySMTP, default smtp://127.0.0.1:10027 */
    char *notify_sender;               /* NotifySender; NULL = no-reply@<first LocalDomain> */
    char *notify_template_file;        /* NotifyTemplate; NULL = the built-in text */
    struct notify_template *notify_template;   /* ... read and checked at load, owned */
    int notify_retry_ms;               /* NotifyRetry, default 30 s */
    int notify_retry_max_ms;           /* NotifyRetryMax, default 1 h */
    int notify_max_age_ms;             /* NotifyMaxAge, default 2 days */
    int notify_max_attempts;           /* NotifyMaxAttempts, default 50; 0 = no limit */
    int notify_timeout_ms;             /* NotifyTimeout, default 30 s */
};

/*
 * Load FILE into a fresh config.  Returns NULL and prints every error
 * ("FILE:LINE: message") to stderr when anything is wrong; with
 * report_all the caller gets all errors, not just the first.
 * A missing file is an error.
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

/* Parse "HOST:PORT", "[v6]:PORT" or "unix:/path" into ep. Returns 0 or -1. */
int config_parse_redis(const char *text, struct redis_endpoint *ep);

/* True when DOMAIN (already lower-cased, no trailing dot) is in LocalDomains. */
bool config_is_local_domain(const struct config *cfg, const char *domain);

#endif
