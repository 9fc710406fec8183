/*
 * held.c - the "your message was held" notice (what and why: held.h):
 * queuing it next to the forwarding notices, and its text.
 *
 * The text goes through notify_message_build() as a template with its own
 * subject, so the notice has the same headers, encoding and address
 * checks as every other; only the sentences differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/err.h"
#include "common/redis.h"
#include "notify/held.h"
#include "notify/notice.h"
#include "notify/queue_internal.h"

#define HELD_SUBJECT "Message retenu, intervention requise / Message held, action required"

/* %1$s: the domain of NotifySender, %2$s: the reference.  ASCII only, and
 * no '%' once formatted: it is then checked as a template (notice.h). */
#define HELD_TEXT \
    "Bonjour,\n" \
    "\n" \
    "Le message que vous avez envoye n'a pas ete distribue : le serveur de\n" \
    "messagerie l'a mis en attente, car il ne pouvait pas l'envoyer en\n" \
    "respectant les regles de l'espace de confiance MSSante. Il n'est pas\n" \
    "perdu et ne partira pas tel quel : un administrateur doit intervenir.\n" \
    "Contactez-le en indiquant la reference ci-dessous.\n" \
    "\n" \
    "Hello,\n" \
    "\n" \
    "The message you sent was not delivered: the mail server held it,\n" \
    "because it could not send it within the rules of the MSSante trust\n" \
    "space. It is not lost and will not leave as it is: an administrator\n" \
    "must act. Contact them quoting the reference below.\n" \
    "\n" \
    "Reference : %2$s\n" \
    "Administrateur / administrator : postmaster@%1$s\n" \
    "\n" \
    "-- \n" \
    "Ce courriel est une simple notification automatique : il ne contient rien\n" \
    "du message. Merci de ne pas y repondre.\n" \
    "This is an automatic notification only: it contains nothing from the\n" \
    "message. Please do not reply.\n"

/* KEYS: seq, queue, stats.  ARGV: item key prefix, now, target, ref. */
static const char enqueue_held_lua[] =
    "local id = redis.call('INCR', KEYS[1])\n"
    "redis.call('HSET', ARGV[1] .. id, 'mailbox', '', 'target', ARGV[3], 'created', ARGV[2],\n"
    "           'attempts', '0', 'kind', '" NOTIFY_KIND_HELD "', 'ref', ARGV[4])\n"
    "redis.call('ZADD', KEYS[2], ARGV[2], id)\n"
    "redis.call('HINCRBY', KEYS[3], 'enqueued', 1)\n"
    "return 1\n";

int notify_held_check_ref(const char *ref, struct err *err)
{
    size_t i, n = ref != NULL ? strlen(ref) : 0;

    if (n == 0 || n >= NOTIFY_REF_MAX) {
        err_set(err, "notify: queue id missing or too long");
        return -1;
    }
    for (i = 0; i < n; i++) {
        char c = ref[i];

        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) {
            err_set(err, "notify: queue id \"%s\": letters and digits only", ref);
            return -1;
        }
    }
    return 0;
}

int notify_enqueue_held(redisContext *c, const char *prefix, const char *sender,
                        const char *queue_id, struct err *err)
{
    struct qkeys k;
    const char *argv[11];
    char now[32];
    redisReply *r;
    int rc = -1;

    if (c == NULL) {
        err_set(err, "notify: no Redis connection");
        return -1;
    }
    if (nq_make_keys(&k, prefix, err) < 0
        || nq_check_addr("sender", sender, false, err) < 0
        || notify_held_check_ref(queue_id, err) < 0)
        return -1;
    snprintf(now, sizeof(now), "%lld", wallclock_ms());
    argv[0] = "EVAL";
    argv[1] = enqueue_held_lua;
    argv[2] = "3";
    argv[3] = k.seq;
    argv[4] = k.queue;
    argv[5] = k.stats;
    argv[6] = k.item;
    argv[7] = now;
    argv[8] = sender;
    argv[9] = queue_id;
    r = redisCommandArgv(c, 10, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        err_set(err, "redis: EVAL enqueue held notice: %s", redis_failure(c, r));
    else
        rc = 0;
    if (r != NULL)
        freeReplyObject(r);
    return rc;
}

char *notify_held_build(const char *from, const char *to, const char *ref, long long date,
                        const char *unique, size_t *len, struct err *err)
{
    char text[sizeof(HELD_TEXT) + 4 * ADDR_MAX + 4 * NOTIFY_REF_MAX];
    struct notify_template *t;
    struct notify_params p;
    const char *at = from != NULL ? strrchr(from, '@') : NULL;
    char *msg;

    if (notify_held_check_ref(ref, err) < 0)
        return NULL;
    if (at == NULL || at[1] == '\0' || strchr(at, '%') != NULL) {
        err_set(err, "notify: sender \"%s\": not a plain address",
                from != NULL ? from : "");
        return NULL;
    }
    snprintf(text, sizeof(text), HELD_TEXT, at + 1, ref);
    if ((t = notify_template_parse(text, strlen(text), err)) == NULL)
        return NULL;
    memset(&p, 0, sizeof(p));
    p.from = from;
    p.to = to;
    p.date = date;
    p.unique = unique;
    p.tmpl = t;
    msg = notify_message_build_subject(&p, HELD_SUBJECT, len, err);
    notify_template_free(t);
    return msg;
}
