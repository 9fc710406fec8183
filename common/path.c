/*
 * path.c - the directory part of a file name (see path.h).
 */
#include <stdio.h>
#include <string.h>

#include "common/path.h"

void path_dir(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(buf, size, ".");
    else if (slash == path)
        snprintf(buf, size, "/");
    else
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
}
