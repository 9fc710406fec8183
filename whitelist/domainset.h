/*
 * domainset.h - an exact-match set of domain names.
 *
 * Built once, then read-only: lookups take no lock and never allocate, so
 * the daemon can share one set between all milter threads and swap in a new
 * one atomically (see whitelist/live.c).  Names are stored lower-cased with
 * the trailing dot removed; lookups expect the same normal form.
 * Stored in a whitelist/strtab.h table: 100k domains fit in a few MiB.
 */
#ifndef MSSANTE_DOMAINSET_H
#define MSSANTE_DOMAINSET_H

#include <stdbool.h>
#include <stddef.h>

struct domainset;

#define DOMAINSET_NAME_MAX 253      /* RFC 1035, without the trailing dot */

/* Copy NAME (len bytes) into OUT (DOMAINSET_NAME_MAX + 1 bytes) in normal
 * form: ASCII lower case, one trailing dot removed, host-name labels only
 * ([a-z0-9-], no label empty, longer than 63 or starting or ending with
 * '-').  Returns the normalised length, 0 when NAME is not a valid name. */
size_t domainset_normalise(const char *name, size_t len, char *out);

struct domainset *domainset_new(size_t expected);       /* NULL on ENOMEM */
void domainset_free(struct domainset *set);

/* Normalise NAME (len bytes, need not be NUL-terminated) and add it.
 * Returns 1 when added, 0 when already present, -1 when the name is not a
 * valid domain (set unchanged), -2 on ENOMEM. */
int domainset_add(struct domainset *set, const char *name, size_t len);

/* DOMAIN must already be normalised (lower case, no trailing dot). */
bool domainset_contains(const struct domainset *set, const char *domain);

size_t domainset_count(const struct domainset *set);

/* Bytes allocated: for sizing reports. */
size_t domainset_memory(const struct domainset *set);

/* Visit every name, in the order they were added.  Stops early when fn returns non-zero
 * and returns that value. */
int domainset_foreach(const struct domainset *set,
                      int (*fn)(const char *domain, void *arg), void *arg);

#endif
