/*
 * output.c - how mssantectl talks: one-line errors and warnings on stderr,
 * dates and ages for people, JSON for scripts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"

static char last_error[2048];

static void vmessage(const char *kind, const char *fmt, va_list ap)
{
    char line[2048];
    char *p;

    vsnprintf(line, sizeof(line), fmt, ap);
    /* One message, one line: reasons may quote file content. */
    for (p = line; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "mssantectl: %s%s\n", kind, line);
    if (kind[0] == '\0')
        memcpy(last_error, line, sizeof(line));
}

const char *ctl_last_error(void)
{
    return last_error;
}

void ctl_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmessage("", fmt, ap);
    va_end(ap);
}

void ctl_warn(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmessage("warning: ", fmt, ap);
    va_end(ap);
}

void format_utc(time_t t, char *buf, size_t size)
{
    struct tm tm;

    if (t <= 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(buf, size, "unknown");
        return;
    }
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void format_age(long long seconds, char *buf, size_t size)
{
    long long d, h, m;

    if (seconds < 0) {
        /* A generation date in the future: a clock is wrong somewhere. */
        snprintf(buf, size, "in the future");
        return;
    }
    d = seconds / 86400;
    h = seconds % 86400 / 3600;
    m = seconds % 3600 / 60;
    if (d > 0)
        snprintf(buf, size, "%lldd %lldh", d, h);
    else if (h > 0)
        snprintf(buf, size, "%lldh %lldm", h, m);
    else
        snprintf(buf, size, "%lldm", m);
}

json_t *json_text(const char *s)
{
    json_t *j;
    char *copy, *p;

    if (s == NULL)
        s = "";
    j = json_string(s);
    if (j != NULL)
        return j;
    /* Not UTF-8 (a mistyped address, a Latin-1 path): show it anyway. */
    copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (p = copy; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

json_t *json_string_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_text(s) : json_null();
}

int print_json(json_t *root)
{
    int rc;

    if (root == NULL) {
        ctl_error("out of memory");
        return -1;
    }
    rc = json_dumpf(root, stdout, JSON_INDENT(2));
    json_decref(root);
    if (rc != 0 || fputc('\n', stdout) == EOF) {
        ctl_error("cannot write JSON output");
        return -1;
    }
    return 0;
}
