/*
 * test_redis_addr.c - Redis and Sentinel addresses as an operator writes
 * them (common/redis_addr.c): "Redis HOST:PORT | [IPv6]:PORT | unix:/path",
 * "RedisSentinels HOST:PORT[,HOST:PORT...]", and what servers announce.
 * One named case per line; a failing case is reported by name.  The last
 * part checks that it answers like redis_endpoint_parse() (common/redis.c),
 * which it is to replace.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/redis.h"
#include "common/redis_addr.h"
#include "tests/unit/testlib.h"

struct good_case {
    const char *name;
    const char *text;
    const char *host;       /* NULL for a unix socket */
    int port;
    const char *path;       /* NULL for TCP */
    const char *formatted;  /* redis_addr_format() */
};

static const struct good_case goods[] = {
    { "IPv4 and port",           "127.0.0.1:6379", "127.0.0.1", 6379, NULL, "127.0.0.1:6379" },
    { "host name",               "redis.example:1", "redis.example", 1, NULL, "redis.example:1" },
    { "host name with - and _",  "redis-1_a.lan:26379", "redis-1_a.lan", 26379, NULL,
                                 "redis-1_a.lan:26379" },
    { "highest port",            "localhost:65535", "localhost", 65535, NULL, "localhost:65535" },
    { "leading zeros in port",   "10.0.0.1:06379", "10.0.0.1", 6379, NULL, "10.0.0.1:6379" },
    { "IPv6 loopback",           "[::1]:6379", "::1", 6379, NULL, "[::1]:6379" },
    { "IPv6 full",               "[2001:db8::10]:26379", "2001:db8::10", 26379, NULL,
                                 "[2001:db8::10]:26379" },
    { "IPv6 with zone",          "[fe80::1%eth0]:6379", "fe80::1%eth0", 6379, NULL,
                                 "[fe80::1%eth0]:6379" },
    { "IPv4-mapped IPv6",        "[::ffff:192.0.2.1]:6379", "::ffff:192.0.2.1", 6379, NULL,
                                 "[::ffff:192.0.2.1]:6379" },
    { "unix socket",             "unix:/var/run/redis/redis.sock", NULL, 0,
                                 "/var/run/redis/redis.sock", "unix:/var/run/redis/redis.sock" },
};

struct bad_case {
    const char *name;
    const char *text;
    const char *says;       /* in WHY */
};

static const struct bad_case bads[] = {
    { "empty",                   "", "got nothing" },
    { "no port",                 "127.0.0.1", "expected HOST:PORT" },
    { "empty port",              "127.0.0.1:", "from 1 to 65535" },
    { "port 0",                  "127.0.0.1:0", "from 1 to 65535" },
    { "port too high",           "127.0.0.1:65536", "from 1 to 65535" },
    { "port with sign",          "127.0.0.1:+6379", "from 1 to 65535" },
    { "port with letters",       "127.0.0.1:63a9", "from 1 to 65535" },
    { "huge port",               "127.0.0.1:99999999999999999999", "from 1 to 65535" },
    { "no host",                 ":6379", "not a host name" },
    { "bare IPv6",               "::1:6379", "goes in brackets" },
    { "bare IPv6, long",         "2001:db8::1:6379", "goes in brackets" },
    { "brackets, no port",       "[::1]", "expected [IPv6]:PORT" },
    { "brackets, no colon",      "[::1]6379", "expected [IPv6]:PORT" },
    { "empty brackets",          "[]:6379", "not an IPv6 address" },
    { "IPv4 in brackets",        "[127.0.0.1]:6379", "not an IPv6 address" },
    { "name in brackets",        "[redis.lan]:6379", "not an IPv6 address" },
    { "unclosed bracket",        "[::1:6379", "expected [IPv6]:PORT" },
    { "space inside",            "127.0.0.1 :6379", "without spaces or commas" },
    { "two addresses",           "127.0.0.1:1,127.0.0.1:2", "without spaces or commas" },
    { "slash in host",           "redis/1:6379", "not a host name" },
    { "user@ in host",           "user@redis:6379", "not a host name" },
    { "URL",                     "redis://127.0.0.1:6379", "not a URL" },
    { "two colons, not IPv6",    "redis.lan:1:2", "expected HOST:PORT; an IPv6 address goes in" },
    { "control character",       "127.0.0.1:6379\x01", "control characters" },
    { "unix, relative path",     "unix:redis.sock", "unix:/absolute/path" },
    { "unix, nothing",           "unix:", "unix:/absolute/path" },
};

