/*
 * sentinelprobe.c - drive the Sentinel client (common/sentinel.c) and the
 * server helpers (common/redis_server.c) against real servers, for
 * tests/integration/t_sentinel_*.sh.
 *
 *   sentinelprobe TARGET [OPTIONS] discover
 *       find the master; prints "master ADDR via SENTINEL epoch E" and
 *       "order S1,S2,..." (the sentinels in the order the next discovery
 *       would ask them)
 *   sentinelprobe TARGET [OPTIONS] set KEY VALUE
 *       SET, then WAIT for -w replicas; prints "ok acked K"
 *   sentinelprobe TARGET [OPTIONS] follow KEY SECONDS
 *       INCR KEY every -i ms for SECONDS (SIGTERM ends it early), finding
 *       the master again whenever a command says so; with -W the
 *       +switch-master watcher runs too.  One line per event, each
 *       starting with the wall-clock time in ms:
 *         T connected ADDR via SENTINEL epoch E
 *         T nomaster WHY
 *         T ok VALUE ADDR [acked K]       (with -w: K >= -w)
 *         T unacked VALUE ADDR WHY        (with -w: too few replicas)
 *         T fail ADDR rediscover|keep WHY
 *         T drop ADDR epoch E < F         (the master moved: connection closed)
 *         T event master|watching|trouble TEXT
 *
 *   TARGET   -s HOST:PORT[,...] -m NAME   through Redis Sentinel
 *            -r ENDPOINT                  one server (HOST:PORT, unix:/path)
 *   OPTIONS  -u USER -p PASSWORD -S SENTINEL_PASSWORD -d DB -t TIMEOUT_MS
 *            -w REPLICAS -i INTERVAL_MS -W
 *
 * Exit status: 0; 1 on an error (the message on stderr); 3 when "set"
 * got fewer replica acknowledgements than -w; 2 on a usage error.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/redis_addr.h"
#include "common/redis_server.h"
#include "common/sentinel.h"

static volatile sig_atomic_t interrupted;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

struct probe {
    struct redis_addr_list sentinels;
    const char *master_name;
    struct redis_addr server;          /* -r */
    struct redis_auth auth;
    const char *sentinel_password;
    int db, timeout_ms, replicas, interval_ms;
    bool watch;
    struct sentinel *s;                /* with -s */
};

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(void) __attribute__((noreturn));
static void usage(void)
{
    fprintf(stderr, "usage: sentinelprobe (-s SENTINELS -m NAME | -r ENDPOINT) [-u USER] "
            "[-p PASSWORD] [-S SENTINEL_PASSWORD] [-d DB] [-t MS] [-w N] [-i MS] [-W]\n"
            "       discover | set KEY VALUE | follow KEY SECONDS\n");
    exit(2);
}

/* One output line, "T text", whole even with the watcher thread writing. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&out_lock);
    printf("%lld ", wallclock_ms());
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
}

static void on_event(void *arg, enum sentinel_event kind, const char *text)
{
    static const char *const names[] = { "master", "watching", "trouble" };

    (void)arg;
    say("event %s %s", names[kind], text);
}

/* A connection to the master: through the sentinels, or to -r.  ADDR and
 * EPOCH say where it goes. */
static redisContext *open_master(struct probe *p, char *addr, size_t alen,
                                 unsigned long *epoch, struct err *err)
{
    struct sentinel_master m;
    redisContext *c;

    if (p->s == NULL) {
        redis_addr_format(&p->server, addr, alen);
        *epoch = 0;
        c = redis_open(&p->server, &p->auth, p->db, p->timeout_ms, err);
        if (c != NULL)
            say("connected %s via - epoch 0", addr);
        return c;
    }
    if ((c = sentinel_connect(p->s, &m, err)) == NULL)
        return NULL;
    snprintf(addr, alen, "%s", m.addr);
    *epoch = m.epoch;
    say("connected %s via %s epoch %lu", m.addr, m.via, m.epoch);
    return c;
}

static int cmd_discover(struct probe *p)
{
    struct err err;
    char addr[REDIS_ADDR_TEXT_MAX], master[REDIS_ADDR_TEXT_MAX], order[1024];
    unsigned long epoch;
    redisContext *c = open_master(p, addr, sizeof(addr), &epoch, &err);

    if (c == NULL) {
        fprintf(stderr, "sentinelprobe: %s\n", err.msg);
        return 1;
    }
    redisFree(c);
    if (p->s != NULL) {
        sentinel_describe(p->s, master, sizeof(master), order, sizeof(order));
        printf("master %s epoch %lu\norder %s\n", master, epoch, order);
    }
    return 0;
}

static int cmd_set(struct probe *p, const char *key, const char *value)
{
    struct err err;
    char addr[REDIS_ADDR_TEXT_MAX];
    const char *argv[] = { "SET", key, value };
    unsigned long epoch;
    redisContext *c = open_master(p, addr, sizeof(addr), &epoch, &err);
    enum redis_wait_result w;
    redisReply *r;
    int acked = 0;

    if (c == NULL) {
        fprintf(stderr, "sentinelprobe: %s\n", err.msg);
        return 1;
    }
    r = redisCommandArgv(c, 3, argv, NULL);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "sentinelprobe: SET %s: %s (rediscover: %s)\n", key,
                r != NULL ? r->str : c->errstr, redis_should_rediscover(c, r) ? "yes" : "no");
        if (r != NULL)
            freeReplyObject(r);
        redisFree(c);
        return 1;
    }
    freeReplyObject(r);
    w = redis_wait_replicas(c, p->replicas, p->timeout_ms, &acked, &err);
    redisFree(c);
    if (w == REDIS_WAIT_OK) {
        printf("ok acked %d\n", acked);
        return 0;
    }
    fprintf(stderr, "sentinelprobe: %s\n", err.msg);
    return w == REDIS_WAIT_TOO_FEW ? 3 : 1;
}

