/*
 * wlswap.c - how long a new whitelist takes to load and swap in, what it
 * costs in memory, and whether any lookup had to wait while it happened.
 *
 * For each size (default 5,000 and 100,000 domains) a synthetic ANS XML
 * file is written (same shape as the real list: about 1.3 <Domaine> entries
 * per domain, full DN, description and contacts), then:
 *
 *  1. parse: ans_parse_file(), XML to domain set, which is the whole load
 *     on a node without Redis and mssantectl's part with Redis;
 *  2. with -R: publish it to a private Redis (store_publish, what
 *     "mssantectl whitelist load" does), then read it back with
 *     store_load_version(), which is what the daemon does on every swap;
 *  3. swap: the new list replaces the one in force while lookup threads
 *     hammer the old one.  The pointer sits behind a writer-preferring
 *     rwlock exactly as in whitelist/live.c; each lookup first tries the
 *     read lock without blocking, so "lookups that waited" is an exact
 *     count, and every lookup is timed;
 *  4. with -R, end to end through the real whitelist/live.c: the daemon's
 *     live module runs with WhitelistPoll 10ms, the list is published, and
 *     we time until live_acquire() hands out the new version, with lookups
 *     running through live_acquire()/live_release() meanwhile.
 *
 * Lookups check answers too: names present in every list must always be
 * found and a classic domain never, so a half-built list would show up as
 * wrong answers.  RSS comes from /proc/self/status after each swap.
 *
 * Usage: wlswap [-d DIR] [-s SIZE,SIZE...] [-t THREADS] [-R REDIS] [--json]
 *               [--keep]
 *   REDIS: unix:/path or 127.0.0.1:PORT of a scratch Redis (keys under
 *   "benchwl:", deleted at the end).  --keep leaves DIR/wlswap-SIZE.xml.
 *   DIR (/tmp by default) may be shared: whatever is at that name is
 *   removed, never written through (a planted link), and the file is
 *   created exclusively.
 *   --json prints one JSON object per size, one per line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/log.h"
#include "config/config.h"
#include "whitelist/ansxml.h"
#include "whitelist/domainset.h"
#include "whitelist/live.h"
#include "whitelist/store.h"
#include "whitelist/whitelist.h"

#define MAX_SIZES   8
#define MAX_THREADS 16
#define PREFIX      "benchwl:"
#define CORE        64          /* names present in every generated list */

/* The lock kind live.c uses for the list in force. */
static pthread_rwlock_t emu_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static const struct whitelist *emu_list;

enum via { VIA_EMULATED, VIA_LIVE };

/* Lookup statistics, reset for each measured window. */
struct lstats {
    atomic_long lookups, waited, wrong;
    atomic_long max_ns;
};

static struct {
    atomic_bool stop;
    atomic_int via;
    struct lstats st;
} L;

