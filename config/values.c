/*
 * values.c - the single-valued types of mssante-milter.conf (see
 * values.h): strings, numbers with units, yes/no and other words.  The
 * lists and structures are values_lists.c's.
 *
 * Each parser checks one value's text and stores it in the field its row
 * points to, or says what was expected in WHY; it knows nothing of files
 * or lines (config.c reads the file, keys.c holds the rows).  The texts
 * of WHY are part of what "mssante-milter -n" shows an operator: keep
 * them saying what was expected, with the value that was given.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/idna.h"
#include "common/log.h"
#include "common/sockspec.h"
#include "config/config.h"
#include "config/values.h"
#include "notify/queue.h"
#include "policy/address.h"

/* ---- small helpers ---------------------------------------------------- */

bool cfgval_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (cfgval_is_space(*s))
            return true;
    return false;
}

bool cfgval_same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool cfgval_set_string(char **slot, const char *value)
{
    char *copy = NULL;

    if (value != NULL && (copy = strdup(value)) == NULL)
        return false;
    free(*slot);
    *slot = copy;
    return true;
}

/* "A, B, C or D" from a NULL-terminated list of words. */
static void word_list(const char *const *words, char *buf, size_t size)
{
    size_t n = 0, used = 0;

    while (words[n] != NULL)
        n++;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s",
                                 i == 0 ? "" : i + 1 == n ? " or " : ", ", words[i]);
}

