/*
 * redis_addr.c - parsing and writing Redis and Sentinel addresses (see
 * redis_addr.h).  The checks are about shape only: which characters a
 * host may hold, a port in range, a unix path short enough for a socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/redis_addr.h"

#define HOST_MAX      253    /* a DNS name */
#define UNIX_PATH_MAX 107    /* sizeof(sun_path) - 1 on Linux */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Host name or IPv4 address: letters, digits, '.', '-', '_'. */
static bool name_chars(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '-' && s[i] != '_')
            return false;
    return true;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* IPv6 address (hex digits, colons, dots for a mapped IPv4) with an
 * optional zone ("fe80::1%eth0"); at least one colon. */
static bool ipv6_chars(const char *s, size_t len)
{
    size_t i = 0;

    for (; i < len && s[i] != '%'; i++)
        if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
            return false;
    if (i < len && (i + 1 == len || !name_chars(s + i + 1, len - i - 1)))
        return false;
    return memchr(s, ':', i) != NULL;
}

/* A TCP port, 1..65535 in decimal and nothing else (no sign, no space):
 * the port, or -1. */
static int redis_port_parse(const char *s)
{
    long port = 0;

    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        port = port * 10 + (*s - '0');
        if (port > 65535)
            return -1;
    }
    return port >= 1 ? (int)port : -1;
}

static int set_host(struct redis_addr *out, const char *host, size_t len, int port,
                    struct err *why)
{
    char *copy = strndup(host, len);

    if (copy == NULL) {
        err_set(why, "out of memory");
        return -1;
    }
    out->host = copy;
    out->port = port;
    out->unix_path = NULL;
    return 0;
}

static int parse_unix(const char *text, struct redis_addr *out, struct err *why)
{
    const char *path = text + 5;
    char *copy;

    if (path[0] != '/') {
        err_set(why, "\"%s\": expected unix:/absolute/path", text);
        return -1;
    }
    if (strlen(path) > UNIX_PATH_MAX) {
        err_set(why, "\"%s\": a unix socket path has at most %d bytes", text,
                UNIX_PATH_MAX);
        return -1;
    }
    if ((copy = strdup(path)) == NULL) {
        err_set(why, "out of memory");
        return -1;
    }
    out->host = NULL;
    out->port = 0;
    out->unix_path = copy;
    return 0;
}

static int parse_bracketed(const char *text, struct redis_addr *out, struct err *why)
{
    const char *close = strchr(text, ']');
    int port;

    if (close == NULL || close[1] != ':') {
        err_set(why, "\"%s\": expected [IPv6]:PORT", text);
        return -1;
    }
    if (!ipv6_chars(text + 1, (size_t)(close - text - 1))) {
        err_set(why, "\"%s\": not an IPv6 address between the brackets", text);
        return -1;
    }
    if ((port = redis_port_parse(close + 2)) < 0) {
        err_set(why, "\"%s\": the port must be a number from 1 to 65535", text);
        return -1;
    }
    return set_host(out, text + 1, (size_t)(close - text - 1), port, why);
}

static int parse_host_port(const char *text, struct redis_addr *out, struct err *why)
{
    const char *colon = strrchr(text, ':');
    size_t hlen;
    int port;

    if (colon == NULL) {
        err_set(why, "\"%s\": expected HOST:PORT, [IPv6]:PORT or unix:/path",
                text);
        return -1;
    }
    hlen = (size_t)(colon - text);
    if (strstr(text, "://") != NULL) {
        err_set(why, "\"%s\": expected HOST:PORT, not a URL", text);
        return -1;
    }
    if (memchr(text, ':', hlen) != NULL) {
        err_set(why, "\"%s\": expected HOST:PORT; an IPv6 address goes in "
                "brackets, e.g. [::1]:6379", text);
        return -1;
    }
    if (hlen == 0 || hlen > HOST_MAX || !name_chars(text, hlen)) {
        err_set(why, "\"%s\": not a host name or IPv4 address before the port",
                text);
        return -1;
    }
    if ((port = redis_port_parse(colon + 1)) < 0) {
        err_set(why, "\"%s\": the port must be a number from 1 to 65535", text);
        return -1;
    }
    return set_host(out, text, hlen, port, why);
}

int redis_addr_parse(const char *text, struct redis_addr *out, struct err *why)
{
    if (text == NULL || text[0] == '\0') {
        err_set(why, "expected HOST:PORT, [IPv6]:PORT or unix:/path, got nothing");
        return -1;
    }
    if (has_control(text)) {
        err_set(why, "a Redis address cannot hold control characters");
        return -1;
    }
    for (const char *p = text; *p; p++) {
        if (is_space(*p) || *p == ',') {
            err_set(why, "\"%s\": one address expected, without spaces or commas",
                    text);
            return -1;
        }
    }
    if (strncmp(text, "unix:", 5) == 0)
        return parse_unix(text, out, why);
    if (text[0] == '[')
        return parse_bracketed(text, out, why);
    return parse_host_port(text, out, why);
}

