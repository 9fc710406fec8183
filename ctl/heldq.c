/*
 * heldq.c - read Postfix's hold queue and tell the daemon's messages apart
 * (what and why: heldq.h).
 *
 * "postqueue -j" prints one JSON object per queued message; only those
 * whose queue_name is "hold" are kept.  Their header comes from "postcat
 * -h -q ID", one message at a time: a message released or deleted
 * meanwhile makes postcat fail for that message only.  Each X-MSSante-Held
 * in it is checked against the daemon's key and the message's queue id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/keyfile.h"
#include "ctl/ctl.h"
#include "ctl/heldq.h"

bool heldq_valid_id(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;

    if (n == 0 || n >= HELDQ_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];

        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return false;
    }
    return true;
}

static void entry_free(struct held_entry *e)
{
    for (size_t i = 0; i < e->n_rcpts; i++)
        free(e->rcpts[i]);
    free(e->rcpts);
    free(e->sender);
    memset(e, 0, sizeof(*e));
}

void heldq_free(struct held_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        entry_free(&q->v[i]);
    free(q->v);
    memset(q, 0, sizeof(*q));
}

const struct held_entry *heldq_find(const struct held_queue *q, const char *id)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->v[i].id, id) == 0)
            return &q->v[i];
    return NULL;
}

/* One postqueue -j object into E.  1 a held message, 0 another queue or
 * an unusable record, -1 out of memory. */
static int entry_from_json(json_t *o, struct held_entry *e)
{
    const char *queue = json_string_value(json_object_get(o, "queue_name"));
    const char *id = json_string_value(json_object_get(o, "queue_id"));
    const char *sender = json_string_value(json_object_get(o, "sender"));
    json_t *rcpts = json_object_get(o, "recipients"), *r;
    size_t i;

    memset(e, 0, sizeof(*e));
    if (queue == NULL || strcmp(queue, "hold") != 0 || !heldq_valid_id(id))
        return 0;
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->arrival = (long long)json_integer_value(json_object_get(o, "arrival_time"));
    e->size = (long long)json_integer_value(json_object_get(o, "message_size"));
    if ((e->sender = strdup(sender != NULL ? sender : "")) == NULL)
        return -1;
    if (json_is_array(rcpts) && json_array_size(rcpts) > 0
        && (e->rcpts = calloc(json_array_size(rcpts), sizeof(*e->rcpts))) == NULL)
        return -1;
    json_array_foreach(rcpts, i, r) {
        const char *a = json_string_value(json_object_get(r, "address"));

        if (a != NULL && (e->rcpts[e->n_rcpts++] = strdup(a)) == NULL)
            return -1;
    }
    return 1;
}

/* Every held message of postqueue -j's output TEXT into Q. */
static int parse_queue(char *text, struct held_queue *q)
{
    char *line, *save = NULL;
    size_t cap = 0;

    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        int rc;

        if (o == NULL) {
            ctl_error("postqueue -j: unreadable line: %s", jerr.text);
            return -1;
        }
        if (q->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct held_entry *grown = realloc(q->v, ncap * sizeof(*grown));

            if (grown == NULL) {
                json_decref(o);
                ctl_error("out of memory");
                return -1;
            }
            q->v = grown;
            cap = ncap;
        }
        rc = entry_from_json(o, &q->v[q->n]);
        json_decref(o);
        if (rc < 0) {
            entry_free(&q->v[q->n]);
            ctl_error("out of memory");
            return -1;
        }
        if (rc == 0)
            entry_free(&q->v[q->n]);
        else
            q->n++;
    }
    return 0;
}

bool heldq_find_header(const char *header, char *buf, size_t size)
{
    const size_t name_len = strlen(HELD_HEADER);
    const char *p = header;
    bool found = false;

    while (p != NULL && *p != '\0' && *p != '\n') {
        const char *eol = strchr(p, '\n');
        const char *next = eol != NULL ? eol + 1 : NULL;

        if (strncasecmp(p, HELD_HEADER, name_len) == 0 && p[name_len] == ':') {
            size_t len = 0;
            const char *v = p + name_len + 1;

            found = true;
            buf[0] = '\0';
            for (;;) {           /* the line, then its continuation lines */
                const char *end = eol != NULL ? eol : v + strlen(v);
                size_t n = (size_t)(end - v);

                if (n > 0 && v[n - 1] == '\r')
                    n--;
                if (len + n + 1 < size) {
                    memcpy(buf + len, v, n);
                    len += n;
                    buf[len] = '\0';
                }
                if (next == NULL || (*next != ' ' && *next != '\t'))
                    break;
                v = next;
                eol = strchr(v, '\n');
                next = eol != NULL ? eol + 1 : NULL;
            }
        }
        p = next;
    }
    return found;
}

/* Replace E's envelope with the one of the queue file. */
static int set_envelope(struct held_entry *e, const char *sender, char **rcpts, size_t n)
{
    char *s = strdup(sender);

    if (s == NULL)
        return -1;
    for (size_t i = 0; i < e->n_rcpts; i++)
        free(e->rcpts[i]);
    free(e->rcpts);
    free(e->sender);
    e->sender = s;
    e->rcpts = rcpts;
    e->n_rcpts = n;
    return 0;
}

/* One X-MSSante-Held VALUE of E: the most trusted one seen is kept (a
 * message that carries the daemon's header and another is the daemon's). */
static void note_header(struct held_entry *e, const char *value, const unsigned char *key)
{
    struct held_mark mark;
    enum held_check c = held_header_check(value, key, e->id, &mark);

    if (e->has_header && c >= e->header)
        return;
    e->has_header = true;
    e->header = c;
    e->ours = c == HELD_OURS;
    e->mark = mark;
}

