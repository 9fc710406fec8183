/*
 * config_values.h - the value parsers of mssante-milter.conf (internal to
 * milter/config.c and milter/config_values.c).
 *
 * config.c owns the key table, the file reading, the defaults and the
 * checks across keys; config_values.c turns one value's text into the
 * field of struct config that a table row names, or into an error
 * message.  Every parser has the key_parser signature: it writes WHY (an
 * English sentence, no file or line: the reader adds them) and returns
 * false on a bad value, leaving the field as it was.
 */
#ifndef MSSANTE_CONFIG_VALUES_H
#define MSSANTE_CONFIG_VALUES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "milter/config.h"

struct key_def;
typedef bool (*key_parser)(struct config *cfg, const struct key_def *key, const char *value,
                           struct err *why);

struct key_def {
    const char *name;
    key_parser parse;
    size_t off;              /* field in struct config */
    long long min, max;      /* bounds for numeric values */
};

#define FIELD(cfg, key, type) ((type *)(void *)((char *)(cfg) + (key)->off))

/* White space as the file format means it (isspace() without the locale). */
bool config_is_space(char c);

/* Free a NULL-terminated list of strings and the list itself; NULL is fine. */
void config_free_list(char **list);

/* Generic parsers: the field's type is given by the parser. */
bool parse_string(struct config *cfg, const struct key_def *key, const char *value,
                  struct err *why);
bool parse_word(struct config *cfg, const struct key_def *key, const char *value,
                struct err *why);
bool parse_socket(struct config *cfg, const struct key_def *key, const char *value,
                  struct err *why);
bool parse_octal(struct config *cfg, const struct key_def *key, const char *value,
                 struct err *why);
bool parse_user(struct config *cfg, const struct key_def *key, const char *value,
                struct err *why);
bool parse_domain(struct config *cfg, const struct key_def *key, const char *value,
                  struct err *why);
bool parse_duration(struct config *cfg, const struct key_def *key, const char *value,
                    struct err *why);
bool parse_bool(struct config *cfg, const struct key_def *key, const char *value,
                struct err *why);
bool parse_facility(struct config *cfg, const struct key_def *key, const char *value,
                    struct err *why);
bool parse_int(struct config *cfg, const struct key_def *key, const char *value,
               struct err *why);
bool parse_size(struct config *cfg, const struct key_def *key, const char *value,
                struct err *why);
bool parse_https_url(struct config *cfg, const struct key_def *key, const char *value,
                     struct err *why);
bool parse_ttl_seconds(struct config *cfg, const struct key_def *key, const char *value,
                       struct err *why);
bool parse_address(struct config *cfg, const struct key_def *key, const char *value,
                   struct err *why);

/* A word out of two (not a key_parser: the table wraps it with the two
 * words, see config.c): the bool field is true for YES, false for NO. */
bool parse_choice(struct config *cfg, const struct key_def *key, const char *value,
                  const char *no, const char *yes, struct err *why);

/* Parsers of one key each: they write their own fields, not key->off only. */
bool parse_local_domains(struct config *cfg, const struct key_def *key,
                         const char *value, struct err *why);
bool parse_redis(struct config *cfg, const struct key_def *key, const char *value,
                 struct err *why);
bool parse_log_level(struct config *cfg, const struct key_def *key, const char *value,
                     struct err *why);
bool parse_pharmacies(struct config *cfg, const struct key_def *key, const char *value,
                      struct err *why);
bool parse_notify_smtp(struct config *cfg, const struct key_def *key, const char *value,
                       struct err *why);
bool parse_internal_hosts(struct config *cfg, const struct key_def *key,
                          const char *value, struct err *why);
bool parse_operator_certificate(struct config *cfg, const struct key_def *key,
                                const char *value, struct err *why);
bool parse_notify_template(struct config *cfg, const struct key_def *key,
                           const char *value, struct err *why);

#endif
