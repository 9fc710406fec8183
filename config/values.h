/*
 * values.h - the value types of mssante-milter.conf (internal to config/).
 *
 * A type knows everything about one kind of value, so that a key is one
 * row of the table (config/keys.c) and nothing else: how its text is
 * parsed into the field the row points to, how the field is written back
 * (mssante-milter -n), compared, copied and freed (a reload keeps the
 * running value of a restart-only key), and described in a reload warning.
 * Every parser writes WHY (an English sentence, no file or line: the
 * reader adds them) and returns false on a bad value, leaving the field as
 * it was.  The parsers are static to values.c and values_lists.c: config/
 * exports no parse_* function.
 */
#ifndef MSSANTE_CONFIG_VALUES_H
#define MSSANTE_CONFIG_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/err.h"

struct cfg_key;

struct cfg_type {
    /* TEXT into FIELD; false + why. */
    bool (*parse)(void *field, const struct cfg_key *k, const char *text, struct err *why);
    /* FIELD as the text a user would write ("" when unset). */
    void (*format)(const void *field, const struct cfg_key *k, char *buf, size_t size);
    bool (*same)(const void *a, const void *b);
    /* Replace DST's value with a copy of SRC's.  False when out of memory. */
    bool (*copy)(void *dst, const void *src);
    void (*release)(void *field);               /* NULL: nothing owned */
    /* The value in a reload warning; NULL: the warning does not quote it. */
    void (*describe)(const void *field, const struct cfg_key *k, char *buf, size_t size);
    /* The field of a key without a default; NULL: all zero is right. */
    bool (*init)(void *field);
};

/* When a change of the key takes effect. */
enum cfg_reload {
    CFG_LIVE = 0,        /* at a reload: new connections, or the next round */
    CFG_RESTART          /* read at start only: a reload keeps the running value */
};

struct cfg_key {
    const char *name;
    const struct cfg_type *type;
    size_t off;                  /* the field in struct config */
    long long min, max;          /* bounds of numeric values */
    const char *def;             /* the default as a user writes it; NULL: unset */
    enum cfg_reload reload;
    bool secret;                 /* never shown: -n, reload warnings */
    const char *const *words;    /* choice and enum types: the words, NULL-ended */
    const char *doc;             /* one line, for tools and the manual's reader */
};

/* The types.  Strings (char *) first: */
extern const struct cfg_type cfgval_string;      /* any text */
extern const struct cfg_type cfgval_word;        /* no white space */
extern const struct cfg_type cfgval_user;        /* user or user:group */
extern const struct cfg_type cfgval_socket;      /* libmilter socket spec */
extern const struct cfg_type cfgval_facility;    /* a syslog facility name */
extern const struct cfg_type cfgval_https_url;   /* https:// only */
extern const struct cfg_type cfgval_smtp_url;    /* smtp:// or smtps:// (NotifySMTP) */
extern const struct cfg_type cfgval_address;     /* one plain mail address */
extern const struct cfg_type cfgval_domain;      /* a domain, normalised */
/* Numbers: */
extern const struct cfg_type cfgval_octal;       /* int, a file mode */
extern const struct cfg_type cfgval_duration;    /* int, milliseconds: 500ms, 10s, 5m... */
extern const struct cfg_type cfgval_int;         /* int, a plain whole number */
extern const struct cfg_type cfgval_size;        /* size_t, bytes: 500K, 32M */
extern const struct cfg_type cfgval_ttl;         /* long long, whole seconds: 30d */
/* Words: */
extern const struct cfg_type cfgval_bool;        /* bool: yes/no, true/false, on/off, 1/0 */
extern const struct cfg_type cfgval_choice;      /* bool: words[0] false, words[1] true */
extern const struct cfg_type cfgval_enum;        /* an enum: the index in words */
/* Lists and structures: */
extern const struct cfg_type cfgval_domains;     /* struct strlist of domains */
extern const struct cfg_type cfgval_mailboxes;   /* struct strlist: local@domain, @domain */
extern const struct cfg_type cfgval_hosts;       /* struct cidr_list, or "none" */
extern const struct cfg_type cfgval_redis;       /* struct redis_endpoint */
extern const struct cfg_type cfgval_template;    /* struct notify_template_file */

/* White space as the file format means it (isspace() without the locale). */
bool cfgval_is_space(char c);

/* What values.c and values_lists.c share.  Equal strings (NULL equals
 * NULL only); *SLOT replaced with a copy of VALUE (NULL stays NULL: false
 * when out of memory); a copy of IN (LEN bytes) as a normalised domain
 * into *OUT, false when it is not a domain (*OUT stays NULL when out of
 * memory). */
bool cfgval_same_string(const char *a, const char *b);
bool cfgval_set_string(char **slot, const char *value);
bool cfgval_domain_copy(const char *in, size_t len, char **out);

/* The field of K in the configuration object CFG. */
#define CFG_FIELD(cfg, k) ((void *)((char *)(cfg) + (k)->off))
#define CFG_CFIELD(cfg, k) ((const void *)((const char *)(cfg) + (k)->off))

#endif