/* sun_path holds 107 bytes and a NUL: a longer path could not be used. */
static void test_unix_length(void)
{
    struct redis_addr a = { NULL, 0, NULL };
    struct err why = { "" };
    char text[200];

    memcpy(text, "unix:/", 6);
    memset(text + 6, 'a', 106);
    text[112] = '\0';                                 /* a path of 107 bytes */
    CHECK(redis_addr_parse(text, &a, &why) == 0);
    CHECK(a.unix_path != NULL && strlen(a.unix_path) == 107);
    redis_addr_free(&a);
    text[112] = 'a';
    text[113] = '\0';                                 /* 108 bytes */
    CHECK(redis_addr_parse(text, &a, &why) == -1);
    CHECK(strstr(why.msg, "at most 107 bytes") != NULL);
    CHECK(a.unix_path == NULL);
}

static void test_good(void)
{
    for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
        const struct good_case *t = &goods[i];
        struct redis_addr a = { NULL, 0, NULL };
        struct err why = { "" };
        char text[REDIS_ADDR_TEXT_MAX];
        bool ok;

        if (redis_addr_parse(t->text, &a, &why) != 0) {
            CHECK(0);
            fprintf(stderr, "  case \"%s\": refused: %s\n", t->name, why.msg);
            continue;
        }
        redis_addr_format(&a, text, sizeof(text));
        ok = ((t->host == NULL && a.host == NULL)
              || (t->host != NULL && a.host != NULL && strcmp(t->host, a.host) == 0))
             && ((t->path == NULL && a.unix_path == NULL)
                 || (t->path != NULL && a.unix_path != NULL && strcmp(t->path, a.unix_path) == 0))
             && a.port == t->port && strcmp(text, t->formatted) == 0;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  case \"%s\": host %s port %d path %s text %s\n", t->name,
                    a.host ? a.host : "(null)", a.port, a.unix_path ? a.unix_path : "(null)",
                    text);
        redis_addr_free(&a);
    }
}

static void test_bad(void)
{
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const struct bad_case *t = &bads[i];
        struct redis_addr a = { NULL, 0, NULL };
        struct err why = { "" };
        int rc = redis_addr_parse(t->text, &a, &why);
        bool ok = rc == -1 && strstr(why.msg, t->says) != NULL && a.host == NULL
                  && a.unix_path == NULL;

        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  case \"%s\": \"%s\" gave rc %d, \"%s\"\n", t->name, t->text, rc,
                    why.msg);
        redis_addr_free(&a);
    }
    CHECK(redis_addr_parse(NULL, &(struct redis_addr){ NULL, 0, NULL }, NULL) == -1);
}

struct list_case {
    const char *name;
    const char *text;
    const char *result;     /* entries formatted, comma-separated; NULL: refused */
    const char *says;       /* in WHY when refused */
};

