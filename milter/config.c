/*
 * config.c - read mssante-milter.conf.
 *
 * One table row per key (name, parser, field, bounds): a later feature adds
 * a key by adding a row and, when needed, a parser.  The reader never stops
 * at the first problem: it reports every error as "FILE:LINE: message" on
 * stderr and config_load() returns NULL at the end if there was any, so
 * "mssante-milter -n" shows the operator everything to fix in one go.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/log.h"
#include "milter/config.h"
#include "milter/socket.h"
#include "notify/message.h"
#include "notify/queue.h"
#include "policy/address.h"
#include "policy/patient.h"

#define WHY_MAX 256

struct key_def;
typedef bool (*key_parser)(struct config *cfg, const struct key_def *key, const char *value,
                           char *why, size_t whylen);

struct key_def {
    const char *name;
    key_parser parse;
    size_t off;              /* field in struct config */
    long long min, max;      /* bounds for numeric values */
};

#define FIELD(cfg, key, type) ((type *)(void *)((char *)(cfg) + (key)->off))

/* ---- small helpers ---------------------------------------------------- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (is_space(*s))
            return true;
    return false;
}

/* Replace *slot with a copy of value. */
static bool set_string(char **slot, const char *value, char *why, size_t whylen)
{
    char *copy = strdup(value);

    if (copy == NULL) {
        snprintf(why, whylen, "out of memory");
        return false;
    }
    free(*slot);
    *slot = copy;
    return true;
}

static void free_list(char **list)
{
    if (list == NULL)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

/* ---- value parsers (public ones first) -------------------------------- */

int config_parse_duration_ms(const char *text, long long *ms_out)
{
    static const struct { const char *suffix; long long ms; } units[] = {
        { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
        { "h", 3600000 }, { "d", 86400000 },
    };
    const char *p = text;
    long long n = 0;

    if (text == NULL || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (LLONG_MAX - 9) / 10)
            return -1;
        n = n * 10 + (*p - '0');
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            if (n > LLONG_MAX / units[i].ms)
                return -1;
            *ms_out = n * units[i].ms;
            return 0;
        }
    }
    return -1;
}

static int parse_port(const char *s)
{
    long port = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        port = port * 10 + (*s - '0');
        if (port > 65535)
            return -1;
    }
    return port >= 1 ? (int)port : -1;
}

int config_parse_redis(const char *text, struct redis_endpoint *ep)
{
    const char *colon;
    char *host;
    int port;

    if (text == NULL || text[0] == '\0' || has_space(text))
        return -1;
    if (strncmp(text, "unix:", 5) == 0) {
        char *path;
        if (text[5] != '/')
            return -1;
        if ((path = strdup(text + 5)) == NULL)
            return -1;
        ep->host = NULL;
        ep->port = 0;
        ep->unix_path = path;
        return 0;
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close == text + 1 || close[1] != ':')
            return -1;
        colon = close + 1;
        if ((port = parse_port(colon + 1)) < 0)
            return -1;
        host = strndup(text + 1, (size_t)(close - text - 1));
    } else {
        colon = strrchr(text, ':');
        /* A bare IPv6 address would be ambiguous: it must be bracketed. */
        if (colon == NULL || colon == text || memchr(text, ':', (size_t)(colon - text)))
            return -1;
        if ((port = parse_port(colon + 1)) < 0)
            return -1;
        host = strndup(text, (size_t)(colon - text));
    }
    if (host == NULL)
        return -1;
    ep->host = host;
    ep->port = port;
    ep->unix_path = NULL;
    return 0;
}

static bool parse_string(struct config *cfg, const struct key_def *key, const char *value,
                         char *why, size_t whylen)
{
    return set_string(FIELD(cfg, key, char *), value, why, whylen);
}