/*
 * "postcat -e -h -q ID" output (TEXT, modified) into E: the sender and
 * recipient records of the envelope and of the records Postfix extracted
 * after the header (where recipients added at end of message go), and
 * the X-MSSante-Held header of the message header.  Sections are told by
 * postcat's own markers, which a header line cannot look like (a header
 * field starts with its name; a continuation line with white space).
 */
static int parse_queue_file(char *text, const unsigned char *key, struct held_entry *e)
{
    enum { NONE, ENVELOPE, CONTENT, EXTRACTED } where = NONE;
    char marker[3][HELDQ_ID_MAX + 48], value[HELD_VALUE_MAX + 64], **rcpts = NULL;
    const char *sender = NULL;
    char *line, *save = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;

    snprintf(marker[0], sizeof(marker[0]), "*** ENVELOPE RECORDS hold/%s ***", e->id);
    snprintf(marker[1], sizeof(marker[1]), "*** MESSAGE CONTENTS hold/%s ***", e->id);
    snprintf(marker[2], sizeof(marker[2]), "*** HEADER EXTRACTED hold/%s ***", e->id);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strcmp(line, marker[0]) == 0) {
            where = ENVELOPE;
        } else if (strcmp(line, marker[1]) == 0) {
            where = CONTENT;
        } else if (strcmp(line, marker[2]) == 0) {
            where = EXTRACTED;
        } else if (where == ENVELOPE && strncmp(line, "sender: ", 8) == 0) {
            sender = line + 8;
        } else if ((where == ENVELOPE || where == EXTRACTED)
                   && strncmp(line, "recipient: ", 11) == 0) {
            if (n == cap) {
                char **grown = realloc(rcpts, (cap = cap ? cap * 2 : 8) * sizeof(*grown));

                if (grown == NULL)
                    goto out;
                rcpts = grown;
            }
            if ((rcpts[n] = strdup(line + 11)) == NULL)
                goto out;
            n++;
        } else if (where == CONTENT && heldq_find_header(line, value, sizeof(value))) {
            /* one field at a time: its continuation lines are not needed,
             * the daemon writes the header on one line */
            note_header(e, value, key);
        }
    }
    if (sender == NULL) {
        rc = 0;                          /* not a queue file we understand */
        goto out;
    }
    if (set_envelope(e, sender, rcpts, n) < 0)
        goto out;
    e->header_read = true;
    return 0;
out:
    for (size_t i = 0; i < n; i++)
        free(rcpts[i]);
    free(rcpts);
    return rc;
}

/* postcat -e -h -q ID: E's envelope, and is it the daemon's?  A message
 * gone meanwhile stays unread (header_read false). */
static int read_queue_file(const struct ptools *pt, const unsigned char *key,
                           struct held_entry *e)
{
    const char *argv[9];
    struct ptools_run r;
    size_t n = ptools_argv(pt, pt->postcat, argv);
    int rc = 0;

    argv[n++] = "-e";
    argv[n++] = "-h";
    argv[n++] = "-q";
    argv[n++] = e->id;
    argv[n] = NULL;
    if (ptools_exec(argv, NULL, 0, &r) < 0)
        return -1;
    e->ours = e->has_header = false;
    if (r.status == 0 && (rc = parse_queue_file(r.out, key, e)) < 0)
        ctl_error("out of memory");
    ptools_run_free(&r);
    return rc;
}

int heldq_scan(const struct ptools *pt, bool read_headers, const unsigned char *key,
               struct held_queue *q)
{
    const char *argv[6];
    struct ptools_run r;
    size_t i, kept = 0, n;
    int rc;

    memset(q, 0, sizeof(*q));
    n = ptools_argv(pt, pt->postqueue, argv);
    argv[n++] = "-j";
    argv[n] = NULL;
    if (ptools_exec(argv, NULL, 0, &r) < 0)
        return -1;
    if (r.status != 0) {
        ctl_error("postqueue -j failed: %s", ptools_why(&r));
        ptools_run_free(&r);
        return -1;
    }
    rc = parse_queue(r.out, q);
    ptools_run_free(&r);
    if (rc < 0 || !read_headers) {
        if (rc < 0)
            heldq_free(q);
        return rc;
    }
    for (i = 0; i < q->n; i++) {
        if (read_queue_file(pt, key, &q->v[i]) < 0) {
            heldq_free(q);
            return -1;
        }
        if (!q->v[i].header_read) {
            entry_free(&q->v[i]);       /* released or deleted meanwhile */
            continue;
        }
        q->n_ours += q->v[i].ours;
        if (kept != i)
            q->v[kept] = q->v[i];
        kept++;
    }
    q->n = kept;
    return 0;
}

int heldq_key(const struct config *cfg, unsigned char key[HELD_KEY_BYTES])
{
    struct err err;

    if (keyfile_load(&held_key_use, cfg->held.key_file, false, key, NULL, &err) == 0)
        return 0;
    ctl_error("%s: without the daemon's key no held message can be told as the daemon's; "
              "run mssantectl as root with the daemon's configuration file (-c), on the "
              "daemon's machine (the daemon makes the key at its first start)", err.msg);
    return -1;
}

const char *heldq_why_not_ours(const struct held_entry *e)
{
    if (!e->has_header)
        return "it carries no X-MSSante-Held header";
    switch (e->header) {
    case HELD_BAD_MAC:
        return "its X-MSSante-Held header has no valid mac (forged, copied from another "
               "message, or made with another HeldKeyFile key)";
    case HELD_NO_MAC:
        return "its X-MSSante-Held header has no mac (forged, or written by a version before "
               "HeldKeyFile: see the README, Upgrading)";
    case HELD_MALFORMED:
    case HELD_OURS:
        break;
    }
    return "its X-MSSante-Held header is not in the daemon's form";
}
