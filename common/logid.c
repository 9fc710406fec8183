/*
 * logid.c - patient identifiers in the log: hashed, masked or in clear
 * (what and why: logid.h).
 *
 * The key is read once, before the threads start, and only read after
 * that; the mode is an atomic so that mssantectl can switch it after the
 * configuration is read.  The key file is made the way a key should be:
 * written completely under a temporary name (mkstemp, 0600) in its own
 * directory, then linked to its name, which fails rather than replace a
 * key another process made meanwhile; a crash leaves no half-written key.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/logid.h"

#define KEY_BYTES   32
#define KEY_HEX     (2 * KEY_BYTES)
#define ID_MAX      128          /* an id longer than that is cut before hashing */

static unsigned char key[KEY_BYTES];
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

/* ---- the key file ------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "64 hex digits" and optional trailing white space into OUT. */
static int decode_key(const char *text, size_t len, unsigned char *out)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '
                       || text[len - 1] == '\t'))
        len--;
    if (len != KEY_HEX)
        return -1;
    for (size_t i = 0; i < KEY_BYTES; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

static int read_key(const char *path, unsigned char *out, bool *loose, struct err *err)
{
    char buf[KEY_HEX + 64];
    struct stat st;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        err_set(err, "LogPatientIdKeyFile %s: %s%s", path, strerror(errno),
                errno == ELOOP ? " (a symbolic link: refused)" : "");
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        err_set(err, "LogPatientIdKeyFile %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (loose != NULL)
        *loose = (st.st_mode & 077) != 0;
    do
        n = read(fd, buf, sizeof(buf));
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0) {
        err_set(err, "LogPatientIdKeyFile %s: %s", path, strerror(errno));
        return -1;
    }
    if (decode_key(buf, (size_t)n, out) < 0) {
        err_set(err, "LogPatientIdKeyFile %s: not a key (64 hexadecimal digits expected); "
                "remove it to have a new one made at the next start, which changes every "
                "hashed id from then on", path);
        return -1;
    }
    return 0;
}

/* DIR of PATH into BUF ("." when PATH has no slash). */
static void dir_of(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(buf, size, ".");
    else if (slash == path)
        snprintf(buf, size, "/");
    else
        snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* A new random key in PATH, unless one appeared there meanwhile. */
static int make_key(const char *path, struct err *err)
{
    unsigned char raw[KEY_BYTES];
    char hex[KEY_HEX + 2], dir[PATH_MAX], tmp[PATH_MAX + 32];
    int fd, saved;

    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        err_set(err, "LogPatientIdKeyFile %s: no random bytes: %s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < KEY_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    hex[KEY_HEX] = '\n';
    hex[KEY_HEX + 1] = '\0';
    dir_of(path, dir, sizeof(dir));
    snprintf(tmp, sizeof(tmp), "%s/.logid-key.XXXXXX", dir);
    if ((fd = mkstemp(tmp)) < 0) {
        err_set(err, "LogPatientIdKeyFile %s: cannot create it in %s: %s", path, dir,
                strerror(errno));
        return -1;
    }
    if (fchmod(fd, 0600) < 0 || write_all(fd, hex, KEY_HEX + 1) < 0 || fsync(fd) < 0) {
        saved = errno;
        close(fd);
        unlink(tmp);
        err_set(err, "LogPatientIdKeyFile %s: cannot write it: %s", path, strerror(saved));
        return -1;
    }
    close(fd);
    if (link(tmp, path) < 0 && errno != EEXIST) {
        saved = errno;
        unlink(tmp);
        err_set(err, "LogPatientIdKeyFile %s: %s", path, strerror(saved));
        return -1;
    }
    unlink(tmp);
    return 0;
}

int logid_start(const struct logid_settings *s, bool create, struct err *err)
{
    unsigned char k[KEY_BYTES];
    struct stat st;

    if (s->mode == LOGID_HASH) {
        if (s->key_file == NULL || s->key_file[0] == '\0') {
            err_set(err, "LogPatientId hash needs LogPatientIdKeyFile");
            return -1;
        }
        if (create && lstat(s->key_file, &st) < 0 && errno == ENOENT
            && make_key(s->key_file, err) < 0)
            return -1;
        if (read_key(s->key_file, k, &key_loose, err) < 0)
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

int logid_check_key(const char *path, bool *loose, struct err *err)
{
    unsigned char k[KEY_BYTES];
    char dir[PATH_MAX];
    struct stat st;

    if (loose != NULL)
        *loose = false;
    if (lstat(path, &st) < 0) {
        if (errno != ENOENT) {
            err_set(err, "LogPatientIdKeyFile %s: %s", path, strerror(errno));
            return -1;
        }
        dir_of(path, dir, sizeof(dir));
        if (access(dir, W_OK | X_OK) < 0) {
            err_set(err, "LogPatientIdKeyFile %s: missing, and it cannot be made in %s: %s",
                    path, dir, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (S_ISLNK(st.st_mode)) {
        err_set(err, "LogPatientIdKeyFile %s: a symbolic link: refused", path);
        return -1;
    }
    return read_key(path, k, loose, err) < 0 ? -1 : 1;
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
