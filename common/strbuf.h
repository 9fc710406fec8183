/*
 * strbuf.h - the one growing string: append bytes, keep it NUL-terminated.
 *
 * Postfix has vstring; this is its small cousin.  A zeroed struct strbuf
 * is an empty buffer ready to use (s is NULL until the first append).
 * The allocation rule is hiredis's: an append that cannot get memory sets
 * FAILED and every later append is dropped, so a builder writes its whole
 * text and checks FAILED once at the end instead of after every piece.
 *
 * Ownership: the buffer owns S until strbuf_take() hands it over or
 * strbuf_free() releases it.
 */
#ifndef MSSANTE_STRBUF_H
#define MSSANTE_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *s;             /* NUL-terminated once anything was appended; owned */
    size_t len, cap;
    bool failed;         /* an allocation failed: everything after is dropped */
};

/* Append N bytes of P (any bytes, NUL included: LEN counts them). */
void strbuf_put(struct strbuf *b, const void *p, size_t n);

/* Append the string S. */
void strbuf_puts(struct strbuf *b, const char *s);

/* Append printf-style. */
void strbuf_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text, given to the caller (never NULL unless FAILED: "" for an empty
 * buffer); the buffer is left empty.  NULL, and the buffer freed, when an
 * append failed. */
char *strbuf_take(struct strbuf *b);

void strbuf_free(struct strbuf *b);

#endif
