/*
 * test_stats.c - stats/: counters by verdict and rule, the latency
 * histogram, the Prometheus text and the StatsFile.
 */
#include <dirent.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/replies.h"
#include "stats/node.h"
#include "stats/stats.h"
#include "tests/unit/testlib.h"

static char *render(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    if (fp == NULL)
        return NULL;
    CHECK(stats_write_prometheus(fp) == 0);
    fclose(fp);
    return buf;
}

/* TEXT has LINE as a whole line. */
static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; p != NULL && *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        if (len == n && strncmp(p, line, n) == 0)
            return 1;
        p = nl ? nl + 1 : NULL;
    }
    fprintf(stderr, "missing line: %s\n", line);
    return 0;
}

/* Every line is a comment (# HELP / # TYPE) or "name{labels} value". */
static int valid_exposition(const char *text)
{
    regex_t sample, comment;
    int ok = 1;
    char *copy = strdup(text), *save = NULL;

    regcomp(&sample, "^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
                     ",?)*\\})? [-+]?([0-9.]+([eE][-+]?[0-9]+)?|\\+Inf|NaN)$", REG_EXTENDED);
    regcomp(&comment, "^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$", REG_EXTENDED);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (regexec(line[0] == '#' ? &comment : &sample, line, 0, NULL, 0) != 0) {
            fprintf(stderr, "not exposition format: %s\n", line);
            ok = 0;
        }
    }
    regfree(&sample);
    regfree(&comment);
    free(copy);
    return ok;
}

static void message(enum action a, const char *rule, uint64_t started)
{
    struct stats_verdict v = { a, rule };

    stats_message_end(&v, NULL, started);
}

static void test_counters(void)
{
    struct stats_verdict accept, would;
    struct verdict no_list;
    uint64_t t;
    char *text;

    stats_reset();
    /* Two refusals of one rule, a deferral, an abort, a DryRun message. */
    message(ACT_REJECT, "outbound-classic-recipient", stats_message_begin());
    message(ACT_REJECT, "outbound-classic-recipient", stats_message_begin());
    reply_no_whitelist(&no_list);
    message(ACT_TEMPFAIL, rule_name(no_list.rule), stats_message_begin());
    (void)stats_message_begin();
    stats_message_end(NULL, NULL, 0);
    memset(&accept, 0, sizeof(accept));
    accept.action = ACT_CONTINUE;
    accept.rule = "ignored-for-accept";
    would.action = ACT_REJECT;
    would.rule = "inbound-classic-sender";
    /* 30 ms ago: lands in the 0.05 s bucket, not the 0.025 s one. */
    t = stats_message_begin();
    stats_message_end(&accept, &would, t - 30000);
    CHECK(stats_in_flight() == 0);

    text = render();
    CHECK(text != NULL && valid_exposition(text));
    CHECK(has_line(text, "mssante_milter_messages_total{verdict=\"reject\","
                         "rule=\"outbound-classic-recipient\"} 2"));
    CHECK(has_line(text, "mssante_milter_messages_total{verdict=\"tempfail\","
                         "rule=\"no-whitelist\"} 1"));
    CHECK(has_line(text, "mssante_milter_messages_total{verdict=\"abort\",rule=\"none\"} 1"));
    CHECK(has_line(text, "mssante_milter_messages_total{verdict=\"accept\",rule=\"none\"} 1"));
    CHECK(has_line(text, "mssante_milter_dryrun_would_total{verdict=\"reject\","
                         "rule=\"inbound-classic-sender\"} 1"));
    CHECK(has_line(text, "mssante_milter_tempfail_total{cause=\"no-whitelist\"} 1"));
    /* The abort is not timed. */
    CHECK(has_line(text, "mssante_milter_message_duration_seconds_count 4"));
    CHECK(has_line(text, "mssante_milter_message_duration_seconds_bucket{le=\"+Inf\"} 4"));
    CHECK(has_line(text, "mssante_milter_message_duration_seconds_bucket{le=\"0.025\"} 3"));
    CHECK(has_line(text, "mssante_milter_message_duration_seconds_bucket{le=\"0.05\"} 4"));
    CHECK(has_line(text, "mssante_milter_whitelist_loaded 0"));
    CHECK(strstr(text, "ignored-for-accept") == NULL);
    free(text);
}