/* A single word: no white space inside (prefixes, user names...). */
static bool parse_word(struct config *cfg, const struct key_def *key, const char *value,
                       char *why, size_t whylen)
{
    if (has_space(value)) {
        snprintf(why, whylen, "expected a single word without spaces, got \"%s\"", value);
        return false;
    }
    return parse_string(cfg, key, value, why, whylen);
}

static bool parse_socket(struct config *cfg, const struct key_def *key, const char *value,
                         char *why, size_t whylen)
{
    const char *reason;

    if (!socket_spec_valid(value, &reason)) {
        snprintf(why, whylen, "%s, got \"%s\"", reason, value);
        return false;
    }
    return parse_string(cfg, key, value, why, whylen);
}

static bool parse_octal(struct config *cfg, const struct key_def *key, const char *value,
                        char *why, size_t whylen)
{
    long long n = 0;

    for (const char *p = value; *p; p++) {
        if (*p < '0' || *p > '7' || n > key->max) {
            n = -1;
            break;
        }
        n = n * 8 + (*p - '0');
    }
    if (n < key->min || n > key->max) {
        snprintf(why, whylen, "expected an octal file mode between %llo and 0%llo "
                 "such as 0660, got \"%s\"", key->min, key->max, value);
        return false;
    }
    *FIELD(cfg, key, int) = (int)n;
    return true;
}

/* user or user:group, resolved later by the daemon. */
static bool parse_user(struct config *cfg, const struct key_def *key, const char *value,
                       char *why, size_t whylen)
{
    const char *colon = strchr(value, ':');

    if (has_space(value) || value[0] == ':' || (colon && (colon[1] == '\0'
                                                          || strchr(colon + 1, ':')))) {
        snprintf(why, whylen, "expected user or user:group, got \"%s\"", value);
        return false;
    }
    return parse_string(cfg, key, value, why, whylen);
}

static bool normalize_domain_copy(const char *in, size_t len, char **out)
{
    char buf[ADDR_DOMAIN_MAX + 1];

    if (len == 0 || len > ADDR_DOMAIN_MAX)
        return false;
    memcpy(buf, in, len);
    buf[len] = '\0';
    if (!addr_normalize_domain(buf))
        return false;
    *out = strdup(buf);
    return true;
}

static bool parse_domain(struct config *cfg, const struct key_def *key, const char *value,
                         char *why, size_t whylen)
{
    char *norm = NULL;

    if (!normalize_domain_copy(value, strlen(value), &norm)) {
        snprintf(why, whylen, "expected a domain name, got \"%s\"", value);
        return false;
    }
    if (norm == NULL) {
        snprintf(why, whylen, "out of memory");
        return false;
    }
    free(*FIELD(cfg, key, char *));
    *FIELD(cfg, key, char *) = norm;
    return true;
}

