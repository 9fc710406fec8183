/*
 * guard.c - may a freshly downloaded list replace the one in force?
 *
 * A download can be well-formed XML and still wrong: the ANS server half
 * way through a regeneration, a mirror serving last year's file, an export
 * that lost most of its rows.  Publishing such a list would refuse legal
 * MSSante mail on every MX node at once, so the rules below compare the
 * candidate with the current list and keep the current one when in doubt.
 * See guard.h for the order of the checks and what --force may override.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "whitelist/guard.h"

void guard_limits_init(struct guard_limits *lim, const struct fetch_settings *fs)
{
    lim->min_domains = fs->min_domains > 0 ? (size_t)fs->min_domains : 0;
    lim->max_shrink_pct = fs->max_shrink;
    lim->force = false;
}

const char *guard_verdict_name(enum guard_verdict v)
{
    switch (v) {
    case GUARD_ACCEPT:    return "accept";
    case GUARD_UNCHANGED: return "unchanged";
    case GUARD_REFUSE:    return "refuse";
    }
    return "refuse";
}

void guard_facts_from_whitelist(const struct whitelist *wl, struct guard_facts *facts)
{
    facts->domains = wl->domains ? domainset_count(wl->domains) : 0;
    facts->generated = wl->generated;
    facts->sha256 = wl->sha256;
}

/* ------------------------------------------------------------------ */
/* ISO 8601 date-times                                                 */

/* Read exactly N digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static bool leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to Y-M-D in the proleptic Gregorian calendar.
 * Counting from March makes February, the odd month, the last of the
 * "year", so the month lengths before it follow a fixed pattern. */
static int64_t days_from_epoch(int y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;                                   /* [0, 399] */
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  /* [0, 365] */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* Zone designator: "Z", "+hh:mm", "+hhmm", "+hh", or nothing (UTC).
 * Stores the offset east of UTC in seconds. */
static bool zone(const char **p, int *offset)
{
    int sign, hh, mm = 0;

    *offset = 0;
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        return true;
    }
    if (**p != '+' && **p != '-')
        return true;
    sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (!digits(p, 2, &hh) || hh > 23)
        return false;
    if (**p == ':') {
        (*p)++;
        if (!digits(p, 2, &mm))
            return false;
    } else if (isdigit((unsigned char)**p) && !digits(p, 2, &mm)) {
        return false;
    }
    if (mm > 59)
        return false;
    *offset = sign * (hh * 3600 + mm * 60);
    return true;
}

int guard_parse_time(const char *text, time_t *out)
{
    const char *p = text;
    int y, mo, d, h, mi, s, offset;
    int64_t t;

    if (text == NULL)
        return -1;
    while (isspace((unsigned char)*p))
        p++;
    if (!digits(&p, 4, &y) || !expect(&p, '-') || !digits(&p, 2, &mo) || !expect(&p, '-') ||
        !digits(&p, 2, &d))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (!digits(&p, 2, &h) || !expect(&p, ':') || !digits(&p, 2, &mi) || !expect(&p, ':') ||
        !digits(&p, 2, &s))
        return -1;
    if (*p == '.' || *p == ',') {       /* fraction: checked, then dropped */
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    if (!zone(&p, &offset))
        return -1;
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '\0')
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60)
        return -1;

    t = days_from_epoch(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset;
    if ((int64_t)(time_t)t != t)
        return -1;
    *out = (time_t)t;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The decision                                                        */

static bool known(const char *s)
{
    return s != NULL && *s != '\0';
}

/* Append one overridable problem to BUF ("; "-separated). */
static void note(char *buf, size_t len, const char *text)
{
    size_t used = strlen(buf);

    if (used < len)
        snprintf(buf + used, len - used, "%s%s", used ? "; " : "", text);
}

/* Check 4: generation dates.  Adds to PROBLEMS when the candidate is older
 * than the current list or the current date cannot be read. */
static void check_age(const struct guard_facts *cand, time_t cand_t,
                      const struct guard_facts *cur, char *problems, size_t len)
{
    char text[200];
    time_t cur_t;

    if (!known(cur->generated))
        return;         /* nothing to compare with (old metadata) */
    if (guard_parse_time(cur->generated, &cur_t) < 0) {
        snprintf(text, sizeof(text), "cannot read the current list's generation date \"%.40s\"",
                 cur->generated);
        note(problems, len, text);
    } else if (cand_t < cur_t) {
        snprintf(text, sizeof(text), "generated %.40s, older than the current list (%.40s)",
                 cand->generated, cur->generated);
        note(problems, len, text);
    }
}

/* Check 5: shrink, in exact integer arithmetic: refused when
 * (current - candidate) / current > pct / 100. */
static void check_shrink(const struct guard_facts *cand, const struct guard_facts *cur,
                         int pct, char *problems, size_t len)
{
    unsigned long long was = cur->domains, now = cand->domains, lost, permille;
    char text[200];

    if (was == 0 || now >= was)
        return;
    lost = was - now;
    if (lost * 100 <= was * (unsigned long long)pct)
        return;
    permille = lost * 1000 / was;
    snprintf(text, sizeof(text),
             "%llu domains, %llu.%llu%% fewer than the current %llu (limit %d%%)",
             now, permille / 10, permille % 10, was, pct);
    note(problems, len, text);
}

enum guard_verdict guard_check(const struct guard_facts *cand,
                               const struct guard_facts *cur,
                               const struct guard_limits *lim,
                               char *reason, size_t reasonlen)
{
    char problems[512] = "";
    time_t cand_t;

    if (lim->max_shrink_pct < 0 || lim->max_shrink_pct > 100) {
        snprintf(reason, reasonlen, "refused: maximum shrink %d%% is not within 0..100",
                 lim->max_shrink_pct);
        return GUARD_REFUSE;
    }
    if (cand->domains < lim->min_domains) {
        snprintf(reason, reasonlen, "refused: only %zu distinct domains, the minimum is %zu",
                 cand->domains, lim->min_domains);
        return GUARD_REFUSE;
    }
    if (guard_parse_time(cand->generated, &cand_t) < 0) {
        snprintf(reason, reasonlen, "refused: DateDeGeneration \"%.40s\" is not an ISO 8601 date",
                 known(cand->generated) ? cand->generated : "");
        return GUARD_REFUSE;
    }
    if (cur == NULL) {
        snprintf(reason, reasonlen, "accepted: %zu domains, generated %.40s, no current list",
                 cand->domains, cand->generated);
        return GUARD_ACCEPT;
    }
    if (known(cand->sha256) && known(cur->sha256) && strcasecmp(cand->sha256, cur->sha256) == 0) {
        snprintf(reason, reasonlen, "unchanged: same content as the current list (%zu domains, generated %.40s)",
                 cand->domains, cand->generated);
        return GUARD_UNCHANGED;
    }

    check_age(cand, cand_t, cur, problems, sizeof(problems));
    check_shrink(cand, cur, lim->max_shrink_pct, problems, sizeof(problems));
    if (problems[0] != '\0' && !lim->force) {
        snprintf(reason, reasonlen, "refused: %s", problems);
        return GUARD_REFUSE;
    }
    if (problems[0] != '\0')
        snprintf(reason, reasonlen, "accepted with --force despite: %s", problems);
    else
        snprintf(reason, reasonlen, "accepted: %zu domains (was %zu), generated %.40s (was %.40s)",
                 cand->domains, cur->domains, cand->generated,
                 known(cur->generated) ? cur->generated : "unknown");
    return GUARD_ACCEPT;
}
