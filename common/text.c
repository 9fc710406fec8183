/*
 * text.c - white space in header values, hex digits (see text.h).
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

int text_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
