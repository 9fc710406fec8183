/*
 * held.c - write, read and verify the X-MSSante-Held header (the format
 * and why it is signed: held.h).
 *
 * The reason comes from the daemon's own reply texts, but those may name
 * addresses from the envelope: everything is reduced to printable ASCII on
 * one line before it goes into a header, and parsed back strictly.  The
 * MAC covers the text exactly as written, each field preceded by its
 * length, under a label naming this format: no two different headers (or
 * queue ids) give the same input, and a key used for anything else could
 * not make one.  The comparison takes the same time wherever the MACs
 * differ.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "policy/held.h"

#define SUBMISSION_LOCAL "submission=local"
#define SUBMISSION_SMTP  "submission=smtp"
#define MAC_FIELD        "mac="
#define MAC_LABEL        "X-MSSante-Held v2"
/* the MAC's input: the label, a queue id, a rule, the submission and a
 * reason, each after its 4-byte length */
#define MAC_INPUT_MAX    (2 * HELD_VALUE_MAX + 256)

const struct keyfile_use held_key_use = {
    "HeldKeyFile",
    "makes every message held until then look held by something else to mssantectl held",
    "can be read by others than its owner: anyone with it can make a message look held by "
    "the daemon, and have mssantectl held resubmit it as a local submission; chmod 600 it",
};

bool held_header_is(const char *name)
{
    return name != NULL && strcasecmp(name, HELD_HEADER) == 0;
}

static bool rule_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Append SRC to DST (at *len, SIZE bytes) in printable ASCII, runs of
 * white space and control characters as one space. */
static void put_safe(char *dst, size_t size, size_t *len, const char *src)
{
    size_t start = *len;
    bool space = false;

    for (; src != NULL && *src != '\0' && *len + 1 < size; src++) {
        unsigned char ch = (unsigned char)*src;

        if (ch <= 0x20 || ch == 0x7f) {
            space = *len > start;
            continue;
        }
        if (space && *len + 2 < size)
            dst[(*len)++] = ' ';
        space = false;
        dst[(*len)++] = ch >= 0x80 ? '?' : (char)ch;
    }
    dst[*len] = '\0';
}

/* ---- the MAC ---------------------------------------------------------------- */

/* One field of the MAC's input at BUF + *LEN (SIZE bytes): its length in
 * 4 bytes, then its bytes.  -1 when it does not fit. */
static int mac_field(unsigned char *buf, size_t size, size_t *len, const char *s)
{
    size_t n = strlen(s);

    if (n > size || *len + 4 > size - n)
        return -1;
    buf[(*len)++] = (unsigned char)(n >> 24);
    buf[(*len)++] = (unsigned char)(n >> 16);
    buf[(*len)++] = (unsigned char)(n >> 8);
    buf[(*len)++] = (unsigned char)n;
    memcpy(buf + *len, s, n);
    *len += n;
    return 0;
}

