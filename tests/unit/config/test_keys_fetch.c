/*
 * test_keys_fetch.c - the whitelist fetcher's configuration keys:
 * defaults, sizes with suffixes, bounds, and the checks across keys
 * (WhitelistRefresh needs Redis, a client key needs its certificate, the
 * URL must be https).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "tests/unit/config/cfgcapture.h"
#include "tests/unit/testlib.h"
#include "whitelist/fetch.h"
#include "whitelist/guard.h"

static char tmp_dir[] = "/tmp/test_fetch_config.XXXXXX";

#define BASE "LocalDomains chu-test.mssante.fr\n"
#define REDIS "Redis 127.0.0.1:6379\n"

/* Load TEXT as a config file with stderr captured into *errors
 * (malloc'ed, "" when quiet). */
static struct config *load(const char *text, char **errors)
{
    return cfgcapture_load(tmp_dir, NULL, text, errors);
}

/* The file is refused and the error mentions NEEDLE. */
static void refused(const char *text, const char *needle)
{
    char *errors;
    struct config *cfg = load(text, &errors);

    CHECK(cfg == NULL);
    if (strstr(errors, needle) == NULL) {
        fprintf(stderr, "expected \"%s\" in: %s\n", needle, errors);
        CHECK(strstr(errors, needle) != NULL);
    }
    config_free(cfg);
    free(errors);
}

static void test_defaults(void)
{
    char *errors;
    struct config *cfg = load(BASE REDIS, &errors);

    CHECK(cfg != NULL);
    CHECK_STR(errors, "");
    if (cfg != NULL) {
        /* The defaults of the fetcher's keys (config/keys.c, the only copy). */
        CHECK_STR(cfg->fetch.url, "https://espacedeconfiance.mssante.fr/listeblanchemssante.xml");
        CHECK(cfg->fetch.ca_file == NULL);
        CHECK(cfg->fetch.client_cert == NULL);
        CHECK(cfg->fetch.client_key == NULL);
        CHECK(cfg->fetch.connect_timeout_ms == 10000L);
        CHECK(cfg->fetch.timeout_ms == 120000L);
        CHECK(cfg->fetch.max_size == ((size_t)32 << 20));
        CHECK(cfg->fetch.min_domains == 1000);
        CHECK(cfg->fetch.max_shrink == 20);
        CHECK(cfg->fetch.refresh_ms == 0);
        CHECK(cfg->fetch.max_age_ms == 3 * 86400 * 1000);
    }
    config_free(cfg);
    free(errors);
}

static void test_values(void)
{
    char *errors;
    struct config *cfg = load(BASE REDIS
                              "WhitelistURL https://mirror.example.test/liste.xml\n"
                              "WhitelistCAFile /etc/mssante/igc-sante.pem\n"
                              "WhitelistClientCert /etc/mssante/mx.pem\n"
                              "WhitelistClientKey /etc/mssante/mx.key\n"
                              "WhitelistConnectTimeout 3s\n"
                              "WhitelistTimeout 5m\n"
                              "WhitelistMaxSize 500K\n"
                              "WhitelistMinDomains 3\n"
                              "WhitelistMaxShrink 0\n"
                              "WhitelistRefresh 6h\n"
                              "WhitelistMaxAge 0\n", &errors);

    CHECK(cfg != NULL);
    CHECK_STR(errors, "");
    if (cfg != NULL) {
        CHECK_STR(cfg->fetch.url, "https://mirror.example.test/liste.xml");
        CHECK_STR(cfg->fetch.ca_file, "/etc/mssante/igc-sante.pem");
        CHECK_STR(cfg->fetch.client_cert, "/etc/mssante/mx.pem");
        CHECK_STR(cfg->fetch.client_key, "/etc/mssante/mx.key");
        CHECK(cfg->fetch.connect_timeout_ms == 3000);
        CHECK(cfg->fetch.timeout_ms == 300000);
        CHECK(cfg->fetch.max_size == 500 * 1024);
        CHECK(cfg->fetch.min_domains == 3);
        CHECK(cfg->fetch.max_shrink == 0);
        CHECK(cfg->fetch.refresh_ms == 6 * 3600 * 1000);
        CHECK(cfg->fetch.max_age_ms == 0);
    }
    config_free(cfg);
    free(errors);

    cfg = load(BASE REDIS "WhitelistMaxSize 32M\nWhitelistMaxShrink 100\n", &errors);
    CHECK(cfg != NULL && cfg->fetch.max_size == (size_t)32 << 20);
    CHECK(cfg != NULL && cfg->fetch.max_shrink == 100);
    config_free(cfg);
    free(errors);

    cfg = load(BASE REDIS "WhitelistMaxSize 1048576\n", &errors);
    CHECK(cfg != NULL && cfg->fetch.max_size == 1048576);
    config_free(cfg);
    free(errors);
}

static void test_errors(void)
{
    refused(BASE REDIS "WhitelistURL http://espacedeconfiance.mssante.fr/liste.xml\n",
            ":3: WhitelistURL: expected an https:// URL");
    refused(BASE REDIS "WhitelistURL https://\n", "WhitelistURL: expected an https:// URL");
    refused(BASE REDIS "WhitelistMaxShrink 101\n",
            "WhitelistMaxShrink: expected a whole number between 0 and 100");
    refused(BASE REDIS "WhitelistMaxShrink 20%\n", "WhitelistMaxShrink: expected");
    refused(BASE REDIS "WhitelistMaxShrink -1\n", "WhitelistMaxShrink: expected");
    refused(BASE REDIS "WhitelistMinDomains 0\n", "WhitelistMinDomains: expected");
    refused(BASE REDIS "WhitelistMinDomains many\n", "WhitelistMinDomains: expected");
    refused(BASE REDIS "WhitelistMaxSize 32T\n", "WhitelistMaxSize: expected a size");
    refused(BASE REDIS "WhitelistMaxSize 2G\n", "WhitelistMaxSize: expected a size");
    refused(BASE REDIS "WhitelistMaxSize 100\n", "WhitelistMaxSize: expected a size");
    refused(BASE REDIS "WhitelistMaxSize 99999999999999999999999K\n",
            "WhitelistMaxSize: expected a size");
    refused(BASE REDIS "WhitelistTimeout 0\n", "WhitelistTimeout: expected a duration");
    refused(BASE REDIS "WhitelistRefresh 8d\n", "WhitelistRefresh: expected a duration");
    refused(BASE REDIS "WhitelistRefresh 500ms\n", ":3: WhitelistRefresh: expected 0 (off)");
    /* The fetched list goes to Redis: no Redis, no refresh thread. */
    refused(BASE "WhitelistFile /etc/liste.xml\nWhitelistRefresh 6h\n",
            ":3: WhitelistRefresh needs Redis");
    refused(BASE REDIS "WhitelistClientKey /etc/mssante/mx.key\n",
            ":3: WhitelistClientKey is set without WhitelistClientCert");
    refused(BASE REDIS "WhitelistCAFile\n", "WhitelistCAFile: missing value");
}

static const struct test_case cases[] = {
    { "fetcher keys: defaults", test_defaults },
    { "fetcher keys: values", test_values },
    { "fetcher keys: errors", test_errors },
};

int main(void)
{
    int rc;

    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    rc = TEST_RUN(cases);
    rmdir(tmp_dir);
    return rc;
}
