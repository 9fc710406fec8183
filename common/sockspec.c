/*
 * sockspec.c - the milter socket spec (see sockspec.h).
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/sockspec.h"

#define UNIX_PATH_MAX_LEN (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

const char *sockspec_unix_path(const char *spec)
{
    if (spec == NULL)
        return NULL;
    if (strncmp(spec, "unix:", 5) == 0)
        return spec + 5;
    if (strncmp(spec, "local:", 6) == 0)
        return spec + 6;
    if (spec[0] == '/')
        return spec;
    return NULL;
}

static bool has_space(const char *s)
{
    for (; *s; s++)
        if (*s == ' ' || *s == '\t')
            return true;
    return false;
}

/* "PORT" or "PORT@HOST"; PORT is a number or a service name. */
static bool inet_part_valid(const char *s)
{
    const char *at = strchr(s, '@');
    size_t port_len = at ? (size_t)(at - s) : strlen(s);

    if (port_len == 0 || has_space(s))
        return false;
    for (size_t i = 0; i < port_len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || c == '-'))
            return false;
    }
    return at == NULL || at[1] != '\0';
}

bool sockspec_valid(const char *spec, const char **why)
{
    static const char expect[] =
        "expected unix:/absolute/path, local:/absolute/path, inet:PORT@HOST or inet6:PORT@HOST";
    const char *path;

    if (why)
        *why = expect;
    if (spec == NULL || spec[0] == '\0')
        return false;
    if ((path = sockspec_unix_path(spec)) != NULL) {
        if (path[0] != '/')
            return false;
        if (strlen(path) > UNIX_PATH_MAX_LEN) {
            if (why)
                *why = "unix socket path too long (at most 107 bytes)";
            return false;
        }
        return !has_space(path);
    }
    if (strncmp(spec, "inet:", 5) == 0)
        return inet_part_valid(spec + 5);
    if (strncmp(spec, "inet6:", 6) == 0)
        return inet_part_valid(spec + 6);
    return false;
}

int sockspec_inet(const char *spec, int *family, char *port, size_t portlen, char *host,
                  size_t hostlen)
{
    const char *rest, *at;
    int n;

    if (strncmp(spec, "inet:", 5) == 0) {
        *family = AF_INET;
        rest = spec + 5;
    } else if (strncmp(spec, "inet6:", 6) == 0) {
        *family = AF_INET6;
        rest = spec + 6;
    } else {
        return -1;
    }
    at = strchr(rest, '@');
    n = snprintf(port, portlen, "%.*s", (int)(at ? at - rest : (long)strlen(rest)), rest);
    if (n < 0 || (size_t)n >= portlen)
        return -1;
    n = snprintf(host, hostlen, "%s", at != NULL ? at + 1 : "");
    return n < 0 || (size_t)n >= hostlen ? -1 : 0;
}