static bool list_contains(char **list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* LocalDomains: comma and/or space separated, normalised, duplicates dropped. */
static bool parse_local_domains(struct config *cfg, const struct key_def *key,
                                const char *value, char *why, size_t whylen)
{
    size_t cap = 8, n = 0;
    char **list = calloc(cap + 1, sizeof(*list));
    const char *p = value;

    (void)key;
    if (list == NULL)
        goto nomem;
    while (*p) {
        size_t len;
        char *norm = NULL;

        while (*p == ',' || is_space(*p))
            p++;
        if (*p == '\0')
            break;
        for (len = 0; p[len] && p[len] != ',' && !is_space(p[len]); len++)
            continue;
        if (!normalize_domain_copy(p, len, &norm)) {
            snprintf(why, whylen, "\"%.*s\" is not a valid domain name", (int)len, p);
            free_list(list);
            return false;
        }
        if (norm == NULL)
            goto nomem;
        p += len;
        if (list_contains(list, n, norm)) {
            free(norm);
            continue;
        }
        if (n == cap) {
            char **grown = realloc(list, (cap * 2 + 1) * sizeof(*list));
            if (grown == NULL) {
                free(norm);
                goto nomem;
            }
            list = grown;
            cap *= 2;
        }
        list[n++] = norm;
        list[n] = NULL;
    }
    if (n == 0) {
        snprintf(why, whylen, "expected one or more domain names");
        free_list(list);
        return false;
    }
    free_list(cfg->local_domains);
    cfg->local_domains = list;
    cfg->n_local_domains = n;
    return true;

nomem:
    free_list(list);
    snprintf(why, whylen, "out of memory");
    return false;
}

static bool parse_redis(struct config *cfg, const struct key_def *key, const char *value,
                        char *why, size_t whylen)
{
    struct redis_endpoint ep;

    (void)key;
    if (config_parse_redis(value, &ep) < 0) {
        snprintf(why, whylen, "expected HOST:PORT, [IPV6]:PORT or unix:/path, got \"%s\"",
                 value);
        return false;
    }
    free(cfg->redis.host);
    free(cfg->redis.unix_path);
    cfg->redis = ep;
    cfg->redis_enabled = true;
    return true;
}

static bool parse_duration(struct config *cfg, const struct key_def *key, const char *value,
                           char *why, size_t whylen)
{
    long long ms;

    if (config_parse_duration_ms(value, &ms) < 0 || ms < key->min || ms > key->max) {
        snprintf(why, whylen, "expected a duration between %lldms and %llds "
                 "such as 500ms, 10s, 5m, got \"%s\"", key->min, key->max / 1000, value);
        return false;
    }
    *FIELD(cfg, key, int) = (int)ms;
    return true;
}

static bool parse_bool(struct config *cfg, const struct key_def *key, const char *value,
                       char *why, size_t whylen)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(value, yes[i]) == 0) {
            *FIELD(cfg, key, bool) = true;
            return true;
        }
        if (strcasecmp(value, no[i]) == 0) {
            *FIELD(cfg, key, bool) = false;
            return true;
        }
    }
    snprintf(why, whylen, "expected yes or no, got \"%s\"", value);
    return false;
}

static bool parse_log_level(struct config *cfg, const struct key_def *key, const char *value,
                            char *why, size_t whylen)
{
    static const char *const names[] = { "error", "warning", "notice", "info", "debug" };

    (void)key;
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(value, names[i]) == 0) {
            cfg->log_level = (enum log_level)i;
            return true;
        }
    }
    snprintf(why, whylen, "expected error, warning, notice, info or debug, got \"%s\"", value);
    return false;
}

static bool parse_facility(struct config *cfg, const struct key_def *key, const char *value,
                           char *why, size_t whylen)
{
    if (log_facility_code(value) < 0) {
        snprintf(why, whylen, "expected a syslog facility (mail, daemon, user, "
                 "local0 to local7), got \"%s\"", value);
        return false;
    }
    return parse_string(cfg, key, value, why, whylen);
}

/* A decimal number without sign; false on anything else or overflow. */
static bool decimal(const char **p, unsigned long long *out)
{
    unsigned long long n = 0;

    if (**p < '0' || **p > '9')
        return false;
    for (; **p >= '0' && **p <= '9'; (*p)++) {
        if (n > (ULLONG_MAX - 9) / 10)
            return false;
        n = n * 10 + (unsigned long long)(**p - '0');
    }
    *out = n;
    return true;
}

/* A plain integer between key->min and key->max (counts, percentages). */
static bool parse_int(struct config *cfg, const struct key_def *key, const char *value,
                      char *why, size_t whylen)
{
    const char *p = value;
    unsigned long long n;

    if (!decimal(&p, &n) || *p != '\0' || n < (unsigned long long)key->min
        || n > (unsigned long long)key->max) {
        snprintf(why, whylen, "expected a whole number between %lld and %lld, got \"%s\"",
                 key->min, key->max, value);
        return false;
    }
    *FIELD(cfg, key, int) = (int)n;
    return true;
}

