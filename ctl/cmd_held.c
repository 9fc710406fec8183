/*
 * cmd_held.c - "mssantectl held": the messages the daemon put in Postfix's
 * hold queue, and the only safe ways out of it.
 *
 *   held list [--json]             every message the daemon held: queue id,
 *                                  rule, reason, sender, recipients, age;
 *                                  then, apart, the hold queue's others
 *   held resubmit QUEUEID...|--all back through the milter, as a fresh
 *                                  local submission; then the held copy is
 *                                  deleted
 *   held delete QUEUEID...|--all   delete them
 *
 * Why not "postsuper -H" (or -r): a released message leaves as it is,
 * without the milter seeing it again; a forward held because its only
 * target was a classic address would go there.  Resubmitting puts it
 * through sendmail(1), hence through non_smtpd_milters: the daemon judges
 * it again with the list and the rules in force now, and holds or refuses
 * it again if its cause is still there.
 *
 * Resubmitting, step by step, for one message:
 *   1. it must be in the hold queue and carry the daemon's X-MSSante-Held
 *      header, its MAC verified with the daemon's key (HeldKeyFile) for
 *      this queue id, saying it was a local submission (resubmitting turns
 *      it into one: a message that came over SMTP would change sides; a
 *      header without a valid MAC may be the sender's own);
 *   2. "postcat -bh -q ID": the message, header and body, as queued; the
 *      daemon's X-MSSante-Held header is taken out of it;
 *   3. the envelope from the queue file (postqueue -j): the sender and the
 *      recipients still to deliver;
 *   4. "sendmail -C DIR -i -f SENDER -- RCPT...", the message on its input;
 *   5. only once sendmail exited 0 (the message is in Postfix's hands):
 *      "postsuper -d ID hold".  If that fails, the message exists twice:
 *      said loudly, with the command that removes the held copy.
 * Nothing is ever deleted before its copy was accepted, and a lock on the
 * instance's main.cf keeps two mssantectl from resubmitting the same
 * message at once.  The DSN options and original recipients of the first
 * submission are not carried over (sendmail has no way to take them).
 *
 * Every command needs root (queue files and the key), and works on the
 * Postfix instance MAIL_CONFIG names (ctl/ptools.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/heldq.h"
#include "ctl/ptools.h"

#define REASON_SHOWN 200      /* text output: the reason is cut there */

/* ---- list ------------------------------------------------------------------- */

/* Patients' addresses in the output: as LogPatientId says, unless
 * --show-ins (ctl.h).  BUF must hold a reason. */
#define SHOWN_MAX (2 * HELD_VALUE_MAX)

static json_t *entry_json(const struct ctl *ctl, const struct held_entry *e, time_t now)
{
    json_t *o = json_object(), *rcpts = json_array();
    char when[32], buf[SHOWN_MAX];

    json_object_set_new(o, "queue_id", json_string(e->id));
    if (e->ours) {
        json_object_set_new(o, "rule", json_text(e->mark.rule));
        json_object_set_new(o, "reason",
                            json_text(ctl_patients(ctl, e->mark.reason, buf, sizeof(buf))));
        json_object_set_new(o, "submission",
                            json_string(e->mark.local_submission ? "local" : "smtp"));
    } else if (e->has_header) {
        /* an X-MSSante-Held that is not the daemon's: said, never believed */
        json_object_set_new(o, "held_header", json_string(held_check_name(e->header)));
    }
    json_object_set_new(o, "sender", json_text(ctl_patients(ctl, e->sender, buf, sizeof(buf))));
    for (size_t i = 0; i < e->n_rcpts; i++)
        json_array_append_new(rcpts, json_text(ctl_patients(ctl, e->rcpts[i], buf,
                                                            sizeof(buf))));
    json_object_set_new(o, "recipients", rcpts);
    format_utc((time_t)e->arrival, when, sizeof(when));
    json_object_set_new(o, "arrival_time", json_string(when));
    json_object_set_new(o, "age_seconds", json_integer(now - (time_t)e->arrival));
    json_object_set_new(o, "size", json_integer(e->size));
    return o;
}

static int list_json(const struct ctl *ctl, const struct held_queue *q)
{
    json_t *root = json_object(), *ours = json_array(), *others = json_array();
    time_t now = time(NULL);

    for (size_t i = 0; i < q->n; i++)
        json_array_append_new(q->v[i].ours ? ours : others, entry_json(ctl, &q->v[i], now));
    json_object_set_new(root, "held", ours);
    json_object_set_new(root, "others", others);
    json_object_set_new(root, "count", json_integer((json_int_t)q->n_ours));
    json_object_set_new(root, "others_count", json_integer((json_int_t)(q->n - q->n_ours)));
    return print_json(root) < 0 ? CTL_UNAVAILABLE : CTL_OK;
}

