/*
 * redis.c - the Redis error plumbing shared by the Redis-backed modules
 * (see redis.h): one wording of "which server, which command, why".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"
#include "common/redis.h"

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
