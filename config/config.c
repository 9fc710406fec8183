/*
 * config.c - read mssante-milter.conf with the key table (config/keys.c),
 * and what the daemon does with the table besides reading: the defaults,
 * keeping the restart-only keys at a reload, the -n listing.
 *
 * The reader never stops at the first problem: it reports every error as
 * "FILE:LINE: message" on stderr (or to the caller's sink) and
 * config_load() returns NULL at the end if there was any, so
 * "mssante-milter -n" shows the operator everything to fix in one go.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/log.h"
#include "config/config.h"
#include "config/keys.h"
#include "config/values.h"

#define WHY_MAX   256     /* a value's error is shown up to this, as it always was */
#define VALUE_MAX 1024    /* a value as -n and the reload warnings show it */

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

    for (size_t i = 0; i < cfg_keys_count(); i++) {
        const char *kname = cfg_keys_at(i)->name;
        size_t klen = strlen(kname), d;

        /* The distance is at least the difference in length: skip the
         * table's work for keys that cannot be close (a file of garbage
         * lines is then read in linear time with a small factor). */
        if ((len > klen ? len - klen : klen - len) >= best_d)
            continue;
        d = distance(name, kname);
        if (d < best_d) {
            best_d = d;
            best = kname;
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
        if (*p == '#' && (p == value || cfgval_is_space(p[-1]))) {
            *p = '\0';
            break;
        }
    }
    end = value + strlen(value);
    while (end > value && cfgval_is_space(end[-1]))
        *--end = '\0';
}

static void parse_line(struct reader *rd, struct config *cfg, char *line, unsigned lineno,
                       unsigned *seen)
{
    char *key = line, *value;
    const struct cfg_key *k;
    struct err why;
    size_t i;

    while (cfgval_is_space(*key))
        key++;
    if (*key == '\0' || *key == '#')
        return;
    for (value = key; *value && !cfgval_is_space(*value); value++)
        continue;
    if (*value != '\0')
        *value++ = '\0';
    while (cfgval_is_space(*value))
        value++;
    strip_comment(value);

    if ((k = cfg_keys_find(key)) == NULL) {
        report_unknown(rd, lineno, key);
        return;
    }
    i = (size_t)(k - cfg_keys_at(0));
    if (seen[i] != 0) {
        report(rd, lineno, "duplicate key %s (already set on line %u)", k->name, seen[i]);
        return;
    }
    seen[i] = lineno;
    if (*value == '\0') {
        report(rd, lineno, "%s: missing value", k->name);
        return;
    }
    err_clear(&why);
    if (!k->type->parse(CFG_FIELD(cfg, k), k, value, &why))
        report(rd, lineno, "%s: %.*s", k->name, WHY_MAX - 1,
               why.msg[0] ? why.msg : "invalid value");
}

/* Line where NAME was set, 0 when it was not. */
static unsigned key_line(const unsigned *seen, const char *name)
{
    const struct cfg_key *k = cfg_keys_find(name);

    return k != NULL ? seen[k - cfg_keys_at(0)] : 0;
}

static bool key_seen(const unsigned *seen, const char *name)
{
    return key_line(seen, name) != 0;
}

/* How Redis is reached: one server, or sentinels and the master's name;
 * the sentinels' password means nothing without sentinels. */
static void check_redis(struct reader *rd, const unsigned *seen)
{
    unsigned redis = key_line(seen, "Redis"), sentinels = key_line(seen, "RedisSentinels");
    unsigned name = key_line(seen, "RedisMasterName");

    if (redis != 0 && sentinels != 0)
        report(rd, sentinels, "RedisSentinels and Redis (line %u) are both set: the sentinels "
               "name the master, remove Redis", redis);
    if (sentinels != 0 && name == 0)
        report(rd, sentinels, "RedisSentinels needs RedisMasterName (the name the sentinels "
               "monitor the master under, \"sentinel monitor NAME ...\")");
    if (name != 0 && sentinels == 0)
        report(rd, name, "RedisMasterName is set without RedisSentinels");
    if (key_seen(seen, "RedisSentinelPassword") && sentinels == 0)
        report(rd, key_line(seen, "RedisSentinelPassword"),
               "RedisSentinelPassword is set without RedisSentinels");
}

/* Checks across keys.  A key that is present but invalid was reported on
 * its own line already: do not report it a second time as missing. */
