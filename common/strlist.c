/*
 * strlist.c - an owned list of strings (see strlist.h).
 */
#include <stdlib.h>
#include <string.h>

#include "common/strlist.h"

void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int strlist_add(struct strlist *l, const char *s, size_t n)
{
    char **grown = realloc(l->v, (l->n + 2) * sizeof(*grown));
    char *copy;

    if (grown == NULL)
        return -1;
    l->v = grown;
    if ((copy = strndup(s, n)) == NULL) {
        l->v[l->n] = NULL;
        return -1;
    }
    l->v[l->n++] = copy;
    l->v[l->n] = NULL;
    return 0;
}

bool strlist_contains(const struct strlist *l, const char *s)
{
    for (size_t i = 0; s != NULL && i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

bool strlist_same(const struct strlist *a, const struct strlist *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

int strlist_copy(struct strlist *dst, const struct strlist *src)
{
    struct strlist copy = { NULL, 0 };

    if ((copy.v = calloc(1, sizeof(*copy.v))) == NULL)
        return -1;
    for (size_t i = 0; i < src->n; i++) {
        if (strlist_add(&copy, src->v[i], strlen(src->v[i])) < 0) {
            strlist_free(&copy);
            return -1;
        }
    }
    strlist_free(dst);
    *dst = copy;
    return 0;
}
