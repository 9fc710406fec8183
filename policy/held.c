/*
 * held.c - write and read the X-MSSante-Held header (the format and why it
 * exists: held.h).
 *
 * The reason comes from the daemon's own reply texts, but those may name
 * addresses from the envelope: everything is reduced to printable ASCII on
 * one line before it goes into a header, and parsed back strictly.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "policy/held.h"

#define SUBMISSION_LOCAL "submission=local"
#define SUBMISSION_SMTP  "submission=smtp"

bool held_header_is(const char *name)
{
    return name != NULL && strcasecmp(name, HELD_HEADER) == 0;
}

static bool rule_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Append SRC to DST (at *len, SIZE bytes) in printable ASCII, runs of
 * white space and control characters as one space. */
static void put_safe(char *dst, size_t size, size_t *len, const char *src)
{
    size_t start = *len;
    bool space = false;

    for (; src != NULL && *src != '\0' && *len + 1 < size; src++) {
        unsigned char ch = (unsigned char)*src;

        if (ch <= 0x20 || ch == 0x7f) {
            space = *len > start;
            continue;
        }
        if (space && *len + 2 < size)
            dst[(*len)++] = ' ';
        space = false;
        dst[(*len)++] = ch >= 0x80 ? '?' : (char)ch;
    }
    dst[*len] = '\0';
}

void held_header_value(char *buf, size_t size, const char *rule, bool local_submission,
                       const char *reason)
{
    char safe_rule[HELD_RULE_MAX];
    size_t i, len;

    if (size == 0)
        return;
    if (rule == NULL || rule[0] == '\0')
        rule = "hold";
    for (i = 0; rule[i] != '\0' && i + 1 < sizeof(safe_rule); i++) {
        char c = rule[i] >= 'A' && rule[i] <= 'Z' ? (char)(rule[i] - 'A' + 'a') : rule[i];

        safe_rule[i] = rule_char(c) ? c : '-';
    }
    safe_rule[i] = '\0';
    len = (size_t)snprintf(buf, size, "%s; %s; ", safe_rule,
                           local_submission ? SUBMISSION_LOCAL : SUBMISSION_SMTP);
    if (len >= size) {
        buf[size - 1] = '\0';
        return;
    }
    put_safe(buf, size, &len, reason != NULL && reason[0] != '\0' ? reason : "-");
}

int held_header_parse(const char *value, struct held_mark *out)
{
    const char *p = value, *semi;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (p == NULL)
        return -1;
    while (*p == ' ' || *p == '\t')
        p++;
    if ((semi = strchr(p, ';')) == NULL || semi == p
        || (n = (size_t)(semi - p)) >= sizeof(out->rule))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!rule_char(p[i]))
            return -1;
    memcpy(out->rule, p, n);
    for (p = semi + 1; *p == ' ' || *p == '\t'; p++)
        ;
    if (strncmp(p, SUBMISSION_LOCAL, strlen(SUBMISSION_LOCAL)) == 0) {
        out->local_submission = true;
        p += strlen(SUBMISSION_LOCAL);
    } else if (strncmp(p, SUBMISSION_SMTP, strlen(SUBMISSION_SMTP)) == 0) {
        p += strlen(SUBMISSION_SMTP);
    } else {
        return -1;
    }
    if (*p != ';')
        return -1;
    for (p++; *p == ' ' || *p == '\t'; p++)
        ;
    n = 0;
    put_safe(out->reason, sizeof(out->reason), &n, p);
    return 0;
}
