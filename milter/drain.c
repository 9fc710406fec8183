/*
 * drain.c - the graceful stop (see drain.h).
 *
 * "stopping" is read by every new connection and message (through the
 * pipeline's stopping port): they get 451 4.3.2.  The stop then waits
 * until no message is in flight (stats/stats.h counts them), bounded by
 * ShutdownTimeout, and, briefly, for the sessions to close, then calls
 * smfi_stop().
 */
#include <netdb.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sockspec.h"
#include "milter/cfgref.h"
#include "milter/drain.h"
#include "stats/stats.h"

#define CLOSE_WAIT_MS 2000   /* after the drain: sessions closing by themselves */
#define POLL_MS       50

static atomic_bool stopping;
static atomic_bool quitting;        /* smfi_main already returned: nothing to wait for */

bool drain_stopping(void)
{
    return atomic_load_explicit(&stopping, memory_order_relaxed);
}

void drain_quit(void)
{
    atomic_store(&quitting, true);
}

void drain_reset(void)
{
    atomic_store(&stopping, false);
    atomic_store(&quitting, false);
}

/* Wait for the messages in flight, then (briefly) for the sessions. */
static void wait_in_flight(void)
{
    const struct config *cfg = cfgref_acquire();
    long long start = monotonic_ms();
    long long deadline = start + (cfg != NULL ? cfg->daemon.shutdown_timeout_ms : 0);
    unsigned busy = stats_in_flight();

    cfgref_release(cfg);
    if (busy > 0)
        log_notice("stopping: waiting for %u message(s) in progress", busy);
    while ((busy = stats_in_flight()) > 0 && monotonic_ms() < deadline && !atomic_load(&quitting))
        sleep_ms(POLL_MS);
    if (busy > 0) {
        log_warning("stopping with %u message(s) still in progress after %llus: "
                    "Postfix defers them (milter_default_action)", busy,
                    (unsigned long long)((monotonic_ms() - start) / 1000));
        return;
    }
    /* The last replies are being written and the sessions closed; new
     * messages on them are refused with 4.3.2 meanwhile. */
    deadline = monotonic_ms() + CLOSE_WAIT_MS;
    while (stats_open_connections() > 0 && monotonic_ms() < deadline && !atomic_load(&quitting))
        sleep_ms(POLL_MS);
}

/*
 * libmilter's accept loop holds its lock while it waits up to 5 s for a
 * connection, and smfi_stop() needs that lock: a connection of our own
 * ends the wait at once.  Started without blocking and closed once
 * smfi_stop() returned; the session it opens is never served (libmilter
 * is stopping) and never reaches our callbacks.  -1 when not possible:
 * the stop then simply takes those few seconds.
 */
static int wake_listener(const char *spec)
{
    const char *path = sockspec_unix_path(spec);
    struct addrinfo hints, *ai = NULL;
    char host[256], service[32];
    int fd = -1, family;

    if (path != NULL) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) >= 0)
            (void)connect(fd, (struct sockaddr *)&sun, sizeof(sun));
        return fd;
    }
    if (sockspec_inet(spec, &family, service, sizeof(service), host, sizeof(host)) < 0)
        return -1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = family;
    /* A socket bound to every address answers on the loopback too. */
    if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
        snprintf(host, sizeof(host), "%s", family == AF_INET ? "127.0.0.1" : "::1");
    if (getaddrinfo(host, service, &hints, &ai) != 0)
        return -1;
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0)
        (void)connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return fd;
}

void drain_stop(const char *socket)
{
    int fd;

    if (atomic_exchange(&stopping, true))
        return;
    log_notice("stop requested (SIGTERM): deferring new mail, finishing the messages "
               "in progress");
    wait_in_flight();
    fd = wake_listener(socket);
    smfi_stop();
    if (fd >= 0)
        close(fd);
}
