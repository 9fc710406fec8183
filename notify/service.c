/*
 * service.c - the notice worker's parameters from the configuration, and
 * its start (see service.h).
 */
#include <stdio.h>

#include "common/log.h"
#include "notify/service.h"
#include "policy/address.h"

#define LEASE_MIN_MS (5 * 60 * 1000LL)   /* notice claim lease, notify/queue.h */
#define SENDER_MAX   (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2)

/* NotifySender, or no-reply@ the first LocalDomain. */
static void notice_sender(const struct notify_settings *ns, const char *first_local_domain,
                          char *buf, size_t size)
{
    if (ns->sender != NULL)
        snprintf(buf, size, "%s", ns->sender);
    else if (first_local_domain != NULL)
        snprintf(buf, size, "no-reply@%s", first_local_domain);
    else
        buf[0] = '\0';
}

int notify_service_start(const struct notify_settings *ns, const struct redis_settings *rs,
                         const char *first_local_domain, notify_event_fn on_event,
                         void (*on_redis_error)(void), struct notify_worker **out,
                         struct err *err)
{
    struct notify_worker_params p;
    char sender[SENDER_MAX];
    long long lease;

    *out = NULL;
    if (!redis_configured(rs) || !ns->worker) {
        if (redis_configured(rs))
            log_info("notify: NotifyWorker is off: notices queued here are sent by "
                     "another node's worker");
        return 0;
    }
    notice_sender(ns, first_local_domain, sender, sizeof(sender));
    notify_worker_params_init(&p);
    p.prefix = rs->prefix;
    p.smtp_url = ns->smtp;
    p.sender = sender;
    p.tmpl = ns->tmpl.t;
    p.redis = rs;
    p.on_redis_error = on_redis_error;
    p.on_event = on_event;
    p.retry_min_ms = ns->retry_ms;
    p.retry_max_ms = ns->retry_max_ms;
    p.max_age_ms = ns->max_age_ms;
    p.max_attempts = (unsigned)ns->max_attempts;
    p.smtp_timeout_ms = ns->timeout_ms;
    /* The lease must outlast one SMTP transaction by a good margin. */
    lease = 2 * p.smtp_timeout_ms + 60000;
    p.lease_ms = lease > LEASE_MIN_MS ? lease : LEASE_MIN_MS;
    *out = notify_worker_start(&p, err);
    return *out != NULL ? 0 : -1;
}
