/*
 * utf8.h - recognise one well-formed UTF-8 sequence.
 *
 * Used where non-ASCII text is allowed but must be valid: domain names in
 * envelopes, and the operator's notification template.
 */
#ifndef MSSANTE_UTF8_H
#define MSSANTE_UTF8_H

#include <stddef.h>

/*
 * Length of the well-formed UTF-8 sequence starting at S (whose first byte
 * is >= 0x80), reading at most LEFT bytes; 0 when it is not one (overlong
 * forms, surrogates, code points above U+10FFFF and stray continuation
 * bytes are refused).  In a NUL-terminated string LEFT may simply be 4:
 * the NUL ends the sequence before any byte past it is read.
 */
size_t utf8_seq_len(const unsigned char *s, size_t left);

#endif
