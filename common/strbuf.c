/*
 * strbuf.c - the growing string (see strbuf.h).  Capacity doubles from
 * 256 bytes, so a text of N bytes costs O(log N) reallocations.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"

#define STRBUF_FIRST 256

/* Room for N more bytes and the NUL; false (and FAILED) when out of memory. */
static bool reserve(struct strbuf *b, size_t n)
{
    size_t cap;
    char *grown;

    if (b->failed)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    for (cap = b->cap ? b->cap : STRBUF_FIRST; b->len + n + 1 > cap; cap *= 2)
        continue;
    if ((grown = realloc(b->s, cap)) == NULL) {
        b->failed = true;
        return false;
    }
    b->s = grown;
    b->cap = cap;
    return true;
}

void strbuf_put(struct strbuf *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n > 0)
        memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void strbuf_puts(struct strbuf *b, const char *s)
{
    strbuf_put(b, s, strlen(s));
}

void strbuf_printf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *strbuf_take(struct strbuf *b)
{
    char *s;

    if (b->failed || !reserve(b, 0)) {
        strbuf_free(b);
        return NULL;
    }
    s = b->s;
    memset(b, 0, sizeof(*b));
    return s;
}

void strbuf_free(struct strbuf *b)
{
    free(b->s);
    memset(b, 0, sizeof(*b));
}