/* "10s", "2m", "3d": MS in the largest unit that divides it. */
static void format_ms(long long ms, char *buf, size_t size)
{
    static const struct { long long ms; const char *unit; } units[] = {
        { 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
    };

    for (size_t i = 0; ms != 0 && i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms % units[i].ms == 0) {
            snprintf(buf, size, "%lld%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(buf, size, ms == 0 ? "0" : "%lldms", ms);
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

/* ---- strings ---------------------------------------------------------- */

static bool string_parse(void *field, const struct cfg_key *k, const char *text,
                         struct err *why)
{
    (void)k;
    if (!cfgval_set_string(field, text)) {
        err_set(why, "out of memory");
        return false;
    }
    return true;
}

static void string_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    const char *s = *(char *const *)field;

    (void)k;
    snprintf(buf, size, "%s", s != NULL ? s : "");
}

static bool string_same(const void *a, const void *b)
{
    return cfgval_same_string(*(char *const *)a, *(char *const *)b);
}

static bool string_copy(void *dst, const void *src)
{
    return cfgval_set_string(dst, *(char *const *)src);
}

static void string_release(void *field)
{
    free(*(char **)field);
    *(char **)field = NULL;
}

/* A reload warning quotes a string, or says it is unset. */
static void string_describe(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    const char *s = *(char *const *)field;

    (void)k;
    if (s != NULL)
        snprintf(buf, size, "\"%s\"", s);
    else
        snprintf(buf, size, "unset");
}

#define STRING_TYPE(parser) { \
    .parse = parser, .format = string_format, .same = string_same, .copy = string_copy, \
    .release = string_release, .describe = string_describe, \
}

const struct cfg_type cfgval_string = STRING_TYPE(string_parse);

/* A single word: no white space inside (prefixes...). */
static bool word_parse(void *field, const struct cfg_key *k, const char *text, struct err *why)
{
    if (has_space(text)) {
        err_set(why, "expected a single word without spaces, got \"%s\"", text);
        return false;
    }
    return string_parse(field, k, text, why);
}

const struct cfg_type cfgval_word = STRING_TYPE(word_parse);

/* user or user:group, resolved later by the daemon. */
static bool user_parse(void *field, const struct cfg_key *k, const char *text, struct err *why)
{
    const char *colon = strchr(text, ':');

    if (has_space(text) || text[0] == ':'
        || (colon && (colon[1] == '\0' || strchr(colon + 1, ':')))) {
        err_set(why, "expected user or user:group, got \"%s\"", text);
        return false;
    }
    return string_parse(field, k, text, why);
}

const struct cfg_type cfgval_user = STRING_TYPE(user_parse);

static bool socket_parse(void *field, const struct cfg_key *k, const char *text,
                         struct err *why)
{
    const char *reason;

    if (!sockspec_valid(text, &reason)) {
        err_set(why, "%s, got \"%s\"", reason, text);
        return false;
    }
    return string_parse(field, k, text, why);
}

const struct cfg_type cfgval_socket = STRING_TYPE(socket_parse);

static bool facility_parse(void *field, const struct cfg_key *k, const char *text,
                           struct err *why)
{
    if (log_facility_code(text) < 0) {
        err_set(why, "expected a syslog facility (mail, daemon, user, "
                "local0 to local7), got \"%s\"", text);
        return false;
    }
    return string_parse(field, k, text, why);
}

const struct cfg_type cfgval_facility = STRING_TYPE(facility_parse);

/* WhitelistURL: the list is health-data policy, fetched over https only
 * (whitelist/fetch.c checks again, with libcurl's URL parser). */
static bool https_parse(void *field, const struct cfg_key *k, const char *text,
                        struct err *why)
{
    if (has_space(text) || strncasecmp(text, "https://", 8) != 0 || text[8] == '\0') {
        err_set(why, "expected an https:// URL, got \"%s\"", text);
        return false;
    }
    return string_parse(field, k, text, why);
}

const struct cfg_type cfgval_https_url = STRING_TYPE(https_parse);

/* NotifySMTP: smtp:// or smtps:// URL of the listener without milters. */
static bool smtp_parse(void *field, const struct cfg_key *k, const char *text,
                       struct err *why)
{
    if (notify_check_smtp_url(text, why) < 0)
        return false;
    return string_parse(field, k, text, why);
}

const struct cfg_type cfgval_smtp_url = STRING_TYPE(smtp_parse);

/* NotifySender: one plain address, the envelope and From: of every notice. */
static bool address_parse(void *field, const struct cfg_key *k, const char *text,
                          struct err *why)
{
    struct mailaddr a;
    const char *reason = NULL;

    if (strpbrk(text, "<>,; \t") != NULL || addr_parse(text, &a, &reason) != ADDR_OK) {
        err_set(why, "expected a plain address such as no-reply@example.fr, "
                "got \"%s\"%s%s", text, reason ? ": " : "", reason ? reason : "");
        return false;
    }
    return string_parse(field, k, text, why);
}

const struct cfg_type cfgval_address = STRING_TYPE(address_parse);

/* A domain written in Unicode is kept in its A-label form, the form the
 * ANS list and the envelopes are compared in (common/idna.h), so that
 * "LocalDomains h\u00f4pital.fr" means what the sysadmin wrote. */
bool cfgval_domain_copy(const char *in, size_t len, char **out)
{
    char buf[ADDR_DOMAIN_MAX + 1], alabel[ADDR_DOMAIN_MAX + 1];

    if (len == 0 || len > ADDR_DOMAIN_MAX)
        return false;
    memcpy(buf, in, len);
    buf[len] = '\0';
    if (idna_is_unicode(buf)) {
        if (buf[len - 1] == '.')
            buf[len - 1] = '\0';
        if (idna_to_alabel(buf, alabel, sizeof(alabel), NULL) < 0)
            return false;
        memcpy(buf, alabel, sizeof(buf));
    }
    if (!addr_normalize_domain(buf))
        return false;
    *out = strdup(buf);
    return true;
}

static bool domain_parse(void *field, const struct cfg_key *k, const char *text,
                         struct err *why)
{
    char *norm = NULL;

    (void)k;
    if (!cfgval_domain_copy(text, strlen(text), &norm)) {
        err_set(why, "expected a domain name, got \"%s\"", text);
        return false;
    }
    if (norm == NULL) {
        err_set(why, "out of memory");
        return false;
    }
    free(*(char **)field);
    *(char **)field = norm;
    return true;
}

const struct cfg_type cfgval_domain = STRING_TYPE(domain_parse);

/* ---- numbers ----------------------------------------------------------- */

static bool int_same(const void *a, const void *b)
{
    return *(const int *)a == *(const int *)b;
}

static bool int_copy(void *dst, const void *src)
{
    *(int *)dst = *(const int *)src;
    return true;
}

static void int_describe(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    (void)k;
    snprintf(buf, size, "%d", *(const int *)field);
}

static bool octal_parse(void *field, const struct cfg_key *k, const char *text,
                        struct err *why)
{
    long long n = 0;

    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '7' || n > k->max) {
            n = -1;
            break;
        }
        n = n * 8 + (*p - '0');
    }
    if (n < k->min || n > k->max) {
        err_set(why, "expected an octal file mode between %llo and 0%llo "
                "such as 0660, got \"%s\"", k->min, k->max, text);
        return false;
    }
    *(int *)field = (int)n;
    return true;
}

