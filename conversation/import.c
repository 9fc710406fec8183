/*
 * import.c - one line of a conversation import file (the format: import.h).
 *
 * Every refusal says which field and why in one English phrase, so that
 * the summary of "mssantectl conversation import" can list each refused
 * line with its reason and the sysadmin can fix the file and run it again
 * (the import is idempotent: conversation/store.h conv_import()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "conversation/import.h"
#include "policy/address.h"
#include "policy/ins.h"

#define MAX_FIELDS 3
#define FIELD_MAX  IMPORT_LINE_MAX

struct fields {
    char v[MAX_FIELDS][FIELD_MAX];
    size_t n;
};

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_sep(char c)
{
    return c == ',' || c == ';';
}

/* One field at *P (END: the line's end) into OUT; *P ends after its
 * separator.  -1 with WHY. */
static int read_field(const char **p, const char *end, char *out, struct err *why)
{
    const char *s = *p;
    size_t n = 0;

    while (s < end && is_blank(*s))
        s++;
    if (s < end && *s == '"') {
        for (s++;; s++) {
            if (s >= end) {
                err_set(why, "a quoted field is not closed");
                return -1;
            }
            if (*s == '"' && s + 1 < end && s[1] == '"')
                s++;                         /* "" is one quote */
            else if (*s == '"')
                break;
            out[n++] = *s;
        }
        for (s++; s < end && is_blank(*s); s++)
            ;
        if (s < end && !is_sep(*s)) {
            err_set(why, "text after a quoted field");
            return -1;
        }
    } else {
        while (s < end && !is_sep(*s))
            out[n++] = *s++;
        while (n > 0 && is_blank(out[n - 1]))
            n--;
    }
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) {
            err_set(why, "a control character in a field");
            return -1;
        }
    *p = s < end ? s + 1 : s;
    return 0;
}

/* The fields of [LINE, END).  -1 with WHY. */
static int split(const char *line, const char *end, struct fields *f, struct err *why)
{
    const char *p = line;

    f->n = 0;
    for (;;) {
        if (f->n == MAX_FIELDS) {
            err_set(why, "more than 3 fields (mailbox,patient[,opened_at])");
            return -1;
        }
        if (read_field(&p, end, f->v[f->n], why) < 0)
            return -1;
        f->n++;
        /* Past the end: that was the last field, unless a separator ended
         * the line (one empty field more). */
        if (p >= end && (p == line || !is_sep(p[-1])))
            return 0;
        if (p >= end) {
            if (f->n == MAX_FIELDS) {
                err_set(why, "more than 3 fields (mailbox,patient[,opened_at])");
                return -1;
            }
            f->v[f->n++][0] = '\0';
            return 0;
        }
    }
}

int import_parse_time(const char *text, long long now, long long *out, struct err *why)
{
    const char *p;
    time_t t;

    for (p = text; *p >= '0' && *p <= '9'; p++)
        ;
    if (p != text && *p == '\0') {
        errno = 0;
        *out = strtoll(text, NULL, 10);
        if (errno != 0) {
            err_set(why, "opened_at \"%.40s\": out of range", text);
            return -1;
        }
    } else if (iso8601_to_time(text, &t) == 0) {
        *out = (long long)t;
    } else {
        err_set(why, "opened_at \"%.40s\": neither ISO 8601 (2026-11-02T09:30:00Z) nor Unix "
                "seconds", text);
        return -1;
    }
    if (*out < IMPORT_EPOCH) {
        err_set(why, "opened_at \"%.40s\": before 2000", text);
        return -1;
    }
    if (*out > now + IMPORT_SKEW) {
        err_set(why, "opened_at \"%.40s\": in the future", text);
        return -1;
    }
    return 0;
}

static bool local_domain(const struct import_rules *r, const char *domain)
{
    for (size_t i = 0; i < r->n_local_domains; i++)
        if (r->local_domains[i] != NULL && strcmp(r->local_domains[i], domain) == 0)
            return true;
    return false;
}

static int check_mailbox(const struct import_rules *r, const char *text, struct import_row *out,
                         struct err *why)
{
    struct mailaddr a;
    const char *reason = NULL;
    char buf[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];

