/*
 * test_conversation.c - patient conversation state in a real Redis
 * (conversation/store.c).
 *
 * Starts a private redis-server on 127.0.0.1 on a free port (no
 * persistence), runs everything against it through two connections (two
 * MX nodes sharing one Redis), then kills it to check that every call
 * reports the failure.  Exits 77 ("skip") when redis-server is not
 * installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "conversation/store.h"
#include "tests/unit/testlib.h"

#define PFX   "test:"
#define DR    "dr.martin@chu-lille.mssante.fr"
#define P1    "279035121518989"
#define P2    "185052A12345633"
#define P3    "269029934173285"

static pid_t redis_pid = -1;
static int redis_port;
static struct err err;

/* ------------------------------------------------------------------ */
/* A private redis-server                                               */
/* ------------------------------------------------------------------ */

static int find_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];

    while (path != NULL && *path != '\0') {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);

        snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, path, prog);
        if (len > 0 && access(buf, X_OK) == 0)
            return 1;
        path = colon ? colon + 1 : NULL;
    }
    return 0;
}

/* A port nothing listens on right now (the kernel's pick). */
static int free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static redisContext *connect_redis(void)
{
    struct timeval tv = { 2, 0 };
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);

    if (c != NULL && c->err == 0)
        redisSetTimeout(c, tv);
    return c;
}

static int ping(void)
{
    redisContext *c = connect_redis();
    redisReply *r;
    int ok = 0;

    if (c == NULL)
        return 0;
    if (c->err == 0 && (r = redisCommand(c, "PING")) != NULL) {
        ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
        freeReplyObject(r);
    }
    redisFree(c);
    return ok;
}

static int start_redis(void)
{
    char port[16];
    int i;

    redis_port = free_port();
    if (redis_port <= 0)
        return -1;
    snprintf(port, sizeof(port), "%d", redis_port);
    redis_pid = fork();
    if (redis_pid < 0)
        return -1;
    if (redis_pid == 0) {
        /* Die with the test, even if it crashes before stop_redis(). */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() == 1)
            _exit(125);
        if (freopen("/dev/null", "w", stdout) == NULL || chdir("/tmp") != 0)
            _exit(126);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 100; i++) {   /* up to 5 s */
        if (ping())
            return 0;
        usleep(50000);
    }
    return -1;
}

static void stop_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGTERM);
        waitpid(redis_pid, NULL, 0);
        redis_pid = -1;
    }
}

