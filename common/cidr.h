/*
 * cidr.h - lists of IPv4/IPv6 addresses and CIDR blocks, and matching a
 * client address against them (InternalHosts, mssantectl check --client).
 *
 * Pure: text in, bits compared, no I/O and no name resolution (a host name
 * in the list is an error: what it resolves to could change under us).
 *
 * IPv4-mapped IPv6 addresses (::ffff:192.0.2.1) are the same hosts as
 * their IPv4 form: a mapped client matches an IPv4 block and an IPv4
 * client matches a block written in the mapped form.
 *
 * DIAGNOSTICS
 * The parsers return -1 with an English sentence in WHY that quotes the
 * offending entry ("10.0.0.0/33: prefix length must be 0..32"); the
 * configuration reader adds the file and line.
 */
#ifndef MSSANTE_CIDR_H
#define MSSANTE_CIDR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct sockaddr;

struct cidr {
    int family;                /* AF_INET or AF_INET6 */
    unsigned char addr[16];    /* network order; 4 bytes used for AF_INET */
    unsigned prefix;           /* 0..32 or 0..128 */
};

struct cidr_list {
    struct cidr *v;            /* owned */
    size_t n;
};

/* One entry: "192.0.2.1", "192.0.2.0/24", "2001:db8::/32", "::1".  An
 * entry with bits set past its prefix ("192.0.2.1/24") is refused: it is
 * ambiguous (a host or a network?) and the error says what was meant. */
int cidr_parse(const char *text, struct cidr *out, struct err *why);

/* Entries separated by commas and/or white space, at least one.  OUT is
 * replaced only on success (the caller frees it with cidr_list_free). */
int cidr_list_parse(const char *text, struct cidr_list *out, struct err *why);

void cidr_list_free(struct cidr_list *l);

/* Is the address (AF_INET or AF_INET6 sockaddr; anything else: no) in L? */
bool cidr_list_match_sockaddr(const struct cidr_list *l, const struct sockaddr *sa);

/* The same for an address in text form ("192.0.2.7", "2001:db8::7",
 * "[2001:db8::7]").  *valid (if non-NULL) says whether IP parsed. */
bool cidr_list_match_text(const struct cidr_list *l, const char *ip, bool *valid);

#endif
