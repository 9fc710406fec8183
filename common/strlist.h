/*
 * strlist.h - an owned list of strings (LocalDomains, PharmacyMailboxes).
 *
 * V is NULL-terminated as well as counted, so that it can be handed to
 * code that wants either form.  A zeroed struct strlist is the empty list.
 */
#ifndef MSSANTE_STRLIST_H
#define MSSANTE_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct strlist {
    char **v;            /* N strings then NULL; owned (NULL when never set) */
    size_t n;
};

/* Free the strings and the array; the list is empty afterwards. */
void strlist_free(struct strlist *l);

/* Append a copy of S (N bytes).  0, or -1 when out of memory. */
int strlist_add(struct strlist *l, const char *s, size_t n);

/* Is S (exactly) in L? */
bool strlist_contains(const struct strlist *l, const char *s);

/* Same strings in the same order? */
bool strlist_same(const struct strlist *a, const struct strlist *b);

/* Replace DST with a copy of SRC.  0, or -1 (DST unchanged) when out of memory. */
int strlist_copy(struct strlist *dst, const struct strlist *src);

#endif
