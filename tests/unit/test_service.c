/*
 * test_service.c - the daemon as a service (milter/cfgref.c,
 * milter/signals.c, milter/drain.c): the configuration in force, reloads
 * (good, bad, restart-only keys) and references held by connections.
 * Run it under "make check SAN=1" too: a configuration freed while a
 * connection holds it would show there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "milter/cfgref.h"
#include "milter/drain.h"
#include "milter/signals.h"
#include "policy/replies.h"
#include "tests/unit/testlib.h"

static char conf_path[64];

static void write_conf(const char *text)
{
    FILE *fp = fopen(conf_path, "w");

    CHECK(fp != NULL);
    if (fp != NULL) {
        fputs(text, fp);
        fclose(fp);
    }
}

static void count_error(void *arg, const char *line)
{
    (*(int *)arg)++;
    CHECK(strstr(line, conf_path) == line);
}

static void test_load_report(void)
{
    int errors = 0;

    write_conf("LocalDomains a.mssante.fr\nWhitelistFile /x.xml\nBogus 1\nDryRun maybe\n");
    CHECK(config_load_report(conf_path, count_error, &errors) == NULL);
    CHECK(errors == 2);
}

static void test_reload(void)
{
    const struct config *startup, *c1, *c2, *c3, *c4;
    struct config *cfg;
    struct verdict v;

    write_conf("LocalDomains a.mssante.fr\nWhitelistFile /x.xml\n"
               "Socket inet:10025@127.0.0.1\nSocketMode 0660\nStatsInterval 5s\n");
    cfg = config_load(conf_path);
    CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    startup = cfg;
    signals_block();
    CHECK(cfgref_acquire() == NULL);                  /* nothing in force yet */
    CHECK(cfgref_init(startup, NULL) == 0);
    CHECK(signals_start(startup->daemon.socket) == 0);
    CHECK(!drain_stopping());

    c1 = cfgref_acquire();
    CHECK(c1 == startup);

    /* A good file: policy keys change, restart-only keys keep their value. */
    write_conf("LocalDomains b.mssante.fr, c.mssante.fr\nWhitelistFile /x.xml\n"
               "Socket inet:10026@127.0.0.1\nSocketMode 0600\nDryRun yes\n"
               "RedisPrefix other:\nStatsInterval 2s\n"
               "TLSPolicyFile /tmp/tls_policy\nTLSPolicyLevel encrypt\n");
    CHECK(cfgref_reload() == 0);
    c2 = cfgref_acquire();
    CHECK(c2 != c1);
    CHECK(c2->rules.dry_run);
    CHECK(c2->rules.local_domains.n == 2 && config_is_local_domain(c2, "c.mssante.fr"));
    CHECK(c2->stats.interval_ms == 2000);
    CHECK_STR(c2->daemon.socket, "inet:10025@127.0.0.1");
    CHECK(c2->daemon.socket_mode == 0660);
    CHECK_STR(c2->redis.prefix, "mssante:");
    /* The whitelist poller writes the TLS table with the startup values. */
    CHECK(c2->live.tls_policy_file == NULL && !c2->live.tls_policy_encrypt);
    /* The connection that started before keeps its configuration. */
    CHECK(!c1->rules.dry_run && config_is_local_domain(c1, "a.mssante.fr"));
    cfgref_release(c1);

    /* A broken file changes nothing. */
    write_conf("LocalDomains d.mssante.fr\nWhitelistFile /x.xml\nDryRun perhaps\n");
    CHECK(cfgref_reload() < 0);
    c3 = cfgref_acquire();
    CHECK(c3 == c2);
    cfgref_release(c3);

    /* A missing file neither. */
    unlink(conf_path);
    CHECK(cfgref_reload() < 0);

    /* Back to a good one: c2 is retired, still readable until released. */
    write_conf("LocalDomains e.mssante.fr\nWhitelistFile /x.xml\n");
    CHECK(cfgref_reload() == 0);
    c4 = cfgref_acquire();
    CHECK(c4 != c2 && !c4->rules.dry_run && config_is_local_domain(c4, "e.mssante.fr"));
    CHECK(c2->rules.dry_run && config_is_local_domain(c2, "b.mssante.fr"));
    cfgref_release(c2);
    cfgref_release(c4);

    reply_shutting_down(&v);
    CHECK(v.action == ACT_TEMPFAIL);
    CHECK_STR(v.rcode, "451");
    CHECK_STR(v.xcode, "4.3.2");
    CHECK_STR(rule_name(v.rule), "shutting-down");

    signals_stop();
    cfgref_free();
    CHECK(cfgref_acquire() == NULL);
    config_free(cfg);
}

int main(void)
{
    snprintf(conf_path, sizeof(conf_path), "/tmp/mssante-service-%ld.conf", (long)getpid());
    test_load_report();
    test_reload();
    unlink(conf_path);
    TEST_DONE();
}
