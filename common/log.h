/*
 * log.h - the daemon's log: syslog, a file, or the journal, with a level
 * filter and a copy on stderr when asked.
 *
 * Where the lines go (one destination, plus the stderr copy):
 *  - syslog (facility from SyslogFacility), the default;
 *  - LogFile PATH: that file instead, opened for appending and reopened
 *    by log_reopen() (SIGUSR1/SIGHUP, after logrotate moved it);
 *  - LogFile stderr: the daemon's standard error instead (a container, a
 *    supervisor that keeps stderr);
 *  - the systemd journal, when stderr is the journal's stream (systemd
 *    sets JOURNAL_STREAM to its device and inode): stderr alone, each line
 *    with its priority ("<3>..."), and not syslog too, which the journal
 *    also collects: one line per event, not two.
 * The stderr copy (-f, and the start-up messages a detaching daemon hands
 * to the command that started it) takes the lines up to a level.
 *
 * One verdict line per message is the contract with operators: keep its
 * "key=value" format stable.
 *
 * DIAGNOSTICS: log_set_file() and log_reopen() fail with a sentence naming
 * the file and the system error; log_reopen() keeps the previous file
 * then, so that no line is lost.
 */
#ifndef MSSANTE_LOG_H
#define MSSANTE_LOG_H

#include <stdbool.h>

#include "common/err.h"

/* LogLevel: what reaches the log, most severe first. */
enum log_level { LOGL_ERROR = 0, LOGL_WARNING, LOGL_NOTICE, LOGL_INFO, LOGL_DEBUG };

/* No copy on stderr (log_stderr()). */
#define LOG_STDERR_OFF (-1)

/* The value of LogFile that means the daemon's standard error. */
#define LOG_FILE_STDERR "stderr"

/* LogLevel, SyslogFacility and LogFile (config/keys.c points into it). */
struct log_settings {
    enum log_level level;        /* LogLevel: applied again at a reload */
    char *facility;              /* SyslogFacility: "mail", "local0"...; read at start */
    char *file;                  /* LogFile: NULL (syslog), "stderr" or a path */
};

/* Syslog as IDENT, and every line copied to stderr when TO_STDERR. */
void log_open(const char *ident, const char *facility, enum log_level level, bool to_stderr);
void log_set_level(enum log_level level);
void log_close(void);

/* Copy the lines up to level MAX (LOG_STDERR_OFF: none) to stderr. */
void log_stderr(int max);

/*
 * LogFile: NULL keeps syslog; LOG_FILE_STDERR or a path replace it.  A
 * path is opened for appending (created 0640, never through a symbolic
 * link).  0, or -1 + err (the destination is then unchanged).
 */
int log_set_file(const char *file, struct err *err);

/* Open LogFile's path again (logrotate).  0 (also without a file), or
 * -1 + err with the previous file kept. */
int log_reopen(struct err *err);

/* When stderr is the systemd journal's stream (JOURNAL_STREAM), log there
 * alone, with priorities; true when it is. */
bool log_journal_detect(void);

/* Does the syslog socket (/dev/log) take lines?  Without a syslog daemon
 * glibc drops them without a word. */
bool log_syslog_reachable(void);

/* For the tests and fuzz targets: every line that passes the level goes
 * to SINK (the text as it would be logged, without the stamp) instead of
 * syslog and stderr; NULL gives them back.  Set it before any thread
 * logs. */
typedef void log_sink_fn(enum log_level level, const char *text, void *arg);
void log_set_sink(log_sink_fn *sink, void *arg);

/* syslog facility code for NAME ("mail", "daemon", "local0".."local7", ...),
 * or -1 when unknown.  Used by the config parser to validate SyslogFacility. */
int log_facility_code(const char *name);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...)   log_msg(LOGL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOGL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOGL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOGL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOGL_DEBUG, __VA_ARGS__)

#endif