static void octal_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    (void)k;
    snprintf(buf, size, "0%o", (unsigned)*(const int *)field);
}

const struct cfg_type cfgval_octal = {
    .parse = octal_parse, .format = octal_format, .same = int_same, .copy = int_copy,
    .describe = octal_format,
};

static bool duration_parse(void *field, const struct cfg_key *k, const char *text,
                           struct err *why)
{
    long long ms;

    if (config_parse_duration_ms(text, &ms) < 0 || ms < k->min || ms > k->max) {
        err_set(why, "expected a duration between %lldms and %llds "
                "such as 500ms, 10s, 5m, got \"%s\"", k->min, k->max / 1000, text);
        return false;
    }
    *(int *)field = (int)ms;
    return true;
}

static void duration_format(const void *field, const struct cfg_key *k, char *buf,
                            size_t size)
{
    (void)k;
    format_ms(*(const int *)field, buf, size);
}

const struct cfg_type cfgval_duration = {
    .parse = duration_parse, .format = duration_format, .same = int_same, .copy = int_copy,
    .describe = int_describe,
};

/* A plain integer between k->min and k->max (counts, percentages). */
static bool int_parse(void *field, const struct cfg_key *k, const char *text, struct err *why)
{
    const char *p = text;
    unsigned long long n;

    if (!decimal(&p, &n) || *p != '\0' || n < (unsigned long long)k->min
        || n > (unsigned long long)k->max) {
        err_set(why, "expected a whole number between %lld and %lld, got \"%s\"",
                k->min, k->max, text);
        return false;
    }
    *(int *)field = (int)n;
    return true;
}

const struct cfg_type cfgval_int = {
    .parse = int_parse, .format = int_describe, .same = int_same, .copy = int_copy,
    .describe = int_describe,
};

/* A size in bytes, with an optional K, M or G suffix (powers of 1024). */
static bool size_parse(void *field, const struct cfg_key *k, const char *text,
                       struct err *why)
{
    const char *p = text;
    unsigned long long n, unit = 1;

    if (decimal(&p, &n)) {
        switch (*p) {
        case 'k': case 'K': unit = 1ULL << 10; p++; break;
        case 'm': case 'M': unit = 1ULL << 20; p++; break;
        case 'g': case 'G': unit = 1ULL << 30; p++; break;
        default: break;
        }
        if (*p == '\0' && n <= (unsigned long long)k->max / unit
            && n * unit >= (unsigned long long)k->min) {
            *(size_t *)field = (size_t)(n * unit);
            return true;
        }
    }
    err_set(why, "expected a size between %lldK and %lldM such as 32M or 500K, "
            "got \"%s\"", k->min >> 10, k->max >> 20, text);
    return false;
}

static void size_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    size_t n = *(const size_t *)field;

    (void)k;
    if (n != 0 && n % ((size_t)1 << 30) == 0)
        snprintf(buf, size, "%zuG", n >> 30);
    else if (n != 0 && n % ((size_t)1 << 20) == 0)
        snprintf(buf, size, "%zuM", n >> 20);
    else if (n != 0 && n % ((size_t)1 << 10) == 0)
        snprintf(buf, size, "%zuK", n >> 10);
    else
        snprintf(buf, size, "%zu", n);
}