    if (text[0] == '\0') {
        err_set(why, "no mailbox");
        return -1;
    }
    if (addr_parse(text, &a, &reason) != ADDR_OK) {
        err_set(why, "mailbox \"%.100s\": %s", text, reason != NULL ? reason : "not an address");
        return -1;
    }
    if (addr_route_form(&a, &reason)) {
        err_set(why, "mailbox \"%.100s\": %s", text, reason);
        return -1;
    }
    if (!local_domain(r, a.domain)) {
        err_set(why, "mailbox \"%.100s\": %s is not one of our LocalDomains", text, a.domain);
        return -1;
    }
    addr_format(&a, buf, sizeof(buf));
    if (strlen(buf) > CONV_ID_MAX) {
        err_set(why, "mailbox \"%.100s\": too long", text);
        return -1;
    }
    memcpy(out->mailbox, buf, strlen(buf) + 1);
    return 0;
}

static int check_patient(const struct import_rules *r, const char *text, struct import_row *out,
                         struct err *why)
{
    struct ins_result ins;
    struct mailaddr a;
    const char *local = text, *reason = NULL;

    if (text[0] == '\0') {
        err_set(why, "no patient");
        return -1;
    }
    if (strchr(text, '@') != NULL) {
        if (addr_parse(text, &a, &reason) != ADDR_OK) {
            err_set(why, "patient \"%.100s\": %s", text, reason != NULL ? reason : "not an address");
            return -1;
        }
        if (r->patient_domain == NULL || strcmp(a.domain, r->patient_domain) != 0) {
            err_set(why, "patient \"%.100s\": not in PatientDomain %s", text,
                    r->patient_domain != NULL ? r->patient_domain : "(none)");
            return -1;
        }
        local = a.local;
    }
    /* The expected key is never shown: it would "fix" a typo into another
     * patient's number. */
    switch (ins_check(local, &ins)) {
    case INS_OK:
        break;
    case INS_BAD_KEY:
        err_set(why, "patient \"%.100s\": the INS matricule key does not match (typo?)", text);
        return -1;
    case INS_BAD_SHAPE:
        err_set(why, "patient \"%.100s\": not an INS matricule (%s)", text, ins.reason);
        return -1;
    }
    memcpy(out->patient, ins.normalized, sizeof(ins.normalized));
    return 0;
}

/* The first field of a header line: "mailbox", any case. */
static bool is_header(const struct fields *f)
{
    return f->n >= 1 && strcasecmp(f->v[0], "mailbox") == 0;
}

enum import_line import_parse_line(const struct import_rules *r, const char *line, size_t len,
                                   bool first, struct import_row *out, struct err *why)
{
    struct fields f;
    const char *end = line + len;

    memset(out, 0, sizeof(*out));
    if (first && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
        line += 3;                      /* the byte order mark of a spreadsheet */
    while (end > line && (end[-1] == '\r' || is_blank(end[-1])))
        end--;
    while (line < end && is_blank(*line))
        line++;
    if (line == end || *line == '#')
        return IMPORT_SKIP;
    if ((size_t)(end - line) >= IMPORT_LINE_MAX) {
        err_set(why, "line longer than %d bytes", IMPORT_LINE_MAX - 1);
        return IMPORT_BAD;
    }
    if (memchr(line, '\0', (size_t)(end - line)) != NULL) {
        err_set(why, "a NUL byte in the line");
        return IMPORT_BAD;
    }
    if (split(line, end, &f, why) < 0)
        return IMPORT_BAD;
    if (first && is_header(&f))
        return IMPORT_SKIP;
    if (f.n < 2) {
        err_set(why, "expected mailbox,patient[,opened_at]");
        return IMPORT_BAD;
    }
    if (check_mailbox(r, f.v[0], out, why) < 0 || check_patient(r, f.v[1], out, why) < 0)
        return IMPORT_BAD;
    out->opened_at = r->now;
    if (f.n == 3 && f.v[2][0] != '\0') {
        if (import_parse_time(f.v[2], r->now, &out->opened_at, why) < 0)
            return IMPORT_BAD;
        out->opened_given = true;
    }
    return IMPORT_ROW;
}
