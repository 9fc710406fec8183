/*
 * store.h - the whitelist in Redis, shared by every MX node.
 *
 * Layout (PREFIX defaults to "mssante:"):
 *   PREFIX wl:seq                   INCR counter for version ids
 *   PREFIX wl:current               id of the version in force
 *   PREFIX wl:previous              id of the one before (for rollback)
 *   PREFIX wl:v:ID:domains          SET of normalised domains
 *   PREFIX wl:v:ID:certs            HASH domain -> operator CNs, '\n'-separated
 *                                   (lower case, sorted, each once)
 *   PREFIX wl:v:ID:meta             HASH generated, loaded, count, entries, sha256,
 *                                   source, certs (number of (domain, CN) pairs)
 *   PREFIX wl:versions              LIST of ids ever written and not yet deleted
 * A new version is written completely under new keys, then wl:current is
 * switched in one MULTI/EXEC; readers therefore never see half a list.
 * Versions older than "previous" are deleted after the switch.  Ids only
 * grow, and wl:current never moves to an id lower than the one in force, so
 * a slow concurrent publisher cannot bring back an older list.
 */
#ifndef MSSANTE_STORE_H
#define MSSANTE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>
#include "common/err.h"
#include "whitelist/ansxml.h"

/* Publish LIST as a new version and make it current.  When only_if_empty is
 * true, nothing is published if a current version already exists (returns 0
 * and sets *published=false).  Returns 0 on success, -1 + err on failure.
 * The new id is written to version_out. */
int store_publish(redisContext *c, const char *prefix, const struct ans_list *list,
                  bool only_if_empty, bool *published,
                  char *version_out, size_t vlen, struct err *err);

/* Current version id: 1 found, 0 none, -1 error. */
int store_current_version(redisContext *c, const char *prefix,
                          char *version_out, size_t vlen, struct err *err);

/* Load version ID (domains, operator CNs, metadata) into a new whitelist.
 * A version published before meta carried "certs" is read too: its CN
 * hash, whatever it holds, is its CN set. */
struct whitelist *store_load_version(redisContext *c, const char *prefix, const char *id,
                                     struct err *err);

/* Metadata of one stored version, read back without its domain set
 * (mssantectl whitelist status). */
struct store_meta {
    char version[64];        /* the id */
    char generated[40];      /* DateDeGeneration, as in the file */
    char sha256[65];
    char source[512];
    long long loaded;        /* unix time of the publish */
    size_t count;            /* distinct domains */
    size_t entries;          /* <Domaine> entries */
    long long certs;         /* (domain, CN) pairs; -1 when not recorded */
};

/* Metadata of version ID: 1 found, 0 no such version, -1 error. */
int store_read_meta(redisContext *c, const char *prefix, const char *id,
                    struct store_meta *meta, struct err *err);

/* Id of the version before the current one: 1 found, 0 none, -1 error. */
int store_previous_version(redisContext *c, const char *prefix,
                           char *version_out, size_t vlen, struct err *err);

/* Make the previous version current again, and the current one previous
 * (so a second rollback undoes the first), in one WATCH/MULTI/EXEC.  The
 * one exception to "ids only grow": an operator's explicit choice.
 * 0 with the ids now current and now previous, or -1 + err (no previous
 * version, or its keys are gone). */
int store_rollback(redisContext *c, const char *prefix, char *current_out,
                   char *previous_out, size_t vlen, struct err *err);

#endif
