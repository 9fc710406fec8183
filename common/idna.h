/*
 * idna.h - internationalised domain names in the form the trust space is
 * keyed on: A-labels ("medecin.xn--mssant-gva.fr").
 *
 * The ANS list holds ASCII names, and a domain written in Unicode in an
 * envelope (SMTPUTF8) must be compared in the form DNS and Postfix use
 * for it: IDNA2008 with the Unicode UTS #46 mapping, non-transitional
 * processing (libidn2), the same conversion Postfix applies to route such
 * a name.  The mapping folds case, normalises to NFC and turns compatible
 * forms (full-width letters, the ideographic full stop) into what they
 * stand for, so a name that Postfix would deliver to a listed domain
 * compares equal to it; any other Unicode name gets an A-label of its own
 * ("mssant\u00e9" is "xn--mssant-gva", not "mssante") and stays outside.
 *
 * Pure computation: no I/O, no global state (libidn2's tables are
 * constant); callable from policy/.  libidn2 allocates the result, which
 * is copied into the caller's buffer and freed at once.
 *
 * DIAGNOSTICS: a name libidn2 refuses (a disallowed code point, a
 * ContextJ character, bad bidi, invalid Punycode, a label too long) gives
 * -1 and libidn2's own English phrase, static.
 */
#ifndef MSSANTE_IDNA_H
#define MSSANTE_IDNA_H

#include <stdbool.h>
#include <stddef.h>

/* Does S hold a byte outside ASCII? */
bool idna_is_unicode(const char *s);

/*
 * NAME (NUL-terminated UTF-8, the trailing dot already removed) in A-label
 * form, lower case, into OUT (SIZE bytes).  0, or -1 with *WHY set (WHY
 * may be NULL): refused by IDNA2008, or longer than SIZE - 1.  An ASCII
 * NAME is converted too (lower-cased; an invalid "xn--" label refused).
 */
int idna_to_alabel(const char *name, char *out, size_t size, const char **why);

#endif
