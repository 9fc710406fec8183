/*
 * cmd_conversation.c - "mssantectl conversation ...": the patient
 * conversations the daemons keep in Redis (conversation/store.h).
 *
 *   show MAILBOX PATIENT    one conversation: state, dates, who closed it
 *   list MAILBOX            every conversation of a mailbox
 *   open MAILBOX PATIENT    admin override: open (or reopen) it, as an
 *                           outbound message would
 *   close MAILBOX PATIENT   admin override: close it, as a [FIN] would
 *   import [--dry-run] FILE the conversations that began before the milter
 *                           (cmd_conv_import.c)
 *
 * MAILBOX is a local address; PATIENT an INS matricule or the patient's
 * whole address.  The overrides are logged to syslog (the daemon's
 * facility) with who ran them: a patient's conversation opened by hand is
 * an access decision someone must be able to trace.  "open" needs a valid
 * matricule; show/list/close also accept one the daemon let through under
 * PatientKeyCheck warn, with a warning.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/log.h"
#include "common/logid.h"
#include "conversation/store.h"
#include "ctl/ctl.h"
#include "policy/address.h"
#include "policy/ins.h"
#include "whitelist/store.h"

#define MAILBOX_MAX (ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2)

/* The normalised arguments of one command. */
struct conv_args {
    char mailbox[MAILBOX_MAX];
    char patient[CONV_ID_MAX + 1];
};

/* ------------------------------------------------------------------ */
/* Arguments                                                            */
/* ------------------------------------------------------------------ */

static int parse_mailbox(const struct config *cfg, const char *arg, struct conv_args *a)
{
    struct mailaddr addr;
    const char *why = NULL;

    if (addr_parse(arg, &addr, &why) != ADDR_OK) {
        ctl_error("\"%s\" is not a mailbox address: %s", arg, why ? why : "empty");
        return -1;
    }
    if (!config_is_local_domain(cfg, addr.domain))
        ctl_warn("%s is not in LocalDomains: no daemon records conversations for it",
                 addr.domain);
    addr_format(&addr, a->mailbox, sizeof(a->mailbox));
    return 0;
}

/*
 * PATIENT is a matricule or a whole address in PatientDomain.  With STRICT
 * a matricule that fails the INS check is an error; otherwise a warning,
 * and the id is what the daemon would have used under PatientKeyCheck warn.
 */
static int parse_patient(const struct config *cfg, const char *arg, bool strict,
                         struct conv_args *a)
{
    char local[ADDR_LOCAL_MAX + 1];
    const char *id;
    struct ins_result ins;

    if (strchr(arg, '@') != NULL) {
        struct mailaddr addr;
        const char *why = NULL;

        if (addr_parse(arg, &addr, &why) != ADDR_OK) {
            ctl_error("\"%s\" is not a patient address: %s", arg, why ? why : "empty");
            return -1;
        }
        if (strcmp(addr.domain, cfg->rules.patient_domain) != 0) {
            ctl_error("%s is not a patient address (PatientDomain is %s)", arg,
                      cfg->rules.patient_domain);
            return -1;
        }
        snprintf(local, sizeof(local), "%s", addr.local);
    } else {
        snprintf(local, sizeof(local), "%s", arg);
    }
    /* ins.reason never holds a key (policy/ins.h). */
    switch (ins_check(local, &ins)) {
    case INS_OK:
        break;
    case INS_BAD_KEY:
        if (strict) {
            ctl_error("%s: the INS matricule key does not match (typo?)", local);
            return -1;
        }
        ctl_warn("%s: the INS matricule key does not match (typo?)", local);
        break;
    case INS_BAD_SHAPE:
        if (strict || local[0] == '\0') {
            ctl_error("\"%s\" is not an INS matricule (%s)", local, ins.reason);
            return -1;
        }
        ctl_warn("\"%s\" is not an INS matricule (%s)", local, ins.reason);
        break;
    }
    id = ins.status == INS_BAD_SHAPE ? local : ins.normalized;
    if (strlen(id) > CONV_ID_MAX) {
        ctl_error("patient id longer than %d characters", CONV_ID_MAX);
        return -1;
    }
    snprintf(a->patient, sizeof(a->patient), "%s", id);
    return 0;
}

redisContext *conversation_ctl_connect(const struct config *cfg)
{
    struct err err;
    redisContext *c;

    if (!redis_configured(&cfg->redis)) {
        ctl_error("conversations live in Redis, and %s has no Redis setting",
                  cfg->path ? cfg->path : "the configuration");
        return NULL;
    }
    if ((c = redis_connect(&cfg->redis, &err)) == NULL)
        ctl_error("%s", err.msg);
    return c;
}

/* ------------------------------------------------------------------ */
/* Output                                                               */
/* ------------------------------------------------------------------ */

static json_t *json_time(long long t)
{
    char buf[32];

    if (t <= 0)
        return json_null();
    format_utc((time_t)t, buf, sizeof(buf));
    return json_text(buf);
}

