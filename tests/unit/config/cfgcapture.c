/*
 * cfgcapture.c - a configuration text loaded with stderr captured (see
 * cfgcapture.h).  stderr is swapped for a temporary file around
 * config_load(), the only way to see its messages as a user would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/unit/config/cfgcapture.h"

struct config *cfgcapture_load(const char *dir, const char *head, const char *text,
                               char **errors)
{
    static int counter;
    char path[256];
    FILE *fp, *cap;
    struct config *cfg;
    int saved;
    long len;

    snprintf(path, sizeof(path), "%s/conf%d", dir, ++counter);
    if ((fp = fopen(path, "w")) == NULL || (cap = tmpfile()) == NULL)
        exit(2);
    if (head != NULL)
        fputs(head, fp);
    fputs(text, fp);
    fclose(fp);
    fflush(stderr);
    saved = dup(2);
    dup2(fileno(cap), 2);
    cfg = config_load(path);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    len = ftell(cap);
    *errors = calloc(1, (size_t)len + 1);
    rewind(cap);
    if (*errors == NULL || (len > 0 && fread(*errors, 1, (size_t)len, cap) != (size_t)len))
        exit(2);
    fclose(cap);
    unlink(path);
    return cfg;
}
