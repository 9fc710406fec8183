/*
 * text.h - character tests the parsers share: white space in header
 * values and MIME parameters, hexadecimal digits.
 *
 * "White space" here is what folds and pads a header value as libmilter
 * hands it over: space, tab, and the CR LF of a folded line.  The
 * configuration file has its own, wider notion (config/values.h).
 */
#ifndef MSSANTE_TEXT_H
#define MSSANTE_TEXT_H

#include <stdbool.h>

/* Space, tab, CR or LF. */
bool text_is_ws(char c);

/* S past its leading white space. */
const char *text_skip_ws(const char *s);

/* True when S holds nothing but white space. */
bool text_is_blank(const char *s);

/* The value of the hexadecimal digit C (either case), or -1. */
int text_hexval(char c);

#endif
