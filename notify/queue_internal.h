/*
 * queue_internal.h - what the notice queue (queue.c) and its sending
 * worker (worker.c) share; not for use outside notify/.
 *
 * queue.c owns everything that touches the Redis layout (the Lua scripts,
 * keys, address checks, claiming and rescheduling an item); worker.c owns
 * the thread, libcurl's SMTP client and the retry policy.  The worker
 * structure lives here because claiming reads its keys, token and lease.
 */
#ifndef MSSANTE_NOTIFY_QUEUE_INTERNAL_H
#define MSSANTE_NOTIFY_QUEUE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "notify/queue.h"
#include "policy/address.h"

#define DEFAULT_PREFIX  "mssante:"
#define PREFIX_MAX      100
#define KEY_MAX         (PREFIX_MAX + 64)
#define ADDR_MAX        (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2)

struct qkeys {
    char seq[KEY_MAX], queue[KEY_MAX], stats[KEY_MAX], item[KEY_MAX];
};

struct notify_worker {
    struct notify_worker_params p;   /* strings point at the copies below */
    char *prefix, *url, *sender, *helo;
    struct qkeys k;
    char token_base[96];
    unsigned long long claims;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;                   /* under mu; also read unlocked by curl's callback */
    bool kicked;
};

/* One claimed item. */
struct item {
    char id[32];
    char mailbox[ADDR_MAX];
    char target[ADDR_MAX];
    long long created;
    long long attempts;
    char kind[16];                   /* "": forwarding notice; "held": notify/held.h */
    char ref[32];                    /* held: the queue id */
    char token[128];
};

/* Scripts passed to nq_item_script (KEYS and ARGV in queue.c). */
extern const char nq_finish_lua[];
extern const char nq_retry_lua[];

/* Fill K for PREFIX (NULL: the default).  0, or -1 + err. */
int nq_make_keys(struct qkeys *k, const char *prefix, struct err *err);

/* A plain address (empty allowed when MAY_BE_EMPTY).  0, or -1 + err. */
int nq_check_addr(const char *what, const char *a, bool may_be_empty, struct err *err);

/* Claim the first due item: 1 claimed, 0 none due, -1 Redis error. */
int nq_claim(struct notify_worker *w, redisContext *c, struct item *it,
             struct err *err);

/* Run one of the item scripts.  1 done, 0 the item was not ours, -1 error. */
int nq_item_script(struct notify_worker *w, redisContext *c, const struct item *it,
                   const char *script, const char *what, const char *a3,
                   const char *a4, const char *a5, struct err *err);

#endif
