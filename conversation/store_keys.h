/*
 * store_keys.h - what the two halves of the conversation store share:
 * conversation/store.c (the writes) and conversation/store_read.c (the
 * reads).  Not an API: other modules use conversation/store.h, where the
 * Redis key layout is described; only conversation/store*.c include this.
 *
 * The key names and the case folding of the ids are built in one place
 * (store_keys.c), so that a write and the read after it can never
 * disagree on which key holds a conversation.
 *
 * DIAGNOSTICS: cvs_make_keys() and cvs_check_context() return -1 with a
 * one-line message in ERR ("conversation: ..."); ERR may be NULL when the
 * caller only cares about success.
 */
#ifndef MSSANTE_CONV_STORE_KEYS_H
#define MSSANTE_CONV_STORE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "common/err.h"
#include "conversation/store.h"

#define CVS_DEFAULT_PREFIX "mssante:"   /* RedisPrefix when the caller gives NULL */
#define CVS_KEY_MAX        (2 * CONV_ID_MAX + 128)

/* The two keys of one (mailbox, patient) pair, and the normalised ids. */
struct cvs_keys {
    char mailbox[CONV_ID_MAX + 1];   /* lower-cased */
    char patient[CONV_ID_MAX + 1];   /* upper-cased */
    char conv[CVS_KEY_MAX];          /* PREFIX conv:MAILBOX:PATIENT */
    char index[CVS_KEY_MAX];         /* PREFIX conv-idx:MAILBOX */
};

/* Fill K for MAILBOX under PREFIX (NULL: the default), and for PATIENT
 * unless INDEX_ONLY (then K's patient and conv are empty).  0, or -1 +
 * err on a bad argument. */
int cvs_make_keys(struct cvs_keys *k, const char *prefix, const char *mailbox,
                  const char *patient, bool index_only, struct err *err);

/* A conversation key for an error message ("PREFIXconv:MAILBOX:PATIENT")
 * in BUF of SIZE (CVS_KEY_MAX + LOGID_MAX is enough): the patient as
 * LogPatientId says (common/logid.h), since the message ends up in the
 * log.  Returns BUF, or KEY itself when it names no patient. */
const char *cvs_shown_key(const char *key, char *buf, size_t size);

/* 0, or -1 + err when there is no connection (C is NULL). */
int cvs_check_context(redisContext *c, struct err *err);

/* A record's field as a number: its decimal value, 0 when the field is
 * missing (the reply is not a string). */
long long cvs_field_number(const redisReply *f);

#endif
