/*
 * redis.c - the Redis connector and error plumbing (see redis.h): one
 * way to reach the server, one wording of "which server, which command,
 * why".
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/err.h"
#include "common/redis.h"

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

void redis_command_error(const redisContext *c, const redisReply *r, const char *verb,
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

/* ------------------------------------------------------------------ */
/* Settings                                                             */
/* ------------------------------------------------------------------ */

#define DEFAULT_TIMEOUT_MS 2000      /* when the settings say nothing */

bool redis_configured(const struct redis_settings *s)
{
    return s != NULL && (s->server.host != NULL || s->server.unix_path != NULL);
}

static bool has_space(const char *s)
{
    return strpbrk(s, " \t\r\n\f\v") != NULL;
}

static int parse_port(const char *s)
{
    long port = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        port = port * 10 + (*s - '0');
        if (port > 65535)
            return -1;
    }
    return port >= 1 ? (int)port : -1;
}

int redis_endpoint_parse(const char *text, struct redis_endpoint *ep)
{
    const char *colon;
    char *host;
    int port;

    if (text == NULL || text[0] == '\0' || has_space(text))
        return -1;
    if (strncmp(text, "unix:", 5) == 0) {
        char *path;

        if (text[5] != '/' || (path = strdup(text + 5)) == NULL)
            return -1;
        ep->host = NULL;
        ep->port = 0;
        ep->unix_path = path;
        return 0;
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');

        if (close == NULL || close == text + 1 || close[1] != ':')
            return -1;
        colon = close + 1;
        if ((port = parse_port(colon + 1)) < 0)
            return -1;
        host = strndup(text + 1, (size_t)(close - text - 1));
    } else {
        colon = strrchr(text, ':');
        /* A bare IPv6 address would be ambiguous: it must be bracketed. */
        if (colon == NULL || colon == text || memchr(text, ':', (size_t)(colon - text)))
            return -1;
        if ((port = parse_port(colon + 1)) < 0)
            return -1;
        host = strndup(text, (size_t)(colon - text));
    }
    if (host == NULL)
        return -1;
    ep->host = host;
    ep->port = port;
    ep->unix_path = NULL;
    return 0;
}

void redis_endpoint_free(struct redis_endpoint *ep)
{
    free(ep->host);
    free(ep->unix_path);
    memset(ep, 0, sizeof(*ep));
}

void redis_endpoint_format(const struct redis_endpoint *ep, char *buf, size_t size)
{
    if (ep->unix_path != NULL)
        snprintf(buf, size, "%s%s", strncmp(ep->unix_path, "unix:", 5) ? "unix:" : "",
                 ep->unix_path);
    else if (ep->host != NULL && strchr(ep->host, ':') != NULL)
        snprintf(buf, size, "[%s]:%d", ep->host, ep->port);
    else
        snprintf(buf, size, "%s:%d", ep->host ? ep->host : "?", ep->port);
}

/* ------------------------------------------------------------------ */
/* Connecting                                                           */
/* ------------------------------------------------------------------ */

/* The TCP or unix connection, with TV applied to connect and commands. */
static redisContext *open_endpoint(const struct redis_endpoint *ep, struct timeval tv,
                                   const char *name, struct err *err)
{
    redisContext *c;

    if (ep->unix_path != NULL) {
        const char *path = ep->unix_path;

        if (strncmp(path, "unix:", 5) == 0)
            path += 5;
        c = redisConnectUnixWithTimeout(path, tv);
    } else {
        c = redisConnectWithTimeout(ep->host, ep->port, tv);
    }
    if (c == NULL) {
        err_set(err, "redis %s: out of memory", name);
        return NULL;
    }
    if (c->err) {
        err_set(err, "redis %s: %s", name, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        err_set(err, "redis %s: cannot set timeout: %s", name, c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

/* AUTH when a password is configured, then PING: a server that accepts
 * the TCP connection but is loading, protected or password-less-mismatched
 * fails here rather than on the first real command. */
static int handshake(redisContext *c, const struct redis_settings *s, const char *name,
                     struct err *err)
{
    const char *ping[] = { "PING" };
    redisReply *r;

    if (s->password != NULL && s->password[0] != '\0') {
        const char *argv[] = { "AUTH", s->password };

        /* Named "AUTH" alone: the password must never reach a log. */
        if ((r = redis_run_argv(c, "AUTH", err, 2, argv)) == NULL)
            return -1;
        freeReplyObject(r);
    }
    if ((r = redis_run_argv(c, "PING", err, 1, ping)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0) {
        err_set(err, "redis %s: PING: unexpected answer", name);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

redisContext *redis_connect(const struct redis_settings *s, struct err *err)
{
    int ms = s != NULL && s->timeout_ms > 0 ? s->timeout_ms : DEFAULT_TIMEOUT_MS;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    char name[300];
    redisContext *c;

    if (!redis_configured(s)) {
        err_set(err, "Redis is not configured");
        return NULL;
    }
    redis_endpoint_format(&s->server, name, sizeof(name));
    if ((c = open_endpoint(&s->server, tv, name, err)) == NULL)
        return NULL;
    redis_bound_replies(c);
    if (handshake(c, s, name, err) < 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}
