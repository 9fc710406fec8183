/*
 * err.c - the one error type (see err.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

void err_set(struct err *e, const char *fmt, ...)
{
    char buf[ERR_MSG_MAX];
    va_list ap;

    if (e == NULL)
        return;
    /* Through a copy: the arguments may be E's own sentence. */
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    memcpy(e->msg, buf, sizeof(buf));
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