static const struct list_case lists[] = {
    { "one",                     "127.0.0.1:26379", "127.0.0.1:26379", NULL },
    { "three with commas",       "10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379",
                                 "10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379", NULL },
    { "commas and spaces",       " s1.lan:26379 , s2.lan:26379,\t[::1]:26379 ",
                                 "s1.lan:26379,s2.lan:26379,[::1]:26379", NULL },
    { "spaces only",             "s1.lan:1 s2.lan:2", "s1.lan:1,s2.lan:2", NULL },
    { "stray commas",            ",s1.lan:1,,s2.lan:2,", "s1.lan:1,s2.lan:2", NULL },
    { "same host, other port",   "127.0.0.1:1,127.0.0.1:2", "127.0.0.1:1,127.0.0.1:2", NULL },
    { "empty",                   "", NULL, "got nothing" },
    { "commas only",             " , ,", NULL, "got nothing" },
    { "twice",                   "s1.lan:1,s2.lan:2,S1.LAN:1", NULL, "\"S1.LAN:1\" is listed twice" },
    { "bad entry named",         "s1.lan:1,s2.lan", NULL, "\"s2.lan\": expected HOST:PORT" },
    { "bare IPv6 entry",         "s1.lan:1,::1:2", NULL, "in brackets" },
    { "too many",                "h:1,h:2,h:3,h:4,h:5,h:6,h:7,h:8,h:9,h:10,h:11,h:12,h:13,h:14,"
                                 "h:15,h:16,h:17", NULL, "at most 16" },
    { "control character",       "h:1,\x02h:2", NULL, "control characters" },
};

static void test_lists(void)
{
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        const struct list_case *t = &lists[i];
        struct redis_addr_list l = { NULL, 0 };
        struct err why = { "" };
        char got[1024] = "", one[REDIS_ADDR_TEXT_MAX];
        int rc = redis_addr_list_parse(t->text, &l, &why);
        bool ok;

        for (size_t k = 0; rc == 0 && k < l.n; k++) {
            redis_addr_format(&l.v[k], one, sizeof(one));
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? "," : "", one);
        }
        if (t->result != NULL)
            ok = rc == 0 && strcmp(got, t->result) == 0;
        else
            ok = rc == -1 && strstr(why.msg, t->says) != NULL && l.n == 0 && l.v == NULL;
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  case \"%s\": rc %d, got \"%s\", why \"%s\"\n", t->name, rc, got,
                    why.msg);
        redis_addr_list_free(&l);
    }
}

/* A failed parse leaves the previous list alone; a good one replaces it. */
static void test_list_replace(void)
{
    struct redis_addr_list l = { NULL, 0 };
    struct err why;

    CHECK(redis_addr_list_parse("a:1,b:2", &l, &why) == 0);
    CHECK(l.n == 2);
    CHECK(redis_addr_list_parse("c:3,", &l, &why) == 0);
    CHECK(l.n == 1 && strcmp(l.v[0].host, "c") == 0);
    CHECK(redis_addr_list_parse("c", &l, &why) == -1);
    CHECK(l.n == 1 && strcmp(l.v[0].host, "c") == 0);
    redis_addr_list_free(&l);
    CHECK(l.n == 0 && l.v == NULL);
    redis_addr_list_free(&l);
}

struct part_case {
    const char *name;
    const char *host, *port;
    const char *formatted;  /* NULL: refused */
};

/* What SENTINEL get-master-addr-by-name and +switch-master carry. */
static const struct part_case parts[] = {
    { "IPv4",                "10.0.0.5", "6379", "10.0.0.5:6379" },
    { "IPv6, no brackets",   "2001:db8::5", "6380", "[2001:db8::5]:6380" },
    { "host name",           "redis-2.lan", "6379", "redis-2.lan:6379" },
    { "empty host",          "", "6379", NULL },
    { "NULL host",           NULL, "6379", NULL },
    { "host with space",     "10.0.0.5 x", "6379", NULL },
    { "host with newline",   "10.0.0.5\n", "6379", NULL },
    { "port 0",              "10.0.0.5", "0", NULL },
    { "port not a number",   "10.0.0.5", "63x", NULL },
    { "NULL port",           "10.0.0.5", NULL, NULL },
};

