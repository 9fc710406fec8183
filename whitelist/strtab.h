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

/* EXPECTED strings of about AVG_LEN bytes: a sizing hint, the table grows.
 * NULL on ENOMEM. */
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