/* A size in bytes, with an optional K, M or G suffix (powers of 1024). */
static bool parse_size(struct config *cfg, const struct key_def *key, const char *value,
                       char *why, size_t whylen)
{
    const char *p = value;
    unsigned long long n, unit = 1;

    if (decimal(&p, &n)) {
        switch (*p) {
        case 'k': case 'K': unit = 1ULL << 10; p++; break;
        case 'm': case 'M': unit = 1ULL << 20; p++; break;
        case 'g': case 'G': unit = 1ULL << 30; p++; break;
        default: break;
        }
        if (*p == '\0' && n <= (unsigned long long)key->max / unit
            && n * unit >= (unsigned long long)key->min) {
            *FIELD(cfg, key, size_t) = (size_t)(n * unit);
            return true;
        }
    }
    snprintf(why, whylen, "expected a size between %lldK and %lldM such as 32M or 500K, "
             "got \"%s\"", key->min >> 10, key->max >> 20, value);
    return false;
}

/* WhitelistURL: the list is health-data policy, fetched over https only
 * (whitelist/fetch.c checks again, with libcurl's URL parser). */
static bool parse_https_url(struct config *cfg, const struct key_def *key, const char *value,
                            char *why, size_t whylen)
{
    if (has_space(value) || strncasecmp(value, "https://", 8) != 0 || value[8] == '\0') {
        snprintf(why, whylen, "expected an https:// URL, got \"%s\"", value);
        return false;
    }
    return parse_string(cfg, key, value, why, whylen);
}

/* ---- patients (milter/patients.h) ------------------------------------ */

/* A word out of two: *FIELD is true for YES, false for NO. */
static bool parse_choice(struct config *cfg, const struct key_def *key, const char *value,
                         const char *no, const char *yes, char *why, size_t whylen)
{
    if (strcasecmp(value, no) == 0 || strcasecmp(value, yes) == 0) {
        *FIELD(cfg, key, bool) = strcasecmp(value, yes) == 0;
        return true;
    }
    snprintf(why, whylen, "expected %s or %s, got \"%s\"", no, yes, value);
    return false;
}

static bool parse_key_check(struct config *cfg, const struct key_def *key, const char *value,
                            char *why, size_t whylen)
{
    return parse_choice(cfg, key, value, "reject", "warn", why, whylen);
}

static bool parse_fin_content(struct config *cfg, const struct key_def *key, const char *value,
                              char *why, size_t whylen)
{
    return parse_choice(cfg, key, value, "reject", "accept", why, whylen);
}

/* PharmacyMailboxes: "local@domain" and "@domain" entries, comma and/or
 * space separated, kept as written (matching ignores case). */
static bool parse_pharmacies(struct config *cfg, const struct key_def *key, const char *value,
                             char *why, size_t whylen)
{
    size_t n = 0, len;
    char **list;
    const char *p;

    (void)key;
    for (p = value; *p;) {
        while (*p == ',' || is_space(*p))
            p++;
        for (len = 0; p[len] && p[len] != ',' && !is_space(p[len]); len++)
            continue;
        n += len > 0;
        p += len;
    }
    if (n == 0 || (list = calloc(n + 1, sizeof(*list))) == NULL) {
        snprintf(why, whylen, n == 0 ? "expected one or more mailboxes" : "out of memory");
        return false;
    }
    for (n = 0, p = value; *p;) {
        while (*p == ',' || is_space(*p))
            p++;
        for (len = 0; p[len] && p[len] != ',' && !is_space(p[len]); len++)
            continue;
        if (len == 0)
            break;
        if ((list[n] = strndup(p, len)) == NULL) {
            snprintf(why, whylen, "out of memory");
            free_list(list);
            return false;
        }
        if (!patient_pharmacy_entry_valid(list[n])) {
            snprintf(why, whylen, "\"%s\" is neither local@domain nor @domain", list[n]);
            free_list(list);
            return false;
        }
        n++;
        p += len;
    }
    free_list(cfg->pharmacy_mailboxes);
    cfg->pharmacy_mailboxes = list;
    cfg->n_pharmacy_mailboxes = n;
    return true;
}

