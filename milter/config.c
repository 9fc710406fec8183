/*
 * config.c - read mssante-milter.conf.
 *
 * One table row per key (name, parser, field, bounds): a later feature adds
 * a key by adding a row and, when needed, a parser (config_values.c holds
 * the parsers).  The reader never stops at the first problem: it reports
 * every error as "FILE:LINE: message" on stderr and config_load() returns
 * NULL at the end if there was any, so "mssante-milter -n" shows the
 * operator everything to fix in one go.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/err.h"
#include "milter/config.h"
#include "milter/config_values.h"
#include "notify/message.h"

#define WHY_MAX 256

/* The loopback: local web mail and scripts speaking SMTP to 127.0.0.1. */
#define DEFAULT_INTERNAL_HOSTS "127.0.0.0/8 ::1"

/* ---- two-word keys (milter/patients.h) -------------------------------- */

static bool parse_key_check(struct config *cfg, const struct key_def *key, const char *value,
                            struct err *why)
{
    return parse_choice(cfg, key, value, "reject", "warn", why);
}

static bool parse_fin_content(struct config *cfg, const struct key_def *key, const char *value,
                              struct err *why)
{
    return parse_choice(cfg, key, value, "reject", "accept", why);
}

/* ---- two-word keys (whitelist/tlspolicy.h) ----------------------------- */

static bool parse_tls_level(struct config *cfg, const struct key_def *key, const char *value,
                            struct err *why)
{
    return parse_choice(cfg, key, value, "secure", "encrypt", why);
}

/* ---- the table -------------------------------------------------------- */

#define OFF(f) offsetof(struct config, f)