/* HMAC-SHA256 of the fields under KEY, in lower-case hex, into HEX. */
static int compute_mac(const unsigned char *key, const char *qid, const char *rule,
                       bool local, const char *reason, char hex[HELD_MAC_HEX + 1])
{
    unsigned char in[MAC_INPUT_MAX], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t len = 0;

    if (mac_field(in, sizeof(in), &len, MAC_LABEL) < 0
        || mac_field(in, sizeof(in), &len, qid) < 0
        || mac_field(in, sizeof(in), &len, rule) < 0
        || mac_field(in, sizeof(in), &len, local ? "local" : "smtp") < 0
        || mac_field(in, sizeof(in), &len, reason) < 0
        || HMAC(EVP_sha256(), key, HELD_KEY_BYTES, in, len, md, &mdlen) == NULL
        || mdlen * 2 != HELD_MAC_HEX)
        return -1;
    for (unsigned int i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* ---- writing ---------------------------------------------------------------- */

int held_header_value(char *buf, size_t size, const unsigned char key[HELD_KEY_BYTES],
                      const char *qid, const char *rule, bool local_submission,
                      const char *reason)
{
    char safe_rule[HELD_RULE_MAX], safe_reason[HELD_VALUE_MAX], hex[HELD_MAC_HEX + 1];
    size_t i, len = 0, room;
    int n;

    if (size > 0)
        buf[0] = '\0';
    if (key == NULL || qid == NULL || qid[0] == '\0')
        return -1;
    if (rule == NULL || rule[0] == '\0')
        rule = "hold";
    for (i = 0; rule[i] != '\0' && i + 1 < sizeof(safe_rule); i++) {
        char c = rule[i] >= 'A' && rule[i] <= 'Z' ? (char)(rule[i] - 'A' + 'a') : rule[i];

        safe_rule[i] = rule_char(c) ? c : '-';
    }
    safe_rule[i] = '\0';
    /* "RULE; submission=X; mac=HEX; " then the reason, cut to what is left */
    room = strlen(safe_rule) + strlen(SUBMISSION_LOCAL) + strlen(MAC_FIELD) + HELD_MAC_HEX + 6;
    if (size <= room + 1)
        return -1;
    room = size - room < sizeof(safe_reason) ? size - room : sizeof(safe_reason);
    put_safe(safe_reason, room, &len, reason != NULL && reason[0] != '\0' ? reason : "-");
    if (compute_mac(key, qid, safe_rule, local_submission, safe_reason, hex) < 0)
        return -1;
    n = snprintf(buf, size, "%s; %s; " MAC_FIELD "%s; %s", safe_rule,
                 local_submission ? SUBMISSION_LOCAL : SUBMISSION_SMTP, hex, safe_reason);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return -1;
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------- */

static const char *skip_blanks(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* "mac=" and 64 lower-case hex digits then ';' at P: the digits into HEX,
 * the text after the ';' returned; NULL when P is not that. */
static const char *read_mac(const char *p, char hex[HELD_MAC_HEX + 1])
{
    if (strncmp(p, MAC_FIELD, strlen(MAC_FIELD)) != 0)
        return NULL;
    p += strlen(MAC_FIELD);
    for (size_t i = 0; i < HELD_MAC_HEX; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return NULL;
        hex[i] = p[i];
    }
    hex[HELD_MAC_HEX] = '\0';
    p += HELD_MAC_HEX;
    return *p == ';' ? p + 1 : NULL;
}

/* "RULE; submission=X;" at the start of VALUE into OUT: the text after
 * the ';', or NULL when VALUE does not start that way. */
static const char *read_head(const char *value, struct held_mark *out)
{
    const char *p = skip_blanks(value), *semi;
    size_t n;

    if ((semi = strchr(p, ';')) == NULL || semi == p
        || (n = (size_t)(semi - p)) >= sizeof(out->rule))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!rule_char(p[i]))
            return NULL;
    memcpy(out->rule, p, n);
    out->rule[n] = '\0';
    p = skip_blanks(semi + 1);
    if (strncmp(p, SUBMISSION_LOCAL, strlen(SUBMISSION_LOCAL)) == 0) {
        out->local_submission = true;
        p += strlen(SUBMISSION_LOCAL);
    } else if (strncmp(p, SUBMISSION_SMTP, strlen(SUBMISSION_SMTP)) == 0) {
        p += strlen(SUBMISSION_SMTP);
    } else {
        return NULL;
    }
    return *p == ';' ? p + 1 : NULL;
}

enum held_check held_header_check(const char *value, const unsigned char *key,
                                  const char *qid, struct held_mark *out)
{
    char claimed[HELD_MAC_HEX + 1], expected[HELD_MAC_HEX + 1];
    const char *p, *rest;
    size_t n = 0;

    memset(out, 0, sizeof(*out));
    if (value == NULL || (p = read_head(value, out)) == NULL) {
        memset(out, 0, sizeof(*out));
        return HELD_MALFORMED;
    }
    p = skip_blanks(p);
    if ((rest = read_mac(p, claimed)) == NULL) {
        put_safe(out->reason, sizeof(out->reason), &n, p);
        return HELD_NO_MAC;
    }
    put_safe(out->reason, sizeof(out->reason), &n, skip_blanks(rest));
    if (key == NULL || qid == NULL || qid[0] == '\0'
        || compute_mac(key, qid, out->rule, out->local_submission, out->reason, expected) < 0
        || CRYPTO_memcmp(claimed, expected, HELD_MAC_HEX) != 0)
        return HELD_BAD_MAC;
    return HELD_OURS;
}

const char *held_check_name(enum held_check c)
{
    switch (c) {
    case HELD_OURS:
        return "ours";
    case HELD_BAD_MAC:
        return "bad-mac";
    case HELD_NO_MAC:
        return "no-mac";
    case HELD_MALFORMED:
        return "malformed";
    }
    return "malformed";
}
