/*
 * address.h - parse and normalise an SMTP envelope address.
 *
 * Pure string work: the result lives in caller-provided fixed buffers, so
 * the per-message path stays allocation-free (but for the IDNA conversion
 * of a Unicode domain, inside libidn2).  The domain comes out in the form
 * the whitelist is keyed on: lower-cased, any trailing dot removed, and a
 * Unicode domain (SMTPUTF8) in A-label form (common/idna.h).
 */
#ifndef MSSANTE_ADDRESS_H
#define MSSANTE_ADDRESS_H

#include <stdbool.h>

#define ADDR_LOCAL_MAX  256   /* RFC 5321 says 64; be lenient, but bounded */
#define ADDR_DOMAIN_MAX 256   /* 255 + NUL */

enum addr_status {
    ADDR_OK = 0,
    ADDR_NULL,        /* "<>": the null sender */
    ADDR_MALFORMED    /* see *why */
};

struct mailaddr {
    char local[ADDR_LOCAL_MAX + 1];    /* as given (case kept: local parts are case-sensitive) */
    char domain[ADDR_DOMAIN_MAX + 1];  /* lower-cased, trailing dot stripped; A-labels */
    bool domain_literal;               /* [192.0.2.1] form: never MSSante */
    bool domain_utf8;                  /* written in Unicode (U-labels): domain_u ... */
    char domain_u[ADDR_DOMAIN_MAX + 1];/* ... as written (ASCII lower-cased); "" if not */
    bool domain_idn_bad;               /* Unicode that IDNA2008 refuses: domain is then
                                        * the name as written, which no list holds */
};

/*
 * Parse IN, the argument libmilter hands to envfrom/envrcpt ("<a@b>", "a@b",
 * "<@route:a@b>", "<>").  On ADDR_MALFORMED, *why (if non-NULL) points to a
 * static English explanation.
 */
enum addr_status addr_parse(const char *in, struct mailaddr *out, const char **why);

/*
 * Is A (as addr_parse returned it) a route address: a form that Postfix may
 * rewrite and deliver somewhere other than its literal domain?
 *   - '%' in the local part: the "percent hack" (user%other@here);
 *   - '!' in the local part: a UUCP bang path (other!user@here);
 *   - a quoted local part holding '@' (or '%' or '!'): Postfix dequotes it
 *     ("user@other"@here) and may resolve what is inside;
 *   - an address literal domain ([192.0.2.1]): a host, not a domain, so
 *     nothing says whose mailboxes are behind it.
 * Returns true with *why (if non-NULL) set to a static English phrase.
 * The obsolete source route ("@relay:user@domain") is not one: Postfix
 * strips the route and delivers to user@domain, which is what addr_parse
 * keeps and the policy judges.
 */
bool addr_route_form(const struct mailaddr *a, const char **why);

/* Normalise a bare domain in place: lower-case ASCII, strip one trailing dot.
 * Returns false if what is left is not a syntactically valid host name. */
bool addr_normalize_domain(char *domain);

/* Write "local@domain" into buf (truncating safely). Returns buf. */
char *addr_format(const struct mailaddr *a, char *buf, unsigned long size);

#endif
