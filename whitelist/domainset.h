/*
 * domainset.h - an exact-match set of domain names.
 *
 * Built once, then read-only: lookups take no lock and never allocate, so
 * the daemon can share one set between all milter threads and swap in a new
 * one atomically (see milter/wlstate.c).  Names are stored lower-cased with
 * the trailing dot removed; lookups expect the same normal form.
 * Open addressing over one string arena: 100k domains fit in a few MiB.
 */
#ifndef MSSANTE_DOMAINSET_H
#define MSSANTE_DOMAINSET_H

#include <stdbool.h>
#include <stddef.h>

struct domainset;

struct domainset *domainset_new(size_t expected);       /* NULL on ENOMEM */
void domainset_free(struct domainset *set);

/* Normalise NAME (len bytes, need not be NUL-terminated) and add it.
 * Returns 1 when added, 0 when already present, -1 when the name is not a
 * valid domain (set unchanged), -2 on ENOMEM. */
int domainset_add(struct domainset *set, const char *name, size_t len);

/* DOMAIN must already be normalised (lower case, no trailing dot). */
bool domainset_contains(const struct domainset *set, const char *domain);

size_t domainset_count(const struct domainset *set);

/* Visit every name (order unspecified). Stops early when fn returns non-zero
 * and returns that value. */
int domainset_foreach(const struct domainset *set,
                      int (*fn)(const char *domain, void *arg), void *arg);

#endif
