/*
 * clock.c - the monotonic and wall clocks (see clock.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/clock.h"

long long monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t monotonic_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

long long wallclock_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct timespec monotonic_timespec(long long deadline_ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(deadline_ms / 1000);
    ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
    return ts;
}

void sleep_ms(long long ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        continue;
}

/* Offset suffix of an ISO 8601 time: "Z", "+hh:mm", "-hhmm" or nothing
 * (UTC).  Seconds east of UTC, or -1 on anything else. */
static int parse_offset(const char *s, long *east)
{
    int hh, mm, n = 0;

    *east = 0;
    if (*s == '\0' || ((*s == 'Z' || *s == 'z') && s[1] == '\0'))
        return 0;
    if ((*s != '+' && *s != '-')
        || (sscanf(s + 1, "%2d:%2d%n", &hh, &mm, &n) != 2
            && sscanf(s + 1, "%2d%2d%n", &hh, &mm, &n) != 2)
        || s[1 + n] != '\0' || hh > 23 || mm > 59)
        return -1;
    *east = (hh * 3600L + mm * 60L) * (*s == '-' ? -1 : 1);
    return 0;
}

int iso8601_to_time(const char *text, time_t *out)
{
    struct tm tm;
    int n = 0;
    long east = 0;
    char sep;
    const char *p;
    time_t t;

    if (text == NULL)
        return -1;
    memset(&tm, 0, sizeof(tm));
    if (sscanf(text, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) == 3
        && text[n] == '\0') {
        p = text + n;                                  /* a bare date */
    } else if (sscanf(text, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                      &tm.tm_mday, &sep, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) == 7
               && (sep == 'T' || sep == 't' || sep == ' ')) {
        p = text + n;
        if (*p == '.' || *p == ',')
            for (p++; *p >= '0' && *p <= '9'; p++)
                ;
        if (parse_offset(p, &east) < 0)
            return -1;
    } else {
        return -1;
    }
    if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31
        || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = t - east;
    return 0;
}
