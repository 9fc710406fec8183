/*
 * cmd_conv_import.c - "mssantectl conversation import [--dry-run] FILE":
 * the patient conversations that began before the milter, from a CSV
 * file (conversation/import.h for the format), into Redis.
 *
 * Each valid line fills a gap (conversation/store.h conv_import()): a
 * conversation the store already holds, open or closed, is left as it is,
 * so running the same file twice changes nothing, and an import never
 * reopens a closure the milter recorded.  A line that repeats an earlier
 * one is "already there" too.  At the end: how many were imported, were
 * already there, were refused, and each refused line with its reason.
 * --dry-run reads the same and writes nothing.  "-" reads standard input.
 *
 * Opening conversations is an access decision: the import is logged to
 * syslog (the daemon's facility) with its counts and who ran it.
 *
 * Exit: 0 every line imported or already there, 1 some line refused (the
 * others are imported), 2 usage, configuration or an unreadable file,
 * 3 Redis failed (what was done stays done; running the file again is
 * safe).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "common/log.h"
#include "common/logid.h"
#include "conversation/import.h"
#include "conversation/store.h"
#include "ctl/ctl.h"

/* The (mailbox, patient) pairs seen in the file, and on which line:
 * open addressing, doubled when half full. */
struct seen {
    char **keys;
    long *lines;
    size_t cap, n;
};