static const struct key_def keys[] = {
    { "Socket",         parse_socket,        OFF(socket),            0, 0 },
    { "SocketMode",     parse_octal,         OFF(socket_mode),       0, 0777 },
    { "UserID",         parse_user,          OFF(user),              0, 0 },
    { "PidFile",        parse_string,        OFF(pid_file),          0, 0 },
    { "LocalDomains",   parse_local_domains, OFF(local_domains),     0, 0 },
    { "PatientDomain",  parse_domain,        OFF(patient_domain),    0, 0 },
    { "InternalHosts",  parse_internal_hosts, OFF(internal_hosts),   0, 0 },
    { "OperatorCertificate", parse_operator_certificate, OFF(operator_certificate), 0, 0 },
    { "WhitelistFile",  parse_string,        OFF(whitelist_file),    0, 0 },
    { "Redis",          parse_redis,         OFF(redis),             0, 0 },
    { "RedisPassword",  parse_string,        OFF(redis_password),    0, 0 },
    { "RedisTimeout",   parse_duration,      OFF(redis_timeout_ms),  1, 3600000 },
    { "RedisPrefix",    parse_word,          OFF(redis_prefix),      0, 0 },
    { "SnapshotFile",   parse_string,        OFF(snapshot_file),     0, 0 },
    { "WhitelistPoll",  parse_duration,      OFF(whitelist_poll_ms), 100, 86400000 },
    { "DryRun",         parse_bool,          OFF(dry_run),           0, 0 },
    { "LogLevel",       parse_log_level,     OFF(log_level),         0, 0 },
    { "SyslogFacility", parse_facility,      OFF(syslog_facility),   0, 0 },
    { "WhitelistURL",   parse_https_url,     OFF(whitelist_url),     0, 0 },
    { "WhitelistCAFile", parse_string,       OFF(whitelist_ca_file), 0, 0 },
    { "WhitelistClientCert", parse_string,   OFF(whitelist_client_cert), 0, 0 },
    { "WhitelistClientKey", parse_string,    OFF(whitelist_client_key), 0, 0 },
    { "WhitelistConnectTimeout", parse_duration, OFF(whitelist_connect_timeout_ms), 100, 600000 },
    { "WhitelistTimeout", parse_duration,    OFF(whitelist_timeout_ms), 1000, 3600000 },
    { "WhitelistMaxSize", parse_size,        OFF(whitelist_max_size), 1 << 10, 1 << 30 },
    { "WhitelistMinDomains", parse_int,      OFF(whitelist_min_domains), 1, 10000000 },
    { "WhitelistMaxShrink", parse_int,       OFF(whitelist_max_shrink), 0, 100 },
    /* 0 turns these two off; the bounds keep the int of milliseconds. */
    { "WhitelistRefresh", parse_duration,    OFF(whitelist_refresh_ms), 0, 604800000 },
    { "WhitelistMaxAge", parse_duration,     OFF(whitelist_max_age_ms), 0, 1814400000 },
    { "PatientKeyCheck", parse_key_check,    OFF(patient_key_warn),  0, 0 },
    { "FinWithContent", parse_fin_content,   OFF(fin_content_accept), 0, 0 },
    { "PharmacyMailboxes", parse_pharmacies, OFF(pharmacy_mailboxes), 0, 0 },
    { "ConversationTTL", parse_ttl_seconds,  OFF(conversation_ttl),  0, 3650LL * 86400 },
    { "StatsFile",      parse_string,        OFF(stats_file),        0, 0 },
    { "StatsInterval",  parse_duration,      OFF(stats_interval_ms), 1000, 86400000 },
    { "ShutdownTimeout", parse_duration,     OFF(shutdown_timeout_ms), 0, 600000 },
    { "Forwarding",     parse_bool,          OFF(forwarding),        0, 0 },
    { "NotifyWorker",   parse_bool,          OFF(notify_worker),     0, 0 },
    { "NotifySMTP",     parse_notify_smtp,   OFF(notify_smtp),       0, 0 },
    { "NotifySender",   parse_address,       OFF(notify_sender),     0, 0 },
    { "NotifyTemplate", parse_notify_template, OFF(notify_template_file), 0, 0 },
    { "NotifyRetry",    parse_duration,      OFF(notify_retry_ms),   1000, 86400000 },
    { "NotifyRetryMax", parse_duration,      OFF(notify_retry_max_ms), 1000, 604800000 },
    { "NotifyMaxAge",   parse_duration,      OFF(notify_max_age_ms), 60000, 1728000000 },
    { "NotifyMaxAttempts", parse_int,        OFF(notify_max_attempts), 0, 1000000 },
    { "NotifyTimeout",  parse_duration,      OFF(notify_timeout_ms), 1000, 600000 },
    { "TLSPolicyFile",  parse_string,        OFF(tls_policy_file),   0, 0 },
    { "TLSPolicyLevel", parse_tls_level,     OFF(tls_policy_encrypt), 0, 0 },
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

/* ---- reading the file ------------------------------------------------- */

struct reader {
    const char *file;
    unsigned errors;
    config_error_sink sink;      /* NULL: stderr */
    void *sink_arg;
};

static void report(struct reader *rd, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct reader *rd, unsigned line, const char *fmt, ...)
{
    char text[WHY_MAX * 2];
    size_t len;
    va_list ap;

    if (line > 0)
        snprintf(text, sizeof(text), "%s:%u: ", rd->file, line);
    else
        snprintf(text, sizeof(text), "%s: ", rd->file);
    len = strlen(text);
    va_start(ap, fmt);
    vsnprintf(text + len, sizeof(text) - len, fmt, ap);
    va_end(ap);
    if (rd->sink != NULL)
        rd->sink(rd->sink_arg, text);
    else
        fprintf(stderr, "%s\n", text);
    rd->errors++;
}

/* Case-insensitive edit distance, capped: good enough for "did you mean". */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];

    if (la >= 63 || lb >= 63)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = (a[i - 1] | 0x20) == (b[j - 1] | 0x20) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void report_unknown(struct reader *rd, unsigned line, const char *name)
{
    const char *best = NULL;
    size_t best_d = 3;   /* suggest only close matches */
    size_t len = strlen(name);

    for (size_t i = 0; i < N_KEYS; i++) {
        size_t klen = strlen(keys[i].name), d;

        /* The distance is at least the difference in length: skip the
         * table's work for keys that cannot be close (a file of garbage
         * lines is then read in linear time with a small factor). */
        if ((len > klen ? len - klen : klen - len) >= best_d)
            continue;
        d = distance(name, keys[i].name);
        if (d < best_d) {
            best_d = d;
            best = keys[i].name;
        }
    }
    if (best != NULL)
        report(rd, line, "unknown key \"%s\" (did you mean %s?)", name, best);
    else if (strpbrk(name, "=:") != NULL)
        report(rd, line, "unknown key \"%s\" (the format is \"Key value\")", name);
    else
        report(rd, line, "unknown key \"%s\"", name);
}