static void check_whole(struct reader *rd, const struct config *cfg, const unsigned *seen)
{
    if (cfg->live.file == NULL && !redis_configured(&cfg->redis)
        && !key_seen(seen, "WhitelistFile") && !key_seen(seen, "Redis")
        && !key_seen(seen, "RedisSentinels"))
        report(rd, 0, "no whitelist source: set WhitelistFile, Redis, or both");
    check_redis(rd, seen);
    if (cfg->rules.local_domains.n == 0 && !key_seen(seen, "LocalDomains"))
        report(rd, 0, "LocalDomains is required (the operator's own MSSante domains)");
    /* The fetched list is published to Redis for every MX; a daemon
     * without Redis serves WhitelistFile and would have nowhere to put it. */
    if (cfg->fetch.refresh_ms > 0 && !redis_configured(&cfg->redis)
        && !key_seen(seen, "Redis") && !key_seen(seen, "RedisSentinels"))
        report(rd, key_line(seen, "WhitelistRefresh"),
               "WhitelistRefresh needs Redis: the downloaded list is published there");
    if (cfg->fetch.refresh_ms > 0 && cfg->fetch.refresh_ms < 1000)
        report(rd, key_line(seen, "WhitelistRefresh"),
               "WhitelistRefresh: expected 0 (off) or at least 1s");
    if (cfg->fetch.client_key != NULL && cfg->fetch.client_cert == NULL
        && !key_seen(seen, "WhitelistClientCert"))
        report(rd, key_line(seen, "WhitelistClientKey"),
               "WhitelistClientKey is set without WhitelistClientCert");
    if (cfg->notify.retry_max_ms < cfg->notify.retry_ms)
        report(rd, key_line(seen, "NotifyRetryMax"),
               "NotifyRetryMax is shorter than NotifyRetry");
}

/* ---- defaults and life cycle ----------------------------------------- */

struct config *config_defaults(void)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    struct err why;

    if (cfg == NULL)
        return NULL;
    for (size_t i = 0; i < cfg_keys_count(); i++) {
        const struct cfg_key *k = cfg_keys_at(i);
        void *field = CFG_FIELD(cfg, k);
        bool ok = k->def != NULL ? k->type->parse(field, k, k->def, &why)
                                 : k->type->init == NULL || k->type->init(field);

        if (!ok) {               /* a default the table cannot parse, or no memory */
            config_free(cfg);
            return NULL;
        }
    }
    return cfg;
}

/* Read FP line by line into CFG; SEEN gets the line of each key. */
static void read_lines(struct reader *rd, FILE *fp, struct config *cfg, unsigned *seen)
{
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;

    errno = 0;
    while (getline(&line, &cap, fp) != -1) {
        lineno++;
        parse_line(rd, cfg, line, lineno, seen);
    }
    if (ferror(fp))
        report(rd, 0, "read error: %s", strerror(errno));
    free(line);
}

struct config *config_load(const char *file)
{
    return config_load_report(file, NULL, NULL);
}

struct config *config_load_report(const char *file, config_error_sink sink, void *arg)
{
    struct reader rd = { file, 0, sink, arg };
    unsigned seen[cfg_keys_count()];
    struct config *cfg;
    struct stat st;
    FILE *fp;

    memset(seen, 0, sizeof(seen));
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
    read_lines(&rd, fp, cfg, seen);
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
    for (size_t i = 0; i < cfg_keys_count(); i++) {
        const struct cfg_key *k = cfg_keys_at(i);

        if (k->type->release != NULL)
            k->type->release(CFG_FIELD(cfg, k));
    }
    free(cfg->path);
    free(cfg);
}

bool config_is_local_domain(const struct config *cfg, const char *domain)
{
    return cfg != NULL && strlist_contains(&cfg->rules.local_domains, domain);
}

/* ---- reload: the restart-only keys ------------------------------------ */

int config_keep_restart_keys(struct config *fresh, const struct config *running)
{
    char was[VALUE_MAX], wanted[VALUE_MAX];

    for (size_t i = 0; i < cfg_keys_count(); i++) {
        const struct cfg_key *k = cfg_keys_at(i);
        const void *old = CFG_CFIELD(running, k);
        void *cur = CFG_FIELD(fresh, k);

        if (k->reload != CFG_RESTART || k->type->same(cur, old))
            continue;
        if (k->type->describe == NULL) {
            log_warning("reload: %s changed: needs a restart; keeping the running value",
                        k->name);
        } else {
            if (k->secret) {
                snprintf(was, sizeof(was), "(not shown)");
                snprintf(wanted, sizeof(wanted), "(not shown)");
            } else {
                k->type->describe(old, k, was, sizeof(was));
                k->type->describe(cur, k, wanted, sizeof(wanted));
            }
            log_warning("reload: %s changed to %s: needs a restart; keeping %s", k->name,
                        wanted, was);
        }
        if (!k->type->copy(cur, old))
            return -1;
    }
    return 0;
}

/* ---- -n: the configuration in force ------------------------------------ */

void config_print(const struct config *cfg, FILE *out)
{
    char value[VALUE_MAX];

    for (size_t i = 0; i < cfg_keys_count(); i++) {
        const struct cfg_key *k = cfg_keys_at(i);

        k->type->format(CFG_CFIELD(cfg, k), k, value, sizeof(value));
        if (value[0] == '\0')
            fprintf(out, "# %s: not set\n", k->name);
        else if (k->secret)
            fprintf(out, "# %s: set, not shown\n", k->name);
        else
            fprintf(out, "%s %s\n", k->name, value);
    }
}
