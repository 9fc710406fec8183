/*
 * redis_addr.h - where a Redis server or a Sentinel listens, as an
 * operator writes it in mssante-milter.conf: "HOST:PORT", "[IPv6]:PORT",
 * "unix:/path/to/redis.sock" (Redis), and lists of "HOST:PORT" entries
 * (RedisSentinels).
 *
 * Pure: text in, fields out.  No name resolution here: a host name is kept
 * as written and resolved when connecting (hiredis tries each address), so
 * that a sentinel moved to a new address is found again after a restart.
 *
 * The key "Redis" (config/keys.c) is parsed here, and so is every address
 * the connector opens (common/redis.h): the configured server, each
 * sentinel, each master a sentinel names.
 *
 * DIAGNOSTICS
 * The parsers return -1 with an English sentence in WHY that quotes the
 * offending entry, e.g. "\"[::1]6379\": expected [IPv6]:PORT"; the
 * configuration reader adds the file, line and key.
 */
#ifndef MSSANTE_REDIS_ADDR_H
#define MSSANTE_REDIS_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct redis_addr {
    char *host;          /* owned; NULL for a unix socket; IPv6 without brackets */
    int port;            /* 1..65535; 0 for a unix socket */
    char *unix_path;     /* owned; "/path" (without "unix:"), or NULL */
};

struct redis_addr_list {
    struct redis_addr *v;   /* owned, n entries */
    size_t n;
};

/* Room for any address redis_addr_format() writes (host names are at most
 * 253 bytes, unix paths 107). */
#define REDIS_ADDR_TEXT_MAX 300

/* A list of sentinels longer than this is a mistake, not a deployment. */
#define REDIS_ADDR_LIST_MAX 16

/* One address.  OUT is overwritten only on success (free it with
 * redis_addr_free). */
int redis_addr_parse(const char *text, struct redis_addr *out, struct err *why);

/* Entries separated by commas and/or white space, at least one, none
 * twice, at most REDIS_ADDR_LIST_MAX.  OUT is replaced only on success
 * (free it with redis_addr_list_free). */
int redis_addr_list_parse(const char *text, struct redis_addr_list *out,
                          struct err *why);

/* A host and port as a server announces them (SENTINEL
 * get-master-addr-by-name, +switch-master): HOST has no brackets and PORT
 * is decimal text.  -1 with WHY when either is unusable. */
int redis_addr_from_parts(const char *host, const char *port, struct redis_addr *out,
                          struct err *why);

/* Deep copy: 0, or -1 when out of memory (DST is then left empty). */
int redis_addr_copy(struct redis_addr *dst, const struct redis_addr *src);

bool redis_addr_equal(const struct redis_addr *a, const struct redis_addr *b);

/* "host:port", "[v6]:port" or "unix:/path", as an operator wrote it. */
void redis_addr_format(const struct redis_addr *a, char *buf, size_t size);

void redis_addr_free(struct redis_addr *a);
void redis_addr_list_free(struct redis_addr_list *l);

#endif
