/*
 * output.c - how mssantectl talks: one-line errors and warnings on stderr,
 * dates and ages for people, JSON for scripts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/logid.h"
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

/* LogPatientId in force for the output: set up on first use. */
static void patient_ids_ready(const struct ctl *ctl)
{
    static bool ready;
    struct err err;

    if (ready)
        return;
    ready = true;
    /* The key is read even for --show-ins: the syslog line of a
     * conversation override shows the patient as the daemon's log does. */
    if (logid_start(&ctl->cfg->logid, false, &err) < 0) {
        logid_set_mode(LOGID_MASK);
        if (!ctl->show_ins)
            ctl_warn("%s: patient identifiers are masked, not hashed as in the log (run as "
                     "root or as the daemon's user to read the key; --show-ins shows them in "
                     "full)", err.msg);
    }
    if (ctl->show_ins)
        logid_set_mode(LOGID_CLEAR);
}

void ctl_patient_id(const struct ctl *ctl, const char *id, char *buf, size_t size)
{
    patient_ids_ready(ctl);
    logid_format(id, buf, size);
}

const char *ctl_patients(const struct ctl *ctl, const char *text, char *buf, size_t size)
{
    const char *pd = ctl->cfg->rules.patient_domain;

    /* The key is looked for (and its absence told) only when a patient
     * is to be shown. */
    if (pd != NULL && text != NULL && strcasestr(text, pd) != NULL)
        patient_ids_ready(ctl);
    logid_redact(text, pd, buf, size);
    return buf;
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
