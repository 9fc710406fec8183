/*
 * redis_server.c - opening, checking and retiring a connection to one
 * Redis server, and WAIT (see redis_server.h).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "common/err.h"
#include "common/redis.h"
#include "common/redis_server.h"

static struct timeval ms_to_tv(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    return tv;
}

static bool set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* Run a command for effect; 0, or -1 with ERR naming it as WHAT. */
static int run_ok(redisContext *c, const char *what, int argc, const char **argv,
                  struct err *err)
{
    redisReply *r = redis_run_argv(c, what, err, argc, argv);

    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

static int authenticate(redisContext *c, const struct redis_auth *auth, struct err *err)
{
    const char *pass = set(auth->password) ? auth->password : "";
    char what[160];

    if (set(auth->user)) {
        const char *argv[] = { "AUTH", auth->user, pass };

        /* Named by its user: the password must never reach a log. */
        snprintf(what, sizeof(what), "AUTH %.100s", auth->user);
        return run_ok(c, what, 3, argv, err);
    }
    if (set(auth->password)) {
        const char *argv[] = { "AUTH", pass };

        return run_ok(c, "AUTH", 2, argv, err);
    }
    return 0;
}

static int select_db(redisContext *c, int db, struct err *err)
{
    char num[24], what[40];
    const char *argv[] = { "SELECT", num };

    snprintf(num, sizeof(num), "%d", db);
    snprintf(what, sizeof(what), "SELECT %d", db);
    return run_ok(c, what, 2, argv, err);
}

static redisContext *connect_to(const struct redis_addr *a, struct timeval tv)
{
    if (a->unix_path != NULL)
        return redisConnectUnixWithTimeout(a->unix_path, tv);
    return redisConnectWithTimeout(a->host, a->port, tv);
}

redisContext *redis_connect_addr(const struct redis_addr *a, int timeout_ms,
                                 struct err *err)
{
    struct timeval tv = ms_to_tv(timeout_ms > 0 ? timeout_ms : REDIS_DEFAULT_TIMEOUT_MS);
    char name[REDIS_ADDR_TEXT_MAX];
    redisContext *c;

