/*
 * log.h - syslog with a level filter, and a copy on stderr when asked.
 *
 * The daemon logs to syslog (facility from SyslogFacility); in the
 * foreground (-f) every line is also written to stderr, which is what the
 * tests read.  One verdict line per message is the contract with operators:
 * keep its "key=value" format stable.
 */
#ifndef MSSANTE_LOG_H
#define MSSANTE_LOG_H

#include <stdbool.h>

/* LogLevel: what reaches the log, most severe first. */
enum log_level { LOGL_ERROR = 0, LOGL_WARNING, LOGL_NOTICE, LOGL_INFO, LOGL_DEBUG };

/* LogLevel and SyslogFacility (config/keys.c points into it). */
struct log_settings {
    enum log_level level;        /* LogLevel: applied again at a reload */
    char *facility;              /* SyslogFacility: "mail", "local0"...; read at start */
};

void log_open(const char *ident, const char *facility, enum log_level level, bool to_stderr);
void log_set_level(enum log_level level);
void log_close(void);

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