/* A raw command for checks from outside the API; integer reply or -99. */
static long long raw_int(redisContext *c, const char *cmd, const char *key, const char *arg)
{
    redisReply *r = arg ? redisCommand(c, "%s %s %s", cmd, key, arg)
                        : redisCommand(c, "%s %s", cmd, key);
    long long v = -99;

    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    if (r != NULL)
        freeReplyObject(r);
    return v;
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

static void test_open_refresh(redisContext *c)
{
    struct conv_info ci;

    CHECK(conv_is_open(c, PFX, DR, P1, &err) == 0);
    CHECK(conv_get(c, PFX, DR, P1, &ci, &err) == 0);
    CHECK(ci.state == CONV_NONE);

    CHECK(conv_open_or_refresh(c, PFX, DR, P1, 1000, 3600, &err) == 1);
    CHECK(conv_is_open(c, PFX, DR, P1, &err) == 1);
    CHECK(conv_open_or_refresh(c, PFX, DR, P1, 1010, 3600, &err) == 0);

    CHECK(conv_get(c, PFX, DR, P1, &ci, &err) == 1);
    CHECK(ci.state == CONV_OPEN);
    CHECK_STR(ci.patient, P1);
    CHECK(ci.opened_at == 1000);
    CHECK(ci.last_activity == 1010);
    CHECK(ci.closed_at == 0);
    CHECK_STR(ci.closed_by_qid, "");
    CHECK(ci.ttl > 3500 && ci.ttl <= 3600);

    /* The key layout operators and mssantectl rely on. */
    CHECK(raw_int(c, "EXISTS", PFX "conv:" DR ":" P1, NULL) == 1);
    CHECK(raw_int(c, "SISMEMBER", PFX "conv-idx:" DR, P1) == 1);

    /* Mailbox case and Corsican lower case name the same conversation. */
    CHECK(conv_is_open(c, PFX, "Dr.Martin@CHU-Lille.MSSante.fr", P1, &err) == 1);
    CHECK(conv_open_or_refresh(c, PFX, DR, "185052a12345633", 1000, 3600, &err) == 1);
    CHECK(conv_is_open(c, PFX, DR, P2, &err) == 1);
    CHECK(raw_int(c, "SISMEMBER", PFX "conv-idx:" DR, "185052a12345633") == 0);

    /* Another mailbox, another prefix: other conversations. */
    CHECK(conv_is_open(c, PFX, "secretariat@chu-lille.mssante.fr", P1, &err) == 0);
    CHECK(conv_is_open(c, "other:", DR, P1, &err) == 0);
}

static void test_close(redisContext *c)
{
    struct conv_info ci;

    CHECK(conv_close(c, PFX, DR, P1, "4XyZ1B2C3", 2000, 3600, &err) == 1);
    CHECK(conv_is_open(c, PFX, DR, P1, &err) == 0);
    CHECK(conv_get(c, PFX, DR, P1, &ci, &err) == 1);
    CHECK(ci.state == CONV_CLOSED);
    CHECK(ci.opened_at == 1000);
    CHECK(ci.closed_at == 2000);
    CHECK(ci.last_activity == 2000);
    CHECK_STR(ci.closed_by_qid, "4XyZ1B2C3");

    /* The same message retried after a 451: nothing changes. */
    CHECK(conv_close(c, PFX, DR, P1, "4XyZ1B2C3", 2100, 3600, &err) == 0);
    CHECK(conv_get(c, PFX, DR, P1, &ci, &err) == 1);
    CHECK(ci.closed_at == 2000);
    CHECK(ci.last_activity == 2000);

    /* Another [FIN] message is another closure. */
    CHECK(conv_close(c, PFX, DR, P1, "5AAAAAAAA", 2200, 3600, &err) == 1);
    CHECK(conv_get(c, PFX, DR, P1, &ci, &err) == 1);
    CHECK(ci.closed_at == 2200);
    CHECK_STR(ci.closed_by_qid, "5AAAAAAAA");

    /* The professional writes again: reopened, old closure forgotten. */
    CHECK(conv_open_or_refresh(c, PFX, DR, P1, 3000, 3600, &err) == 1);
    CHECK(conv_is_open(c, PFX, DR, P1, &err) == 1);
    CHECK(conv_get(c, PFX, DR, P1, &ci, &err) == 1);
    CHECK(ci.state == CONV_OPEN);
    CHECK(ci.opened_at == 3000);
    CHECK(ci.closed_at == 0);
    CHECK_STR(ci.closed_by_qid, "");
    /* ... and the old [FIN], if it came back now, closes again. */
    CHECK(conv_close(c, PFX, DR, P1, "5AAAAAAAA", 3100, 3600, &err) == 1);
    CHECK(conv_is_open(c, PFX, DR, P1, &err) == 0);

    /* Closing what was never opened records the closure. */
    CHECK(conv_close(c, PFX, DR, P3, "6BBBBBBBB", 4000, 3600, &err) == 1);
    CHECK(conv_get(c, PFX, DR, P3, &ci, &err) == 1);
    CHECK(ci.state == CONV_CLOSED);
    CHECK(ci.opened_at == 0);
    CHECK(ci.closed_at == 4000);
}

static void test_expiry_settings(redisContext *c)
{
    struct conv_info ci;
    const char *mb = "ttl@chu-lille.mssante.fr";

    /* TTL <= 0: no expiry on the conversation or the index. */
    CHECK(conv_open_or_refresh(c, PFX, mb, P1, 1000, 0, &err) == 1);
    CHECK(conv_get(c, PFX, mb, P1, &ci, &err) == 1);
    CHECK(ci.ttl == -1);
    CHECK(raw_int(c, "TTL", PFX "conv-idx:ttl@chu-lille.mssante.fr", NULL) == -1);

    /* The index outlives its longest-lived member: a shorter TTL later
     * does not cut it down. */
    CHECK(conv_open_or_refresh(c, PFX, DR, P3, 1000, 7200, &err) == 1);
    CHECK(raw_int(c, "TTL", PFX "conv-idx:" DR, NULL) > 7000);
    CHECK(conv_open_or_refresh(c, PFX, DR, P3, 1001, 100, &err) == 0);
    CHECK(raw_int(c, "TTL", PFX "conv:" DR ":" P3, NULL) <= 100);
    CHECK(raw_int(c, "TTL", PFX "conv-idx:" DR, NULL) > 7000);
}

struct listed {
    int n;
    int stop_after;
    char patients[8][CONV_ID_MAX + 1];
    enum conv_state states[8];
};

static int collect(void *ctx, const struct conv_info *info)
{
    struct listed *l = ctx;

    if (l->n < 8) {
        snprintf(l->patients[l->n], sizeof(l->patients[0]), "%s", info->patient);
        l->states[l->n] = info->state;
    }
    l->n++;
    return l->stop_after > 0 && l->n >= l->stop_after;
}

/* Needs the TTL wait: DR has P1 (closed), P2 (open), P3 (open), and
 * "expiring" opened with TTL 1 before the sleep. */
static void test_list_and_expiry(redisContext *c)
{
    struct listed l;
    struct conv_info ci;
    const char *idx = PFX "conv-idx:" DR;
    int n;

    CHECK(conv_is_open(c, PFX, DR, "100000000004601", &err) == 0);
    CHECK(conv_get(c, PFX, DR, "100000000004601", &ci, &err) == 0);
    CHECK(ci.state == CONV_NONE);
    CHECK(raw_int(c, "SISMEMBER", idx, "100000000004601") == 1);

    memset(&l, 0, sizeof(l));
    n = conv_list(c, PFX, DR, collect, &l, &err);
    CHECK(n == 3);
    CHECK(l.n == 3);
    CHECK_STR(l.patients[0], P2);   /* sorted */
    CHECK_STR(l.patients[1], P3);
    CHECK_STR(l.patients[2], P1);
    CHECK(l.states[0] == CONV_OPEN);
    CHECK(l.states[1] == CONV_OPEN);
    CHECK(l.states[2] == CONV_CLOSED);
    /* The expired member was dropped from the index. */
    CHECK(raw_int(c, "SISMEMBER", idx, "100000000004601") == 0);
    CHECK(raw_int(c, "SCARD", idx, NULL) == 3);

    memset(&l, 0, sizeof(l));
    l.stop_after = 1;
    CHECK(conv_list(c, PFX, DR, collect, &l, &err) == 1);

    memset(&l, 0, sizeof(l));
    CHECK(conv_list(c, PFX, "nobody@chu-lille.mssante.fr", collect, &l, &err) == 0);
    CHECK(l.n == 0);
}

/* Two MX nodes on one Redis. */
static void test_two_nodes(redisContext *a, redisContext *b)
{
    const char *mb = "pharmacie@lgpi.mssante.fr";
    int r1, r2;

    CHECK(conv_open_or_refresh(a, PFX, mb, P1, 5000, 3600, &err) == 1);
    CHECK(conv_is_open(b, PFX, mb, P1, &err) == 1);
    CHECK(conv_open_or_refresh(b, PFX, mb, P1, 5001, 3600, &err) == 0);
    CHECK(conv_close(b, PFX, mb, P1, "7CCCCCCCC", 5002, 3600, &err) == 1);
    CHECK(conv_is_open(a, PFX, mb, P1, &err) == 0);
    /* The same closure arriving on both: recorded once. */
    CHECK(conv_open_or_refresh(a, PFX, mb, P2, 5000, 3600, &err) == 1);
    r1 = conv_close(a, PFX, mb, P2, "8DDDDDDDD", 5003, 3600, &err);
    r2 = conv_close(b, PFX, mb, P2, "8DDDDDDDD", 5004, 3600, &err);
    CHECK(r1 == 1 && r2 == 0);
}

/* Conversations that began before the milter: only gaps are filled. */
static void test_import(redisContext *c)
{
    const char *mb = "accueil@chu-lille.mssante.fr";
    struct conv_info ci, ex;
    redisReply *r;

    CHECK(conv_import(c, PFX, mb, P1, 1700000000LL, 1800000000LL, 3600, &ex, &err) == 1);
    CHECK(conv_is_open(c, PFX, mb, P1, &err) == 1);
    CHECK(conv_get(c, PFX, mb, P1, &ci, &err) == 1);
    CHECK(ci.state == CONV_OPEN);
    CHECK(ci.opened_at == 1700000000LL && ci.last_activity == 1700000000LL);
    CHECK(ci.imported_at == 1800000000LL);
    CHECK(ci.ttl > 3500 && ci.ttl <= 3600);        /* from the import, not from opened_at */
    /* in the mailbox's index, as any conversation */
    r = redisCommand(c, "SISMEMBER %s %s", PFX "conv-idx:" "accueil@chu-lille.mssante.fr", P1);
    CHECK(r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
    if (r != NULL)
        freeReplyObject(r);

    /* twice: nothing changes, and it says what is there */
    CHECK(conv_import(c, PFX, "Accueil@CHU-Lille.mssante.fr", P1, 1750000000LL, 1800000100LL,
                      3600, &ex, &err) == 0);
    CHECK(ex.state == CONV_OPEN && ex.opened_at == 1700000000LL);
    CHECK(conv_get(c, PFX, mb, P1, &ci, &err) == 1);
    CHECK(ci.opened_at == 1700000000LL && ci.imported_at == 1800000000LL);

    /* a closure the milter recorded is never reopened by an import */
    CHECK(conv_close(c, PFX, mb, P2, "4FINFINFI", 1800000200LL, 3600, &err) == 1);
    CHECK(conv_import(c, PFX, mb, P2, 1700000000LL, 1800000300LL, 3600, &ex, &err) == 0);
    CHECK(ex.state == CONV_CLOSED && ex.closed_at == 1800000200LL);
    CHECK(conv_is_open(c, PFX, mb, P2, &err) == 0);

    /* the professional writing again makes it an ordinary conversation */
    CHECK(conv_open_or_refresh(c, PFX, mb, P1, 1800000400LL, 3600, &err) == 0);
    CHECK(conv_get(c, PFX, mb, P1, &ci, &err) == 1);
    CHECK(ci.last_activity == 1800000400LL && ci.imported_at == 1800000000LL);

    CHECK(conv_import(NULL, PFX, mb, P3, 1, 2, 3, NULL, &err) == -1);
    CHECK(conv_import(c, PFX, "", P3, 1, 2, 3, NULL, &err) == -1);
}

static void test_bad_arguments(redisContext *c)
{
    char longid[CONV_ID_MAX + 2];
    struct conv_info ci;
    redisReply *r;

    memset(longid, '1', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    err_clear(&err);
    CHECK(conv_is_open(NULL, PFX, DR, P1, &err) == -1);
    CHECK(strstr(err.msg, "no Redis connection") != NULL);
    CHECK(conv_is_open(c, PFX, "", P1, &err) == -1);
    CHECK(conv_is_open(c, PFX, DR, NULL, &err) == -1);
    CHECK(conv_open_or_refresh(c, PFX, DR, longid, 1, 1, &err) == -1);
    CHECK(strstr(err.msg, "patient") != NULL);
    CHECK(conv_close(c, PFX, DR, P1, "", 1, 1, &err) == -1);
    CHECK(strstr(err.msg, "queue id") != NULL);
    CHECK(conv_close(c, PFX, DR, P1, NULL, 1, 1, &err) == -1);
    CHECK(conv_list(c, PFX, NULL, collect, NULL, &err) == -1);

    /* A key of the wrong type is an error, and the connection stays usable. */
    r = redisCommand(c, "SET %s %s", PFX "conv:wrong@x.fr:" P1, "garbage");
    CHECK(r != NULL && r->type == REDIS_REPLY_STATUS);
    if (r != NULL)
        freeReplyObject(r);
    err_clear(&err);
    CHECK(conv_is_open(c, PFX, "wrong@x.fr", P1, &err) == -1);
    CHECK(strstr(err.msg, "WRONGTYPE") != NULL);
    CHECK(conv_get(c, PFX, "wrong@x.fr", P1, &ci, &err)
          == -1);
    CHECK(conv_open_or_refresh(c, PFX, "wrong@x.fr", P1, 1, 1, &err) == -1);
    CHECK(conv_is_open(c, PFX, DR, P2, &err) == 1);

    CHECK_STR(conv_state_name(CONV_NONE), "none");
    CHECK_STR(conv_state_name(CONV_OPEN), "open");
    CHECK_STR(conv_state_name(CONV_CLOSED), "closed");
}

static void test_redis_down(redisContext *c)
{
    struct conv_info ci;
    struct listed l;

    stop_redis();
    err_clear(&err);
    CHECK(conv_is_open(c, PFX, DR, P2, &err) == -1);
    CHECK(strstr(err.msg, "redis 127.0.0.1:") != NULL);
    fprintf(stderr, "  (expected) %s\n", err.msg);
    CHECK(conv_open_or_refresh(c, PFX, DR, P2, 1, 1, &err) == -1);
    CHECK(conv_close(c, PFX, DR, P2, "9EEEEEEEE", 1, 1, &err) == -1);
    CHECK(conv_get(c, PFX, DR, P2, &ci, &err) == -1);
    CHECK(conv_import(c, PFX, DR, P3, 1, 2, 3, &ci, &err) == -1);
    memset(&l, 0, sizeof(l));
    CHECK(conv_list(c, PFX, DR, collect, &l, &err) == -1);
    CHECK(l.n == 0);
}

int main(void)
{
    redisContext *a, *b;

    if (!find_in_path("redis-server")) {
        printf("skip: redis-server not installed\n");
        return 77;
    }
    /* Writing to a Redis that died must be an error, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    if (start_redis() != 0) {
        fprintf(stderr, "could not start redis-server on 127.0.0.1:%d\n", redis_port);
        stop_redis();
        return 1;
    }
    a = connect_redis();
    b = connect_redis();
    if (a == NULL || a->err || b == NULL || b->err) {
        fprintf(stderr, "could not connect to the test redis-server\n");
        stop_redis();
        return 1;
    }

    test_open_refresh(a);
    test_close(a);
    test_expiry_settings(a);
    CHECK(conv_open_or_refresh(a, PFX, DR, "100000000004601", 6000, 1, &err) == 1);
    CHECK(conv_is_open(b, PFX, DR, "100000000004601", &err) == 1);
    sleep(2);
    test_list_and_expiry(b);
    test_two_nodes(a, b);
    test_import(a);
    test_bad_arguments(a);
    test_redis_down(a);

    redisFree(a);
    redisFree(b);
    stop_redis();
    TEST_DONE();
}