static json_t *info_json(const struct ctl *ctl, const char *mailbox,
                         const struct conv_info *info)
{
    json_t *o = json_object();
    char patient[LOGID_MAX];

    ctl_patient_id(ctl, info->patient, patient, sizeof(patient));
    json_object_set_new(o, "mailbox", json_text(mailbox));
    json_object_set_new(o, "patient", json_text(patient));
    json_object_set_new(o, "state", json_text(conv_state_name(info->state)));
    json_object_set_new(o, "opened", json_time(info->opened_at));
    json_object_set_new(o, "last_activity", json_time(info->last_activity));
    json_object_set_new(o, "closed", json_time(info->closed_at));
    json_object_set_new(o, "closed_by_qid", json_string_or_null(info->closed_by_qid));
    json_object_set_new(o, "imported", json_time(info->imported_at));
    json_object_set_new(o, "expires_in", info->state == CONV_NONE || info->ttl < 0
                        ? json_null() : json_integer((json_int_t)info->ttl));
    return o;
}

static void print_time(const char *label, long long t)
{
    char buf[32];

    format_utc((time_t)t, buf, sizeof(buf));
    printf("%-15s%s\n", label, t > 0 ? buf : "-");
}

static void info_text(const struct ctl *ctl, const char *mailbox, const struct conv_info *info)
{
    char age[32], patient[LOGID_MAX];

    ctl_patient_id(ctl, info->patient, patient, sizeof(patient));
    printf("%-15s%s\n", "mailbox:", mailbox);
    printf("%-15s%s\n", "patient:", patient);
    printf("%-15s%s\n", "state:", conv_state_name(info->state));
    if (info->state == CONV_NONE)
        return;
    print_time("opened:", info->opened_at);
    print_time("last activity:", info->last_activity);
    print_time("closed:", info->closed_at);
    printf("%-15s%s\n", "closed by:", info->closed_by_qid[0] ? info->closed_by_qid : "-");
    if (info->imported_at > 0)
        print_time("imported:", info->imported_at);
    format_age(info->ttl, age, sizeof(age));
    printf("%-15s%s\n", "expires in:", info->ttl < 0 ? "never" : age);
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */
/* ------------------------------------------------------------------ */

static int conv_show(const struct ctl *ctl, const struct conv_args *a)
{
    struct err err;
    struct conv_info info;
    redisContext *c;
    int rc;

    if ((c = conversation_ctl_connect(ctl->cfg)) == NULL)
        return redis_configured(&ctl->cfg->redis) ? CTL_UNAVAILABLE : CTL_USAGE;
    rc = conv_get(c, ctl->cfg->redis.prefix, a->mailbox, a->patient, &info, &err);
    redisFree(c);
    if (rc < 0) {
        ctl_error("%s", err.msg);
        return CTL_UNAVAILABLE;
    }
    if (ctl->json) {
        if (print_json(info_json(ctl, a->mailbox, &info)) < 0)
            return CTL_UNAVAILABLE;
    } else {
        info_text(ctl, a->mailbox, &info);
    }
    return rc == 1 ? CTL_OK : CTL_FAIL;
}

struct list_ctx {
    const struct ctl *ctl;
    const char *mailbox;
    json_t *array;
};

static int list_one(void *arg, const struct conv_info *info)
{
    struct list_ctx *lc = arg;
    char opened[32], last[32], closed[32], patient[LOGID_MAX];

    if (lc->ctl->json) {
        json_array_append_new(lc->array, info_json(lc->ctl, lc->mailbox, info));
        return 0;
    }
    ctl_patient_id(lc->ctl, info->patient, patient, sizeof(patient));
    format_utc((time_t)info->opened_at, opened, sizeof(opened));
    format_utc((time_t)info->last_activity, last, sizeof(last));
    format_utc((time_t)info->closed_at, closed, sizeof(closed));
    printf("%-25s %-7s %-21s %-21s %-21s %s\n", patient, conv_state_name(info->state),
           info->opened_at > 0 ? opened : "-", info->last_activity > 0 ? last : "-",
           info->closed_at > 0 ? closed : "-",
           info->closed_by_qid[0] ? info->closed_by_qid : "-");
    return 0;
}

static int conv_list_cmd(const struct ctl *ctl, const struct conv_args *a)
{
    struct list_ctx lc = { ctl, a->mailbox, NULL };
    struct err err;
    redisContext *c;
    json_t *o;
    int n;

    if ((c = conversation_ctl_connect(ctl->cfg)) == NULL)
        return redis_configured(&ctl->cfg->redis) ? CTL_UNAVAILABLE : CTL_USAGE;
    if (ctl->json && (lc.array = json_array()) == NULL) {
        redisFree(c);
        ctl_error("out of memory");
        return CTL_UNAVAILABLE;
    }
    if (!ctl->json)
        printf("%-25s %-7s %-21s %-21s %-21s %s\n", "PATIENT", "STATE", "OPENED",
               "LAST-ACTIVITY", "CLOSED", "CLOSED-BY");
    n = conv_list(c, ctl->cfg->redis.prefix, a->mailbox, list_one, &lc, &err);
    redisFree(c);
    if (n < 0) {
        json_decref(lc.array);
        ctl_error("%s", err.msg);
        return CTL_UNAVAILABLE;
    }
    if (!ctl->json)
        return CTL_OK;
    o = json_object();
    json_object_set_new(o, "mailbox", json_text(a->mailbox));
    json_object_set_new(o, "count", json_integer(n));
    json_object_set_new(o, "conversations", lc.array);
    return print_json(o) == 0 ? CTL_OK : CTL_UNAVAILABLE;
}

/* Syslog line for an override, with who ran it; the patient as the
 * daemon's log shows patients (LogPatientId), whatever --show-ins says. */
static void log_override(const struct ctl *ctl, const char *what, const struct conv_args *a,
                         enum conv_state before)
{
    const struct config *cfg = ctl->cfg;
    const char *user = getenv("SUDO_USER");
    enum logid_mode shown;
    char patient[LOGID_MAX];

    ctl_patient_id(ctl, a->patient, patient, sizeof(patient));   /* the key, read once */
    shown = logid_mode();
    logid_set_mode(cfg->logid.mode);
    logid_format(a->patient, patient, sizeof(patient));
    logid_set_mode(shown);
    log_open("mssantectl", cfg->log.facility, LOGL_NOTICE, false);
    log_notice("admin override: conversation %s <-> %s %s (was %s) by uid %ld%s%s",
               a->mailbox, patient, what, conv_state_name(before), (long)getuid(),
               user ? " sudo_user=" : "", user ? user : "");
    log_close();
}

static int report_override(const struct ctl *ctl, const char *action, const struct conv_args *a,
                           const struct conv_info *before, const struct conv_info *after)
{
    char patient[LOGID_MAX];
    json_t *o;

    if (!ctl->json) {
        ctl_patient_id(ctl, a->patient, patient, sizeof(patient));
        printf("%s: %s <-> %s (was %s)\n", action, a->mailbox, patient,
               conv_state_name(before->state));
        info_text(ctl, a->mailbox, after);
        return CTL_OK;
    }
    o = info_json(ctl, a->mailbox, after);
    json_object_set_new(o, "action", json_text(action));
    json_object_set_new(o, "previous", json_text(conv_state_name(before->state)));
    return print_json(o) == 0 ? CTL_OK : CTL_UNAVAILABLE;
}

/* open or close (CLOSE), then read the record back for the report. */
static int conv_override(const struct ctl *ctl, const struct conv_args *a, bool close)
{
    const struct config *cfg = ctl->cfg;
    struct conv_info before, after;
    struct err err;
    char qid[CONV_QID_MAX + 1];
    long long now = (long long)time(NULL);
    redisContext *c;
    int rc;

    if ((c = conversation_ctl_connect(cfg)) == NULL)
        return redis_configured(&cfg->redis) ? CTL_UNAVAILABLE : CTL_USAGE;
    /* Not a Postfix queue id: says where the closure came from. */
    snprintf(qid, sizeof(qid), "mssantectl-%lld-%ld", now, (long)getpid());
    rc = conv_get(c, cfg->redis.prefix, a->mailbox, a->patient, &before, &err);
    if (rc >= 0) {
        /* As the daemon writes it: on RedisMinReplicas replicas, or undone. */
        const char *ids[1] = { a->patient };
        struct conv_record w = { a->mailbox, ids, 1, close, qid, now,
                                 cfg->rules.conversation_ttl };
        int result;

        rc = conv_record(c, &cfg->redis, &w, &result, &err);
    }
    if (rc >= 0)
        rc = conv_get(c, cfg->redis.prefix, a->mailbox, a->patient, &after, &err);
    redisFree(c);
    if (rc < 0) {
        ctl_error("%s", err.msg);
        return CTL_UNAVAILABLE;
    }
    log_override(ctl, close ? "closed" : "opened", a, before.state);
    return report_override(ctl, close ? "closed" : "opened", a, &before, &after);
}

static int usage_error(void)
{
    ctl_error("usage: mssantectl conversation show|open|close MAILBOX PATIENT, "
              "conversation list MAILBOX, or conversation import [--dry-run] FILE");
    return CTL_USAGE;
}

int cmd_conversation(const struct ctl *ctl, int argc, char **argv)
{
    struct conv_args a;
    const char *sub = argc >= 2 ? argv[1] : "";
    bool is_list = strcmp(sub, "list") == 0;
    bool is_open = strcmp(sub, "open") == 0;

    if (strcmp(sub, "import") == 0)
        return cmd_conversation_import(ctl, argc, argv);

    if (!is_list && !is_open && strcmp(sub, "show") != 0 && strcmp(sub, "close") != 0)
        return usage_error();
    if (argc != (is_list ? 3 : 4))
        return usage_error();
    memset(&a, 0, sizeof(a));
    if (parse_mailbox(ctl->cfg, argv[2], &a) < 0)
        return CTL_USAGE;
    if (is_list)
        return conv_list_cmd(ctl, &a);
    if (parse_patient(ctl->cfg, argv[3], is_open, &a) < 0)
        return CTL_USAGE;
    if (strcmp(sub, "show") == 0)
        return conv_show(ctl, &a);
    return conv_override(ctl, &a, !is_open);
}
