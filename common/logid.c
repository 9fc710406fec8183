/*
 * logid.c - patient identifiers in the log: hashed, masked or in clear
 * (what and why: logid.h).
 *
 * The key is read once, before the threads start, and only read after
 * that; the mode is an atomic so that mssantectl can switch it after the
 * configuration is read.  The key file is made and read by
 * common/keyfile.c, as the daemon's other key is.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/logid.h"

#define ID_MAX      128          /* an id longer than that is cut before hashing */

static unsigned char key[KEYFILE_BYTES];
static atomic_bool have_key;
static bool key_loose;            /* the key file in force is readable by others */
static atomic_int mode = LOGID_HASH;

void logid_set_mode(enum logid_mode m)
{
    atomic_store(&mode, (int)m);
}

enum logid_mode logid_mode(void)
{
    return (enum logid_mode)atomic_load(&mode);
}

/* ---- the key -------------------------------------------------------------- */

const struct keyfile_use logid_key_use = {
    "LogPatientIdKeyFile",
    "changes every hashed id from then on",
    "can be read by others than its owner: anyone with it can tell which patient a hashed "
    "id is; chmod 600 it",
};

int logid_start(const struct logid_settings *s, bool create, struct err *err)
{
    unsigned char k[KEYFILE_BYTES];

    if (s->mode == LOGID_HASH) {
        if (s->key_file == NULL || s->key_file[0] == '\0') {
            err_set(err, "LogPatientId hash needs LogPatientIdKeyFile");
            return -1;
        }
        if (keyfile_load(&logid_key_use, s->key_file, create, k, &key_loose, err) < 0)
            return -1;
        memcpy(key, k, sizeof(key));
        atomic_store(&have_key, true);
    }
    logid_set_mode(s->mode);
    return 0;
}

bool logid_key_loose(void)
{
    return key_loose;
}

/* ---- formatting ------------------------------------------------------- */

/* Log text: no control character, no space, no quote. */
static char safe(char c)
{
    unsigned char u = (unsigned char)c;

    return u <= 0x20 || u >= 0x7f || c == '"' ? '?' : c;
}

static void format_mask(const char *id, size_t n, char *out, size_t size)
{
    size_t i;

    for (i = 0; i < n && i + 1 < size; i++)
        out[i] = i < LOGID_MASK_KEEP ? safe(id[i]) : '*';
    out[i] = '\0';
}

static void format_hash(const char *id, size_t n, char *out, size_t size)
{
    unsigned char md[EVP_MAX_MD_SIZE], norm[ID_MAX];
    unsigned int mdlen = 0;
    char hex[LOGID_HEX + 1];

    if (n > sizeof(norm))
        n = sizeof(norm);
    for (size_t i = 0; i < n; i++)
        norm[i] = (unsigned char)(id[i] >= 'a' && id[i] <= 'z' ? id[i] - 'a' + 'A' : id[i]);
    if (HMAC(EVP_sha256(), key, sizeof(key), norm, n, md, &mdlen) == NULL
        || mdlen < LOGID_HEX / 2) {
        format_mask(id, n, out, size);     /* never the id itself */
        return;
    }
    for (size_t i = 0; i < LOGID_HEX / 2; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, size, LOGID_PREFIX "%s", hex);
}

/* The first N bytes of ID as the mode in force shows them. */
static void format_n(const char *id, size_t n, char *out, size_t size)
{
    size_t i;

    if (size == 0)
        return;
    switch (logid_mode()) {
    case LOGID_CLEAR:
        for (i = 0; i < n && i + 1 < size; i++)
            out[i] = safe(id[i]);
        out[i] = '\0';
        return;
    case LOGID_MASK:
        format_mask(id, n, out, size);
        return;
    case LOGID_HASH:
        if (atomic_load(&have_key))
            format_hash(id, n, out, size);
        else
            format_mask(id, n, out, size);
        return;
    }
    format_mask(id, n, out, size);
}

void logid_format(const char *id, char *out, size_t size)
{
    format_n(id != NULL ? id : "", id != NULL ? strlen(id) : 0, out, size);
}

/* Does the text at S start with DOMAIN (any case), not followed by more
 * of a domain name? */
static bool domain_at(const char *s, const char *domain, size_t dlen)
{
    char next;

    if (dlen == 0 || strncasecmp(s, domain, dlen) != 0)
        return false;
    next = s[dlen];
    return !((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z')
             || (next >= '0' && next <= '9') || next == '-'
             || (next == '.' && s[dlen + 1] != '\0' && s[dlen + 1] != ' '
                 && s[dlen + 1] != '>'));
}

void logid_address(const char *addr, const char *patient_domain, char *out, size_t size)
{
    logid_redact(addr, patient_domain, out, size);
}

/* Characters that end a local part when reading backwards from '@'. */
static bool ends_local(char c)
{
    return c == ' ' || c == '\t' || c == '<' || c == '>' || c == '"' || c == '\'' || c == '('
           || c == ')' || c == ',' || c == ';' || c == ':' || c == '=' || c == '[' || c == ']';
}

void logid_redact(const char *text, const char *patient_domain, char *out, size_t size)
{
    size_t dlen = patient_domain != NULL ? strlen(patient_domain) : 0;
    size_t o = 0, seg_out = 0, seg_in = 0, i;
    char id[LOGID_MAX];

    if (size == 0)
        return;
    for (i = 0; text != NULL && text[i] != '\0' && o + 1 < size; i++) {
        if (ends_local(text[i])) {
            out[o++] = text[i];
            seg_in = i + 1;
            seg_out = o;
            continue;
        }
        if (text[i] == '@' && i > seg_in && domain_at(text + i + 1, patient_domain, dlen)) {
            format_n(text + seg_in, i - seg_in, id, sizeof(id));
            o = seg_out;
            o += (size_t)snprintf(out + o, size - o, "%s@", id);
            if (o >= size)
                o = size - 1;
            seg_in = i + 1;   /* the domain is copied as it comes */
            seg_out = o;
            continue;
        }
        out[o++] = text[i];
    }
    out[o] = '\0';
}
