/*
 * cmd_notify.c - "mssantectl notify status": the queue of content-free
 * notices to classic addresses (notify/queue.h), shared by every node.
 *
 *   queued    notices ever queued          sent     delivered to NotifySMTP
 *   retried   attempts put off for later   failed   given up (logged by the
 *   pending   in the queue now                      daemon that gave up)
 *
 * A growing "pending" with a stable "sent" means no worker is sending:
 * NotifySMTP is down, or no node runs with NotifyWorker yes.
 */
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "ctl/ctl.h"
#include "notify/queue.h"


static int notify_status(const struct ctl *ctl)
{
    struct notify_stats st;
    struct err err;
    redisContext *c;
    int rc = CTL_OK;

    if ((c = fwd_ctl_connect(ctl->cfg)) == NULL)
        return CTL_UNAVAILABLE;
    if (notify_get_stats(c, ctl->cfg->redis.prefix, &st, &err) < 0) {
        ctl_error("%s", err.msg);
        redisFree(c);
        return CTL_UNAVAILABLE;
    }
    redisFree(c);
    if (ctl->json) {
        json_t *o = json_object();

        json_object_set_new(o, "queued", json_integer(st.enqueued));
        json_object_set_new(o, "sent", json_integer(st.sent));
        json_object_set_new(o, "retried", json_integer(st.retried));
        json_object_set_new(o, "failed", json_integer(st.failed));
        json_object_set_new(o, "pending", json_integer(st.pending));
        if (print_json(o) < 0)
            rc = CTL_UNAVAILABLE;
    } else {
        printf("queued:  %lld\n", st.enqueued);
        printf("sent:    %lld\n", st.sent);
        printf("retried: %lld\n", st.retried);
        printf("failed:  %lld\n", st.failed);
        printf("pending: %lld\n", st.pending);
    }
    return rc;
}

int cmd_notify(const struct ctl *ctl, int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "status") == 0)
        return notify_status(ctl);
    ctl_error("usage: mssantectl notify status");
    return CTL_USAGE;
}
