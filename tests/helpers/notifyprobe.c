/*
 * notifyprobe.c - drive the notice queue (notify/queue.c) from the command
 * line, for tests/integration/t_notify_queue.sh.
 *
 *   notifyprobe -r HOST:PORT [-x PREFIX] enqueue MAILBOX TARGET...
 *       queue one notice per TARGET about MAILBOX ("-": unknown mailbox)
 *   notifyprobe -r HOST:PORT [-x PREFIX] run -s URL -f SENDER [-t SECONDS] [-e]
 *               [-p POLL_MS] [-m RETRY_MIN_MS] [-M RETRY_MAX_MS] [-a MAX_ATTEMPTS]
 *               [-A MAX_AGE_MS] [-T SMTP_TIMEOUT_MS] [-l LEASE_MS] [-n TEMPLATE]
 *       run the worker for SECONDS (default 10), or with -e until the queue
 *       is empty (at most SECONDS); the worker's log goes to stderr
 *   notifyprobe -r HOST:PORT [-x PREFIX] stats
 *
 * "run" and "stats" end by printing the counters on one line:
 *   enqueued=N sent=N retried=N failed=N pending=N
 * Exit status: 0, 1 on an error, 2 on a usage error.  SIGTERM/SIGINT stop
 * "run" early (the worker is stopped cleanly, as the daemon would).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "config/config.h"
#include "notify/queue.h"
#include "whitelist/store.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fprintf(stderr,
            "usage: notifyprobe -r HOST:PORT [-x PREFIX] enqueue MAILBOX TARGET...\n"
            "       notifyprobe -r HOST:PORT [-x PREFIX] run -s URL -f SENDER [-t SECONDS] [-e]\n"
            "                   [-p POLL_MS] [-m RETRY_MIN_MS] [-M RETRY_MAX_MS]\n"
            "                   [-a MAX_ATTEMPTS] [-A MAX_AGE_MS] [-T SMTP_TIMEOUT_MS]\n"
            "                   [-l LEASE_MS] [-n TEMPLATE]\n"
            "       notifyprobe -r HOST:PORT [-x PREFIX] stats\n");
    exit(2);
}

static long long number(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < 0)
        usage();
    return v;
}

static int print_stats(redisContext *c, const char *prefix)
{
    struct notify_stats st;
    struct err err;

    if (notify_get_stats(c, prefix, &st, &err) < 0) {
        fprintf(stderr, "notifyprobe: %s\n", err.msg);
        return 1;
    }
    printf("enqueued=%lld sent=%lld retried=%lld failed=%lld pending=%lld\n", st.enqueued,
           st.sent, st.retried, st.failed, st.pending);
    return 0;
}

static int cmd_enqueue(redisContext *c, const char *prefix, int argc, char **argv)
{
    const char **mb, **tg;
    struct err err;
    int i, rc;

    if (argc < 3)
        usage();
    mb = calloc((size_t)argc, sizeof(*mb));
    tg = calloc((size_t)argc, sizeof(*tg));
    if (mb == NULL || tg == NULL)
        return 1;
    for (i = 2; i < argc; i++) {
        mb[i - 2] = strcmp(argv[1], "-") == 0 ? "" : argv[1];
        tg[i - 2] = argv[i];
    }
    rc = notify_enqueue_many(c, prefix, mb, tg, (size_t)(argc - 2), 0, &err);
    if (rc < 0)
        fprintf(stderr, "notifyprobe: %s\n", err.msg);
    free(mb);
    free(tg);
    return rc < 0 ? 1 : 0;
}

static int cmd_run(struct config *cfg, redisContext *c, const char *prefix, int argc,
                   char **argv)
{
    struct notify_worker_params p;
    struct notify_template *tmpl = NULL;
    struct notify_worker *w;
    long long seconds = 10;
    bool until_empty = false;
    struct timespec start, now;
    struct err err;
    int opt;

    notify_worker_params_init(&p);
    p.prefix = prefix;
    p.redis = &cfg->redis;
    optind = 1;
    while ((opt = getopt(argc, argv, "s:f:t:ep:m:M:a:A:T:l:n:")) != -1) {
        switch (opt) {
        case 's': p.smtp_url = optarg; break;
        case 'f': p.sender = optarg; break;
        case 't': seconds = number(optarg); break;
        case 'e': until_empty = true; break;
        case 'p': p.poll_ms = number(optarg); break;
        case 'm': p.retry_min_ms = number(optarg); break;
        case 'M': p.retry_max_ms = number(optarg); break;
        case 'a': p.max_attempts = (unsigned)number(optarg); break;
        case 'A': p.max_age_ms = number(optarg); break;
        case 'T': p.smtp_timeout_ms = number(optarg); break;
        case 'l': p.lease_ms = number(optarg); break;
        case 'n':
            if ((tmpl = notify_template_load(optarg, &err)) == NULL) {
                fprintf(stderr, "notifyprobe: %s\n", err.msg);
                return 1;
            }
            break;
        default: usage();
        }
    }
    if (optind != argc || p.smtp_url == NULL || p.sender == NULL)
        usage();
    p.tmpl = tmpl;
    if ((w = notify_worker_start(&p, &err)) == NULL) {
        fprintf(stderr, "notifyprobe: %s\n", err.msg);
        notify_template_free(tmpl);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct notify_stats st;

        usleep(100 * 1000);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (interrupted || now.tv_sec - start.tv_sec >= seconds)
            break;
        if (until_empty && notify_get_stats(c, prefix, &st, &err) == 0
            && st.pending == 0)
            break;
    }
    notify_worker_stop(w);
    notify_template_free(tmpl);
    return print_stats(c, prefix);
}

int main(int argc, char **argv)
{
    const char *redis = NULL, *prefix = NULL;
    struct config *cfg;
    redisContext *c;
    struct err err;
    int opt, rc;

    while ((opt = getopt(argc, argv, "+r:x:")) != -1) {
        switch (opt) {
        case 'r': redis = optarg; break;
        case 'x': prefix = optarg; break;
        default: usage();
        }
    }
    if (redis == NULL || optind >= argc)
        usage();
    argc -= optind;
    argv += optind;

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    log_set_level(LOGL_DEBUG);      /* stderr only: log_open is never called */
    if ((cfg = config_defaults()) == NULL || redis_addr_parse(redis, &cfg->redis.server, NULL) < 0) {
        fprintf(stderr, "notifyprobe: bad Redis address %s\n", redis);
        config_free(cfg);
        return 2;
    }
    if (prefix == NULL)
        prefix = cfg->redis.prefix;
    if ((c = redis_connect(&cfg->redis, &err)) == NULL) {
        fprintf(stderr, "notifyprobe: %s\n", err.msg);
        config_free(cfg);
        return 1;
    }
    if (strcmp(argv[0], "enqueue") == 0)
        rc = cmd_enqueue(c, prefix, argc, argv);
    else if (strcmp(argv[0], "run") == 0)
        rc = cmd_run(cfg, c, prefix, argc, argv);
    else if (strcmp(argv[0], "stats") == 0 && argc == 1)
        rc = print_stats(c, prefix);
    else
        usage();
    redisFree(c);
    config_free(cfg);
    return rc;
}
