/*
 * wildcard.c - '*' patterns, ASCII case ignored, in bounded time (see
 * wildcard.h).
 *
 * The classic iterative matcher: walk text and pattern together; at a
 * '*' remember where it was and how much text it has swallowed; on a
 * mismatch give that '*' one more character and start again just after
 * it.  Only the last '*' is ever revisited: an earlier one could only
 * swallow more text to let the later ones match, and the last one can
 * already swallow anything.  Each restart moves the text mark forward,
 * so the work is at most plen * tlen character comparisons.
 */
#include <string.h>

#include "policy/wildcard.h"

static char fold(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool wildcard_has_star(const char *pattern, size_t plen)
{
    return pattern != NULL && memchr(pattern, '*', plen) != NULL;
}

bool wildcard_match(const char *pattern, size_t plen, const char *text)
{
    size_t p = 0, t = 0, tlen, star = 0, mark = 0;
    bool have_star = false;

    if (pattern == NULL || text == NULL)
        return false;
    tlen = strlen(text);
    while (t < tlen) {
        if (p < plen && pattern[p] == '*') {
            have_star = true;
            star = p++;
            mark = t;                  /* the '*' swallows nothing yet */
        } else if (p < plen && fold(pattern[p]) == fold(text[t])) {
            p++;
            t++;
        } else if (have_star) {
            p = star + 1;              /* the last '*' takes one more character */
            t = ++mark;
        } else {
            return false;
        }
    }
    while (p < plen && pattern[p] == '*')
        p++;
    return p == plen;
}
