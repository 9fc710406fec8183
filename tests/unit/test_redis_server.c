/*
 * test_redis_server.c - when a failed Redis command means "find the master
 * again" (common/redis_server.c: redis_should_rediscover,
 * redis_retire_if_stale), on replies and connection states built by hand.
 * The same decisions against real servers (a demoted master, a killed one)
 * are in tests/integration/t_sentinel_failover.sh.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/redis_server.h"
#include "tests/unit/testlib.h"

struct decide_case {
    const char *name;
    int conn_err;            /* c->err; with NO reply */
    const char *conn_text;   /* c->errstr */
    int type;                /* reply type when conn_err is 0 */
    const char *text;        /* error text */
    bool rediscover;
};

#define REPLY(t, s)  0, NULL, t, s
#define LOST(e, s)   e, s, 0, NULL

static const struct decide_case cases[] = {
    { "connection reset",            LOST(REDIS_ERR_IO, "Connection reset by peer"), true },
    { "server closed the connection", LOST(REDIS_ERR_EOF, "Server closed the connection"), true },
    { "command timed out",           LOST(REDIS_ERR_IO, "Resource temporarily unavailable"), true },
    { "protocol error",              LOST(REDIS_ERR_PROTOCOL, "Protocol error"), true },
    { "demoted master: READONLY",    REPLY(REDIS_REPLY_ERROR, "READONLY You can't write against "
                                           "a read only replica."), true },
    { "restarted master: LOADING",   REPLY(REDIS_REPLY_ERROR, "LOADING Redis is loading the "
                                           "dataset in memory"), true },
    { "replica lost its master",     REPLY(REDIS_REPLY_ERROR, "MASTERDOWN Link with MASTER is "
                                           "down and replica-serve-stale-data is set to 'no'."),
                                     true },
    { "bare READONLY",               REPLY(REDIS_REPLY_ERROR, "READONLY"), true },
    { "a longer word is not READONLY", REPLY(REDIS_REPLY_ERROR, "READONLYX something"), false },
    { "lower case is not the code",  REPLY(REDIS_REPLY_ERROR, "readonly replica"), false },
    { "READONLY inside the text",    REPLY(REDIS_REPLY_ERROR, "ERR READONLY mentioned"), false },
    { "wrong type",                  REPLY(REDIS_REPLY_ERROR, "WRONGTYPE Operation against a key "
                                           "holding the wrong kind of value"), false },
    { "unknown command",             REPLY(REDIS_REPLY_ERROR, "ERR unknown command 'FOO'"), false },
    { "no password given",           REPLY(REDIS_REPLY_ERROR, "NOAUTH Authentication required."),
                                     false },
    { "ACL refusal",                 REPLY(REDIS_REPLY_ERROR, "NOPERM this user has no "
                                           "permissions to run the 'set' command"), false },
    { "too few replicas to write",   REPLY(REDIS_REPLY_ERROR, "NOREPLICAS Not enough good "
                                           "replicas to write."), false },
    { "out of memory on the server", REPLY(REDIS_REPLY_ERROR, "OOM command not allowed when "
                                           "used memory > 'maxmemory'."), false },
    { "empty error",                 REPLY(REDIS_REPLY_ERROR, ""), false },
    { "status OK",                   REPLY(REDIS_REPLY_STATUS, "OK"), false },
    { "status READONLY is no error", REPLY(REDIS_REPLY_STATUS, "READONLY"), false },
    { "string READONLY is data",     REPLY(REDIS_REPLY_STRING, "READONLY"), false },
    { "integer",                     REPLY(REDIS_REPLY_INTEGER, NULL), false },
    { "nil",                         REPLY(REDIS_REPLY_NIL, NULL), false },
};

/* The case's connection and reply; *R is NULL for a lost connection. */
static void build(const struct decide_case *t, redisContext *c, redisReply *reply,
                  redisReply **r)
{
    memset(c, 0, sizeof(*c));
    memset(reply, 0, sizeof(*reply));
    *r = NULL;
    if (t->conn_err != 0) {
        c->err = t->conn_err;
        snprintf(c->errstr, sizeof(c->errstr), "%s", t->conn_text);
        return;
    }
    reply->type = t->type;
    reply->str = (char *)t->text;
    reply->len = t->text != NULL ? strlen(t->text) : 0;
    *r = reply;
}

static void test_decisions(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct decide_case *t = &cases[i];
        redisContext c;
        redisReply reply, *r;
        bool got;

        build(t, &c, &reply, &r);
        got = redis_should_rediscover(&c, r);
        CHECK(got == t->rediscover);
        if (got != t->rediscover)
            fprintf(stderr, "  case \"%s\": rediscover %s\n", t->name, got ? "yes" : "no");
    }
}

/* Retiring: the same decision, and a healthy connection that must not be
 * used again is marked failed, which is what a pool checks. */
static void test_retire(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct decide_case *t = &cases[i];
        redisContext c;
        redisReply reply, *r;
        char before[sizeof(c.errstr)];
        bool got, ok;

        build(t, &c, &reply, &r);
        memcpy(before, c.errstr, sizeof(before));
        got = redis_retire_if_stale(&c, r);
        if (t->conn_err != 0)       /* already failed: left as hiredis said */
            ok = got && c.err == t->conn_err && strcmp(c.errstr, before) == 0;
        else if (t->rediscover)
            ok = got && c.err != 0 && strstr(c.errstr, "no longer the master") != NULL
                 && strncmp(strstr(c.errstr, ": ") + 2, t->text, 8) == 0;
        else
            ok = !got && c.err == 0 && c.errstr[0] == '\0';
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  case \"%s\": retire %s, err %d \"%s\"\n", t->name,
                    got ? "yes" : "no", c.err, c.errstr);
    }
}

/* A long server text fits the context's error buffer, cut. */
static void test_retire_long_text(void)
{
    char text[400];
    redisContext c;
    redisReply reply;

    memset(&c, 0, sizeof(c));
    memset(&reply, 0, sizeof(reply));
    memcpy(text, "READONLY ", 9);
    memset(text + 9, 'x', sizeof(text) - 10);
    text[sizeof(text) - 1] = '\0';
    reply.type = REDIS_REPLY_ERROR;
    reply.str = text;
    reply.len = strlen(text);
    CHECK(redis_retire_if_stale(&c, &reply));
    CHECK(c.err != 0 && strlen(c.errstr) < sizeof(c.errstr));
}

/* RedisMinReplicas 0: nothing to wait for, and the connection is not
 * touched (this one is not even connected). */
static void test_wait_none(void)
{
    redisContext c;
    int acked = -1;
    struct err err = { "" };

    memset(&c, 0, sizeof(c));
    c.fd = -1;
    CHECK(redis_wait_replicas(&c, 0, 100, &acked, &err) == REDIS_WAIT_OK);
    CHECK(acked == 0 && err.msg[0] == '\0' && c.err == 0);
    CHECK(redis_wait_replicas(&c, -1, 100, NULL, &err) == REDIS_WAIT_OK);
}

int main(void)
{
    test_decisions();
    test_retire();
    test_retire_long_text();
    test_wait_none();
    TEST_DONE();
}
