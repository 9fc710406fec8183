/*
 * status.c - the daemon's state for "mssantectl status" (the fields:
 * status.h).  The reload outcome is written by the thread that ran
 * the reload and read by the publishing thread: one small mutex, taken a
 * few times per StatsInterval.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stats/status.h"
#include "whitelist/live.h"
#include "whitelist/whitelist.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int last_reload = -1;          /* -1 none, 0 failed, 1 ok */
static long long last_reload_time;
static char last_reload_error[STATS_RELOAD_ERROR_MAX];

void stats_status_reload(bool ok)
{
    pthread_mutex_lock(&lock);
    last_reload = ok ? 1 : 0;
    last_reload_time = (long long)time(NULL);
    last_reload_error[0] = '\0';
    pthread_mutex_unlock(&lock);
}

void stats_status_reload_error(const char *why)
{
    size_t i;

    pthread_mutex_lock(&lock);
    snprintf(last_reload_error, sizeof(last_reload_error), "%s", why != NULL ? why : "");
    /* One line of printable text: it goes into a Redis HASH and a terminal. */
    for (i = 0; last_reload_error[i] != '\0'; i++)
        if ((unsigned char)last_reload_error[i] < 0x20 || last_reload_error[i] == 0x7f)
            last_reload_error[i] = '?';
    pthread_mutex_unlock(&lock);
}

void stats_status_reset(void)
{
    pthread_mutex_lock(&lock);
    last_reload = -1;
    last_reload_time = 0;
    last_reload_error[0] = '\0';
    pthread_mutex_unlock(&lock);
}

static void read_reload(int *last, long long *when, char *why, size_t size)
{
    pthread_mutex_lock(&lock);
    *last = last_reload;
    *when = last_reload_time;
    if (why != NULL)
        snprintf(why, size, "%s", last_reload_error);
    pthread_mutex_unlock(&lock);
}

/* The list in force: its version and generation date ("" when none). */
static bool read_list(char *version, size_t vsize, char *generated, size_t gsize)
{
    const struct whitelist *wl = live_acquire();
    bool loaded = wl != NULL;

    snprintf(version, vsize, "%s", loaded ? wl->version : "");
    snprintf(generated, gsize, "%s", loaded ? wl->generated : "");
    live_release();
    return loaded;
}

void stats_status_fields(stats_status_put put, void *arg)
{
    char num[32], version[64], generated[64], why[STATS_RELOAD_ERROR_MAX];
    long long when;
    int last;

    snprintf(num, sizeof(num), "%ld", (long)getpid());
    put(arg, "pid", num);
    read_reload(&last, &when, why, sizeof(why));
    put(arg, "reload:last", last < 0 ? "none" : last ? "ok" : "failed");
    snprintf(num, sizeof(num), "%lld", when);
    put(arg, "reload:time", num);
    put(arg, "reload:error", last == 0 ? why : "");
    read_list(version, sizeof(version), generated, sizeof(generated));
    put(arg, "whitelist:generated", generated);
}

/* A label value: a version id or an ISO 8601 date.  Anything else (it
 * comes from the list file) is shown as '_', so no escaping is needed. */
static void put_label(FILE *fp, const char *s)
{
    for (; *s != '\0'; s++) {
        char c = *s;
        bool plain = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                     || c == ':' || c == '.' || c == '-' || c == '+' || c == '_';

        fputc(plain ? c : '_', fp);
    }
}

void stats_status_prometheus(FILE *fp)
{
    char version[64], generated[64];
    long long when;
    int last;

    read_reload(&last, &when, NULL, 0);
    if (last >= 0) {
        fputs("# HELP mssante_milter_last_reload_success 1 when the last configuration "
              "reload was applied, 0 when it was refused.\n"
              "# TYPE mssante_milter_last_reload_success gauge\n", fp);
        fprintf(fp, "mssante_milter_last_reload_success %d\n", last);
        fputs("# HELP mssante_milter_last_reload_timestamp_seconds When the last "
              "configuration reload happened (Unix time).\n"
              "# TYPE mssante_milter_last_reload_timestamp_seconds gauge\n", fp);
        fprintf(fp, "mssante_milter_last_reload_timestamp_seconds %lld\n", when);
    }
    if (read_list(version, sizeof(version), generated, sizeof(generated))) {
        fputs("# HELP mssante_milter_whitelist_info The whitelist in force: its version and "
              "DateDeGeneration.\n# TYPE mssante_milter_whitelist_info gauge\n", fp);
        fputs("mssante_milter_whitelist_info{version=\"", fp);
        put_label(fp, version);
        fputs("\",generated=\"", fp);
        put_label(fp, generated);
        fputs("\"} 1\n", fp);
    }
}
