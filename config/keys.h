/*
 * keys.h - the key table of mssante-milter.conf (internal to config/:
 * keys.c holds the rows, config.c reads files with them).
 */
#ifndef MSSANTE_CONFIG_KEYS_H
#define MSSANTE_CONFIG_KEYS_H

#include <stddef.h>

#include "config/values.h"

size_t cfg_keys_count(void);

/* Row I, or NULL past the end. */
const struct cfg_key *cfg_keys_at(size_t i);

/* The row of NAME (any case), or NULL. */
const struct cfg_key *cfg_keys_find(const char *name);

#endif
