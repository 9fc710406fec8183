/*
 * signals.c - the signal thread (see signals.h), and why the daemon
 * handles SIGHUP and SIGTERM itself.
 *
 * libmilter's smfi_main() starts a thread that sigwait()s for SIGHUP,
 * SIGTERM and SIGINT, and takes any of them as an order to stop: a SIGHUP
 * meant as "reload" would stop the daemon, or not, depending on which of
 * two waiting threads the kernel picks.  And Debian's libmilter (8.17,
 * built with its pool of worker threads) stops by closing every open
 * session at once: a message whose DATA is being transferred would lose
 * its milter and be deferred by Postfix, not finished.  (Checked on this
 * system: a session stopped between MAIL and RCPT reads EOF.)  So this
 * file defines sigwait() for the process, and when the caller's set holds
 * SIGTERM, as libmilter's does, waits for that set minus SIGHUP, SIGUSR1
 * and SIGTERM: libmilter's thread then only ever sees SIGINT (an
 * immediate abort, as before).  The executable's definition of sigwait()
 * is the one the dynamic linker binds libmilter's call to; our own thread
 * uses sigwaitinfo() and is not affected.
 *
 * DIAGNOSTICS: "reload requested (SIGHUP)" at notice; a failing
 * sigwaitinfo() at error.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/log.h"
#include "milter/cfgref.h"
#include "milter/drain.h"
#include "milter/signals.h"

static atomic_bool quitting;        /* signals_stop(): the thread must end */
static pthread_t sig_thread;
static bool sig_running;
static const char *milter_socket;

/* ---- libmilter's signal thread ----------------------------------------- */

/* See the top of the file. */
int sigwait(const sigset_t *set, int *sig)
{
    sigset_t wanted = *set;
    int s;

    if (sigismember(set, SIGTERM) == 1) {
        sigdelset(&wanted, SIGHUP);
        sigdelset(&wanted, SIGUSR1);
        sigdelset(&wanted, SIGTERM);
    }
    do
        s = sigwaitinfo(&wanted, NULL);
    while (s < 0 && errno == EINTR);
    if (s < 0)
        return errno;
    *sig = s;
    return 0;
}

void signals_block(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* ---- ours ------------------------------------------------------------------ */

/* LogFile again (logrotate moved it); on failure the old one stays. */
static void reopen_log(void)
{
    struct err err;

    if (log_reopen(&err) < 0)
        log_error("%s; still writing to the previous file", err.msg);
}

static void *signal_main(void *arg)
{
    sigset_t set;

    (void)arg;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);

        if (atomic_load(&quitting))
            break;
        if (sig < 0) {
            if (errno != EINTR) {
                log_error("sigwaitinfo: %s", strerror(errno));
                sleep_ms(1000);
            }
            continue;
        }
        if (sig == SIGTERM) {
            drain_stop(milter_socket);
            continue;
        }
        if (drain_stopping())
            continue;
        reopen_log();
        log_notice("reload requested (%s)", sig == SIGHUP ? "SIGHUP" : "SIGUSR1");
        cfgref_reload();
    }
    return NULL;
}

int signals_start(const char *socket)
{
    int rc;

    milter_socket = socket;
    drain_reset();
    atomic_store(&quitting, false);
    if ((rc = pthread_create(&sig_thread, NULL, signal_main, NULL)) != 0) {
        log_error("cannot start the signal thread: %s", strerror(rc));
        return -1;
    }
    sig_running = true;
    return 0;
}

void signals_stop(void)
{
    if (!sig_running)
        return;
    atomic_store(&quitting, true);
    drain_quit();
    pthread_kill(sig_thread, SIGUSR1);
    pthread_join(sig_thread, NULL);
    sig_running = false;
}
