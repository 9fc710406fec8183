/*
 * fetch_publish.h - one whitelist refresh: download the ANS list, check
 * it, and publish it to Redis for every MX node.
 *
 * The steps, under a Redis lock so that only one node fetches at a time:
 *   take PREFIX wl:fetch:lock (SET NX PX, a random token, released with a
 *   compare-and-delete script: a lock that expired and was taken by
 *   another node is never deleted by us);
 *   read the current version's metadata (the guard's reference);
 *   fetch_list() with the ETag / Last-Modified of the current version;
 *   ans_parse_buffer(), guard_check(), store_publish();
 *   record the outcome in PREFIX wl:fetch, release the lock.
 *
 * PREFIX wl:fetch is a HASH read by "mssantectl whitelist status" and by
 * the daemons:
 *   last_attempt, last_success, last_error_at   unix times
 *   last_result        published | not-modified | unchanged | refused | failed
 *   last_error         one line; kept after later successes, with its time
 *   last_error_kind    fetch_error_name(), "refused" or "redis"
 *   node, last_token   who made the last attempt, and that attempt's lock token
 *   last_duration_ms
 *   checked_version    the version the last success confirmed as the ANS's list
 *   etag, last_modified, validators_for
 *                      the validators of that list and the version they
 *                      describe: sent only while it is still current, so a
 *                      rollback or a manual "whitelist load" never gets a
 *                      304 for a list that is not in force
 *   rolled_back_sha256 the list an operator rolled back from: refused
 *                      (unless forced) if the ANS still serves it
 */
#ifndef MSSANTE_FETCH_PUBLISH_H
#define MSSANTE_FETCH_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/redis.h"
#include "whitelist/fetch.h"

enum refresh_status {
    REFRESH_PUBLISHED = 0,   /* a new version is current */
    REFRESH_NOT_MODIFIED,    /* HTTP 304: the current version is still the ANS's */
    REFRESH_UNCHANGED,       /* downloaded, byte-identical to the current version */
    REFRESH_BUSY,            /* another fetch holds the lock; nothing done */
    REFRESH_REFUSED,         /* downloaded, but not a list to publish */
    REFRESH_FAILED           /* download or Redis failure */
};

struct refresh_options {
    bool force;              /* skip the shrink, age and rollback guards, and
                              * the conditional GET; never well-formedness or
                              * WhitelistMinDomains */
    const char *snapshot_file;   /* rewrite this SnapshotFile after a publish, or NULL
                                  * (mssantectl; in the daemon the poller does it
                                  * on install) */
    int (*cancel)(void *arg);    /* passed to fetch_list(), may be NULL */
    void *cancel_arg;
};

struct refresh_result {
    enum refresh_status status;
    bool redis_error;            /* FAILED because Redis failed, not the download */
    enum fetch_error_kind fetch_kind;
    long http_code;              /* 0 when no HTTP response */
    char version[64];            /* the version current afterwards ("" if none) */
    char previous[64];           /* PUBLISHED: the version it replaced */
    size_t count;                /* of the downloaded list (or the current one) */
    size_t entries;
    char generated[40];
    char sha256[65];
    char holder[160];            /* BUSY: the lock's token (node:pid:random) */
    bool snapshot_written;
    char reason[1024];           /* one line: the guard's verdict or the error */
    char warning[512];           /* "" or a problem after the fact */
};

/* What PREFIX wl:fetch holds (fields absent in Redis are 0 / ""). */
struct refresh_state {
    long long last_attempt;
    long long last_success;
    long long last_error_at;
    long long last_duration_ms;
    char last_result[32];
    char last_error[1024];
    char last_error_kind[32];
    char node[128];
    char last_token[160];
    char checked_version[64];
    char etag[256];
    char last_modified[64];
    char validators_for[64];
    char rolled_back_sha256[65];
};

void refresh_options_init(struct refresh_options *opt);

/* Run one refresh with connection C (the caller's), as FS says, in the
 * Redis RS names (a new connection is made from RS for the record and the
 * lock when C failed meanwhile).  Always fills OUT and returns OUT->status. */
enum refresh_status whitelist_refresh(const struct fetch_settings *fs,
                                      const struct redis_settings *rs, redisContext *c,
                                      const struct refresh_options *opt,
                                      struct refresh_result *out);

/* "published", "not-modified", "unchanged", "busy", "refused", "failed". */
const char *refresh_status_name(enum refresh_status s);

/* True for the outcomes after which the current version is the ANS's. */
bool refresh_status_ok(enum refresh_status s);

/* Read PREFIX wl:fetch: 1 read, 0 no fetch ever recorded, -1 error. */
int refresh_read_state(redisContext *c, const char *prefix, struct refresh_state *st,
                       struct err *err);

/* How long a fetch may hold the lock: its timeouts plus a margin for the
 * Redis work.  It expires by itself if the holder dies. */
long long refresh_lock_ttl_ms(const struct fetch_settings *fs);

/* Wait until nobody holds the fetch lock, polling: 0 free, 1 still held
 * after timeout_ms, -1 error.  The token that held it goes to holder
 * (when not NULL) so the caller can find that attempt's result. */
int refresh_wait_unlocked(redisContext *c, const char *prefix, long long timeout_ms,
                          char *holder, size_t holderlen, struct err *err);

/* Remember that the list with this sha256 was rolled back from, so that
 * the fetcher does not publish it again.  0 or -1 + err. */
int refresh_note_rollback(redisContext *c, const char *prefix, const char *sha256,
                          struct err *err);

#endif