/* Strip a comment ('#' at the start or after white space) and trailing space. */
static void strip_comment(char *value)
{
    char *end;

    for (char *p = value; *p; p++) {
        if (*p == '#' && (p == value || config_is_space(p[-1]))) {
            *p = '\0';
            break;
        }
    }
    end = value + strlen(value);
    while (end > value && config_is_space(end[-1]))
        *--end = '\0';
}

static void parse_line(struct reader *rd, struct config *cfg, char *line, unsigned lineno,
                       unsigned *seen)
{
    char *key = line, *value;
    struct err why;
    size_t i;

    while (config_is_space(*key))
        key++;
    if (*key == '\0' || *key == '#')
        return;
    for (value = key; *value && !config_is_space(*value); value++)
        continue;
    if (*value != '\0')
        *value++ = '\0';
    while (config_is_space(*value))
        value++;
    strip_comment(value);

    for (i = 0; i < N_KEYS; i++)
        if (strcasecmp(key, keys[i].name) == 0)
            break;
    if (i == N_KEYS) {
        report_unknown(rd, lineno, key);
        return;
    }
    if (seen[i] != 0) {
        report(rd, lineno, "duplicate key %s (already set on line %u)", keys[i].name, seen[i]);
        return;
    }
    seen[i] = lineno;
    if (*value == '\0') {
        report(rd, lineno, "%s: missing value", keys[i].name);
        return;
    }
    err_clear(&why);
    if (!keys[i].parse(cfg, &keys[i], value, &why))
        report(rd, lineno, "%s: %s", keys[i].name, why.msg[0] ? why.msg : "invalid value");
}

static bool key_seen(const unsigned *seen, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return seen[i] != 0;
    return false;
}

/* Line where NAME was set, 0 when it was not. */
static unsigned key_line(const unsigned *seen, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return seen[i];
    return 0;
}

/* Checks across keys.  A key that is present but invalid was reported on
 * its own line already: do not report it a second time as missing. */
static void check_whole(struct reader *rd, const struct config *cfg, const unsigned *seen)
{
    if (cfg->whitelist_file == NULL && !cfg->redis_enabled
        && !key_seen(seen, "WhitelistFile") && !key_seen(seen, "Redis"))
        report(rd, 0, "no whitelist source: set WhitelistFile, Redis, or both");
    if (cfg->n_local_domains == 0 && !key_seen(seen, "LocalDomains"))
        report(rd, 0, "LocalDomains is required (the operator's own MSSante domains)");
    /* The fetched list is published to Redis for every MX; a daemon
     * without Redis serves WhitelistFile and would have nowhere to put it. */
    if (cfg->whitelist_refresh_ms > 0 && !cfg->redis_enabled && !key_seen(seen, "Redis"))
        report(rd, key_line(seen, "WhitelistRefresh"),
               "WhitelistRefresh needs Redis: the downloaded list is published there");
    if (cfg->whitelist_refresh_ms > 0 && cfg->whitelist_refresh_ms < 1000)
        report(rd, key_line(seen, "WhitelistRefresh"),
               "WhitelistRefresh: expected 0 (off) or at least 1s");
    if (cfg->whitelist_client_key != NULL && cfg->whitelist_client_cert == NULL
        && !key_seen(seen, "WhitelistClientCert"))
        report(rd, key_line(seen, "WhitelistClientKey"),
               "WhitelistClientKey is set without WhitelistClientCert");
    if (cfg->notify_retry_max_ms < cfg->notify_retry_ms)
        report(rd, key_line(seen, "NotifyRetryMax"),
               "NotifyRetryMax is shorter than NotifyRetry");
}

