/*
 * cfgcapture.h - load a configuration text as config_load() would read it
 * from a file, with what it prints on stderr captured: the key tests of
 * tests/unit/config/ assert on both the result and the error text.
 */
#ifndef MSSANTE_TEST_CFGCAPTURE_H
#define MSSANTE_TEST_CFGCAPTURE_H

#include "config/config.h"

/* Write HEAD (may be NULL) then TEXT to a new file in DIR, load it, and
 * remove it.  *ERRORS gets what config_load printed (malloc'ed, "" when
 * quiet; the caller frees it).  Exits 2 when the test itself cannot run. */
struct config *cfgcapture_load(const char *dir, const char *head, const char *text,
                               char **errors);

#endif