static void test_other_counters(void)
{
    char *text;

    stats_reset();
    stats_connection_open();
    stats_connection_open();
    stats_connection_close();
    stats_connection_close();
    stats_connection_close();          /* one too many: stays at 0 */
    CHECK(stats_open_connections() == 0);
    stats_redis_error();
    stats_notify(STATS_NOTIFY_QUEUED, 3);
    stats_notify(STATS_NOTIFY_SENT, 2);
    stats_reload(true);
    stats_reload(false);
    stats_reload(false);
    text = render();
    CHECK(text != NULL && valid_exposition(text));
    CHECK(has_line(text, "mssante_milter_connections_total 2"));
    CHECK(has_line(text, "mssante_milter_connections_open 0"));
    CHECK(has_line(text, "mssante_milter_redis_errors_total 1"));
    CHECK(has_line(text, "mssante_milter_notifications_total{event=\"queued\"} 3"));
    CHECK(has_line(text, "mssante_milter_notifications_total{event=\"sent\"} 2"));
    CHECK(has_line(text, "mssante_milter_notifications_total{event=\"failed\"} 0"));
    CHECK(has_line(text, "mssante_milter_config_reloads_total{result=\"ok\"} 1"));
    CHECK(has_line(text, "mssante_milter_config_reloads_total{result=\"failed\"} 2"));
    free(text);
}

static void test_rule_table(void)
{
    char rule[32], *text;

    stats_reset();
    /* A label value with a quote and a backslash is escaped. */
    message(ACT_REJECT, "odd\"rule\\x", 0);
    /* Far more distinct rules than slots: the rest is counted as "other". */
    for (int i = 0; i < 100; i++) {
        snprintf(rule, sizeof(rule), "rule-%d", i);
        message(ACT_REJECT, rule, 0);
    }
    message(ACT_REJECT, "rule-0", 0);
    text = render();
    CHECK(text != NULL && valid_exposition(text));
    CHECK(has_line(text, "mssante_milter_messages_total{verdict=\"reject\","
                         "rule=\"odd\\\"rule\\\\x\"} 1"));
    CHECK(has_line(text, "mssante_milter_messages_total{verdict=\"reject\",rule=\"rule-0\"} 2"));
    CHECK(strstr(text, "rule=\"other\"} ") != NULL);
    CHECK(strstr(text, "rule=\"rule-99\"") == NULL);
    free(text);
}

static void test_file(void)
{
    char dir[] = "/tmp/mssante-stats.XXXXXX", path[256], line[256];
    struct err err;
    struct dirent *de;
    int entries = 0, found = 0;
    FILE *fp;
    DIR *d;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/mssante.prom", dir);
    CHECK(stats_write_file(path, &err) == 0);
    CHECK(stats_write_file(path, &err) == 0);
    if ((fp = fopen(path, "r")) != NULL) {
        while (fgets(line, sizeof(line), fp))
            found += strncmp(line, "mssante_milter_build_info{version=", 34) == 0;
        fclose(fp);
    }
    CHECK(found == 1);
    /* Only the file itself: the temporary one was renamed. */
    if ((d = opendir(dir)) != NULL) {
        while ((de = readdir(d)) != NULL)
            entries += de->d_name[0] != '.';
        closedir(d);
    }
    CHECK(entries == 1);
    unlink(path);
    rmdir(dir);
    /* A directory that does not exist: an error, not a crash. */
    CHECK(stats_write_file("/nonexistent-dir/x.prom", &err) < 0);
    CHECK(strstr(err.msg, "nonexistent-dir") != NULL);
}

static void test_fields(void)
{
    CHECK(stats_field_is_counter("messages:reject:outbound-classic-recipient"));
    CHECK(stats_field_is_counter("latency:le:0.05"));
    CHECK(stats_field_is_counter("redis_errors"));
    CHECK(stats_field_is_counter("connections:total"));
    CHECK(!stats_field_is_counter("connections:open"));
    CHECK(!stats_field_is_counter("whitelist:domains"));
    CHECK(!stats_field_is_counter("updated"));
    CHECK(!stats_field_is_counter(NULL));
}

int main(void)
{
    test_counters();
    test_other_counters();
    test_rule_table();
    test_file();
    test_fields();
    TEST_DONE();
}