int redis_addr_from_parts(const char *host, const char *port, struct redis_addr *out,
                          struct err *why)
{
    size_t len = host != NULL ? strlen(host) : 0;
    int p = port != NULL ? redis_port_parse(port) : -1;

    if (len == 0 || len > HOST_MAX
        || !(name_chars(host, len) || ipv6_chars(host, len))) {
        err_set(why, "unusable host \"%.64s\"", host != NULL ? host : "");
        return -1;
    }
    if (p < 0) {
        err_set(why, "unusable port \"%.16s\"", port != NULL ? port : "");
        return -1;
    }
    return set_host(out, host, len, p, why);
}

/* ---- lists ------------------------------------------------------------- */

/* Parse the entry [start, start+len) and append it to L (room for
 * REDIS_ADDR_LIST_MAX entries). */
static int list_add(struct redis_addr_list *l, const char *start, size_t len,
                    struct err *why)
{
    char *entry = strndup(start, len);
    struct redis_addr a;
    int rc = -1;

    if (entry == NULL)
        err_set(why, "out of memory");
    else if (l->n == REDIS_ADDR_LIST_MAX)
        err_set(why, "at most %d addresses, got more", REDIS_ADDR_LIST_MAX);
    else if (redis_addr_parse(entry, &a, why) == 0)
        rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        if (redis_addr_equal(&l->v[i], &a)) {
            err_set(why, "\"%s\" is listed twice", entry);
            redis_addr_free(&a);
            rc = -1;
        }
    }
    if (rc == 0)
        l->v[l->n++] = a;
    free(entry);
    return rc;
}

int redis_addr_list_parse(const char *text, struct redis_addr_list *out,
                          struct err *why)
{
    struct redis_addr_list l = { NULL, 0 };
    const char *p = text != NULL ? text : "";

    for (const char *q = p; *q; q++) {
        if (((unsigned char)*q < 0x20 && !is_space(*q)) || *q == 0x7f) {
            err_set(why, "an address list cannot hold control characters");
            return -1;
        }
    }
    if ((l.v = calloc(REDIS_ADDR_LIST_MAX, sizeof(*l.v))) == NULL) {
        err_set(why, "out of memory");
        return -1;
    }
    while (*p) {
        size_t len;

        while (*p && (is_space(*p) || *p == ','))
            p++;
        for (len = 0; p[len] && !is_space(p[len]) && p[len] != ','; len++)
            ;
        if (len > 0 && list_add(&l, p, len, why) < 0) {
            redis_addr_list_free(&l);
            return -1;
        }
        p += len;
    }
    if (l.n == 0) {
        err_set(why, "expected HOST:PORT[,HOST:PORT...], got nothing");
        redis_addr_list_free(&l);
        return -1;
    }
    redis_addr_list_free(out);
    *out = l;
    return 0;
}

/* ---- copies, comparison, text ------------------------------------------ */

int redis_addr_copy(struct redis_addr *dst, const struct redis_addr *src)
{
    dst->host = src->host != NULL ? strdup(src->host) : NULL;
    dst->unix_path = src->unix_path != NULL ? strdup(src->unix_path) : NULL;
    dst->port = src->port;
    if ((src->host != NULL && dst->host == NULL)
        || (src->unix_path != NULL && dst->unix_path == NULL)) {
        redis_addr_free(dst);
        return -1;
    }
    return 0;
}

static bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

bool redis_addr_equal(const struct redis_addr *a, const struct redis_addr *b)
{
    return a->port == b->port && same_text(a->unix_path, b->unix_path)
           && ((a->host == NULL && b->host == NULL)
               || (a->host != NULL && b->host != NULL && strcasecmp(a->host, b->host) == 0));
}

void redis_addr_format(const struct redis_addr *a, char *buf, size_t size)
{
    if (a->unix_path != NULL)
        snprintf(buf, size, "unix:%s", a->unix_path);
    else if (a->host != NULL && strchr(a->host, ':') != NULL)
        snprintf(buf, size, "[%s]:%d", a->host, a->port);
    else
        snprintf(buf, size, "%s:%d", a->host != NULL ? a->host : "?", a->port);
}

void redis_addr_free(struct redis_addr *a)
{
    if (a == NULL)
        return;
    free(a->host);
    free(a->unix_path);
    a->host = NULL;
    a->unix_path = NULL;
    a->port = 0;
}

void redis_addr_list_free(struct redis_addr_list *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        redis_addr_free(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