/* ConversationTTL: whole seconds, 0 = an open conversation never expires. */
static bool parse_ttl_seconds(struct config *cfg, const struct key_def *key, const char *value,
                              char *why, size_t whylen)
{
    long long ms;

    if (config_parse_duration_ms(value, &ms) < 0 || ms % 1000 != 0 || ms / 1000 > key->max) {
        snprintf(why, whylen, "expected 0 (no expiry) or a duration in whole seconds up to "
                 "%lldd such as 30d, 12h, got \"%s\"", key->max / 86400, value);
        return false;
    }
    *FIELD(cfg, key, long long) = ms / 1000;
    return true;
}

/* ---- forwarding and notices (milter/forwarding.h) -------------------- */

/* NotifySMTP: smtp:// or smtps:// URL of the listener without milters. */
static bool parse_notify_smtp(struct config *cfg, const struct key_def *key, const char *value,
                              char *why, size_t whylen)
{
    if (notify_check_smtp_url(value, why, whylen) < 0)
        return false;
    return parse_string(cfg, key, value, why, whylen);
}

/* NotifySender: one plain address, the envelope and From: of every notice. */
static bool parse_address(struct config *cfg, const struct key_def *key, const char *value,
                          char *why, size_t whylen)
{
    struct mailaddr a;
    const char *reason = NULL;

    if (strpbrk(value, "<>,; \t") != NULL || addr_parse(value, &a, &reason) != ADDR_OK) {
        snprintf(why, whylen, "expected a plain address such as no-reply@example.fr, "
                 "got \"%s\"%s%s", value, reason ? ": " : "", reason ? reason : "");
        return false;
    }
    return parse_string(cfg, key, value, why, whylen);
}

/* NotifyTemplate: read and checked now, so that "-n" and a reload report
 * a bad template with the rest, and the daemon never reads it again. */
static bool parse_notify_template(struct config *cfg, const struct key_def *key,
                                  const char *value, char *why, size_t whylen)
{
    struct notify_template *t = notify_template_load(value, why, whylen);

    if (t == NULL)
        return false;
    if (!parse_string(cfg, key, value, why, whylen)) {
        notify_template_free(t);
        return false;
    }
    notify_template_free(cfg->notify_template);
    cfg->notify_template = t;
    return true;
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

    for (size_t i = 0; i < N_KEYS; i++) {
        size_t d = distance(name, keys[i].name);
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
        if (*p == '#' && (p == value || is_space(p[-1]))) {
            *p = '\0';
            break;
        }
    }
    end = value + strlen(value);
    while (end > value && is_space(end[-1]))
        *--end = '\0';
}

static void parse_line(struct reader *rd, struct config *cfg, char *line, unsigned lineno,
                       unsigned *seen)
{
    char *key = line, *value;
    char why[WHY_MAX];
    size_t i;

    while (is_space(*key))
        key++;
    if (*key == '\0' || *key == '#')
        return;
    for (value = key; *value && !is_space(*value); value++)
        continue;
    if (*value != '\0')
        *value++ = '\0';
    while (is_space(*value))
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
    why[0] = '\0';
    if (!keys[i].parse(cfg, &keys[i], value, why, sizeof(why)))
        report(rd, lineno, "%s: %s", keys[i].name, why[0] ? why : "invalid value");
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
    if (!cfg->patient_domain || !cfg->redis_prefix || !cfg->syslog_facility
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
    free_list(cfg->local_domains);
    free(cfg->patient_domain);
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
    free_list(cfg->pharmacy_mailboxes);
    free(cfg->stats_file);
    free(cfg->notify_smtp);
    free(cfg->notify_sender);
    free(cfg->notify_template_file);
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
