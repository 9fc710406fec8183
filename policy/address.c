/*
 * address.c - parse and normalise the envelope addresses libmilter hands us.
 *
 * The milter sees MAIL FROM / RCPT TO arguments as the client sent them
 * (after Postfix's own checks): "<user@Example.FR>", sometimes without the
 * brackets, "<>" for the null sender, an obsolete source route
 * "<@relay1,@relay2:user@host>", a quoted local part.  We reduce that to a
 * local part (kept verbatim: local parts are case-sensitive) and a domain in
 * the form the whitelist is keyed on: ASCII lower case, one trailing dot
 * removed.
 *
 * Anything we cannot read with certainty is MALFORMED: a policy that
 * guesses at an address could guess a domain into the trust space.
 * Everything works in the caller's fixed buffers; nothing is allocated
 * (but inside libidn2, for a Unicode domain).
 *
 * A domain written in Unicode (a client using SMTPUTF8) is kept as written
 * in domain_u and converted to its A-labels in domain (common/idna.h), the
 * form the ANS list and LocalDomains are compared in: a listed domain
 * written in Unicode matches, a lookalike gets an A-label of its own.  A
 * Unicode name IDNA2008 refuses is not malformed, since Postfix took it:
 * it is flagged domain_idn_bad and keeps its Unicode form, which nothing
 * lists, so every rule sees a classic domain (refused outbound and as a
 * sender to our mailboxes, never let through).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/idna.h"
#include "common/utf8.h"
#include "policy/address.h"

#define HOST_MAX  253   /* RFC 1035 presentation form, without the trailing dot */
#define LABEL_MAX 63

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/*
 * Check host name syntax on an already lower-cased name: dot-separated
 * labels of [a-z0-9-], 1..63 bytes, no leading or trailing '-', 253 bytes in
 * all.  With allow_utf8, well-formed UTF-8 sequences count as letters (an
 * IDN U-label); *saw_utf8 says whether there were any.
 */
static bool host_syntax_ok(const char *name, bool allow_utf8, bool *saw_utf8,
                           const char **why)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t total = strlen(name), label = 0;
    unsigned char prev = '.';

    if (saw_utf8)
        *saw_utf8 = false;
    if (total == 0) {
        *why = "empty domain";
        return false;
    }
    if (total > HOST_MAX) {
        *why = "domain too long";
        return false;
    }
    while (*p) {
        if (*p == '.') {
            if (label == 0) {
                *why = "empty label in domain";
                return false;
            }
            if (prev == '-') {
                *why = "domain label ends with '-'";
                return false;
            }
            label = 0;
            prev = *p++;
            continue;
        }
        if (*p >= 0x80) {
            size_t n = allow_utf8 ? utf8_seq_len(p, 4) : 0;

            if (n == 0) {
                *why = allow_utf8 ? "invalid UTF-8 in domain" : "non-ASCII character in domain";
                return false;
            }
            if (saw_utf8)
                *saw_utf8 = true;
            label += n;
            p += n;
            prev = 'a';
        } else if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-') {
            if (*p == '-' && label == 0) {
                *why = "domain label starts with '-'";
                return false;
            }
            label++;
            prev = *p++;
        } else {
            *why = "invalid character in domain";
            return false;
        }
        if (label > LABEL_MAX) {
            *why = "domain label too long";
            return false;
        }
    }
    if (label == 0) {
        *why = "empty label in domain";
        return false;
    }
    if (prev == '-') {
        *why = "domain label ends with '-'";
        return false;
    }
    return true;
}

/*
 * "[192.0.2.1]" or "[IPv6:2001:db8::1]" (already lower-cased, so the tag
 * reads "ipv6:").  Other RFC 5321 general address literals are not used on
 * the Internet and are refused.
 */
static bool domain_literal_ok(const char *lit, size_t len)
{
    char inner[ADDR_DOMAIN_MAX + 1];
    unsigned char bin[16];

    if (len < 3 || lit[len - 1] != ']' || len - 2 > ADDR_DOMAIN_MAX)
        return false;
    memcpy(inner, lit + 1, len - 2);
    inner[len - 2] = '\0';
    if (strncmp(inner, "ipv6:", 5) == 0)
        return inet_pton(AF_INET6, inner + 5, bin) == 1;
    return inet_pton(AF_INET, inner, bin) == 1;
}

