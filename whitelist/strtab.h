/*
 * strtab.h - a set of interned strings with small dense ids.
 *
 * The storage under both tables of a whitelist version: the domain set
 * (whitelist/domainset.h) and the operator CNs (whitelist/certset.h).
 * Strings are copied once into one arena; each gets the id 1, 2, 3... in
 * the order it was added, which lets a caller index its own arrays by id.
 * Built once, then read-only: finding a string takes no lock and never
 * allocates, so every milter thread can share one table.  Bytes are
 * compared exactly: normalising (case, trailing dot) is the caller's job.
 */
#ifndef MSSANTE_STRTAB_H
#define MSSANTE_STRTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strtab;

/*
 * A sizing hint is at most this many strings.  Hints come from outside (a
 * version's metadata in Redis, a file's size or header) and are made room
 * for before a single string is read: a forged count must not cost more
 * than this up front (about 2.5 MiB).  The real list is ~9,000 domains;
 * beyond the hint the table grows with what is actually added.
 */
#define STRTAB_HINT_MAX ((size_t)1 << 16)

/* EXPECTED strings of about AVG_LEN bytes: a sizing hint (capped at
 * STRTAB_HINT_MAX), the table grows.  NULL on ENOMEM. */
struct strtab *strtab_new(size_t expected, size_t avg_len);
void strtab_free(struct strtab *t);                 /* NULL-safe */

/* Add S (LEN bytes, no NUL among them).  Returns its id (> 0), new or
 * existing (*added tells which, when not NULL), or 0 on ENOMEM or when
 * the table would pass 4 GiB. */
uint32_t strtab_add(struct strtab *t, const char *s, size_t len, bool *added);

/* Id of S (LEN bytes), 0 when absent (or T is NULL). */
uint32_t strtab_find(const struct strtab *t, const char *s, size_t len);

/* The string of ID (1..count), NUL-terminated; NULL for a bad id. */
const char *strtab_str(const struct strtab *t, uint32_t id);

size_t strtab_count(const struct strtab *t);        /* 0 for NULL */

/* Bytes allocated (arena, table, index): for sizing reports. */
size_t strtab_memory(const struct strtab *t);

#endif
