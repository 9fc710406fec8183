/*
 * cidr.c - address lists and CIDR matching (see cidr.h).
 *
 * Addresses are compared as bit strings in network order.  Each side of a
 * comparison is taken in both forms when it has two (an IPv4 address and
 * its IPv4-mapped IPv6 form), so that the result does not depend on which
 * form the kernel, Postfix or the operator happened to use.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/cidr.h"
#include "common/err.h"

#define ENTRY_MAX 64    /* longest entry text: an IPv6 address and "/128" fit */

static const unsigned char v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static unsigned max_prefix(int family)
{
    return family == AF_INET ? 32 : 128;
}

/* Does ADDR have any bit set past PREFIX? */
static bool host_bits_set(const unsigned char *addr, unsigned prefix, unsigned bits)
{
    unsigned i;

    for (i = prefix; i < bits; i++)
        if (addr[i / 8] & (0x80 >> (i % 8)))
            return true;
    return false;
}

static void clear_host_bits(unsigned char *addr, unsigned prefix, unsigned bits)
{
    unsigned i;

    for (i = prefix; i < bits; i++)
        addr[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
}

/* "24" -> 24; -1 unless 1 to 3 digits. */
static int parse_prefix(const char *s)
{
    int n = 0, digits = 0;

    for (; *s; s++, digits++) {
        if (*s < '0' || *s > '9' || digits == 3)
            return -1;
        n = n * 10 + (*s - '0');
    }
    return digits > 0 ? n : -1;
}

int cidr_parse(const char *text, struct cidr *out, struct err *why)
{
    char buf[ENTRY_MAX + 1], *slash;
    struct cidr c;
    int prefix = -1;

    memset(&c, 0, sizeof(c));
    if (text == NULL || text[0] == '\0' || strlen(text) > ENTRY_MAX) {
        err_set(why, "\"%.*s\": not an IPv4 or IPv6 address or CIDR block",
                ENTRY_MAX, text ? text : "");
        return -1;
    }
    memcpy(buf, text, strlen(text) + 1);
    if ((slash = strchr(buf, '/')) != NULL) {
        *slash = '\0';
        if ((prefix = parse_prefix(slash + 1)) < 0) {
            err_set(why, "%s: the prefix length after '/' must be a number", text);
            return -1;
        }
    }
    if (inet_pton(AF_INET, buf, c.addr) == 1) {
        c.family = AF_INET;
    } else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
        c.family = AF_INET6;
    } else {
        err_set(why, "%s: not an IPv4 or IPv6 address or CIDR block "
                "(host names are not accepted)", text);
        return -1;
    }
    if (prefix < 0) {
        prefix = (int)max_prefix(c.family);
    } else if ((unsigned)prefix > max_prefix(c.family)) {
        err_set(why, "%s: prefix length must be 0..%u for an %s address", text,
                max_prefix(c.family), c.family == AF_INET ? "IPv4" : "IPv6");
        return -1;
    }
    c.prefix = (unsigned)prefix;
    if (host_bits_set(c.addr, c.prefix, max_prefix(c.family))) {
        char net[INET6_ADDRSTRLEN];

        clear_host_bits(c.addr, c.prefix, max_prefix(c.family));
        inet_ntop(c.family, c.addr, net, sizeof(net));
        err_set(why, "%s: bits set after the /%u prefix (did you mean %s/%u?)", text,
                c.prefix, net, c.prefix);
        return -1;
    }
    *out = c;
    return 0;
}

static bool is_separator(char ch)
{
    return ch == ',' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\f'
           || ch == '\v';
}

void cidr_list_free(struct cidr_list *l)
{
    if (l == NULL)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int cidr_list_parse(const char *text, struct cidr_list *out, struct err *why)
{
    struct cidr_list l = { NULL, 0 };
    const char *p = text ? text : "";
    size_t cap = 0;

    while (*p) {
        char entry[ENTRY_MAX + 2];
        size_t len = 0;

        while (is_separator(*p))
            p++;
        if (*p == '\0')
            break;
        while (p[len] != '\0' && !is_separator(p[len]))
            len++;
        if (len > ENTRY_MAX)
            len = ENTRY_MAX + 1;   /* cidr_parse refuses it, quoting the start */
        memcpy(entry, p, len);
        entry[len] = '\0';
        while (*p != '\0' && !is_separator(*p))
            p++;
        if (l.n == cap) {
            struct cidr *grown = realloc(l.v, (cap ? cap * 2 : 4) * sizeof(*grown));

            if (grown == NULL) {
                err_set(why, "out of memory");
                goto fail;
            }
            l.v = grown;
            cap = cap ? cap * 2 : 4;
        }
        if (cidr_parse(entry, &l.v[l.n], why) < 0)
            goto fail;
        l.n++;
    }
    if (l.n == 0) {
        err_set(why, "expected IPv4/IPv6 addresses or CIDR blocks");
        goto fail;
    }
    cidr_list_free(out);
    *out = l;
    return 0;
fail:
    cidr_list_free(&l);
    return -1;
}

/* The first PREFIX bits of A and B are equal. */
static bool prefix_equal(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;

    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((a[full] ^ b[full]) & (unsigned char)(0xff << (8 - rest))) == 0;
}

/* Is the address of FAMILY at ADDR (4 or 16 bytes) inside C?  An entry
 * and an address of the other family are compared through the mapped form. */
static bool entry_match(const struct cidr *c, int family, const unsigned char *addr)
{
    unsigned char mapped[16];

    if (c->family == family)
        return prefix_equal(c->addr, addr, c->prefix);
    if (family == AF_INET && c->family == AF_INET6) {
        memcpy(mapped, v4_mapped_prefix, 12);
        memcpy(mapped + 12, addr, 4);
        return prefix_equal(c->addr, mapped, c->prefix);
    }
    if (family == AF_INET6 && c->family == AF_INET
        && memcmp(addr, v4_mapped_prefix, 12) == 0)
        return prefix_equal(c->addr, addr + 12, c->prefix);
    return false;
}

static bool list_match(const struct cidr_list *l, int family, const unsigned char *addr)
{
    size_t i;

    if (l == NULL)
        return false;
    for (i = 0; i < l->n; i++)
        if (entry_match(&l->v[i], family, addr))
            return true;
    return false;
}

bool cidr_list_match_sockaddr(const struct cidr_list *l, const struct sockaddr *sa)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;

        return list_match(l, AF_INET, (const unsigned char *)&sin->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;

        return list_match(l, AF_INET6, sin6->sin6_addr.s6_addr);
    }
    return false;
}

bool cidr_list_match_text(const struct cidr_list *l, const char *ip, bool *valid)
{
    char buf[INET6_ADDRSTRLEN + 2];
    unsigned char addr[16];
    size_t len = ip != NULL ? strlen(ip) : 0;
    bool dummy;

    if (valid == NULL)
        valid = &dummy;
    *valid = false;
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, ip, len + 1);
    if (buf[0] == '[' && buf[len - 1] == ']') {
        buf[len - 1] = '\0';
        memmove(buf, buf + 1, len - 1);
    }
    if (inet_pton(AF_INET, buf, addr) == 1) {
        *valid = true;
        return list_match(l, AF_INET, addr);
    }
    if (inet_pton(AF_INET6, buf, addr) == 1) {
        *valid = true;
        return list_match(l, AF_INET6, addr);
    }
    return false;
}
