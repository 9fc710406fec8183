/*
 * wildcard.h - match a text against a pattern where '*' stands for any
 * run of characters (none included), ignoring ASCII case: the local part
 * of a PharmacyMailboxes entry ("pharmacie-*@lgpi.mssante.fr").
 *
 * The pattern is the operator's; the text is the attacker's (a recipient's
 * local part).  So the match is bounded whatever both hold: one pass with
 * a single backtracking point (the last '*'), at most
 * strlen(pattern) * strlen(text) steps, never the exponential blow-up of
 * a recursive matcher on "*a*a*a*a*b" against "aaaa...".  Only '*' is
 * special: there is no escape, no '?' and no class, so a pattern reads as
 * what it matches.
 *
 * Pure: no allocation, no I/O.
 */
#ifndef MSSANTE_WILDCARD_H
#define MSSANTE_WILDCARD_H

#include <stdbool.h>
#include <stddef.h>

/* Does TEXT match the first PLEN bytes of PATTERN, ASCII case ignored? */
bool wildcard_match(const char *pattern, size_t plen, const char *text);

/* Does the first PLEN bytes of PATTERN hold a '*'? */
bool wildcard_has_star(const char *pattern, size_t plen);

#endif
