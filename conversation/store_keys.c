/*
 * store_keys.c - the Redis key names of a conversation and the case
 * folding of its ids, shared by the writes (store.c) and the reads
 * (store_read.c) through store_keys.h; the layout itself is described in
 * store.h.
 *
 * MAILBOX is lower-cased (Postfix folds case on lookup, so both spellings
 * are one mailbox) and PATIENT upper-cased ("2a" -> "2A"), here only, so
 * that every caller finds the record another one wrote.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/logid.h"
#include "conversation/store.h"
#include "conversation/store_keys.h"

/* Copy ID into OUT folding ASCII case (UPPER or not).  -1 if empty or too long. */
static int copy_id(char *out, const char *id, int upper)
{
    size_t i, len;

    if (id == NULL || (len = strlen(id)) == 0 || len > CONV_ID_MAX)
        return -1;
    for (i = 0; i <= len; i++) {
        char ch = id[i];

        if (upper && ch >= 'a' && ch <= 'z')
            ch = (char)(ch - 'a' + 'A');
        else if (!upper && ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        out[i] = ch;
    }
    return 0;
}

int cvs_make_keys(struct cvs_keys *k, const char *prefix, const char *mailbox,
                  const char *patient, bool index_only, struct err *err)
{
    const char *pfx = prefix != NULL ? prefix : CVS_DEFAULT_PREFIX;
    int n;

    if (copy_id(k->mailbox, mailbox, 0) != 0) {
        err_set(err, "conversation: mailbox missing or longer than %d bytes",
                CONV_ID_MAX);
        return -1;
    }
    if (strlen(pfx) > 100) {
        err_set(err, "conversation: redis key prefix too long");
        return -1;
    }
    snprintf(k->index, sizeof(k->index), "%sconv-idx:%s", pfx, k->mailbox);
    if (index_only) {
        k->patient[0] = k->conv[0] = '\0';
        return 0;
    }
    if (copy_id(k->patient, patient, 1) != 0) {
        err_set(err, "conversation: patient missing or longer than %d bytes",
                CONV_ID_MAX);
        return -1;
    }
    n = snprintf(k->conv, sizeof(k->conv), "%sconv:%s:%s", pfx, k->mailbox, k->patient);
    return n > 0 && (size_t)n < sizeof(k->conv) ? 0 : -1;
}

int cvs_check_context(redisContext *c, struct err *err)
{
    if (c == NULL) {
        err_set(err, "conversation: no Redis connection");
        return -1;
    }
    return 0;
}

long long cvs_field_number(const redisReply *f)
{
    if (f->type != REDIS_REPLY_STRING)
        return 0;
    return strtoll(f->str, NULL, 10);
}

const char *cvs_shown_key(const char *key, char *buf, size_t size)
{
    const char *colon = strrchr(key, ':');
    char id[LOGID_MAX];

    if (colon == NULL)
        return key;
    logid_format(colon + 1, id, sizeof(id));
    snprintf(buf, size, "%.*s:%s", (int)(colon - key), key, id);
    return buf;
}
