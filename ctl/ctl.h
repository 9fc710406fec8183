/*
 * ctl.h - what the parts of mssantectl share: exit codes, messages, where
 * the whitelist comes from, and the two command families.
 *
 * mssantectl is the operator's tool next to the daemon: it reads the same
 * configuration file and the same whitelist (Redis, then the snapshot, or
 * the WhitelistFile), and classifies addresses with the daemon's own policy
 * code, so its answers are the daemon's answers.
 */
#ifndef MSSANTE_CTL_H
#define MSSANTE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jansson.h>

#include "config/config.h"
#include "policy/classify.h"
#include "whitelist/whitelist.h"

/* Exit codes (documented in the usage text). */
#define CTL_OK           0   /* done; for check: every address is in the trust space */
#define CTL_FAIL         1   /* check: a classic/invalid address; load: file refused */
#define CTL_USAGE        2   /* bad command line or configuration */
#define CTL_UNAVAILABLE  3   /* no whitelist could be read, or Redis failed */

struct ctl {
    const struct config *cfg;
    bool json;
    bool show_ins;           /* --show-ins: patients' identifiers in full */
};

/* "mssantectl: ..." / "mssantectl: warning: ..." on stderr, one line. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The text of the last ctl_error(), "" when none (for a report that
 * must carry the reason, e.g. mssantectl status). */
const char *ctl_last_error(void);

/* Where the list in use was read from. */
enum wl_origin { WL_FROM_REDIS = 0, WL_FROM_SNAPSHOT, WL_FROM_FILE };
const char *wl_origin_name(enum wl_origin o);     /* "redis", "snapshot", "file" */

/* The list the daemon would serve, and what is known about it. */
struct wl_info {
    enum wl_origin origin;
    char version[64];
    char previous[64];       /* "" when none (or not from Redis) */
    char generated[40];
    char sha256[65];
    char source[512];
    time_t loaded;           /* 0 when unknown */
    size_t count;
    size_t entries;
    struct whitelist *wl;    /* owned; NULL when only the metadata was asked for */
};

/*
 * Find the list the way the daemon does: Redis when configured (falling
 * back to SnapshotFile, with a warning, when Redis cannot be read, and to
 * WhitelistFile when Redis holds no list yet, since the daemon would publish
 * it); WhitelistFile when Redis is not configured.  With need_domains false
 * only the metadata is read from Redis.  Returns 0, or -1 after printing why
 * nothing could be read.
 */
int wl_find(const struct config *cfg, bool need_domains, struct wl_info *info);
void wl_info_release(struct wl_info *info);

/* Commands: argv[0] is the command word; they return an exit code. */
int cmd_check(const struct ctl *ctl, int argc, char **argv);

/* "check" describing a message (check_message.c): --from, --client,
 * --auth, --cert-cn; NULL / false when not given. */
struct check_opts {
    const char *from;
    const char *client;
    bool auth;
    const char *cert_cn;
};
int check_message(const struct ctl *ctl, const struct policy_env *env,
                  const struct wl_info *info, const struct check_opts *o, char **addrs, int n);
json_t *whitelist_json(const struct wl_info *info);     /* cmd_check.c */
int cmd_whitelist(const struct ctl *ctl, int argc, char **argv);

/* The fetcher's sub-commands and its part of "whitelist status"
 * (cmd_fetch.c); argv[1] is the sub-command word. */
int cmd_whitelist_fetch(const struct ctl *ctl, int argc, char **argv);
int cmd_whitelist_rollback(const struct ctl *ctl, int argc, char **argv);
json_t *fetch_status_json(const struct config *cfg);     /* never NULL */
void fetch_status_text(const struct config *cfg);
int cmd_conversation(const struct ctl *ctl, int argc, char **argv);
/* "conversation import" (cmd_conv_import.c); argv[1] is "import". */
int cmd_conversation_import(const struct ctl *ctl, int argc, char **argv);
struct redisContext;
/* A Redis connection for the conversations, or NULL after saying why. */
struct redisContext *conversation_ctl_connect(const struct config *cfg);
int cmd_stats(const struct ctl *ctl, int argc, char **argv);      /* cmd_stats.c */
int cmd_redis(const struct ctl *ctl, int argc, char **argv);      /* cmd_redis.c */

/* Forwarding rules, Postfix table audit, notices (cmd_forwards.c,
 * cmd_forwards_audit.c, cmd_notify.c); argv[1] is the sub-command word. */
int cmd_forwards(const struct ctl *ctl, int argc, char **argv);
int cmd_forwards_audit(const struct ctl *ctl, int argc, char **argv);
int cmd_forwards_rewrite(const struct ctl *ctl, int argc, char **argv);
int cmd_notify(const struct ctl *ctl, int argc, char **argv);
/* The daemon's held mail and its health (cmd_held.c, cmd_status.c). */
int cmd_held(const struct ctl *ctl, int argc, char **argv);
int cmd_status(const struct ctl *ctl, int argc, char **argv);
struct redisContext;
/* A Redis connection for the rules, or NULL after saying why. */
struct redisContext *fwd_ctl_connect(const struct config *cfg);
/* ENV for classifying addresses: LocalDomains, PatientDomain and, when
 * the list can be read (0), the whitelist in INFO (release it).  -1: no
 * list (ENV classifies nothing); a warning unless REQUIRED. */
int fwd_ctl_env(const struct config *cfg, bool required, struct wl_info *info,
                struct policy_env *env);

/* Patients' identifiers are health data: shown as LogPatientId says
 * (common/logid.h), like the daemon's log, unless --show-ins (output.c).
 * The key of LogPatientId hash is read on first use; when it cannot be
 * (not root nor the daemon's user), the ids are masked, with a warning. */
void ctl_patient_id(const struct ctl *ctl, const char *id, char *buf, size_t size);
/* TEXT with every address in PatientDomain so shown; returns BUF. */
const char *ctl_patients(const struct ctl *ctl, const char *text, char *buf, size_t size);

/* Output helpers (output.c). */
void format_utc(time_t t, char *buf, size_t size);          /* 2025-03-13T14:54:10Z */
void format_age(long long seconds, char *buf, size_t size); /* "12d 3h", "5h 2m", "7m" */
int print_json(json_t *root);                               /* steals root; 0 or -1 */
json_t *json_text(const char *s);      /* a JSON string even from bad UTF-8 */
json_t *json_string_or_null(const char *s);                 /* NULL/"" -> null */

#endif
