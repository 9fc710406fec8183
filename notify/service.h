/*
 * service.h - the notice worker as the daemon runs it.
 *
 * The worker (notify/queue.h) is one thread that sends the notices queued
 * in Redis.  This file turns the NotifyWorker ... NotifyTimeout keys into
 * its parameters: the sender (NotifySender, or no-reply@ the first
 * LocalDomain), the template read with the configuration, the retry and
 * give-up rules, and a claim lease that outlasts one SMTP transaction.
 *
 * DIAGNOSTICS: a worker that cannot start fails with the reason (the
 * caller logs it); a node whose NotifyWorker is no logs at info that its
 * notices are sent by another node's worker.
 */
#ifndef MSSANTE_NOTIFY_SERVICE_H
#define MSSANTE_NOTIFY_SERVICE_H

#include "common/err.h"
#include "common/redis.h"
#include "notify/queue.h"

/*
 * Start the worker as NS says, connecting as RS says, when Redis is
 * configured and NotifyWorker is yes; *OUT gets it (NULL when not
 * started).  FIRST_LOCAL_DOMAIN (may be NULL) makes the default sender.
 * ON_EVENT and ON_REDIS_ERROR (may be NULL) report to the daemon's
 * counters.  NS and RS must outlive the worker.  0, or -1 + err.
 */
int notify_service_start(const struct notify_settings *ns, const struct redis_settings *rs,
                         const char *first_local_domain, notify_event_fn on_event,
                         void (*on_redis_error)(void), struct notify_worker **out,
                         struct err *err);

#endif
