/*
 * test_cidr.c - address lists and CIDR matching (common/cidr.c): the
 * InternalHosts rule of issue 10.  One named case per line; a failing
 * case is reported by name.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cidr.h"
#include "common/err.h"
#include "tests/unit/testlib.h"

struct match_case {
    const char *name;
    const char *list;
    const char *ip;
    bool inside;
};

static const struct match_case matches[] = {
    { "default, IPv4 loopback",        "127.0.0.0/8 ::1", "127.0.0.1", true },
    { "default, other loopback",       "127.0.0.0/8 ::1", "127.8.9.10", true },
    { "default, IPv6 loopback",        "127.0.0.0/8 ::1", "::1", true },
    { "default, mapped loopback",      "127.0.0.0/8 ::1", "::ffff:127.0.0.1", true },
    { "default, Internet host",        "127.0.0.0/8 ::1", "192.0.2.7", false },
    { "default, mapped Internet host", "127.0.0.0/8 ::1", "::ffff:192.0.2.7", false },
    { "default, IPv6 host",            "127.0.0.0/8 ::1", "2001:db8::1", false },
    { "/32 is one host",               "192.0.2.7/32", "192.0.2.7", true },
    { "/32 not the neighbour",         "192.0.2.7/32", "192.0.2.8", false },
    { "bare IPv4 is /32",              "192.0.2.7", "192.0.2.6", false },
    { "/24 inside",                    "10.1.2.0/24", "10.1.2.255", true },
    { "/24 outside",                   "10.1.2.0/24", "10.1.3.0", false },
    { "/23 odd boundary inside",       "10.1.2.0/23", "10.1.3.200", true },
    { "/23 odd boundary outside",      "10.1.2.0/23", "10.1.4.0", false },
    { "/0 IPv4 takes every IPv4",      "0.0.0.0/0", "203.0.113.9", true },
    { "/0 IPv4 takes mapped IPv4",     "0.0.0.0/0", "::ffff:203.0.113.9", true },
    { "/0 IPv4 not native IPv6",       "0.0.0.0/0", "2001:db8::9", false },
    { "/0 IPv6 takes every IPv6",      "::/0", "2001:db8::9", true },
    { "/0 IPv6 takes IPv4 too",        "::/0", "192.0.2.1", true },
    { "/128 is one host",              "2001:db8::7/128", "2001:db8::7", true },
    { "/128 not the neighbour",        "2001:db8::7/128", "2001:db8::8", false },
    { "IPv6 /64",                      "2001:db8:1:2::/64", "2001:db8:1:2:ffff::1", true },
    { "IPv6 /64 outside",              "2001:db8:1:2::/64", "2001:db8:1:3::1", false },
    { "IPv6 /61 odd boundary",         "2001:db8:0:8::/61", "2001:db8:0:f::1", true },
    { "IPv6 /61 outside",              "2001:db8:0:8::/61", "2001:db8:0:10::1", false },
    { "mapped client, IPv4 block",     "10.0.0.0/8", "::ffff:10.9.8.7", true },
    { "IPv4 client, mapped block",     "::ffff:10.0.0.0/104", "10.9.8.7", true },
    { "IPv4 client, mapped block out", "::ffff:10.0.0.0/104", "11.0.0.1", false },
    { "commas and spaces",             "10.0.0.0/8,192.168.0.0/16 ,\t172.16.0.0/12",
                                       "172.31.255.255", true },
    { "bracketed client",              "2001:db8::/32", "[2001:db8::5]", true },
};

struct bad_case {
    const char *name;
    const char *list;
    const char *says;       /* in the error */
};

static const struct bad_case bads[] = {
    { "IPv4 prefix too long",      "10.0.0.0/33", "0..32" },
    { "IPv6 prefix too long",      "2001:db8::/129", "0..128" },
    { "host bits set",             "192.0.2.1/24", "did you mean 192.0.2.0/24" },
    { "IPv6 host bits set",        "2001:db8::1/32", "did you mean 2001:db8::/32" },
    { "host name",                 "mx.example.fr", "host names are not accepted" },
    { "garbage prefix",            "10.0.0.0/8x", "prefix length" },
    { "empty prefix",              "10.0.0.0/", "prefix length" },
    { "negative prefix",           "10.0.0.0/-1", "prefix length" },
    { "bad octet",                 "10.0.0.256", "10.0.0.256" },
    { "good then bad",             "127.0.0.0/8 10.0.0.0/40", "10.0.0.0/40" },
    { "empty list",                " , ", "expected" },
    { "overlong entry",            "1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb:cccc:dddd",
                                   "not an IPv4" },
};