static void print_envelope(const struct ctl *ctl, const struct held_entry *e)
{
    char buf[SHOWN_MAX];

    printf("<%s> ->", ctl_patients(ctl, e->sender, buf, sizeof(buf)));
    for (size_t i = 0; i < e->n_rcpts; i++)
        printf(" <%s>", ctl_patients(ctl, e->rcpts[i], buf, sizeof(buf)));
    if (e->n_rcpts == 0)
        printf(" (no recipient left)");
    printf("\n");
}

static void print_entry(const struct ctl *ctl, const struct held_entry *e, time_t now)
{
    char age[32], reason[SHOWN_MAX];

    format_age((long long)(now - (time_t)e->arrival), age, sizeof(age));
    printf("%-12s %-8s ", e->id, age);
    if (e->ours)
        printf("%-28s ", e->mark.rule);
    print_envelope(ctl, e);
    if (e->ours) {
        ctl_patients(ctl, e->mark.reason, reason, sizeof(reason));
        printf("    reason: %.*s%s\n", REASON_SHOWN, reason,
               strlen(reason) > REASON_SHOWN ? "..." : "");
    } else if (e->has_header) {
        printf("    not the daemon's: %s\n", heldq_why_not_ours(e));
    }
}

static int list_text(const struct ctl *ctl, const struct held_queue *q)
{
    size_t others = q->n - q->n_ours;
    time_t now = time(NULL);

    if (q->n_ours == 0) {
        printf("no message held by mssante-milter\n");
    } else {
        printf("%-12s %-8s %-28s %s\n", "QUEUE ID", "AGE", "RULE", "SENDER -> RECIPIENTS");
        for (size_t i = 0; i < q->n; i++)
            if (q->v[i].ours)
                print_entry(ctl, &q->v[i], now);
        printf("%zu message(s) held by mssante-milter (mssantectl held resubmit|delete)\n",
               q->n_ours);
    }
    if (others == 0)
        return CTL_OK;
    printf("\n%zu other message(s) in the hold queue, not held by mssante-milter (not "
           "managed here; postcat -q QUEUEID):\n", others);
    for (size_t i = 0; i < q->n; i++)
        if (!q->v[i].ours)
            print_entry(ctl, &q->v[i], now);
    return CTL_OK;
}

static int held_list(const struct ctl *ctl, const struct ptools *pt)
{
    unsigned char key[HELD_KEY_BYTES];
    struct held_queue q;
    int rc;

    if (heldq_key(ctl->cfg, key) < 0 || heldq_scan(pt, true, key, &q) < 0)
        return CTL_UNAVAILABLE;
    rc = ctl->json ? list_json(ctl, &q) : list_text(ctl, &q);
    heldq_free(&q);
    return rc;
}

/* ---- the instance lock -------------------------------------------------------- */

/* An exclusive lock on the instance's main.cf for the length of the run:
 * Postfix never locks it, and two mssantectl on one instance share it.
 * The descriptor, or -1 after saying why. */
