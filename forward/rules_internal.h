/*
 * rules_internal.h - what the parts of the forwarding rules share (not a
 * public interface: only forward/rules*.c include it).
 *
 * The rules are split by job: rules.c stores them in Redis (and owns the
 * in-memory rule helpers); rules_json.c turns a set of rules into the
 * import/export JSON document and back, checking every element, and
 * writes an imported set through the public rules.h calls.
 */
#ifndef MSSANTE_FWD_RULES_INTERNAL_H
#define MSSANTE_FWD_RULES_INTERNAL_H

#include <stddef.h>

#include "forward/rules.h"

/*
 * Append a copy of T to the array *TARGETS of *N entries unless it is
 * already there (compared case-insensitively).  1 appended, 0 present,
 * -1 no memory (the array is left as it was).
 */
int fwd_append_target(char ***targets, size_t *n, const char *t);

#endif
