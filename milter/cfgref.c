/*
 * cfgref.c - the configuration in force and its reload (see cfgref.h).
 *
 * A small list of holders, the current one first, each with a count of
 * the connections using it.  A connection takes a reference at connect
 * and gives it back at close; a holder that is no longer current is freed
 * when its last connection closes.  The startup configuration is never
 * freed here: the modules started with it (the whitelist poller, the
 * Redis pools, the stats thread) keep using it, which is why the keys
 * they read are restart-only (the table's restart class, config/keys.c;
 * config_keep_restart_keys() keeps them).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/err.h"
#include "common/log.h"
#include "milter/cfgref.h"
#include "pipeline/pipeline.h"
#include "stats/stats.h"
#include "stats/status.h"
#include "whitelist/live.h"
#include "whitelist/whitelist.h"

struct holder {
    struct config *cfg;
    bool owned;              /* loaded by a reload: freed here */
    unsigned refs;           /* connections using it */
    struct holder *next;
};

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct holder *holders;      /* the current one first; guarded by cfg_lock */
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct config *startup_cfg;
static cfgref_finish_fn finish_fn;

/* ---- holders ------------------------------------------------------------- */

static struct holder *holder_new(struct config *cfg, bool owned)
{
    struct holder *h = calloc(1, sizeof(*h));

    if (h != NULL) {
        h->cfg = cfg;
        h->owned = owned;
    }
    return h;
}

static void holder_free(struct holder *h)
{
    if (h == NULL)
        return;
    if (h->owned)
        config_free(h->cfg);
    free(h);
}

const struct config *cfgref_acquire(void)
{
    const struct config *cfg = NULL;

    pthread_mutex_lock(&cfg_lock);
    if (holders != NULL) {
        holders->refs++;
        cfg = holders->cfg;
    }
    pthread_mutex_unlock(&cfg_lock);
    return cfg;
}

void cfgref_release(const struct config *cfg)
{
    struct holder **pp, *gone = NULL;

    if (cfg == NULL)
        return;
    pthread_mutex_lock(&cfg_lock);
    for (pp = &holders; *pp != NULL; pp = &(*pp)->next) {
        struct holder *h = *pp;

        if (h->cfg != cfg)
            continue;
        if (h->refs > 0)
            h->refs--;
        /* Not current any more and nobody uses it: done with it. */
        if (h->refs == 0 && h != holders) {
            *pp = h->next;
            gone = h;
        }
        break;
    }
    pthread_mutex_unlock(&cfg_lock);
    holder_free(gone);
}

const struct config *cfgref_startup(void)
{
    return startup_cfg;
}

/* Make H current.  The previous one goes when no connection holds it. */
static void install(struct holder *h)
{
    struct holder *old, *gone = NULL;

    pthread_mutex_lock(&cfg_lock);
    old = holders;
    h->next = holders;
    holders = h;
    if (old != NULL && old->refs == 0) {
        h->next = old->next;
        gone = old;
    }
    pthread_mutex_unlock(&cfg_lock);
    holder_free(gone);
}

int cfgref_init(const struct config *startup, cfgref_finish_fn finish)
{
    /* The startup configuration belongs to the caller: never freed here. */
    struct holder *h = holder_new((struct config *)(uintptr_t)startup, false);

    if (h == NULL) {
        log_error("out of memory");
        return -1;
    }
    startup_cfg = startup;
    finish_fn = finish;
    install(h);
    return 0;
}

void cfgref_free(void)
{
    struct holder **pp;

    /* Connections still open (smfi_main returned on an error, or SIGINT)
     * keep their holder: the process is about to exit. */
    pthread_mutex_lock(&cfg_lock);
    for (pp = &holders; *pp != NULL;) {
        struct holder *h = *pp;

        if (h->refs == 0) {
            *pp = h->next;
            holder_free(h);
        } else {
            pp = &h->next;
        }
    }
    pthread_mutex_unlock(&cfg_lock);
    startup_cfg = NULL;
}

/* ---- reload ------------------------------------------------------------------ */

/* Why the last reload failed: its first error, for "mssantectl status". */
static struct err reload_why;

static void log_config_error(void *arg, const char *line)
{
    (void)arg;
    log_error("reload: %s", line);
    if (reload_why.msg[0] == '\0')
        err_set(&reload_why, "%s", line);
}

void cfgref_warn_unlisted(const struct config *cfg)
{
    const struct whitelist *wl = live_acquire();

    for (size_t i = 0; wl != NULL && i < cfg->rules.local_domains.n; i++)
        if (!whitelist_lookup(wl, cfg->rules.local_domains.v[i]))
            log_warning("LocalDomains: %s is not on the whitelist in force (version %s): "
                        "other operators will refuse its mail", cfg->rules.local_domains.v[i],
                        wl->version);
    live_release();
}

static int reload_locked(void)
{
    const struct config *running;
    struct config *fresh;
    struct holder *h;

    err_clear(&reload_why);
    fresh = config_load_report(startup_cfg->path, log_config_error, NULL);
    if (fresh == NULL) {
        log_error("reload: %s has errors: the running configuration stays in force",
                  startup_cfg->path);
        return -1;
    }
    if (finish_fn != NULL && finish_fn(fresh) < 0) {
        log_error("reload: %s cannot be used: the running configuration stays in force",
                  startup_cfg->path);
        err_set(&reload_why, "%s cannot be used (see the log)", startup_cfg->path);
        config_free(fresh);
        return -1;
    }
    running = cfgref_acquire();
    if (config_keep_restart_keys(fresh, running) < 0
        || (h = holder_new(fresh, true)) == NULL) {
        cfgref_release(running);
        err_set(&reload_why, "out of memory");
        log_error("reload: out of memory: the running configuration stays in force");
        config_free(fresh);
        return -1;
    }
    cfgref_release(running);
    install(h);
    log_set_level(fresh->log.level);
    log_notice("reloaded %s: %zu local domain(s)%s; connections already open keep the "
               "previous configuration", fresh->path, fresh->rules.local_domains.n,
               pl_modes_note(&fresh->rules));
    cfgref_warn_unlisted(fresh);
    return 0;
}

int cfgref_reload(void)
{
    int rc;

    if (startup_cfg == NULL)
        return -1;
    pthread_mutex_lock(&reload_lock);
    rc = reload_locked();
    stats_reload(rc == 0);
    if (rc < 0)
        stats_status_reload_error(reload_why.msg);
    pthread_mutex_unlock(&reload_lock);
    return rc;
}