static int lock_instance(const struct ptools *pt)
{
    char path[PATH_MAX + 16];
    int fd;

    snprintf(path, sizeof(path), "%s/main.cf", ptools_config_dir(pt));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        ctl_error("%s: %s (MAIL_CONFIG names the Postfix instance)", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "mssantectl: another mssantectl is working on this hold queue; "
                        "waiting for it\n");
        if (flock(fd, LOCK_EX) < 0) {
            ctl_error("cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

/* ---- delete ------------------------------------------------------------------- */

/* postsuper -d ID hold.  0 when Postfix says it deleted it, -1 otherwise. */
static int postsuper_delete(const struct ptools *pt, const char *id, const char **why)
{
    const char *argv[8];
    struct ptools_run r;
    size_t n;
    int rc = -1;
    static char reason[512];

    n = ptools_argv(pt, pt->postsuper, argv);
    argv[n++] = "-d";
    argv[n++] = id;
    argv[n++] = "hold";
    argv[n] = NULL;
    *why = "could not run postsuper";
    if (ptools_exec(argv, NULL, 0, &r) < 0)
        return -1;
    /* postsuper says "Deleted: 1 message" on stderr; exit 0 alone is not
     * proof, it also exits 0 when the id matched nothing. */
    if (r.status == 0 && strstr(r.err, "Deleted: 1 message") != NULL) {
        rc = 0;
    } else {
        snprintf(reason, sizeof(reason), "postsuper -d %s hold: %s", id,
                 r.status == 0 ? "nothing deleted" : ptools_why(&r));
        *why = reason;
    }
    ptools_run_free(&r);
    return rc;
}

/* ---- resubmit ----------------------------------------------------------------- */

/* Take every X-MSSante-Held field (with its continuation lines) out of
 * the header of MSG, in place.  Returns the new length. */
static size_t drop_held_header(char *msg, size_t len)
{
    const size_t name_len = strlen(HELD_HEADER);
    size_t in = 0, out = 0;
    bool dropping = false, in_header = true;

    while (in < len) {
        char *eol = memchr(msg + in, '\n', len - in);
        size_t n = eol != NULL ? (size_t)(eol - (msg + in)) + 1 : len - in;
        const char *line = msg + in;

        if (in_header) {
            if (n == 1 || (n == 2 && line[0] == '\r')) {
                in_header = false;
                dropping = false;
            } else if (line[0] == ' ' || line[0] == '\t') {
                /* a continuation line: goes with its field */
            } else {
                dropping = n > name_len && strncasecmp(line, HELD_HEADER, name_len) == 0
                           && line[name_len] == ':';
            }
        }
        if (!(in_header && dropping)) {
            memmove(msg + out, line, n);
            out += n;
        }
        in += n;
    }
    return out;
}

/* postcat -bh -q ID: the message as queued, without our header.  The
 * caller frees R.  0, or -1 with *why. */
static int read_message(const struct ptools *pt, const char *id, struct ptools_run *r,
                        const char **why)
{
    static char reason[512];
    const char *argv[8];
    size_t n = ptools_argv(pt, pt->postcat, argv);

    argv[n++] = "-bh";
    argv[n++] = "-q";
    argv[n++] = id;
    argv[n] = NULL;
    *why = "could not run postcat";
    if (ptools_exec(argv, NULL, 0, r) < 0)
        return -1;
    if (r->status != 0 || r->out_len == 0) {
        snprintf(reason, sizeof(reason), "postcat -bh -q %s: %s", id,
                 r->status != 0 ? ptools_why(r) : "empty message");
        *why = reason;
        ptools_run_free(r);
        return -1;
    }
    r->out_len = drop_held_header(r->out, r->out_len);
    return 0;
}

/* sendmail -C DIR -i -f SENDER -- RCPT... with MSG on its input.  0 once
 * sendmail accepted it. */
static int reinject(const struct ptools *pt, const struct held_entry *e, const char *msg,
                    size_t len, const char **why)
{
    static char reason[512];
    const char **argv = calloc(e->n_rcpts + 10, sizeof(*argv));
    struct ptools_run r;
    size_t n;
    int rc = -1;

    *why = "out of memory";
    if (argv == NULL)
        return -1;
    n = ptools_argv(pt, pt->sendmail, argv);
    argv[n++] = "-i";                     /* a lone "." is text, not the end */
    argv[n++] = "-f";
    argv[n++] = e->sender[0] != '\0' ? e->sender : "<>";
    argv[n++] = "--";
    for (size_t i = 0; i < e->n_rcpts; i++)
        argv[n++] = e->rcpts[i];
    argv[n] = NULL;
    *why = "could not run sendmail";
    if (ptools_exec(argv, msg, len, &r) == 0) {
        if (r.status == 0) {
            rc = 0;
        } else {
            snprintf(reason, sizeof(reason), "sendmail refused it: %s", ptools_why(&r));
            *why = reason;
        }
        ptools_run_free(&r);
    }
    free(argv);
    return rc;
}

/* Can E be resubmitted?  NULL when it can, else why not. */
static const char *not_resubmittable(const struct held_entry *e)
{
    if (!e->mark.local_submission)
        return "it came in over SMTP: resubmitting would turn it into a local submission "
               "(inside); delete it, or have its sender send it again";
    if (e->n_rcpts == 0)
        return "it has no recipient left to deliver to";
    return NULL;
}

static int resubmit_one(const struct ptools *pt, const struct held_entry *e)
{
    struct ptools_run r;
    const char *why;

    if ((why = not_resubmittable(e)) != NULL) {
        ctl_error("%s: not resubmitted: %s", e->id, why);
        return CTL_FAIL;
    }
    if (read_message(pt, e->id, &r, &why) < 0) {
        ctl_error("%s: not resubmitted: %s", e->id, why);
        return CTL_FAIL;
    }
    if (reinject(pt, e, r.out, r.out_len, &why) < 0) {
        ctl_error("%s: not resubmitted, still held: %s", e->id, why);
        ptools_run_free(&r);
        return CTL_FAIL;
    }
    ptools_run_free(&r);
    if (postsuper_delete(pt, e->id, &why) < 0) {
        ctl_error("%s: resubmitted, but the held copy could not be deleted (%s): delete it "
                  "now with \"postsuper%s%s -d %s hold\", or it would be delivered twice "
                  "once released", e->id, why, pt->config_dir[0] ? " -c " : "",
                  pt->config_dir, e->id);
        return CTL_UNAVAILABLE;
    }
    printf("%s: resubmitted as a local submission from <%s> to %zu recipient(s); the held "
           "copy is deleted (the daemon's log has the new verdict)\n", e->id, e->sender,
           e->n_rcpts);
    return CTL_OK;
}

static int delete_one(const struct ptools *pt, const struct held_entry *e)
{
    const char *why;

    if (postsuper_delete(pt, e->id, &why) < 0) {
        ctl_error("%s: not deleted: %s", e->id, why);
        return CTL_FAIL;
    }
    printf("%s: deleted\n", e->id);
    return CTL_OK;
}

/* ---- resubmit / delete: which messages ---------------------------------------- */

/* The worse of two exit codes (CTL_UNAVAILABLE above CTL_FAIL above OK). */
static int worse(int a, int b)
{
    return a > b ? a : b;
}

/* Check every id before acting on any: a typo stops the whole command. */
static int check_ids(const struct held_queue *q, char **ids, int n)
{
    int rc = CTL_OK;

    for (int i = 0; i < n; i++) {
        const struct held_entry *e;

        if (!heldq_valid_id(ids[i])) {
            ctl_error("%s: not a Postfix queue id", ids[i]);
            rc = CTL_USAGE;
        } else if ((e = heldq_find(q, ids[i])) == NULL) {
            ctl_error("%s: not in the hold queue (postqueue -p lists the queue)", ids[i]);
            rc = worse(rc, CTL_FAIL);
        } else if (!e->ours) {
            ctl_error("%s: held, but not by mssante-milter (%s): not managed here; read it "
                      "with postcat -q %s, then release or delete it with postsuper", ids[i],
                      heldq_why_not_ours(e), ids[i]);
            rc = worse(rc, CTL_FAIL);
        }
    }
    return rc;
}

static int act(const struct ctl *ctl, const struct ptools *pt, bool resubmit, bool all,
               char **ids, int n)
{
    unsigned char key[HELD_KEY_BYTES];
    struct held_queue q;
    bool acted = false;
    int lock, rc;

    if (heldq_key(ctl->cfg, key) < 0)
        return CTL_UNAVAILABLE;
    if ((lock = lock_instance(pt)) < 0)
        return CTL_UNAVAILABLE;
    if (heldq_scan(pt, true, key, &q) < 0) {
        close(lock);
        return CTL_UNAVAILABLE;
    }
    /* Named ids are all checked before any is acted on. */
    rc = all ? CTL_OK : check_ids(&q, ids, n);
    if (rc == CTL_OK && all && q.n_ours == 0)
        printf("no message held by mssante-milter\n");
    for (size_t i = 0; (all || rc == CTL_OK || acted) && i < q.n; i++) {
        const struct held_entry *e = &q.v[i];
        bool named = all;
        int one;

        for (int k = 0; !named && k < n; k++)
            named = strcmp(ids[k], e->id) == 0;
        if (!named || !e->ours)
            continue;
        acted = true;
        one = resubmit ? resubmit_one(pt, e) : delete_one(pt, e);
        rc = worse(rc, one);
        if (one == CTL_UNAVAILABLE)
            break;                /* a message exists twice: stop and let it be fixed */
    }
    heldq_free(&q);
    close(lock);
    return rc;
}

static int usage(void)
{
    ctl_error("usage: mssantectl held list [--json] | held resubmit QUEUEID...|--all | "
              "held delete QUEUEID...|--all");
    return CTL_USAGE;
}

int cmd_held(const struct ctl *ctl, int argc, char **argv)
{
    struct ptools pt;
    bool all = false;
    int rc, n = 0;

    if (argc < 2)
        return usage();
    if (strcmp(argv[1], "list") == 0) {
        if (argc != 2)
            return usage();
    } else if (strcmp(argv[1], "resubmit") == 0 || strcmp(argv[1], "delete") == 0) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--all") == 0)
                all = true;
            else
                argv[2 + n++] = argv[i];
        }
        if (all == (n > 0))
            return usage();      /* ids or --all, one of the two */
    } else {
        return usage();
    }
    if ((rc = ptools_init(&pt, true)) != 0)
        return rc;
    if (strcmp(argv[1], "list") == 0)
        return held_list(ctl, &pt);
    return act(ctl, &pt, strcmp(argv[1], "resubmit") == 0, all, argv + 2, n);
}
