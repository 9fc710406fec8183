/*
 * log.c - syslog, a file or the journal, with a level filter and an
 * optional timestamped copy on stderr (where the lines go: log.h).
 *
 * Before log_open() every message goes to stderr only, so that errors found
 * while reading the configuration reach the person who started the daemon.
 *
 * Thread safety: the level and the switches are atomics, syslog(3) is
 * thread-safe in glibc, and each stderr or file line is written with one
 * call under a lock, so that lines from different milter threads never
 * interleave and a reopen never loses one: the file descriptor is swapped
 * under the same lock.
 *
 * Messages may carry text that came from the network (addresses): control
 * characters are replaced so that one call is always one log line.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define LOG_LINE_MAX 8192
#define LOG_PATH_MAX 4096

static atomic_int log_level = LOGL_INFO;
static atomic_bool log_syslog_on = false;
static atomic_int log_stderr_max = LOGL_DEBUG;   /* before log_open: everything */
static atomic_bool log_stderr_is_log = false;    /* LogFile stderr: all levels, always */
static atomic_bool log_journal = false;          /* stderr is the journal: "<N>" prefixes */
static char log_ident[64] = "mssante-milter";
static pthread_mutex_t log_out_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;                          /* LogFile PATH; guarded by log_out_lock */
static char log_path[LOG_PATH_MAX];              /* guarded by log_out_lock */
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
    atomic_store(&log_stderr_max, to_stderr ? LOGL_DEBUG : LOG_STDERR_OFF);
    atomic_store(&log_syslog_on, true);
}

void log_set_level(enum log_level level)
{
    atomic_store(&log_level, (int)level);
}

void log_stderr(int max)
{
    atomic_store(&log_stderr_max, max);
}

void log_close(void)
{
    if (atomic_exchange(&log_syslog_on, false))
        closelog();
    pthread_mutex_lock(&log_out_lock);
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    log_path[0] = '\0';
    pthread_mutex_unlock(&log_out_lock);
    atomic_store(&log_stderr_is_log, false);
    atomic_store(&log_journal, false);
    atomic_store(&log_stderr_max, LOGL_DEBUG);
}

/* Open PATH for appending: a regular file, never through a link. */
static int open_log_file(const char *path, struct err *err)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0640);

    if (fd < 0) {
        err_set(err, "LogFile %s: %s%s", path, strerror(errno),
                errno == ELOOP ? " (a symbolic link: refused)" : "");
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        err_set(err, "LogFile %s: not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

int log_set_file(const char *file, struct err *err)
{
    int fd, old;

    if (file == NULL)
        return 0;
    if (strcmp(file, LOG_FILE_STDERR) == 0) {
        atomic_store(&log_stderr_is_log, true);
        atomic_store(&log_syslog_on, false);
        return 0;
    }
    if (strlen(file) >= LOG_PATH_MAX) {
        err_set(err, "LogFile: path too long");
        return -1;
    }
    if ((fd = open_log_file(file, err)) < 0)
        return -1;
    pthread_mutex_lock(&log_out_lock);
    old = log_fd;
    log_fd = fd;
    snprintf(log_path, sizeof(log_path), "%s", file);
    pthread_mutex_unlock(&log_out_lock);
    if (old >= 0)
        close(old);
    atomic_store(&log_syslog_on, false);
    return 0;
}

int log_reopen(struct err *err)
{
    char path[LOG_PATH_MAX];
    int fd, old;

    pthread_mutex_lock(&log_out_lock);
    snprintf(path, sizeof(path), "%s", log_path);
    pthread_mutex_unlock(&log_out_lock);
    if (path[0] == '\0')
        return 0;
    if ((fd = open_log_file(path, err)) < 0)
        return -1;
    pthread_mutex_lock(&log_out_lock);
    old = log_fd;
    log_fd = fd;
    pthread_mutex_unlock(&log_out_lock);
    if (old >= 0)
        close(old);
    return 0;
}

bool log_journal_detect(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2
        || fstat(STDERR_FILENO, &st) < 0
        || (unsigned long long)st.st_dev != dev || (unsigned long long)st.st_ino != ino)
        return false;
    atomic_store(&log_journal, true);
    atomic_store(&log_syslog_on, false);
    return true;
}

bool log_syslog_reachable(void)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    bool ok = false;
    int fd;

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", _PATH_LOG);
    /* rsyslog and journald take datagrams; a few daemons a stream. */
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0) {
        ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
        close(fd);
    }
    if (!ok && (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
        ok = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
        close(fd);
    }
    return ok;
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

/* "2026-03-13 14:54:10.123 mssante-milter[42]: TEXT\n" */
static void stamped(char *line, size_t size, const char *text)
{
    struct timeval tv;
    struct tm tm;
    char stamp[32];

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(line, size, "%s.%03ld %s[%ld]: %s\n", stamp, (long)(tv.tv_usec / 1000),
             log_ident, (long)getpid(), text);
}

/* One write(2) per line: a line is never split between two writers. */
static void write_all(int fd, const char *line)
{
    size_t len = strlen(line), off = 0;
    ssize_t n;

    while (off < len) {
        n = write(fd, line + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        off += (size_t)n;
    }
}

static void write_stderr(enum log_level level, const char *text)
{
    char line[LOG_LINE_MAX + 256];

    /* The journal stamps and names the line itself. */
    if (atomic_load(&log_journal))
        snprintf(line, sizeof(line), "<%d>%s\n", syslog_priority(level), text);
    else
        stamped(line, sizeof(line), text);
    pthread_mutex_lock(&log_out_lock);
    fflush(stderr);
    write_all(STDERR_FILENO, line);
    pthread_mutex_unlock(&log_out_lock);
}

static void write_file(const char *text)
{
    char line[LOG_LINE_MAX + 256];

    stamped(line, sizeof(line), text);
    pthread_mutex_lock(&log_out_lock);
    if (log_fd >= 0)
        write_all(log_fd, line);
    pthread_mutex_unlock(&log_out_lock);
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
    write_file(text);
    if (atomic_load(&log_stderr_is_log) || atomic_load(&log_journal)
        || (int)level <= atomic_load(&log_stderr_max))
        write_stderr(level, text);
}
