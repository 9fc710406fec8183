/*
 * config_values.c - the value parsers of mssante-milter.conf: durations,
 * sizes, whole numbers, yes/no, file modes, users, domains and domain
 * lists, Redis endpoints, URLs, addresses, log levels and facilities.
 *
 * Each parser checks one value's text and stores it in struct config, or
 * says what was expected in WHY; it knows nothing of files or lines (see
 * config.c, which owns the key table and the reading).  The two public
 * parsers, config_parse_duration_ms() and config_parse_redis(), serve
 * other programs too (test helpers, benches).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/log.h"
#include "milter/config.h"
#include "milter/config_values.h"
#include "milter/socket.h"
#include "notify/message.h"
#include "notify/queue.h"
#include "policy/address.h"
#include "policy/patient.h"

/* ---- small helpers ---------------------------------------------------- */

bool config_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (config_is_space(*s))
            return true;
    return false;
}

/* Replace *slot with a copy of value. */
static bool set_string(char **slot, const char *value, struct err *why)
{
    char *copy = strdup(value);

    if (copy == NULL) {
        err_set(why, "out of memory");
        return false;
    }
    free(*slot);
    *slot = copy;
    return true;
}

void config_free_list(char **list)
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

bool parse_string(struct config *cfg, const struct key_def *key, const char *value,
                  struct err *why)
{
    return set_string(FIELD(cfg, key, char *), value, why);
}

/* A single word: no white space inside (prefixes, user names...). */
bool parse_word(struct config *cfg, const struct key_def *key, const char *value,
                struct err *why)
{
    if (has_space(value)) {
        err_set(why, "expected a single word without spaces, got \"%s\"", value);
        return false;
    }
    return parse_string(cfg, key, value, why);
}

bool parse_socket(struct config *cfg, const struct key_def *key, const char *value,
                  struct err *why)
{
    const char *reason;

    if (!socket_spec_valid(value, &reason)) {
        err_set(why, "%s, got \"%s\"", reason, value);
        return false;
    }
    return parse_string(cfg, key, value, why);
}

bool parse_octal(struct config *cfg, const struct key_def *key, const char *value,
                 struct err *why)
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
        err_set(why, "expected an octal file mode between %llo and 0%llo "
                "such as 0660, got \"%s\"", key->min, key->max, value);
        return false;
    }
    *FIELD(cfg, key, int) = (int)n;
    return true;
}

/* user or user:group, resolved later by the daemon. */
bool parse_user(struct config *cfg, const struct key_def *key, const char *value,
                struct err *why)
{
    const char *colon = strchr(value, ':');

    if (has_space(value) || value[0] == ':' || (colon && (colon[1] == '\0'
                                                          || strchr(colon + 1, ':')))) {
        err_set(why, "expected user or user:group, got \"%s\"", value);
        return false;
    }
    return parse_string(cfg, key, value, why);
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

bool parse_domain(struct config *cfg, const struct key_def *key, const char *value,
                  struct err *why)
{
    char *norm = NULL;

    if (!normalize_domain_copy(value, strlen(value), &norm)) {
        err_set(why, "expected a domain name, got \"%s\"", value);
        return false;
    }
    if (norm == NULL) {
        err_set(why, "out of memory");
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
bool parse_local_domains(struct config *cfg, const struct key_def *key,
                         const char *value, struct err *why)
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

        while (*p == ',' || config_is_space(*p))
            p++;
        if (*p == '\0')
            break;
        for (len = 0; p[len] && p[len] != ',' && !config_is_space(p[len]); len++)
            continue;
        if (!normalize_domain_copy(p, len, &norm)) {
            err_set(why, "\"%.*s\" is not a valid domain name", (int)len, p);
            config_free_list(list);
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
        err_set(why, "expected one or more domain names");
        config_free_list(list);
        return false;
    }
    config_free_list(cfg->local_domains);
    cfg->local_domains = list;
    cfg->n_local_domains = n;
    return true;

nomem:
    config_free_list(list);
    err_set(why, "out of memory");
    return false;
}

bool parse_redis(struct config *cfg, const struct key_def *key, const char *value,
                 struct err *why)
{
    struct redis_endpoint ep;

