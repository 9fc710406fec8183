/*
 * log.c - syslog with a level filter, and an optional timestamped copy on
 * stderr.
 *
 * Before log_open() every message goes to stderr only, so that errors found
 * while reading the configuration reach the person who started the daemon.
 * After log_open() messages go to syslog, and also to stderr when asked
 * (foreground mode, which is what the tests read).
 *
 * Thread safety: the level is an atomic, syslog(3) is thread-safe in glibc,
 * and each stderr line is written with one locked fputs() so that lines from
 * different milter threads never interleave.
 *
 * Messages may carry text that came from the network (addresses): control
 * characters are replaced so that one call is always one log line.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define LOG_LINE_MAX 8192

static atomic_int log_level = LOGL_INFO;
static atomic_bool log_syslog_on = false;
static atomic_bool log_stderr_on = true;
static char log_ident[64] = "mssante-milter";
static pthread_mutex_t log_stderr_lock = PTHREAD_MUTEX_INITIALIZER;
static log_sink_fn *log_sink;
static void *log_sink_arg;

static const struct {
    const char *name;
    int code;
} facilities[] = {
    { "mail", LOG_MAIL },     { "daemon", LOG_DAEMON }, { "user", LOG_USER },
    { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
    { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
    { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

int log_facility_code(const char *name)
{
    if (name == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
        if (strcasecmp(name, facilities[i].name) == 0)
            return facilities[i].code;
    return -1;
}

void log_open(const char *ident, const char *facility, enum log_level level, bool to_stderr)
{
    int code = log_facility_code(facility);

    if (code < 0)
        code = LOG_MAIL;
    if (ident != NULL)
        snprintf(log_ident, sizeof(log_ident), "%s", ident);
    /* LOG_NDELAY: connect to /dev/log now, before a chroot or privilege
     * drop could make it unreachable. */
    openlog(log_ident, LOG_PID | LOG_NDELAY, code);
    atomic_store(&log_level, (int)level);
    atomic_store(&log_stderr_on, to_stderr);
    atomic_store(&log_syslog_on, true);
}

void log_set_level(enum log_level level)
{
    atomic_store(&log_level, (int)level);
}

void log_close(void)
{
    if (atomic_exchange(&log_syslog_on, false))
        closelog();
    atomic_store(&log_stderr_on, true);
}

void log_set_sink(log_sink_fn *sink, void *arg)
{
    log_sink = sink;
    log_sink_arg = arg;
}

static int syslog_priority(enum log_level level)
{
    switch (level) {
    case LOGL_ERROR:   return LOG_ERR;
    case LOGL_WARNING: return LOG_WARNING;
    case LOGL_NOTICE:  return LOG_NOTICE;
    case LOGL_INFO:    return LOG_INFO;
    case LOGL_DEBUG:   return LOG_DEBUG;
    }
    return LOG_INFO;
}

/* Postfix style: informational lines carry no tag, the others say what they are. */
static const char *level_tag(enum log_level level)
{
    switch (level) {
    case LOGL_ERROR:   return "error: ";
    case LOGL_WARNING: return "warning: ";
    case LOGL_DEBUG:   return "debug: ";
    case LOGL_NOTICE:
    case LOGL_INFO:    break;
    }
    return "";
}

static void sanitize(char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

static void write_stderr(const char *text)
{
    char line[LOG_LINE_MAX + 256];
    struct timeval tv;
    struct tm tm;
    char stamp[32];

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(line, sizeof(line), "%s.%03ld %s[%ld]: %s\n", stamp, (long)(tv.tv_usec / 1000),
             log_ident, (long)getpid(), text);

    pthread_mutex_lock(&log_stderr_lock);
    fputs(line, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_stderr_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char text[LOG_LINE_MAX];
    size_t tag_len;
    va_list ap;
    int n;

    if ((int)level > atomic_load(&log_level))
        return;

    tag_len = (size_t)snprintf(text, sizeof(text), "%s", level_tag(level));
    va_start(ap, fmt);
    n = vsnprintf(text + tag_len, sizeof(text) - tag_len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(text) - tag_len)
        memcpy(text + sizeof(text) - 4, "...", 4);   /* show that it was cut */
    sanitize(text);

    if (log_sink != NULL) {
        log_sink(level, text, log_sink_arg);
        return;
    }
    if (atomic_load(&log_syslog_on))
        syslog(syslog_priority(level), "%s", text);
    if (atomic_load(&log_stderr_on))
        write_stderr(text);
}
