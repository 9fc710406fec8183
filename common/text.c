/*
 * text.c - white space in header values (see text.h).
 */
#include "common/text.h"

bool text_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

const char *text_skip_ws(const char *s)
{
    while (text_is_ws(*s))
        s++;
    return s;
}

bool text_is_blank(const char *s)
{
    return *text_skip_ws(s) == '\0';
}