static void test_matches(void)
{
    size_t i;

    for (i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
        const struct match_case *t = &matches[i];
        struct cidr_list l = { NULL, 0 };
        struct err why = { "" };
        bool valid = false, got;

        if (cidr_list_parse(t->list, &l, &why) != 0) {
            CHECK(0);
            fprintf(stderr, "  case \"%s\": list refused: %s\n", t->name, why.msg);
            continue;
        }
        got = cidr_list_match_text(&l, t->ip, &valid);
        CHECK(valid);
        CHECK(got == t->inside);
        if (got != t->inside || !valid)
            fprintf(stderr, "  case \"%s\": %s in \"%s\" gave %s\n", t->name, t->ip, t->list,
                    got ? "inside" : "outside");
        cidr_list_free(&l);
    }
}

static void test_bad_lists(void)
{
    size_t i;

    for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const struct bad_case *t = &bads[i];
        struct cidr_list l = { NULL, 0 };
        struct err why = { "" };
        int rc = cidr_list_parse(t->list, &l, &why);

        CHECK(rc == -1);
        CHECK(strstr(why.msg, t->says) != NULL);
        CHECK(l.v == NULL && l.n == 0);
        if (rc != -1 || strstr(why.msg, t->says) == NULL)
            fprintf(stderr, "  case \"%s\": \"%s\" gave rc %d, \"%s\"\n", t->name, t->list,
                    rc, why.msg);
    }
}

/* What the milter hands over: sockaddrs, with the family the kernel chose. */
static void test_sockaddr(void)
{
    struct cidr_list l = { NULL, 0 };
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr other;
    struct err why;

    CHECK(cidr_list_parse("127.0.0.0/8 ::1 2001:db8::/32", &l, &why) == 0);
    CHECK(l.n == 3);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    CHECK(cidr_list_match_sockaddr(&l, (struct sockaddr *)&sin));
    inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
    CHECK(!cidr_list_match_sockaddr(&l, (struct sockaddr *)&sin));
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:127.0.0.2", &sin6.sin6_addr);
    CHECK(cidr_list_match_sockaddr(&l, (struct sockaddr *)&sin6));
    inet_pton(AF_INET6, "2001:db8:ffff::1", &sin6.sin6_addr);
    CHECK(cidr_list_match_sockaddr(&l, (struct sockaddr *)&sin6));
    inet_pton(AF_INET6, "2001:db9::1", &sin6.sin6_addr);
    CHECK(!cidr_list_match_sockaddr(&l, (struct sockaddr *)&sin6));
    memset(&other, 0, sizeof(other));
    other.sa_family = AF_UNIX;
    CHECK(!cidr_list_match_sockaddr(&l, &other));
    CHECK(!cidr_list_match_sockaddr(&l, NULL));
    CHECK(!cidr_list_match_sockaddr(NULL, (struct sockaddr *)&sin));
    cidr_list_free(&l);
}

static void test_misc(void)
{
    struct cidr_list l = { NULL, 0 }, keep;
    struct err why;
    bool valid = true;

    CHECK(cidr_list_parse("192.0.2.0/24", &l, &why) == 0);
    keep = l;
    /* a refused list leaves the previous one in place */
    CHECK(cidr_list_parse("192.0.2.0/99", &l, &why) == -1);
    CHECK(l.v == keep.v && l.n == 1);
    CHECK(!cidr_list_match_text(&l, "not-an-ip", &valid) && !valid);
    CHECK(!cidr_list_match_text(&l, "", &valid) && !valid);
    CHECK(!cidr_list_match_text(&l, NULL, NULL));
    cidr_list_free(&l);
    cidr_list_free(&l);   /* twice is harmless */
    CHECK(cidr_list_parse(NULL, &l, &why) == -1);
}

static const struct test_case cases[] = {
    { "matches", test_matches },
    { "bad lists", test_bad_lists },
    { "What the milter hands over: sockaddrs, with the family the kernel chose", test_sockaddr },
    { "misc", test_misc },
};
TEST_MAIN(cases)