/*
 * Skip an obsolete source route "@a,@b:" at *pp (RFC 5321 A-d-l).  The relays
 * are ignored, as every MTA does, but they must at least look like a route.
 */
static bool skip_source_route(const char **pp, const char *end)
{
    const char *p = *pp;

    while (p < end && *p == '@') {
        const char *start = ++p;

        while (p < end && *p != ',' && *p != ':') {
            if (is_ctl((unsigned char)*p) || *p == ' ' || *p == '@' || *p == '"'
                || *p == '<' || *p == '>')
                return false;
            p++;
        }
        if (p == start || p == end)
            return false;
        if (*p++ == ':') {
            *pp = p;
            return true;
        }
    }
    return false;
}

/*
 * Find the '@' that ends the local part starting at P.  A quoted local part
 * may hold '@', spaces and backslash pairs; an unquoted one may hold no
 * space, control character, quote, bracket or '@'.  Returns NULL and sets
 * *why when the local part is not acceptable.
 */
static const char *scan_local(const char *p, const char *end, const char **why)
{
    const unsigned char *s = (const unsigned char *)p;

    if (s < (const unsigned char *)end && *s == '"') {
        for (s++; s < (const unsigned char *)end && *s != '"'; s++) {
            if (*s == '\\' && s + 1 < (const unsigned char *)end)
                s++;
            if (is_ctl(*s)) {
                *why = "control character in address";
                return NULL;
            }
        }
        if (s >= (const unsigned char *)end) {
            *why = "unbalanced quotes";
            return NULL;
        }
        s++;    /* closing quote */
        if (s >= (const unsigned char *)end || *s != '@') {
            *why = (s < (const unsigned char *)end && *s == '"') ? "unbalanced quotes"
                 : (s < (const unsigned char *)end) ? "text after the quoted local part"
                 : "missing '@'";
            return NULL;
        }
        return (const char *)s;
    }
    for (; s < (const unsigned char *)end && *s != '@'; s++) {
        if (*s == ' ' || is_ctl(*s)) {
            *why = "space or control character in address";
            return NULL;
        }
        if (*s == '"') {
            *why = "unbalanced quotes";
            return NULL;
        }
        if (*s == '<' || *s == '>') {
            *why = "unbalanced angle brackets";
            return NULL;
        }
    }
    if (s >= (const unsigned char *)end) {
        *why = "missing '@'";
        return NULL;
    }
    return (const char *)s;
}

/* OUT's domain, written in Unicode, to A-labels (domain_u keeps it as
 * written); flagged domain_idn_bad when IDNA2008 refuses it or the result
 * is no host name. */
static void to_alabels(struct mailaddr *out)
{
    char alabel[ADDR_DOMAIN_MAX + 1];
    const char *why;
    size_t len;

    memcpy(out->domain_u, out->domain, sizeof(out->domain_u));
    if (idna_to_alabel(out->domain, alabel, sizeof(alabel), &why) < 0) {
        out->domain_idn_bad = true;
        return;
    }
    /* A full-width or ideographic full stop at the end maps to a dot. */
    len = strlen(alabel);
    if (len > 0 && alabel[len - 1] == '.')
        alabel[--len] = '\0';
    if (len > HOST_MAX || !host_syntax_ok(alabel, false, NULL, &why)) {
        out->domain_idn_bad = true;
        return;
    }
    memcpy(out->domain, alabel, len + 1);
}

/* Copy and check the domain part [p, end) into out->domain. */
static bool parse_domain(const char *p, const char *end, struct mailaddr *out,
                         const char **why)
{
    size_t len = (size_t)(end - p), i;

    if (len == 0) {
        *why = "empty domain";
        return false;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];

        if (c == ' ' || is_ctl(c)) {
            *why = "space or control character in address";
            return false;
        }
        if (c == '<' || c == '>') {
            *why = "unbalanced angle brackets";
            return false;
        }
        if (c == '"') {
            *why = "unbalanced quotes";
            return false;
        }
    }
    /* Room for the name plus the one trailing dot we strip. */
    if (len > HOST_MAX + 1 || len > ADDR_DOMAIN_MAX) {
        *why = "domain too long";
        return false;
    }
    for (i = 0; i < len; i++)
        out->domain[i] = ascii_lower(p[i]);
    out->domain[len] = '\0';

    if (out->domain[0] == '[') {
        if (!domain_literal_ok(out->domain, len)) {
            *why = "invalid domain literal";
            return false;
        }
        out->domain_literal = true;
        return true;
    }
    if (out->domain[len - 1] == '.')
        out->domain[--len] = '\0';
    if (!host_syntax_ok(out->domain, true, &out->domain_utf8, why))
        return false;
    if (out->domain_utf8)
        to_alabels(out);
    return true;
}