struct config *config_defaults(void)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    struct err why;

    if (cfg == NULL)
        return NULL;
    cfg->socket_mode = 0660;
    cfg->redis_timeout_ms = 2000;
    cfg->whitelist_poll_ms = 10000;
    cfg->log_level = LOGL_INFO;
    cfg->patient_domain = strdup("patient.mssante.fr");
    cfg->redis_prefix = strdup("mssante:");
    cfg->syslog_facility = strdup("mail");
    cfg->local_domains = calloc(1, sizeof(char *));
    /* Same as FETCH_DEFAULT_URL (whitelist/fetch.h), written out so the
     * default reads the same here, in the docs and in the manual page. */
    cfg->whitelist_url = strdup("https://espacedeconfiance.mssante.fr/listeblanchemssante.xml");
    cfg->whitelist_connect_timeout_ms = 10000;
    cfg->whitelist_timeout_ms = 120000;
    cfg->whitelist_max_size = (size_t)32 << 20;
    cfg->whitelist_min_domains = 1000;
    cfg->whitelist_max_shrink = 20;
    cfg->whitelist_refresh_ms = 0;
    cfg->whitelist_max_age_ms = 259200000;
    cfg->conversation_ttl = 30LL * 86400;
    cfg->operator_certificate = CERT_MODE_LOG;
    cfg->stats_interval_ms = 15000;
    cfg->shutdown_timeout_ms = 15000;
    cfg->forwarding = true;
    cfg->notify_worker = true;
    cfg->notify_smtp = strdup("smtp://127.0.0.1:10027");
    cfg->notify_retry_ms = 30000;
    cfg->notify_retry_max_ms = 3600000;
    cfg->notify_max_age_ms = 172800000;
    cfg->notify_max_attempts = 50;
    cfg->notify_timeout_ms = 30000;
    if (cidr_list_parse(DEFAULT_INTERNAL_HOSTS, &cfg->internal_hosts, &why) < 0
        || !cfg->patient_domain || !cfg->redis_prefix || !cfg->syslog_facility
        || !cfg->local_domains || !cfg->whitelist_url || !cfg->notify_smtp) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

struct config *config_load(const char *file)
{
    return config_load_report(file, NULL, NULL);
}

struct config *config_load_report(const char *file, config_error_sink sink, void *arg)
{
    struct reader rd = { file, 0, sink, arg };
    unsigned seen[N_KEYS] = { 0 };
    struct config *cfg;
    struct stat st;
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    FILE *fp;

    if ((fp = fopen(file, "r")) == NULL) {
        report(&rd, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        report(&rd, 0, "cannot open: %s", strerror(EISDIR));
        fclose(fp);
        return NULL;
    }
    if ((cfg = config_defaults()) == NULL || (cfg->path = strdup(file)) == NULL) {
        report(&rd, 0, "out of memory");
        config_free(cfg);
        fclose(fp);
        return NULL;
    }

    errno = 0;
    while (getline(&line, &cap, fp) != -1) {
        lineno++;
        parse_line(&rd, cfg, line, lineno, seen);
    }
    if (ferror(fp))
        report(&rd, 0, "read error: %s", strerror(errno));
    free(line);
    fclose(fp);

    check_whole(&rd, cfg, seen);
    if (rd.errors > 0) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->socket);
    free(cfg->user);
    free(cfg->pid_file);
    config_free_list(cfg->local_domains);
    free(cfg->patient_domain);
    cidr_list_free(&cfg->internal_hosts);
    free(cfg->whitelist_file);
    free(cfg->redis.host);
    free(cfg->redis.unix_path);
    free(cfg->redis_password);
    free(cfg->redis_prefix);
    free(cfg->snapshot_file);
    free(cfg->syslog_facility);
    free(cfg->whitelist_url);
    free(cfg->whitelist_ca_file);
    free(cfg->whitelist_client_cert);
    free(cfg->whitelist_client_key);
    config_free_list(cfg->pharmacy_mailboxes);
    free(cfg->stats_file);
    free(cfg->notify_smtp);
    free(cfg->notify_sender);
    free(cfg->notify_template_file);
    free(cfg->tls_policy_file);
    notify_template_free(cfg->notify_template);
    free(cfg);
}

bool config_is_local_domain(const struct config *cfg, const char *domain)
{
    if (cfg == NULL || domain == NULL)
        return false;
    for (size_t i = 0; i < cfg->n_local_domains; i++)
        if (strcmp(cfg->local_domains[i], domain) == 0)
            return true;
    return false;
}