    (void)key;
    if (config_parse_redis(value, &ep) < 0) {
        err_set(why, "expected HOST:PORT, [IPV6]:PORT or unix:/path, got \"%s\"",
                value);
        return false;
    }
    free(cfg->redis.host);
    free(cfg->redis.unix_path);
    cfg->redis = ep;
    cfg->redis_enabled = true;
    return true;
}

bool parse_duration(struct config *cfg, const struct key_def *key, const char *value,
                    struct err *why)
{
    long long ms;

    if (config_parse_duration_ms(value, &ms) < 0 || ms < key->min || ms > key->max) {
        err_set(why, "expected a duration between %lldms and %llds "
                "such as 500ms, 10s, 5m, got \"%s\"", key->min, key->max / 1000, value);
        return false;
    }
    *FIELD(cfg, key, int) = (int)ms;
    return true;
}

bool parse_bool(struct config *cfg, const struct key_def *key, const char *value,
                struct err *why)
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
    err_set(why, "expected yes or no, got \"%s\"", value);
    return false;
}

bool parse_log_level(struct config *cfg, const struct key_def *key, const char *value,
                     struct err *why)
{
    static const char *const names[] = { "error", "warning", "notice", "info", "debug" };

    (void)key;
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(value, names[i]) == 0) {
            cfg->log_level = (enum log_level)i;
            return true;
        }
    }
    err_set(why, "expected error, warning, notice, info or debug, got \"%s\"", value);
    return false;
}

bool parse_facility(struct config *cfg, const struct key_def *key, const char *value,
                    struct err *why)
{
    if (log_facility_code(value) < 0) {
        err_set(why, "expected a syslog facility (mail, daemon, user, "
                "local0 to local7), got \"%s\"", value);
        return false;
    }
    return parse_string(cfg, key, value, why);
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
bool parse_int(struct config *cfg, const struct key_def *key, const char *value,
               struct err *why)
{
    const char *p = value;
    unsigned long long n;

    if (!decimal(&p, &n) || *p != '\0' || n < (unsigned long long)key->min
        || n > (unsigned long long)key->max) {
        err_set(why, "expected a whole number between %lld and %lld, got \"%s\"",
                key->min, key->max, value);
        return false;
    }
    *FIELD(cfg, key, int) = (int)n;
    return true;
}

/* A size in bytes, with an optional K, M or G suffix (powers of 1024). */
bool parse_size(struct config *cfg, const struct key_def *key, const char *value,
                struct err *why)
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
    err_set(why, "expected a size between %lldK and %lldM such as 32M or 500K, "
            "got \"%s\"", key->min >> 10, key->max >> 20, value);
    return false;
}

/* WhitelistURL: the list is health-data policy, fetched over https only
 * (whitelist/fetch.c checks again, with libcurl's URL parser). */
bool parse_https_url(struct config *cfg, const struct key_def *key, const char *value,
                     struct err *why)
{
    if (has_space(value) || strncasecmp(value, "https://", 8) != 0 || value[8] == '\0') {
        err_set(why, "expected an https:// URL, got \"%s\"", value);
        return false;
    }
    return parse_string(cfg, key, value, why);
}

/* ---- patients (milter/patients.h) ------------------------------------ */

/* A word out of two: *FIELD is true for YES, false for NO. */
bool parse_choice(struct config *cfg, const struct key_def *key, const char *value,
                  const char *no, const char *yes, struct err *why)
{
    if (strcasecmp(value, no) == 0 || strcasecmp(value, yes) == 0) {
        *FIELD(cfg, key, bool) = strcasecmp(value, yes) == 0;
        return true;
    }
    err_set(why, "expected %s or %s, got \"%s\"", no, yes, value);
    return false;
}

/* PharmacyMailboxes: "local@domain" and "@domain" entries, comma and/or
 * space separated, kept as written (matching ignores case). */
bool parse_pharmacies(struct config *cfg, const struct key_def *key, const char *value,
                      struct err *why)
{
    size_t n = 0, len;
    char **list;
    const char *p;

