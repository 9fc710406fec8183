/*
 * cmd_redis.c - "mssantectl redis status": where the configuration leads
 * (the master, and through which sentinel it was found), and whether the
 * master has the replicas RedisMinReplicas asks for.
 *
 * It connects exactly as the daemon does (common/redis.h): through the
 * sentinels when RedisSentinels is set, with the same user, passwords and
 * database, so what it says is what every node finds.  The replication
 * state is the master's INFO replication: each replica with its state,
 * how far it has acknowledged the master's stream, and since when.
 *
 * Exit status: 0; 1 when fewer replicas are online than RedisMinReplicas
 * (every conversation or notice write would get 451 until they are);
 * 2 without Redis in the configuration; 3 when Redis cannot be reached.
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/redis.h"
#include "common/redis_server.h"
#include "ctl/ctl.h"

/* Replicas that take part in WAIT: connected and streaming. */
static int online(const struct redis_replication *rep)
{
    int n = 0;

    for (size_t i = 0; i < rep->n; i++)
        if (strcmp(rep->replicas[i].state, "online") == 0)
            n++;
    return n;
}

static json_t *status_json(const struct redis_settings *rs, const struct redis_where *w,
                           const char *order, const struct redis_replication *rep)
{
    json_t *o = json_object(), *reps = json_array(), *sent = json_array();
    char one[REDIS_ADDR_TEXT_MAX];

    json_object_set_new(o, "master", json_text(w->addr));
    json_object_set_new(o, "via_sentinel", json_string_or_null(w->via));
    json_object_set_new(o, "master_name", json_string_or_null(rs->master_name));
    for (size_t i = 0; i < rs->sentinels.n; i++) {
        redis_addr_format(&rs->sentinels.v[i], one, sizeof(one));
        json_array_append_new(sent, json_text(one));
    }
    json_object_set_new(o, "sentinels", sent);
    json_object_set_new(o, "sentinel_order", json_string_or_null(order));
    json_object_set_new(o, "role", json_text(rep->role));
    json_object_set_new(o, "offset", json_integer(rep->offset));
    json_object_set_new(o, "connected_replicas", json_integer(rep->connected));
    for (size_t i = 0; i < rep->n; i++) {
        json_t *r = json_object();

        json_object_set_new(r, "address", json_text(rep->replicas[i].addr));
        json_object_set_new(r, "state", json_text(rep->replicas[i].state));
        json_object_set_new(r, "offset", json_integer(rep->replicas[i].offset));
        json_object_set_new(r, "behind", json_integer(rep->offset - rep->replicas[i].offset));
        json_object_set_new(r, "lag_seconds", json_integer(rep->replicas[i].lag));
        json_array_append_new(reps, r);
    }
    json_object_set_new(o, "replicas", reps);
    json_object_set_new(o, "min_replicas", json_integer(rs->min_replicas));
    json_object_set_new(o, "durable_writes_possible",
                        json_boolean(online(rep) >= rs->min_replicas));
    return o;
}

static void status_text(const struct redis_settings *rs, const struct redis_where *w,
                        const char *order, const struct redis_replication *rep)
{
    if (w->via[0] != '\0') {
        printf("master:      %s, found through sentinel %s (master name \"%s\")\n", w->addr,
               w->via, rs->master_name);
        printf("sentinels:   %s (the order the next discovery asks them)\n", order);
    } else {
        printf("master:      %s (Redis; no sentinels configured)\n", w->addr);
    }
    printf("replication: role %s, %d replica(s) connected, offset %lld\n", rep->role,
           rep->connected, rep->offset);
    for (size_t i = 0; i < rep->n; i++)
        printf("  replica %s: %s, offset %lld (%lld behind), last ack %lds ago\n",
               rep->replicas[i].addr, rep->replicas[i].state, rep->replicas[i].offset,
               rep->offset - rep->replicas[i].offset, rep->replicas[i].lag);
    if (rs->min_replicas <= 0)
        printf("durable:     RedisMinReplicas 0: writes are not waited for\n");
    else
        printf("durable:     RedisMinReplicas %d: %s (%d replica(s) online)\n",
               rs->min_replicas, online(rep) >= rs->min_replicas ? "ok"
               : "TOO FEW: conversations and notices get 451", online(rep));
}

static int redis_status(const struct ctl *ctl)
{
    const struct redis_settings *rs = &ctl->cfg->redis;
    char master[REDIS_ADDR_TEXT_MAX], order[1024];
    struct redis_replication rep;
    struct redis_where w;
    struct err err;
    redisContext *c;
    int rc;

    if (!redis_configured(rs)) {
        ctl_error("%s sets neither Redis nor RedisSentinels", ctl->cfg->path);
        return CTL_USAGE;
    }
    if ((c = redis_connect_where(rs, &w, &err)) == NULL) {
        ctl_error("%s", err.msg);
        return CTL_UNAVAILABLE;
    }
    rc = redis_replication(c, &rep, &err);
    redisFree(c);
    if (rc < 0) {
        ctl_error("%s", err.msg);
        return CTL_UNAVAILABLE;
    }
    redis_describe_master(rs, master, sizeof(master), order, sizeof(order));
    if (ctl->json) {
        if (print_json(status_json(rs, &w, order, &rep)) < 0)
            return CTL_UNAVAILABLE;
    } else {
        status_text(rs, &w, order, &rep);
    }
    return online(&rep) >= rs->min_replicas ? CTL_OK : CTL_FAIL;
}

int cmd_redis(const struct ctl *ctl, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "status") == 0)
        return redis_status(ctl);
    ctl_error("usage: mssantectl redis status [--json]");
    return CTL_USAGE;
}