/* One INCR (and WAIT) on C; false when C must be dropped. */
static bool follow_step(struct probe *p, redisContext *c, const char *addr, const char *key)
{
    const char *argv[] = { "INCR", key };
    redisReply *r = redisCommandArgv(c, 2, argv, NULL);
    struct err err;
    long long value;
    int acked;
    bool again;

    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        err_set(&err, "%s", r != NULL && r->str != NULL ? r->str : c->errstr);
        again = redis_retire_if_stale(c, r);
        say("fail %s %s %s", addr, again ? "rediscover" : "keep", err.msg);
        if (r != NULL)
            freeReplyObject(r);
        return c->err == 0;
    }
    value = r->integer;
    freeReplyObject(r);
    switch (redis_wait_replicas(c, p->replicas, p->timeout_ms, &acked, &err)) {
    case REDIS_WAIT_OK:
        if (p->replicas > 0)
            say("ok %lld %s acked %d", value, addr, acked);
        else
            say("ok %lld %s", value, addr);
        break;
    case REDIS_WAIT_TOO_FEW:
        say("unacked %lld %s %s", value, addr, err.msg);
        break;
    case REDIS_WAIT_ERROR:
        say("fail %s rediscover %s", addr, err.msg);
        break;
    }
    return c->err == 0;
}

static int cmd_follow(struct probe *p, const char *key, int seconds)
{
    long long end = wallclock_ms() + (long long)seconds * 1000;
    struct err err;
    char addr[REDIS_ADDR_TEXT_MAX] = "";
    unsigned long epoch = 0, now_epoch;
    redisContext *c = NULL;

    if (p->watch && p->s != NULL && sentinel_watch_start(p->s, &err) < 0) {
        fprintf(stderr, "sentinelprobe: %s\n", err.msg);
        return 1;
    }
    while (!interrupted && wallclock_ms() < end) {
        if (c == NULL && (c = open_master(p, addr, sizeof(addr), &epoch, &err)) == NULL) {
            say("nomaster %s", err.msg);
        } else if (p->s != NULL && (now_epoch = sentinel_epoch(p->s)) != epoch) {
            say("drop %s epoch %lu < %lu", addr, epoch, now_epoch);
            redisFree(c);
            c = NULL;
            continue;
        } else if (!follow_step(p, c, addr, key)) {
            redisFree(c);
            c = NULL;
        }
        sleep_ms(p->interval_ms);
    }
    if (c != NULL)
        redisFree(c);
    return 0;
}

static int parse_int(const char *s, int min, int max)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > max)
        usage();
    return (int)v;
}

static void parse_options(struct probe *p, int argc, char **argv)
{
    struct err why;
    int opt;

    while ((opt = getopt(argc, argv, "s:m:r:u:p:S:d:t:w:i:W")) != -1) {
        switch (opt) {
        case 's':
            if (redis_addr_list_parse(optarg, &p->sentinels, &why) < 0) {
                fprintf(stderr, "sentinelprobe: -s: %s\n", why.msg);
                exit(2);
            }
            break;
        case 'r':
            if (redis_addr_parse(optarg, &p->server, &why) < 0) {
                fprintf(stderr, "sentinelprobe: -r: %s\n", why.msg);
                exit(2);
            }
            break;
        case 'm': p->master_name = optarg; break;
        case 'u': p->auth.user = optarg; break;
        case 'p': p->auth.password = optarg; break;
        case 'S': p->sentinel_password = optarg; break;
        case 'd': p->db = parse_int(optarg, 0, 1000000); break;
        case 't': p->timeout_ms = parse_int(optarg, 1, 600000); break;
        case 'w': p->replicas = parse_int(optarg, 0, 100); break;
        case 'i': p->interval_ms = parse_int(optarg, 1, 60000); break;
        case 'W': p->watch = true; break;
        default: usage();
        }
    }
    if ((p->sentinels.n > 0) == (p->server.host != NULL || p->server.unix_path != NULL))
        usage();
}

static int run(struct probe *p, int argc, char **argv)
{
    if (argc == 1 && strcmp(argv[0], "discover") == 0)
        return cmd_discover(p);
    if (argc == 3 && strcmp(argv[0], "set") == 0)
        return cmd_set(p, argv[1], argv[2]);
    if (argc == 3 && strcmp(argv[0], "follow") == 0)
        return cmd_follow(p, argv[1], parse_int(argv[2], 1, 3600));
    usage();
}

int main(int argc, char **argv)
{
    struct probe p = { .timeout_ms = 1000, .interval_ms = 100 };
    struct err err;
    int rc;

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    parse_options(&p, argc, argv);
    if (p.sentinels.n > 0) {
        struct sentinel_settings set = {
            .master_name = p.master_name, .sentinels = &p.sentinels,
            .sentinel_password = p.sentinel_password, .auth = p.auth, .db = p.db,
            .timeout_ms = p.timeout_ms, .on_event = on_event,
        };

        if ((p.s = sentinel_new(&set, &err)) == NULL) {
            fprintf(stderr, "sentinelprobe: %s\n", err.msg);
            return 2;
        }
    }
    rc = run(&p, argc - optind, argv + optind);
    sentinel_free(p.s);
    redis_addr_list_free(&p.sentinels);
    redis_addr_free(&p.server);
    return rc;
}