enum addr_status addr_parse(const char *in, struct mailaddr *out, const char **why)
{
    const char *dummy, *p, *end, *at;
    size_t local_len;

    if (why == NULL)
        why = &dummy;
    *why = NULL;
    memset(out, 0, sizeof(*out));

    if (in == NULL || *in == '\0') {
        *why = "empty address";
        return ADDR_MALFORMED;
    }
    p = in;
    end = in + strlen(in);
    if (*p == '<') {
        if (end[-1] != '>' || end - p < 2) {
            *why = "unbalanced angle brackets";
            return ADDR_MALFORMED;
        }
        p++;
        end--;
        if (p == end)
            return ADDR_NULL;
    }
    if (*p == '@') {
        /* "<@x.fr>" is an empty local part, "<@r1:u@x.fr>" a source route. */
        if (memchr(p, ':', (size_t)(end - p)) == NULL) {
            *why = "empty local part";
            return ADDR_MALFORMED;
        }
        if (!skip_source_route(&p, end)) {
            *why = "bad source route";
            return ADDR_MALFORMED;
        }
    }
    if (p == end) {
        *why = "empty address";
        return ADDR_MALFORMED;
    }
    if ((at = scan_local(p, end, why)) == NULL)
        return ADDR_MALFORMED;
    local_len = (size_t)(at - p);
    if (local_len == 0) {
        *why = "empty local part";
        return ADDR_MALFORMED;
    }
    if (local_len > ADDR_LOCAL_MAX) {
        *why = "local part too long";
        return ADDR_MALFORMED;
    }
    if (!parse_domain(at + 1, end, out, why)) {
        out->domain[0] = out->domain_u[0] = '\0';
        out->domain_literal = out->domain_utf8 = out->domain_idn_bad = false;
        return ADDR_MALFORMED;
    }
    memcpy(out->local, p, local_len);
    out->local[local_len] = '\0';
    return ADDR_OK;
}

bool addr_route_form(const struct mailaddr *a, const char **why)
{
    const char *dummy;
    bool quoted;

    if (why == NULL)
        why = &dummy;
    *why = NULL;
    if (a == NULL)
        return false;
    quoted = a->local[0] == '"';
    if (quoted && strpbrk(a->local, "@%!") != NULL) {
        *why = "quoted local part holding '@', '%' or '!'";
        return true;
    }
    if (strchr(a->local, '%') != NULL) {
        *why = "'%' in the local part (percent hack)";
        return true;
    }
    if (strchr(a->local, '!') != NULL) {
        *why = "'!' in the local part (bang path)";
        return true;
    }
    if (a->domain_literal) {
        *why = "address literal instead of a domain";
        return true;
    }
    return false;
}

/*
 * Used for configured names (LocalDomains, PatientDomain) and anything else
 * compared with the whitelist: those must be ASCII host names (the ANS list
 * holds A-labels), so U-labels and address literals are refused here.
 * The name is lower-cased in place even when it is then refused.
 */
bool addr_normalize_domain(char *domain)
{
    const char *why;
    size_t len;
    char *p;

    if (domain == NULL)
        return false;
    for (p = domain; *p; p++)
        *p = ascii_lower(*p);
    len = (size_t)(p - domain);
    if (len > 0 && domain[len - 1] == '.')
        domain[len - 1] = '\0';
    return host_syntax_ok(domain, false, NULL, &why);
}

char *addr_format(const struct mailaddr *a, char *buf, unsigned long size)
{
    if (buf == NULL || size == 0)
        return buf;
    if (a == NULL) {
        buf[0] = '\0';
        return buf;
    }
    /* snprintf truncates and always terminates: exactly what we want. */
    if (a->local[0] == '\0' && a->domain[0] == '\0')
        snprintf(buf, size, "<>");
    else
        snprintf(buf, size, "%s@%s", a->local, a->domain);
    return buf;
}