static unsigned long hash(const char *s)
{
    unsigned long h = 5381;

    for (; *s != '\0'; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

/* The line KEY was first seen on (0: new, now remembered as LINE); -1
 * when out of memory. */
static long seen_add(struct seen *s, const char *key, long line)
{
    size_t i;

    if (2 * (s->n + 1) > s->cap) {
        struct seen bigger = { NULL, NULL, s->cap ? 2 * s->cap : 1024, 0 };

        if ((bigger.keys = calloc(bigger.cap, sizeof(char *))) == NULL
            || (bigger.lines = calloc(bigger.cap, sizeof(long))) == NULL) {
            free(bigger.keys);
            return -1;
        }
        for (i = 0; i < s->cap; i++) {
            size_t j;

            if (s->keys[i] == NULL)
                continue;
            for (j = hash(s->keys[i]) % bigger.cap; bigger.keys[j] != NULL;)
                j = (j + 1) % bigger.cap;
            bigger.keys[j] = s->keys[i];
            bigger.lines[j] = s->lines[i];
            bigger.n++;
        }
        free(s->keys);
        free(s->lines);
        *s = bigger;
    }
    for (i = hash(key) % s->cap; s->keys[i] != NULL; i = (i + 1) % s->cap)
        if (strcmp(s->keys[i], key) == 0)
            return s->lines[i];
    if ((s->keys[i] = strdup(key)) == NULL)
        return -1;
    s->lines[i] = line;
    s->n++;
    return 0;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->keys[i]);
    free(s->keys);
    free(s->lines);
}

/* One import. */
struct run {
    const struct ctl *ctl;
    const char *file;
    bool dry_run;
    redisContext *redis;
    struct import_rules rules;
    struct seen seen;
    unsigned long imported, present, refused;
    char refused_lines[256];        /* "4, 7, 9" (cut with "...") */
    json_t *lines;                  /* --json: one object per line that is a row or refused */
};

static void note_refused(struct run *r, long line)
{
    size_t used = strlen(r->refused_lines);
    char num[32];

    snprintf(num, sizeof(num), "%s%ld", used ? ", " : "", line);
    if (used + strlen(num) + 5 < sizeof(r->refused_lines))
        strcat(r->refused_lines, num);
    else if (strstr(r->refused_lines, "...") == NULL)
        strcat(r->refused_lines, ", ...");
    r->refused++;
}

/* WHAT with the patient it names (import.h's reasons start 'patient "X"')
 * shown as LogPatientId says unless --show-ins: the report is mssantectl
 * output like any other, and may end up in a ticket. */
static const char *shown_reason(const struct run *r, const char *what, char *buf, size_t size)
{
    static const char lead[] = "patient \"";
    const char *start = what + sizeof(lead) - 1, *end;
    char id[128], shown[LOGID_MAX + 128];

    if (strncmp(what, lead, sizeof(lead) - 1) != 0 || (end = strchr(start, '"')) == NULL) {
        snprintf(buf, size, "%s", what);
        return buf;
    }
    snprintf(id, sizeof(id), "%.*s", (int)(end - start), start);
    if (strchr(id, '@') != NULL)
        ctl_patients(r->ctl, id, shown, sizeof(shown));
    else
        ctl_patient_id(r->ctl, id, shown, sizeof(shown));
    snprintf(buf, size, "%s%s%s", lead, shown, end);
    return buf;
}

/* Report line LINE: STATUS (imported, present, refused), what, and for a
 * row its mailbox and patient (as LogPatientId says). */
static void report(struct run *r, long line, const char *status, const struct import_row *row,
                   const char *what)
{
    char text[512], patient[LOGID_MAX];
    json_t *o;

    what = shown_reason(r, what, text, sizeof(text));
    if (!r->ctl->json) {
        if (strcmp(status, "imported") != 0)
            printf("line %ld: %s: %s\n", line, strcmp(status, "present") == 0
                   ? "already there" : status, what);
        return;
    }
    o = json_object();
    json_object_set_new(o, "line", json_integer(line));
    json_object_set_new(o, "status", json_text(status));
    if (row != NULL) {
        json_object_set_new(o, "mailbox", json_text(row->mailbox));
        ctl_patient_id(r->ctl, row->patient, patient, sizeof(patient));
        json_object_set_new(o, "patient", json_text(patient));
    }
    json_object_set_new(o, "detail", json_text(what));
    json_array_append_new(r->lines, o);
}

/* What the store already holds, in words. */
static void describe(const struct conv_info *ex, char *buf, size_t size)
{
    char when[32];

    if (ex->state == CONV_CLOSED) {
        format_utc((time_t)ex->closed_at, when, sizeof(when));
        snprintf(buf, size, "closed %s, kept closed (an import never reopens a closure)",
                 ex->closed_at > 0 ? when : "(time unknown)");
    } else {
        format_utc((time_t)ex->opened_at, when, sizeof(when));
        snprintf(buf, size, "open since %s, kept", ex->opened_at > 0 ? when : "(unknown)");
    }
}

/* A valid ROW of line LINE: into the store (or, dry run, only looked
 * up).  -1 when Redis failed. */
static int import_row(struct run *r, long line, const struct import_row *row)
{
    char key[2 * CONV_ID_MAX + 2], what[160];
    struct conv_info ex;
    struct err err;
    long first;
    int rc;

    snprintf(key, sizeof(key), "%s\n%s", row->mailbox, row->patient);
    for (char *p = key; *p != '\n'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');     /* one mailbox, whatever its case */
    if ((first = seen_add(&r->seen, key, line)) < 0) {
        ctl_error("out of memory");
        return -1;
    }
    if (first > 0) {
        snprintf(what, sizeof(what), "same conversation as line %ld", first);
        r->present++;
        report(r, line, "present", row, what);
        return 0;
    }
    if (r->dry_run) {
        rc = conv_get(r->redis, r->ctl->cfg->redis.prefix, row->mailbox, row->patient, &ex, &err);
        if (rc == 0)
            rc = 1;                 /* would be imported */
        else if (rc == 1)
            rc = 0;
    } else {
        rc = conv_import(r->redis, r->ctl->cfg->redis.prefix, row->mailbox, row->patient,
                         row->opened_at, r->rules.now, r->ctl->cfg->rules.conversation_ttl, &ex,
                         &err);
    }
    if (rc < 0) {
        ctl_error("line %ld: %s; stopped there: the lines before it are done, and running "
                  "the import again is safe", line, err.msg);
        return -1;
    }
    if (rc == 1) {
        r->imported++;
        report(r, line, "imported", row, r->dry_run ? "would be imported" : "imported");
    } else {
        describe(&ex, what, sizeof(what));
        r->present++;
        report(r, line, "present", row, what);
    }
    return 0;
}

/* Every line of FP.  0, -1 when Redis failed, -2 when the file could not
 * be read. */
static int import_lines(struct run *r, FILE *fp)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long line = 0;
    bool first = true;
    int rc = 0;

    while (rc == 0 && (len = getline(&buf, &cap, fp)) >= 0) {
        struct import_row row;
        struct err why = { "" };
        enum import_line kind;

        line++;
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        kind = import_parse_line(&r->rules, buf, (size_t)len, first, &row, &why);
        if (kind == IMPORT_SKIP)
            continue;
        first = false;
        if (kind == IMPORT_BAD) {
            note_refused(r, line);
            report(r, line, "refused", NULL, why.msg);
            continue;
        }
        rc = import_row(r, line, &row);
    }
    if (rc == 0 && ferror(fp)) {
        ctl_error("%s: %s", r->file, strerror(errno));
        rc = -2;
    }
    free(buf);
    return rc;
}

static void log_import(const struct run *r)
{
    const char *user = getenv("SUDO_USER");

    log_open("mssantectl", r->ctl->cfg->log.facility, LOGL_NOTICE, false);
    log_notice("conversation import %s: imported %lu, already there %lu, refused %lu, by uid "
               "%ld%s%s", r->file, r->imported, r->present, r->refused, (long)getuid(),
               user ? " sudo_user=" : "", user ? user : "");
    log_close();
}

static int summary(struct run *r, bool stopped)
{
    json_t *o;

    if (r->ctl->json) {
        o = json_object();
        json_object_set_new(o, "file", json_text(r->file));
        json_object_set_new(o, "dry_run", json_boolean(r->dry_run));
        json_object_set_new(o, "imported", json_integer((json_int_t)r->imported));
        json_object_set_new(o, "already_there", json_integer((json_int_t)r->present));
        json_object_set_new(o, "refused", json_integer((json_int_t)r->refused));
        json_object_set_new(o, "complete", json_boolean(!stopped));
        json_object_set_new(o, "lines", r->lines);
        r->lines = NULL;
        if (print_json(o) < 0)
            return CTL_UNAVAILABLE;
    } else {
        printf("%s%s %lu, already there %lu, refused %lu%s%s%s%s\n",
               stopped ? "stopped: " : "", r->dry_run ? "would import" : "imported",
               r->imported, r->present, r->refused, r->refused ? " (line" : "",
               r->refused > 1 ? "s " : r->refused ? " " : "", r->refused_lines,
               r->refused ? ")" : "");
    }
    if (stopped)
        return CTL_UNAVAILABLE;
    return r->refused > 0 ? CTL_FAIL : CTL_OK;
}

int cmd_conversation_import(const struct ctl *ctl, int argc, char **argv)
{
    struct run r;
    FILE *fp;
    int i = 2, rc, status;

    memset(&r, 0, sizeof(r));
    r.ctl = ctl;
    if (i < argc && strcmp(argv[i], "--dry-run") == 0) {
        r.dry_run = true;
        i++;
    }
    if (i + 1 != argc) {
        ctl_error("usage: mssantectl conversation import [--dry-run] FILE");
        return CTL_USAGE;
    }
    r.file = argv[i];
    if ((r.redis = conversation_ctl_connect(ctl->cfg)) == NULL)
        return redis_configured(&ctl->cfg->redis) ? CTL_UNAVAILABLE : CTL_USAGE;
    fp = strcmp(r.file, "-") == 0 ? stdin : fopen(r.file, "r");
    if (fp == NULL) {
        ctl_error("%s: %s", r.file, strerror(errno));
        redisFree(r.redis);
        return CTL_USAGE;
    }
    r.rules.local_domains = (const char *const *)ctl->cfg->rules.local_domains.v;
    r.rules.n_local_domains = ctl->cfg->rules.local_domains.n;
    r.rules.patient_domain = ctl->cfg->rules.patient_domain;
    r.rules.now = (long long)time(NULL);
    if (ctl->json)
        r.lines = json_array();
    rc = import_lines(&r, fp);
    if (fp != stdin)
        fclose(fp);
    redisFree(r.redis);
    seen_free(&r.seen);
    if (rc == -2) {
        json_decref(r.lines);
        return CTL_USAGE;
    }
    if (!r.dry_run && (r.imported > 0 || r.present > 0 || r.refused > 0))
        log_import(&r);
    status = summary(&r, rc < 0);
    json_decref(r.lines);
    return status;
}
