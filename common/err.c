/*
 * err.c - the one error type (see err.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "common/err.h"

void err_set(struct err *e, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

void err_clear(struct err *e)
{
    if (e != NULL)
        e->msg[0] = '\0';
}

const char *err_msg(const struct err *e)
{
    return e != NULL ? e->msg : "";
}