struct result {
    size_t domains, entries;
    off_t xml_bytes;
    double parse_ms, publish_ms, redis_load_ms;
    double swap_lock_us, free_old_ms;
    long lookups, waited, wrong;
    double max_lookup_us;
    double live_visible_ms;     /* -1 when not measured */
    long live_lookups, live_wrong;
    double live_max_lookup_us;
    long rss_kib, hwm_kib;
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long status_kib(const char *key)
{
    char line[256];
    long v = -1;
    size_t klen = strlen(key);
    FILE *f = fopen("/proc/self/status", "r");

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtol(line + klen + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static void core_name(char *buf, size_t len, unsigned i)
{
    snprintf(buf, len, "core-%02u.mssante.fr", i);
}

/* ---- synthetic list ---------------------------------------------------- */

static void write_entry(FILE *f, const char *name, unsigned op, unsigned cert)
{
    fprintf(f,
            "        <Domaine>\n"
            "            <Nom>%s</Nom>\n"
            "            <Description>ETABLISSEMENT DE SANTE %u</Description>\n"
            "            <DNCertificatOperateur>CN=mta%u.operateur%u.fr,OU=%09u00028,"
            "O=OPERATEUR %u,ST=Paris (75),C=FR</DNCertificatOperateur>\n"
            "            <ResponsableContact>01 00 00 00 00, contact-%u@operateur.invalid"
            "</ResponsableContact>\n"
            "            <SupportContact>01 00 00 00 00, support-%u@operateur.invalid"
            "</SupportContact>\n"
            "            <DateMAJ>2025-03-13T14:54:10Z</DateMAJ>\n"
            "        </Domaine>\n",
            name, op, cert, op, op, op, op, op);
}

/* PATH, created anew for writing: a name in a shared directory may hold
 * a link to any file, so what is there is removed (unlink never follows a
 * link), and the new file is created exclusively (O_EXCL fails when a
 * link was planted again meanwhile).  NULL with errno set. */
static FILE *create_new(const char *path)
{
    int fd;
    FILE *f;

    if (unlink(path) < 0 && errno != ENOENT)
        return NULL;
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return NULL;
    if ((f = fdopen(fd, "w")) == NULL)
        close(fd);
    return f;
}

/* SIZE distinct domains; every third one has a second operator certificate,
 * which gives the real list's ~1.3 entries per domain. */
static int generate(const char *path, size_t size, size_t *entries)
{
    FILE *f = create_new(path);
    char name[96];

    if (f == NULL)
        return -1;
    *entries = 0;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
          "<ListeBlancheMSSante xmlns=\"" ANS_NAMESPACE "\">\n"
          "    <DateDeGeneration>2025-03-13T14:54:10Z</DateDeGeneration>\n"
          "    <ListeDomaines>\n", f);
    for (size_t i = 0; i < size; i++) {
        unsigned op = (unsigned) (i % 300);

        if (i < CORE)
            core_name(name, sizeof(name), (unsigned) i);
        else if (i % 10 == 0)
            snprintf(name, sizeof(name), "mssante-%zu.apicrypt-%u.org", i, op);
        else
            snprintf(name, sizeof(name), "etab-%07zu.mssante.fr", i);
        write_entry(f, name, op, 1);
        (*entries)++;
        if (i % 3 == 0) {
            write_entry(f, name, op, 2);
            (*entries)++;
        }
    }
    fputs("    </ListeDomaines>\n</ListeBlancheMSSante>\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- lookup threads ---------------------------------------------------- */

/* 1 found, 0 not found, -1 no list in force yet (before the first swap). */
static int lookup_emulated(const char *domain, long *waited)
{
    int found;

    if (pthread_rwlock_tryrdlock(&emu_lock) != 0) {
        (*waited)++;
        pthread_rwlock_rdlock(&emu_lock);
    }
    found = emu_list == NULL ? -1 : domainset_contains(emu_list->domains, domain);
    pthread_rwlock_unlock(&emu_lock);
    return found;
}

static int lookup_live(const char *domain)
{
    const struct whitelist *wl = live_acquire();
    int found = wl == NULL ? -1 : domainset_contains(wl->domains, domain);

    live_release();
    return found;
}

static void note_max(atomic_long *max, long v)
{
    long cur = atomic_load(max);

    while (v > cur && !atomic_compare_exchange_weak(max, &cur, v))
        ;
}

/* Lookups in bursts of 64 with a short pause, like milter threads that
 * also do other work; spinning flat out on a 2-core machine would only
 * measure the scheduler. */
static void *lookup_main(void *arg)
{
    unsigned seed = (unsigned) (uintptr_t) arg;
    char names[CORE + 1][64];

    for (unsigned i = 0; i < CORE; i++)
        core_name(names[i], sizeof(names[i]), i);
    snprintf(names[CORE], sizeof(names[CORE]), "outlook.fr");

    while (!atomic_load(&L.stop)) {
        long waited = 0, wrong = 0, maxns = 0;

        for (int i = 0; i < 64; i++) {
            unsigned k = (seed = seed * 1103515245u + 12345u) >> 16;
            unsigned idx = k % (CORE + 1);
            long long t0 = now_ns();
            int found = atomic_load(&L.via) == VIA_LIVE ? lookup_live(names[idx])
                                                        : lookup_emulated(names[idx], &waited);
            long ns = (long) (now_ns() - t0);

            if (found >= 0 && found != (idx < CORE))
                wrong++;
            if (ns > maxns)
                maxns = ns;
        }
        atomic_fetch_add(&L.st.lookups, 64);
        atomic_fetch_add(&L.st.waited, waited);
        atomic_fetch_add(&L.st.wrong, wrong);
        note_max(&L.st.max_ns, maxns);
        usleep(50);
    }
    return NULL;
}

static void lookup_stats_reset(void)
{
    atomic_store(&L.st.lookups, 0);
    atomic_store(&L.st.waited, 0);
    atomic_store(&L.st.wrong, 0);
    atomic_store(&L.st.max_ns, 0);
}

static void pause_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- one size ---------------------------------------------------------- */

/* Parse, optionally round-trip through Redis; returns the list to swap in. */
static struct whitelist *load_list(const char *xml, redisContext *rc, struct result *r)
{
    struct err err;
    char version[64];
    double t0 = now_ms();
    struct ans_list *list = ans_parse_file(xml, &err);
    struct whitelist *wl;
    bool published = false;

    r->parse_ms = now_ms() - t0;
    if (list == NULL) {
        fprintf(stderr, "wlswap: %s: %s\n", xml, err.msg);
        return NULL;
    }
    r->entries = list->wl->entries;
    r->domains = domainset_count(list->wl->domains);
    if (rc == NULL)
        return ans_list_take_whitelist(list);

    t0 = now_ms();
    if (store_publish(rc, PREFIX, list, false, &published, version, sizeof(version),
                      &err) < 0) {
        fprintf(stderr, "wlswap: publish: %s\n", err.msg);
        ans_list_free(list);
        return NULL;
    }
    r->publish_ms = now_ms() - t0;
    ans_list_free(list);

    t0 = now_ms();
    wl = store_load_version(rc, PREFIX, version, &err);
    r->redis_load_ms = now_ms() - t0;
    if (wl == NULL)
        fprintf(stderr, "wlswap: load version %s: %s\n", version, err.msg);
    return wl;
}

/* Swap WL in under the write lock while lookups run; free the old list
 * after the unlock, as live.c does. */
static void swap_emulated(struct whitelist *wl, struct result *r)
{
    const struct whitelist *old;

    atomic_store(&L.via, VIA_EMULATED);
    pause_ms(20);
    lookup_stats_reset();
    pause_ms(20);

    long long t0 = now_ns();
    pthread_rwlock_wrlock(&emu_lock);
    old = emu_list;
    emu_list = wl;
    pthread_rwlock_unlock(&emu_lock);
    r->swap_lock_us = (now_ns() - t0) / 1e3;

    double t1 = now_ms();
    whitelist_free((struct whitelist *) old);
    r->free_old_ms = now_ms() - t1;
    pause_ms(20);

    r->lookups = atomic_load(&L.st.lookups);
    r->waited = atomic_load(&L.st.waited);
    r->wrong = atomic_load(&L.st.wrong);
    r->max_lookup_us = atomic_load(&L.st.max_ns) / 1e3;
    r->rss_kib = status_kib("VmRSS");
    r->hwm_kib = status_kib("VmHWM");
}

/* End to end through live.c: publish XML, wait until lookups see it. */
static void swap_live(redisContext *rc, const char *xml, struct result *r)
{
    struct err err;
    char version[64];
    struct ans_list *list = ans_parse_file(xml, &err);
    bool published = false, seen = false;

    r->live_visible_ms = -1;
    if (list == NULL)
        return;
    atomic_store(&L.via, VIA_LIVE);
    lookup_stats_reset();
    int rcode = store_publish(rc, PREFIX, list, false, &published, version,
                              sizeof(version), &err);
    ans_list_free(list);
    if (rcode < 0) {
        fprintf(stderr, "wlswap: publish: %s\n", err.msg);
        return;
    }
    double t0 = now_ms();
    /* Bounded wait: 10 s is 1000 polls of the 10 ms interval. */
    while (!seen && now_ms() - t0 < 10000) {
        const struct whitelist *wl = live_acquire();
        seen = wl != NULL && strcmp(wl->version, version) == 0;
        live_release();
        if (!seen)
            usleep(200);
    }
    if (seen)
        r->live_visible_ms = now_ms() - t0;
    pause_ms(20);
    r->live_lookups = atomic_load(&L.st.lookups);
    r->live_wrong = atomic_load(&L.st.wrong);
    r->live_max_lookup_us = atomic_load(&L.st.max_ns) / 1e3;
}

/* Install the list in XML without measuring anything. */
static int preinstall(const char *xml)
{
    struct err err;
    struct ans_list *list = ans_parse_file(xml, &err);

    if (list == NULL) {
        fprintf(stderr, "wlswap: %s: %s\n", xml, err.msg);
        return -1;
    }
    pthread_rwlock_wrlock(&emu_lock);
    emu_list = ans_list_take_whitelist(list);
    pthread_rwlock_unlock(&emu_lock);
    return 0;
}

/* ---- Redis scratch space ------------------------------------------------ */

static struct config *redis_config(const char *spec)
{
    struct config *cfg = config_defaults();

    if (cfg == NULL || redis_addr_parse(spec, &cfg->redis.server, NULL) < 0) {
        fprintf(stderr, "wlswap: bad Redis address %s\n", spec);
        exit(2);
    }
    cfg->live.poll_ms = 10;
    free(cfg->redis.prefix);
    cfg->redis.prefix = strdup(PREFIX);
    return cfg;
}

static void redis_cleanup(redisContext *rc)
{
    redisReply *keys = redisCommand(rc, "KEYS %s*", PREFIX);

    if (keys != NULL && keys->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < keys->elements; i++)
            freeReplyObject(redisCommand(rc, "DEL %s", keys->element[i]->str));
    if (keys != NULL)
        freeReplyObject(keys);
}

/* ---- output -------------------------------------------------------------- */

static void print_text(const struct result *r, size_t n, bool redis)
{
    for (size_t i = 0; i < n; i++) {
        const struct result *x = &r[i];
        printf("wlswap: %zu domains (%zu entries, %.1f MiB of XML)\n", x->domains,
               x->entries, x->xml_bytes / 1048576.0);
        printf("  parse XML -> set     %8.1f ms\n", x->parse_ms);
        if (redis) {
            printf("  publish to Redis     %8.1f ms\n", x->publish_ms);
            printf("  load from Redis      %8.1f ms   (the daemon's load on a swap)\n",
                   x->redis_load_ms);
        }
        printf("  swap (write lock)    %8.2f us, old list freed in %.1f ms\n",
               x->swap_lock_us, x->free_old_ms);
        printf("  lookups during swap  %ld, waited %ld, wrong %ld, longest %.1f us\n",
               x->lookups, x->waited, x->wrong, x->max_lookup_us);
        if (redis && x->live_visible_ms >= 0)
            printf("  live.c end to end    %8.1f ms publish->visible (poll 10 ms), "
                   "%ld lookups, wrong %ld, longest %.1f us\n", x->live_visible_ms,
                   x->live_lookups, x->live_wrong, x->live_max_lookup_us);
        printf("  RSS after swap       %8.1f MiB (peak %.1f MiB)\n", x->rss_kib / 1024.0,
               x->hwm_kib / 1024.0);
    }
}

static void print_json(const struct result *r, size_t n, bool redis)
{
    for (size_t i = 0; i < n; i++) {
        const struct result *x = &r[i];
        printf("{\"domains\":%zu,\"entries\":%zu,\"xml_bytes\":%lld,\"parse_ms\":%.2f,",
               x->domains, x->entries, (long long) x->xml_bytes, x->parse_ms);
        if (redis)
            printf("\"publish_ms\":%.2f,\"redis_load_ms\":%.2f,", x->publish_ms,
                   x->redis_load_ms);
        printf("\"swap_lock_us\":%.3f,\"free_old_ms\":%.2f,\"lookups_during_swap\":%ld,"
               "\"lookups_waited\":%ld,\"wrong_answers\":%ld,\"max_lookup_us\":%.2f,",
               x->swap_lock_us, x->free_old_ms, x->lookups, x->waited, x->wrong,
               x->max_lookup_us);
        if (redis && x->live_visible_ms >= 0)
            printf("\"live_visible_ms\":%.2f,\"live_lookups\":%ld,\"live_wrong\":%ld,"
                   "\"live_max_lookup_us\":%.2f,", x->live_visible_ms, x->live_lookups,
                   x->live_wrong, x->live_max_lookup_us);
        printf("\"rss_kib\":%ld,\"hwm_kib\":%ld}\n", x->rss_kib, x->hwm_kib);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: wlswap [-d DIR] [-s SIZE,SIZE...] [-t THREADS] "
                    "[-R unix:/path|127.0.0.1:PORT] [--json]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = { { "json", no_argument, NULL, 'J' },
                                           { "keep", no_argument, NULL, 'K' },
                                           { NULL, 0, NULL, 0 } };
    const char *dir = "/tmp", *redis = NULL;
    size_t sizes[MAX_SIZES] = { 5000, 100000 }, nsizes = 2;
    int threads = 2, ch;
    bool json = false, keep = false;

    while ((ch = getopt_long(argc, argv, "d:s:t:R:", lopts, NULL)) != -1) {
        switch (ch) {
        case 'd': dir = optarg; break;
        case 'R': redis = optarg; break;
        case 't': threads = atoi(optarg); break;
        case 'J': json = true; break;
        case 'K': keep = true; break;
        case 's': {
            char *p = optarg, *end;
            for (nsizes = 0; *p && nsizes < MAX_SIZES; p = *end ? end + 1 : end) {
                sizes[nsizes] = strtoul(p, &end, 10);
                if (end == p || sizes[nsizes] < CORE)
                    usage();
                nsizes++;
            }
            break;
        }
        default: usage();
        }
    }
    if (optind != argc || threads < 1 || threads > MAX_THREADS || nsizes == 0)
        usage();

    log_open("wlswap", "mail", LOGL_WARNING, true);

    struct config *cfg = redis ? redis_config(redis) : NULL;
    redisContext *rc = NULL;
    struct err err;
    if (cfg != NULL && (rc = redis_connect(&cfg->redis, &err)) == NULL) {
        fprintf(stderr, "wlswap: Redis: %s\n", err.msg);
        return 1;
    }

    pthread_t th[MAX_THREADS];
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, lookup_main, (void *) (uintptr_t) (i * 7919 + 1));

    struct result res[MAX_SIZES];
    char xml[MAX_SIZES][512];
    size_t written = 0;
    int status = 0;
    bool use_redis = rc != NULL;
    memset(res, 0, sizeof(res));
    for (size_t i = 0; i < nsizes && status == 0; i++) {
        struct stat st;
        snprintf(xml[i], sizeof(xml[i]), "%s/wlswap-%zu.xml", dir, sizes[i]);
        written = i + 1;
        if (generate(xml[i], sizes[i], &res[i].entries) < 0 || stat(xml[i], &st) < 0) {
            fprintf(stderr, "wlswap: cannot write %s: %s\n", xml[i], strerror(errno));
            status = 1;
        } else {
            res[i].xml_bytes = st.st_size;
        }
    }
    /* A list in force before the first measured swap, as in a daemon that
     * is already serving: every measured swap replaces one. */
    if (status == 0 && preinstall(xml[0]) < 0)
        status = 1;
    for (size_t i = 0; i < nsizes && status == 0; i++) {
        struct whitelist *wl = load_list(xml[i], rc, &res[i]);
        if (wl == NULL) {
            status = 1;
            break;
        }
        swap_emulated(wl, &res[i]);
    }

    if (status == 0 && use_redis) {
        if (live_start(&cfg->live, &cfg->redis) < 0) {
            status = 1;
        } else {
            /* The poll thread's first round reloads the version in force on
             * its fresh connection (live.c re-checks after every connect):
             * let it finish so that it is idle when we publish. */
            pause_ms(1000);
            for (size_t i = 0; i < nsizes; i++)
                swap_live(rc, xml[i], &res[i]);
            live_stop();
        }
    }

    atomic_store(&L.stop, true);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    pthread_rwlock_wrlock(&emu_lock);
    whitelist_free((struct whitelist *) emu_list);
    emu_list = NULL;
    pthread_rwlock_unlock(&emu_lock);
    if (rc != NULL) {
        redis_cleanup(rc);
        redisFree(rc);
    }
    for (size_t i = 0; i < written && !keep; i++)
        unlink(xml[i]);
    config_free(cfg);
    if (status == 0) {
        if (json)
            print_json(res, nsizes, use_redis);
        else
            print_text(res, nsizes, use_redis);
    }
    return status;
}