    (void)key;
    for (p = value; *p;) {
        while (*p == ',' || config_is_space(*p))
            p++;
        for (len = 0; p[len] && p[len] != ',' && !config_is_space(p[len]); len++)
            continue;
        n += len > 0;
        p += len;
    }
    if (n == 0 || (list = calloc(n + 1, sizeof(*list))) == NULL) {
        err_set(why, "%s", n == 0 ? "expected one or more mailboxes" : "out of memory");
        return false;
    }
    for (n = 0, p = value; *p;) {
        while (*p == ',' || config_is_space(*p))
            p++;
        for (len = 0; p[len] && p[len] != ',' && !config_is_space(p[len]); len++)
            continue;
        if (len == 0)
            break;
        if ((list[n] = strndup(p, len)) == NULL) {
            err_set(why, "out of memory");
            config_free_list(list);
            return false;
        }
        if (!patient_pharmacy_entry_valid(list[n])) {
            err_set(why, "\"%s\" is neither local@domain nor @domain", list[n]);
            config_free_list(list);
            return false;
        }
        n++;
        p += len;
    }
    config_free_list(cfg->pharmacy_mailboxes);
    cfg->pharmacy_mailboxes = list;
    cfg->n_pharmacy_mailboxes = n;
    return true;
}

/* ConversationTTL: whole seconds, 0 = an open conversation never expires. */
bool parse_ttl_seconds(struct config *cfg, const struct key_def *key, const char *value,
                       struct err *why)
{
    long long ms;

    if (config_parse_duration_ms(value, &ms) < 0 || ms % 1000 != 0 || ms / 1000 > key->max) {
        err_set(why, "expected 0 (no expiry) or a duration in whole seconds up to "
                "%lldd such as 30d, 12h, got \"%s\"", key->max / 86400, value);
        return false;
    }
    *FIELD(cfg, key, long long) = ms / 1000;
    return true;
}

/* ---- forwarding and notices (milter/forwarding.h) -------------------- */

/* NotifySMTP: smtp:// or smtps:// URL of the listener without milters. */
bool parse_notify_smtp(struct config *cfg, const struct key_def *key, const char *value,
                       struct err *why)
{
    if (notify_check_smtp_url(value, why) < 0)
        return false;
    return parse_string(cfg, key, value, why);
}

/* NotifySender: one plain address, the envelope and From: of every notice. */
bool parse_address(struct config *cfg, const struct key_def *key, const char *value,
                   struct err *why)
{
    struct mailaddr a;
    const char *reason = NULL;

    if (strpbrk(value, "<>,; \t") != NULL || addr_parse(value, &a, &reason) != ADDR_OK) {
        err_set(why, "expected a plain address such as no-reply@example.fr, "
                "got \"%s\"%s%s", value, reason ? ": " : "", reason ? reason : "");
        return false;
    }
    return parse_string(cfg, key, value, why);
}

/* NotifyTemplate: read and checked now, so that "-n" and a reload report
 * a bad template with the rest, and the daemon never reads it again. */
/* InternalHosts: addresses and CIDR blocks (common/cidr.h), or "none". */
bool parse_internal_hosts(struct config *cfg, const struct key_def *key, const char *value,
                          struct err *why)
{
    struct cidr_list *list = FIELD(cfg, key, struct cidr_list);

    if (strcasecmp(value, "none") == 0) {
        cidr_list_free(list);
        return true;
    }
    return cidr_list_parse(value, list, why) == 0;
}

bool parse_operator_certificate(struct config *cfg, const struct key_def *key,
                                const char *value, struct err *why)
{
    static const struct { const char *name; enum cert_mode mode; } modes[] = {
        { "off", CERT_MODE_OFF }, { "log", CERT_MODE_LOG }, { "enforce", CERT_MODE_ENFORCE },
    };

    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcasecmp(value, modes[i].name) == 0) {
            *FIELD(cfg, key, enum cert_mode) = modes[i].mode;
            return true;
        }
    }
    err_set(why, "expected off, log or enforce, got \"%s\"", value);
    return false;
}

bool parse_notify_template(struct config *cfg, const struct key_def *key,
                           const char *value, struct err *why)
{
    struct notify_template *t = notify_template_load(value, why);

    if (t == NULL)
        return false;
    if (!parse_string(cfg, key, value, why)) {
        notify_template_free(t);
        return false;
    }
    notify_template_free(cfg->notify_template);
    cfg->notify_template = t;
    return true;
}