static void test_parts(void)
{
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        const struct part_case *t = &parts[i];
        struct redis_addr a = { NULL, 0, NULL };
        struct err why = { "" };
        char text[REDIS_ADDR_TEXT_MAX] = "";
        int rc = redis_addr_from_parts(t->host, t->port, &a, &why);
        bool ok;

        if (rc == 0)
            redis_addr_format(&a, text, sizeof(text));
        ok = t->formatted != NULL ? rc == 0 && strcmp(text, t->formatted) == 0
                                  : rc == -1 && why.msg[0] != '\0';
        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  case \"%s\": rc %d text \"%s\" why \"%s\"\n", t->name, rc, text,
                    why.msg);
        redis_addr_free(&a);
    }
}

static void test_equal_copy(void)
{
    struct redis_addr a = { NULL, 0, NULL }, b = { NULL, 0, NULL }, c = { NULL, 0, NULL };
    struct err why;

    CHECK(redis_addr_parse("Redis.LAN:6379", &a, &why) == 0);
    CHECK(redis_addr_parse("redis.lan:6379", &b, &why) == 0);
    CHECK(redis_addr_equal(&a, &b));            /* host names ignore case */
    redis_addr_free(&b);
    CHECK(redis_addr_parse("redis.lan:6380", &b, &why) == 0);
    CHECK(!redis_addr_equal(&a, &b));
    redis_addr_free(&b);
    CHECK(redis_addr_parse("unix:/run/redis.sock", &b, &why) == 0);
    CHECK(!redis_addr_equal(&a, &b));
    CHECK(redis_addr_copy(&c, &b) == 0);
    CHECK(redis_addr_equal(&b, &c) && c.unix_path != b.unix_path);
    redis_addr_free(&a);
    redis_addr_free(&b);
    redis_addr_free(&c);
    redis_addr_free(NULL);
}

/* redis_addr_parse() is to replace redis_endpoint_parse() (common/
 * redis.c): same answers on every sane value, and the values only the old
 * parser took are garbage.  Goes when the old parser does. */
static void test_same_as_endpoint_parse(void)
{
    static const char *const same[] = {
        "127.0.0.1:6379", "redis.example:1", "[::1]:65535", "[2001:db8::1]:6380",
        "unix:/var/run/redis/redis.sock", "localhost:0", "::1:6379", "127.0.0.1",
        "unix:relative", "", "a b:1", "[::1]", ":6379", "h:65536",
    };
    static const char *const only_old[] = {
        "redis/1:6379", "user@redis:6379", "[zz]:6379", "[redis.lan]:6379",
    };

    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        struct redis_endpoint ep = { NULL, 0, NULL };
        struct redis_addr a = { NULL, 0, NULL };
        int old_rc = redis_endpoint_parse(same[i], &ep);
        int new_rc = redis_addr_parse(same[i], &a, NULL);
        bool ok = old_rc == new_rc
                  && (new_rc != 0 || (a.port == ep.port
                                      && ((a.host == NULL && ep.host == NULL)
                                          || (a.host && ep.host && !strcmp(a.host, ep.host)))
                                      && ((a.unix_path == NULL && ep.unix_path == NULL)
                                          || (a.unix_path && ep.unix_path
                                              && !strcmp(a.unix_path, ep.unix_path)))));

        CHECK(ok);
        if (!ok)
            fprintf(stderr, "  \"%s\": redis_endpoint_parse %d, redis_addr_parse %d\n", same[i],
                    old_rc, new_rc);
        free(ep.host);
        free(ep.unix_path);
        redis_addr_free(&a);
    }
    for (size_t i = 0; i < sizeof(only_old) / sizeof(only_old[0]); i++) {
        struct redis_endpoint ep = { NULL, 0, NULL };
        struct redis_addr a = { NULL, 0, NULL };

        CHECK(redis_endpoint_parse(only_old[i], &ep) == 0);
        CHECK(redis_addr_parse(only_old[i], &a, NULL) == -1);
        free(ep.host);
        free(ep.unix_path);
    }
}

int main(void)
{
    test_good();
    test_unix_length();
    test_bad();
    test_lists();
    test_list_replace();
    test_parts();
    test_equal_copy();
    test_same_as_endpoint_parse();
    TEST_DONE();
}
