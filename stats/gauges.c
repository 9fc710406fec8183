/*
 * gauges.c - what the exports show besides the counters: the whitelist in
 * force (loaded or not, its size, its age, its version), read from the
 * daemon's list (whitelist/live.h) at the time of the export.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "stats/snapshot.h"
#include "whitelist/domainset.h"
#include "whitelist/live.h"
#include "whitelist/whitelist.h"

/* "2025-03-13T14:54:10Z" -> Unix time, or -1. */
static long long parse_generated(const char *s)
{
    struct tm tm;
    int y, mo, d, h, mi, se;
    char z = 0;

    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &z) < 6)
        return -1;
    if (z != 0 && z != 'Z' && z != '.')
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    return (long long)timegm(&tm);
}

void stats_read_whitelist(struct stats_whitelist *st)
{
    const struct whitelist *wl = live_acquire();

    memset(st, 0, sizeof(*st));
    st->age = -1;
    if (wl != NULL) {
        long long when = parse_generated(wl->generated);

        if (when < 0 && wl->loaded_at > 0)
            when = (long long)wl->loaded_at;
        st->loaded = true;
        st->domains = wl->domains != NULL ? domainset_count(wl->domains) : 0;
        st->entries = wl->entries;
        if (when >= 0)
            st->age = (long long)time(NULL) - when;
        snprintf(st->version, sizeof(st->version), "%s", wl->version);
    }
    live_release();
}