    redis_addr_format(a, name, sizeof(name));
    if ((c = connect_to(a, tv)) == NULL) {
        err_set(err, "redis %s: out of memory", name);
        return NULL;
    }
    if (c->err) {
        err_set(err, "redis %s: %s", name, redis_context_error(c));
        redisFree(c);
        return NULL;
    }
    /* The connect timeout becomes the timeout of every command. */
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        err_set(err, "redis %s: cannot set the timeout: %s", name, c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

int redis_handshake(redisContext *c, const struct redis_auth *auth, int db,
                    struct err *err)
{
    static const struct redis_auth none = { NULL, NULL };

    if (authenticate(c, auth != NULL ? auth : &none, err) < 0)
        return -1;
    return db != 0 ? select_db(c, db, err) : 0;
}

redisContext *redis_open(const struct redis_addr *a, const struct redis_auth *auth, int db,
                         int timeout_ms, struct err *err)
{
    redisContext *c = redis_connect_addr(a, timeout_ms, err);

    if (c != NULL && redis_handshake(c, auth, db, err) < 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* ---- ROLE ---------------------------------------------------------------- */

static const char *element_str(const redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    r = r->element[i];
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? r->str : NULL;
}

static long long element_int(const redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements
        || r->element[i]->type != REDIS_REPLY_INTEGER)
        return 0;
    return r->element[i]->integer;
}

/* What a non-master is, from its ROLE reply, into ERR. */
static void describe_role(const redisContext *c, const redisReply *r, const char *role,
                          struct err *err)
{
    char name[REDIS_ADDR_TEXT_MAX];
    const char *host = element_str(r, 1);

    redis_endpoint_name(c, name, sizeof(name));
    if (strcmp(role, "slave") == 0 || strcmp(role, "replica") == 0)
        err_set(err, "redis %s: not the master: a replica of %s%s%s:%lld", name,
                host != NULL && strchr(host, ':') ? "[" : "", host != NULL ? host : "?",
                host != NULL && strchr(host, ':') ? "]" : "", element_int(r, 2));
    else if (strcmp(role, "sentinel") == 0)
        err_set(err, "redis %s: not the master: a sentinel, not a Redis server",
                name);
    else
        err_set(err, "redis %s: not the master: ROLE says \"%.40s\"", name, role);
}

/* The first command after AUTH is ROLE: the likely configuration mistakes
 * show there, and the operator is told which setting to look at. */
static void add_hint(const char *reply, struct err *err)
{
    const char *hint = NULL;

    if (strncmp(reply, "NOPERM", 6) == 0)
        hint = " (the Redis user needs +role, to check it talks to the master)";
    else if (strncmp(reply, "NOAUTH", 6) == 0)
        hint = " (the server wants a password: is RedisPassword set?)";
    if (hint != NULL && err != NULL)
        err_set(err, "%s%s", err->msg, hint);
}

int redis_is_master(redisContext *c, struct err *err)
{
    redisReply *r = redisCommand(c, "ROLE");
    const char *role;

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        redis_command_error(c, r, "ROLE", NULL, err);
        if (r != NULL)
            add_hint(r->str, err);
        if (r != NULL)
            freeReplyObject(r);
        return -1;
    }
    if ((role = element_str(r, 0)) == NULL) {
        redis_command_error(c, r, "ROLE", NULL, err);
        freeReplyObject(r);
        return -1;
    }
    if (strcmp(role, "master") == 0) {
        freeReplyObject(r);
        return 1;
    }
    describe_role(c, r, role, err);
    freeReplyObject(r);
    return 0;
}

/* ---- when to look for the master again --------------------------------- */

/* Error replies that mean "not the master (any more)". */
static const char *const stale_errors[] = { "READONLY", "LOADING", "MASTERDOWN" };

static bool is_stale_error(const char *text)
{
    for (size_t i = 0; i < sizeof(stale_errors) / sizeof(stale_errors[0]); i++) {
        size_t n = strlen(stale_errors[i]);

        if (strncmp(text, stale_errors[i], n) == 0 && (text[n] == ' ' || text[n] == '\0'))
            return true;
    }
    return false;
}

bool redis_should_rediscover(const redisContext *c, const redisReply *r)
{
    if (r == NULL)
        return true;    /* no reply: hiredis has set c->err (I/O, EOF, timeout) */
    (void)c;
    return r->type == REDIS_REPLY_ERROR && r->str != NULL && is_stale_error(r->str);
}

/* Mark C failed with WHY, as hiredis marks it after an I/O error. */
static void retire(redisContext *c, const char *why)
{
    if (c->err != 0)
        return;
    c->err = REDIS_ERR_OTHER;
    snprintf(c->errstr, sizeof(c->errstr), "%s", why);
}

bool redis_retire_if_stale(redisContext *c, const redisReply *r)
{
    char why[sizeof(c->errstr)];

    if (!redis_should_rediscover(c, r))
        return false;
    if (r != NULL) {
        snprintf(why, sizeof(why), "no longer the master: %.90s", r->str);
        retire(c, why);
    }
    return true;
}

/* ---- WAIT ------------------------------------------------------------------ */

enum redis_wait_result redis_wait_replicas(redisContext *c, int replicas, int timeout_ms,
                                           int *acked, struct err *err)
{
    int ms = timeout_ms > 0 ? timeout_ms : REDIS_DEFAULT_TIMEOUT_MS;
    char n[24], t[24], what[64], name[REDIS_ADDR_TEXT_MAX];
    const char *argv[] = { "WAIT", n, t };
    long long got;
    redisReply *r;

    if (acked != NULL)
        *acked = 0;
    if (replicas <= 0)
        return REDIS_WAIT_OK;
    snprintf(n, sizeof(n), "%d", replicas);
    snprintf(t, sizeof(t), "%d", ms);
    snprintf(what, sizeof(what), "WAIT %d %d", replicas, ms);
    /* Redis answers WAIT when its own timeout expires: give the read that
     * long plus the usual command timeout, then put the timeout back. */
    if (redisSetTimeout(c, ms_to_tv(2 * ms)) != REDIS_OK) {
        redis_command_error(c, NULL, what, NULL, err);
        return REDIS_WAIT_ERROR;
    }
    r = redisCommandArgv(c, 3, argv, NULL);
    if (c->err == 0)
        redisSetTimeout(c, ms_to_tv(ms));
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        redis_command_error(c, r, what, NULL, err);
        if (r != NULL) {
            if (!redis_retire_if_stale(c, r))
                retire(c, "WAIT refused: not a master to write to");
            freeReplyObject(r);
        }
        return REDIS_WAIT_ERROR;
    }
    got = r->integer;
    freeReplyObject(r);
    if (acked != NULL)
        *acked = got < 0 ? 0 : got > INT_MAX ? INT_MAX : (int)got;
    if (got >= replicas)
        return REDIS_WAIT_OK;
    redis_endpoint_name(c, name, sizeof(name));
    err_set(err, "redis %s: %s: %lld of %d replica(s) acknowledged in time",
            name, what, got, replicas);
    return REDIS_WAIT_TOO_FEW;
}