static bool size_same(const void *a, const void *b)
{
    return *(const size_t *)a == *(const size_t *)b;
}

static bool size_copy(void *dst, const void *src)
{
    *(size_t *)dst = *(const size_t *)src;
    return true;
}

const struct cfg_type cfgval_size = {
    .parse = size_parse, .format = size_format, .same = size_same, .copy = size_copy,
};

/* ConversationTTL: whole seconds, 0 = an open conversation never expires. */
static bool ttl_parse(void *field, const struct cfg_key *k, const char *text, struct err *why)
{
    long long ms;

    if (config_parse_duration_ms(text, &ms) < 0 || ms % 1000 != 0 || ms / 1000 > k->max) {
        err_set(why, "expected 0 (no expiry) or a duration in whole seconds up to "
                "%lldd such as 30d, 12h, got \"%s\"", k->max / 86400, text);
        return false;
    }
    *(long long *)field = ms / 1000;
    return true;
}

static void ttl_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    (void)k;
    format_ms(*(const long long *)field * 1000, buf, size);
}

static bool llong_same(const void *a, const void *b)
{
    return *(const long long *)a == *(const long long *)b;
}

static bool llong_copy(void *dst, const void *src)
{
    *(long long *)dst = *(const long long *)src;
    return true;
}

const struct cfg_type cfgval_ttl = {
    .parse = ttl_parse, .format = ttl_format, .same = llong_same, .copy = llong_copy,
};

/* ---- words ------------------------------------------------------------- */

static bool bool_same(const void *a, const void *b)
{
    return *(const bool *)a == *(const bool *)b;
}

static bool bool_copy(void *dst, const void *src)
{
    *(bool *)dst = *(const bool *)src;
    return true;
}

static bool bool_parse(void *field, const struct cfg_key *k, const char *text, struct err *why)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };

    (void)k;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *(bool *)field = true;
            return true;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *(bool *)field = false;
            return true;
        }
    }
    err_set(why, "expected yes or no, got \"%s\"", text);
    return false;
}

static void bool_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    (void)k;
    snprintf(buf, size, "%s", *(const bool *)field ? "yes" : "no");
}

const struct cfg_type cfgval_bool = {
    .parse = bool_parse, .format = bool_format, .same = bool_same, .copy = bool_copy,
};

/* A word out of two: the field is true for words[1], false for words[0]. */
static bool choice_parse(void *field, const struct cfg_key *k, const char *text,
                         struct err *why)
{
    const char *no = k->words[0], *yes = k->words[1];

    if (strcasecmp(text, no) == 0 || strcasecmp(text, yes) == 0) {
        *(bool *)field = strcasecmp(text, yes) == 0;
        return true;
    }
    err_set(why, "expected %s or %s, got \"%s\"", no, yes, text);
    return false;
}

static void choice_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    snprintf(buf, size, "%s", k->words[*(const bool *)field ? 1 : 0]);
}

const struct cfg_type cfgval_choice = {
    .parse = choice_parse, .format = choice_format, .same = bool_same, .copy = bool_copy,
};

/* One of the words; the field (an enum, int-sized) gets its index. */
static bool enum_parse(void *field, const struct cfg_key *k, const char *text, struct err *why)
{
    char expected[160];

    for (int i = 0; k->words[i] != NULL; i++) {
        if (strcasecmp(text, k->words[i]) == 0) {
            *(int *)field = i;
            return true;
        }
    }
    word_list(k->words, expected, sizeof(expected));
    err_set(why, "expected %s, got \"%s\"", expected, text);
    return false;
}

static void enum_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    snprintf(buf, size, "%s", k->words[*(const int *)field]);
}

const struct cfg_type cfgval_enum = {
    .parse = enum_parse, .format = enum_format, .same = int_same, .copy = int_copy,
};
