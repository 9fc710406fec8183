/*
 * redis.c - the Redis connector and error plumbing (see redis.h): one
 * way to reach the server, one wording of "which server, which command,
 * why".  Finding the master through the sentinels is common/redis_ha.c;
 * opening and entering one server is common/redis_server.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/redis.h"
#include "common/redis_ha.h"
#include "common/redis_server.h"

/* ---- the bound on array replies (redis.h) ------------------------------ */

static redisReplyObjectFunctions bounded_fns;     /* hiredis' own, but createArray */
static void *(*hiredis_create_array)(const redisReadTask *task, int elements);
static pthread_once_t bounded_once = PTHREAD_ONCE_INIT;
static bool bounded_ready;
/* The reader whose reply this thread refused last, and the size it
 * announced: the reader only reports "Out of memory", and
 * redis_context_error() says why instead. */
static _Thread_local const void *refused_reader;
static _Thread_local long long refused_elements;

static void *bounded_create_array(const redisReadTask *task, int elements)
{
    if (elements > REDIS_REPLY_ELEMENTS_MAX) {
        refused_reader = task->privdata;
        refused_elements = elements;
        return NULL;                       /* the reader fails the reply */
    }
    return hiredis_create_array(task, elements);
}

static void init_bounded(void)
{
    redisReader *r = redisReaderCreate();

    if (r == NULL)
        return;
    bounded_fns = *r->fn;
    hiredis_create_array = bounded_fns.createArray;
    bounded_fns.createArray = bounded_create_array;
    redisReaderFree(r);
    bounded_ready = true;
}

void redis_bound_replies(redisContext *c)
{
    pthread_once(&bounded_once, init_bounded);
    if (c == NULL || c->reader == NULL || !bounded_ready)
        return;
    c->reader->fn = &bounded_fns;
    c->reader->privdata = c->reader;       /* handed to each task: who refused */
}

void redis_endpoint_name(const redisContext *c, char *buf, size_t size)
{
    if (c->connection_type == REDIS_CONN_UNIX)
        snprintf(buf, size, "unix:%s", c->unix_sock.path ? c->unix_sock.path : "?");
    else if (c->tcp.host != NULL && strchr(c->tcp.host, ':') != NULL)
        snprintf(buf, size, "[%s]:%d", c->tcp.host, c->tcp.port);
    else
        snprintf(buf, size, "%s:%d", c->tcp.host ? c->tcp.host : "?", c->tcp.port);
}

const char *redis_context_error(const redisContext *c)
{
    static _Thread_local char why[96];

    if (c->err == REDIS_ERR_OOM && c->reader != NULL && refused_reader == c->reader) {
        snprintf(why, sizeof(why), "a reply announced %lld elements, too many elements "
                 "(at most %d)", refused_elements, REDIS_REPLY_ELEMENTS_MAX);
        return why;
    }
    if (c->err == REDIS_ERR_IO && strcmp(c->errstr, strerror(EAGAIN)) == 0)
        return "timed out";
    if (c->err == REDIS_ERR_EOF)
        return "connection closed by server";
    return c->errstr[0] ? c->errstr : "no reply";
}

const char *redis_failure(const redisContext *c, const redisReply *r)
{
    if (r == NULL)
        return redis_context_error(c);
    if (r->type == REDIS_REPLY_ERROR)
        return r->str;
    return "unexpected reply";
}

void redis_command_error(redisContext *c, const redisReply *r, const char *verb,
                         const char *key, struct err *err)
{
    char name[300];
    const char *sep = key != NULL ? " " : "";

    if (key == NULL)
        key = "";
    redis_endpoint_name(c, name, sizeof(name));
    if (r != NULL && r->type != REDIS_REPLY_ERROR)
        err_set(err, "redis %s: %s%s%s: unexpected reply type %d", name, verb,
                sep, key, r->type);
    else
        err_set(err, "redis %s: %s%s%s: %s", name, verb, sep, key,
                redis_failure(c, r));
    /* After the text: retiring C rewrites its error. */
    if (r != NULL && r->type == REDIS_REPLY_ERROR)
        redis_retire_if_stale(c, r);
}

redisReply *redis_run_argv(redisContext *c, const char *what, struct err *err,
                           int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);

    if (r != NULL && r->type != REDIS_REPLY_ERROR)
        return r;
    redis_command_error(c, r, what, NULL, err);
    if (r != NULL)
        freeReplyObject(r);
    return NULL;
}

int redis_wait_durable(redisContext *c, const struct redis_settings *s, struct err *err)
{
    if (s == NULL || s->min_replicas <= 0)
        return 0;
    return redis_wait_replicas(c, s->min_replicas, s->timeout_ms, NULL, err) == REDIS_WAIT_OK
           ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Settings                                                             */
/* ------------------------------------------------------------------ */

bool redis_configured(const struct redis_settings *s)
{
    return s != NULL && (s->server.host != NULL || s->server.unix_path != NULL
                         || s->sentinels.n > 0);
}

bool redis_uses_sentinels(const struct redis_settings *s)
{
    return s != NULL && s->sentinels.n > 0;
}

/* ------------------------------------------------------------------ */
/* Connecting                                                           */
/* ------------------------------------------------------------------ */

/* A plain server ("Redis"): open, AUTH, SELECT, then PING, so that a
 * server that accepts the connection but cannot serve (loading, protected
 * mode) fails here rather than on the first real command. */
static redisContext *connect_plain(const struct redis_settings *s, struct redis_where *where,
                                   struct err *err)
{
    const struct redis_auth auth = {
        s->user, s->password, s->user != NULL ? "RedisUser and RedisPassword" : "RedisPassword"
    };
    const char *ping[] = { "PING" };
    redisContext *c = redis_open(&s->server, &auth, s->db, s->timeout_ms, err);
    redisReply *r;
    char was[ERR_MSG_MAX];

    if (c == NULL)
        return NULL;
    if ((r = redis_run_argv(c, "PING", err, 1, ping)) == NULL) {
        /* The first command: a server that wants a password says so here. */
        if (c->err == 0 && strstr(err_msg(err), "NOAUTH") != NULL && s->password == NULL) {
            snprintf(was, sizeof(was), "%s", err_msg(err));
            err_set(err, "%s (the server wants a password: is RedisPassword set?)", was);
        }
        redisFree(c);
        return NULL;
    }
    freeReplyObject(r);
    if (where != NULL) {
        redis_addr_format(&s->server, where->addr, sizeof(where->addr));
        where->via[0] = '\0';
        where->epoch = 0;
    }
    return c;
}

redisContext *redis_connect_where(const struct redis_settings *s, struct redis_where *where,
                                  struct err *err)
{
    if (!redis_configured(s)) {
        err_set(err, "Redis is not configured");
        return NULL;
    }
    if (redis_uses_sentinels(s))
        return redis_ha_connect(s, where, err);
    return connect_plain(s, where, err);
}

redisContext *redis_connect(const struct redis_settings *s, struct err *err)
{
    return redis_connect_where(s, NULL, err);
}

unsigned long redis_epoch(const struct redis_settings *s)
{
    return redis_uses_sentinels(s) ? redis_ha_epoch(s) : 0;
}

bool redis_moved(const struct redis_settings *s, unsigned long epoch)
{
    return redis_uses_sentinels(s) && redis_ha_epoch(s) != epoch;
}
