/*
 * test_forward_config.c - the forwarding keys of mssante-milter.conf
 * (Forwarding, NotifyWorker, NotifySMTP, NotifySender, NotifyTemplate,
 * NotifyRetry, NotifyRetryMax, NotifyMaxAge, NotifyMaxAttempts,
 * NotifyTimeout): defaults, values, and the "FILE:LINE: message" errors
 * "mssante-milter -n" shows, including a bad NotifyTemplate, which is read
 * and checked when the configuration is loaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "notify/notice.h"
#include "testlib.h"

static char tmp_dir[] = "/tmp/test_forward_config.XXXXXX";
static int file_counter;

/* Write TEXT to a fresh file under tmp_dir; returns a static path. */
static const char *write_file(const char *text)
{
    static char path[256];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/f%d", tmp_dir, ++file_counter);
    if ((fp = fopen(path, "w")) == NULL) {
        perror(path);
        exit(2);
    }
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* Errors are collected here instead of stderr. */
static char errors[4096];

static void sink(void *arg, const char *line)
{
    size_t len = strlen(errors);

    (void)arg;
    snprintf(errors + len, sizeof(errors) - len, "%s\n", line);
}

static struct config *load(const char *text)
{
    errors[0] = '\0';
    return config_load_report(write_file(text), sink, NULL);
}

static void test_defaults(void)
{
    struct config *cfg = load("LocalDomains chu-test.mssante.fr\nWhitelistFile /x.xml\n");

    CHECK(cfg != NULL);
    if (cfg == NULL)
        return;
    CHECK(cfg->rules.forwarding);
    CHECK(cfg->notify.worker);
    CHECK_STR(cfg->notify.smtp, "smtp://127.0.0.1:10027");
    CHECK(cfg->notify.sender == NULL);
    CHECK(cfg->notify.tmpl.path == NULL && cfg->notify.tmpl.t == NULL);
    CHECK(cfg->notify.retry_ms == 30000);
    CHECK(cfg->notify.retry_max_ms == 3600000);
    CHECK(cfg->notify.max_age_ms == 2 * 86400000);
    CHECK(cfg->notify.max_attempts == 50);
    CHECK(cfg->notify.timeout_ms == 30000);
    config_free(cfg);
}

static void test_values(void)
{
    char text[1024], tmpl[256];
    struct config *cfg;

    snprintf(tmpl, sizeof(tmpl), "%s",
             write_file("Un message vous attend dans %m (100 %% s\xc3\xbbr).\n"));

    snprintf(text, sizeof(text),
             "LocalDomains chu-test.mssante.fr\n"
             "WhitelistFile /x.xml\n"
             "forwarding no\n"
             "NotifyWorker off\n"
             "NotifySMTP smtps://relay.chu-test.mssante.fr:465\n"
             "NotifySender avis@chu-test.mssante.fr\n"
             "NotifyTemplate %s\n"
             "NotifyRetry 5s\n"
             "NotifyRetryMax 10m\n"
             "NotifyMaxAge 12h\n"
             "NotifyMaxAttempts 0\n"
             "NotifyTimeout 1m\n", tmpl);
    cfg = load(text);
    CHECK(cfg != NULL);
    if (cfg == NULL) {
        fprintf(stderr, "%s", errors);
        return;
    }
    CHECK(!cfg->rules.forwarding);
    CHECK(!cfg->notify.worker);
    CHECK_STR(cfg->notify.smtp, "smtps://relay.chu-test.mssante.fr:465");
    CHECK_STR(cfg->notify.sender, "avis@chu-test.mssante.fr");
    CHECK_STR(cfg->notify.tmpl.path, tmpl);
    CHECK(cfg->notify.tmpl.t != NULL);
    CHECK(cfg->notify.retry_ms == 5000);
    CHECK(cfg->notify.retry_max_ms == 600000);
    CHECK(cfg->notify.max_age_ms == 12 * 3600000);
    CHECK(cfg->notify.max_attempts == 0);
    CHECK(cfg->notify.timeout_ms == 60000);

    /* The template loaded with the file is the one the notices use. */
    if (cfg->notify.tmpl.t != NULL) {
        struct notify_params p = { "avis@chu-test.mssante.fr", "sec@outlook.fr",
                                   "dr.a@chu-test.mssante.fr", 1700000000, "t1",
                                   cfg->notify.tmpl.t };
        struct err err = { "" };
        char *msg = notify_message_build(&p, NULL, &err);

        CHECK(msg != NULL && strstr(msg, "dr.a@chu-test.mssante.fr") != NULL);
        CHECK(msg != NULL && strstr(msg, "100 % s") != NULL);
        free(msg);
    }
    config_free(cfg);
}

/* Every bad value is reported at once, with its file and line. */
static void test_errors(void)
{
    char text[1024], want[600], bad_tmpl[256], conf[256];
    struct config *cfg;

    snprintf(bad_tmpl, sizeof(bad_tmpl), "%s", write_file("Bonjour\nvotre %s attend\n"));
    snprintf(text, sizeof(text),
             "LocalDomains chu-test.mssante.fr\n"          /* 1 */
             "WhitelistFile /x.xml\n"                      /* 2 */
             "NotifySMTP http://127.0.0.1:10027\n"         /* 3 */
             "NotifySender <avis@chu-test.mssante.fr>\n"   /* 4 */
             "NotifyTemplate %s\n"                         /* 5 */
             "NotifyRetry 0s\n"                            /* 6 */
             "NotifyMaxAttempts many\n"                    /* 7 */
             "NotifyTimeout 2h\n"                          /* 8 */
             "Forwarding perhaps\n", bad_tmpl);            /* 9 */
    errors[0] = '\0';
    snprintf(conf, sizeof(conf), "%s", write_file(text));
    cfg = config_load_report(conf, sink, NULL);
    CHECK(cfg == NULL);
    config_free(cfg);
    for (int line = 3; line <= 9; line++) {
        snprintf(want, sizeof(want), "%s:%d: ", conf, line);
        CHECK(strstr(errors, want) != NULL);
        if (strstr(errors, want) == NULL)
            fprintf(stderr, "no error for line %d in:\n%s", line, errors);
    }
    /* The template's own error names the template file and its line. */
    snprintf(want, sizeof(want), "%s:5: NotifyTemplate: %s: line 2: ", conf, bad_tmpl);
    CHECK(strstr(errors, want) != NULL);
    if (strstr(errors, want) == NULL)
        fprintf(stderr, "no \"%s\" in:\n%s", want, errors);

    /* A missing template file is an error too. */
    cfg = load("LocalDomains chu-test.mssante.fr\nWhitelistFile /x.xml\n"
               "NotifyTemplate /nonexistent/notice.txt\n");
    CHECK(cfg == NULL && strstr(errors, ":3: NotifyTemplate: ") != NULL);
    config_free(cfg);

    /* A retry cap below the first delay. */
    cfg = load("LocalDomains chu-test.mssante.fr\nWhitelistFile /x.xml\n"
               "NotifyRetry 10m\nNotifyRetryMax 1m\n");
    CHECK(cfg == NULL && strstr(errors, ":4: NotifyRetryMax is shorter than NotifyRetry")
                         != NULL);
    config_free(cfg);
}

static void cleanup(void)
{
    char path[256];

    for (int i = 1; i <= file_counter; i++) {
        snprintf(path, sizeof(path), "%s/f%d", tmp_dir, i);
        unlink(path);
    }
    rmdir(tmp_dir);
}

int main(void)
{
    if (mkdtemp(tmp_dir) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    test_defaults();
    test_values();
    test_errors();
    cleanup();
    TEST_DONE();
}
