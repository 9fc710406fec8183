/*
 * snapshot.c - the daemon's on-disk copy of the last good whitelist.
 *
 * Format (text, one item per line, fixed order):
 *
 *   # mssante-milter whitelist snapshot
 *   format 2
 *   version <id>          generated <date>      sha256 <hex>
 *   source <source>       loaded <unix time>    entries <n>
 *   count <distinct domains>
 *   domains
 *   <one normalised domain per line>
 *   end <count>
 *   certs <pairs>
 *   <domain> <operator CN>    one (domain, CN) pair per line, by domain then CN
 *   end <pairs>
 *
 * (each key on its own line; a value may be empty).  A CN is lower-case and
 * has no control character (whitelist/certset.h), so it cannot break the
 * line structure; it may hold spaces, hence "the first space separates".
 * Format 1, written before the CNs were kept, stops after the domains:
 * it is still read, and gives a list without CNs (wl->certs NULL), which
 * the caller reports.  The snapshot is only
 * read on a cold start with Redis down, i.e. exactly when nothing else can
 * vouch for it, so the reader is strict: a wrong header, a bad or duplicate
 * domain, a missing "end" or a count that does not add up refuses the whole
 * file rather than serve part of a list.  The writer goes through
 * common/atomicfile.h (temporary file, fsync, rename) so a crash leaves
 * either the old snapshot or the new one, never a mix.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomicfile.h"
#include "common/err.h"
#include "whitelist/snapshot.h"

#define SNAP_MAGIC   "# mssante-milter whitelist snapshot"
#define SNAP_FORMAT  "2"
#define SNAP_FORMAT_NO_CERTS "1"
#define SNAP_MAX_COUNT 10000000UL   /* far above any real list: a sanity bound */
#define TIME_T_MAX (sizeof(time_t) == 8 ? (unsigned long long)INT64_MAX \
                                        : (unsigned long long)INT32_MAX)

/* ---------------------------------------------------------------- write */

/* Metadata values are single-line by construction; never let a stray
 * newline in a source URL or path split a line of the file. */
static void put_field(FILE *fp, const char *key, const char *value)
{
    const char *s;

    fputs(key, fp);
    if (value[0] != '\0')
        fputc(' ', fp);
    for (s = value; *s != '\0'; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, fp);
    fputc('\n', fp);
}

static int put_domain(const char *domain, void *arg)
{
    FILE *fp = arg;

    fputs(domain, fp);
    return fputc('\n', fp) == EOF ? -1 : 0;
}

static int put_pairs(const char *domain, const char *const *cns, size_t n, void *arg)
{
    FILE *fp = arg;
    size_t i;

    for (i = 0; i < n; i++)
        fprintf(fp, "%s %s\n", domain, cns[i]);
    return ferror(fp) ? -1 : 0;
}

static int write_body(FILE *fp, const struct whitelist *wl)
{
    size_t pairs = certset_pairs(wl->certs);

    size_t count = domainset_count(wl->domains);

    fprintf(fp, "%s\nformat %s\n", SNAP_MAGIC, SNAP_FORMAT);
    put_field(fp, "version", wl->version);
    put_field(fp, "generated", wl->generated);
    put_field(fp, "sha256", wl->sha256);
    put_field(fp, "source", wl->source);
    fprintf(fp, "loaded %jd\nentries %zu\ncount %zu\ndomains\n",
            (intmax_t)wl->loaded_at, wl->entries, count);
    if (domainset_foreach(wl->domains, put_domain, fp) != 0)
        return -1;
    fprintf(fp, "end %zu\ncerts %zu\n", count, pairs);
    if (certset_foreach(wl->certs, put_pairs, fp) != 0)
        return -1;
    fprintf(fp, "end %zu\n", pairs);
    return ferror(fp) ? -1 : 0;
}

int snapshot_write(const char *path, const struct whitelist *wl, struct err *err)
{
    struct atomic_file af;

    if (wl == NULL || domainset_count(wl->domains) == 0) {
        err_set(err, "snapshot %s: refusing to write an empty whitelist", path);
        return -1;
    }
    if (atomic_file_open(&af, path, 0644, err) < 0)
        return -1;
    if (write_body(af.fp, wl) != 0) {
        atomic_file_abort(&af);
        err_set(err, "snapshot %s: write failed", path);
        return -1;
    }
    return atomic_file_commit(&af, err);
}

/* ----------------------------------------------------------------- read */

struct reader {
    FILE *fp;
    const char *path;
    char *line;
    size_t cap;
    size_t len;          /* without the newline */
    unsigned long lineno;
    struct err *err;
};

/* Next line into r->line, newline removed.  A last line without its
 * newline means the file was cut short: treat it as missing. */
static bool next_line(struct reader *r)
{
    ssize_t n = getline(&r->line, &r->cap, r->fp);

    if (n <= 0 || r->line[n - 1] != '\n')
        return false;
    r->line[--n] = '\0';
    r->len = (size_t)n;
    r->lineno++;
    return true;
}

/* The line just read holds a NUL byte: the C string would end there and
 * hide the rest (zero-filled blocks are what a crash leaves in a file). */
static bool line_has_nul(const struct reader *r)
{
    return memchr(r->line, '\0', r->len) != NULL;
}

/* WHAT is wrong with the line just read. */
static void bad(struct reader *r, const char *what)
{
    err_set(r->err, "snapshot %s: line %lu: %s", r->path, r->lineno, what);
}

static void truncated(struct reader *r, const char *what)
{
    err_set(r->err, "snapshot %s: truncated after line %lu (%s)",
            r->path, r->lineno, what);
}

/* Read "KEY" or "KEY value"; returns the value (possibly "") or NULL. */
static const char *field(struct reader *r, const char *key)
{
    size_t klen = strlen(key);

    if (!next_line(r)) {
        truncated(r, key);
        return NULL;
    }
    if (line_has_nul(r)) {
        bad(r, "NUL byte");
        return NULL;
    }
    if (strncmp(r->line, key, klen) != 0 || (r->line[klen] != '\0' && r->line[klen] != ' ')) {
        err_set(r->err, "snapshot %s: line %lu: expected \"%s\"",
                r->path, r->lineno, key);
        return NULL;
    }
    return r->line[klen] == ' ' ? r->line + klen + 1 : r->line + klen;
}

static bool text_field(struct reader *r, const char *key, char *dst, size_t size)
{
    const char *v = field(r, key);

    if (v == NULL)
        return false;
    if (strlen(v) >= size) {
        err_set(r->err, "snapshot %s: line %lu: %s too long",
                r->path, r->lineno, key);
        return false;
    }
    strcpy(dst, v);
    return true;
}

/* A decimal number up to MAX (what the field it goes into can hold, so
 * that what was read is what snapshot_write would write again). */
static bool number_field(struct reader *r, const char *key, unsigned long long max,
                         unsigned long long *out)
{
    const char *v = field(r, key);
    char *end;

    if (v == NULL)
        return false;
    errno = 0;
    *out = strtoull(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || *out > max) {
        err_set(r->err, "snapshot %s: line %lu: bad %s \"%s\"",
                r->path, r->lineno, key, v);
        return false;
    }
    return true;
}

static bool read_header(struct reader *r, struct whitelist *wl, unsigned long long *count,
                        bool *with_certs)
{
    unsigned long long loaded, entries;
    const char *v;

    if (!next_line(r) || line_has_nul(r) || strcmp(r->line, SNAP_MAGIC) != 0) {
        err_set(r->err, "snapshot %s: not a mssante-milter snapshot", r->path);
        return false;
    }
    if ((v = field(r, "format")) == NULL)
        return false;
    *with_certs = strcmp(v, SNAP_FORMAT) == 0;
    if (!*with_certs && strcmp(v, SNAP_FORMAT_NO_CERTS) != 0) {
        err_set(r->err, "snapshot %s: unsupported format \"%s\"", r->path, v);
        return false;
    }
    if (!text_field(r, "version", wl->version, sizeof(wl->version))
        || !text_field(r, "generated", wl->generated, sizeof(wl->generated))
        || !text_field(r, "sha256", wl->sha256, sizeof(wl->sha256))
        || !text_field(r, "source", wl->source, sizeof(wl->source))
        || !number_field(r, "loaded", TIME_T_MAX, &loaded)
        || !number_field(r, "entries", SIZE_MAX, &entries)
        || !number_field(r, "count", ULLONG_MAX, count))
        return false;
    wl->loaded_at = (time_t)loaded;
    wl->entries = (size_t)entries;
    if (*count == 0 || *count > SNAP_MAX_COUNT) {
        err_set(r->err, "snapshot %s: implausible domain count %llu", r->path, *count);
        return false;
    }
    if ((v = field(r, "domains")) == NULL)
        return false;
    if (*v != '\0') {
        bad(r, "unexpected text after \"domains\"");
        return false;
    }
    return true;
}

/* The domain lines up to and including "end N". */
static bool read_domains(struct reader *r, struct whitelist *wl, unsigned long long count)
{
    unsigned long long seen = 0, end_count;
    char *end;

    for (;;) {
        int rc;

        if (!next_line(r)) {
            truncated(r, "no \"end\" line");
            return false;
        }
        if (line_has_nul(r)) {
            bad(r, "NUL byte");
            return false;
        }
        if (strncmp(r->line, "end ", 4) == 0)
            break;
        rc = domainset_add(wl->domains, r->line, r->len);
        if (rc == -2) {
            err_set(r->err, "snapshot %s: out of memory", r->path);
            return false;
        }
        /* Written in normal form: anything else means the file was damaged. */
        if (rc != 1 || !domainset_contains(wl->domains, r->line)) {
            err_set(r->err, "snapshot %s: line %lu: %s domain \"%.255s\"",
                    r->path, r->lineno, rc == 0 ? "duplicate" : "bad", r->line);
            return false;
        }
        seen++;
    }
    errno = 0;
    end_count = strtoull(r->line + 4, &end, 10);
    if (*end != '\0' || errno != 0 || end_count != count || seen != count) {
        err_set(r->err, "snapshot %s: line %lu: count mismatch (header %llu, "
                "%llu domains, %s)", r->path, r->lineno, count, seen, r->line);
        return false;
    }
    return true;
}

/* One "<domain> <cn>" line: a listed domain, a CN the set accepts, and a
 * pair not seen before (the writer never repeats one). */
static bool read_pair(struct reader *r, struct whitelist *wl)
{
    char *sp = memchr(r->line, ' ', r->len);
    int rc;

    if (sp == NULL) {
        bad(r, "expected \"<domain> <CN>\"");
        return false;
    }
    *sp = '\0';
    if (!domainset_contains(wl->domains, r->line)) {
        err_set(r->err, "snapshot %s: line %lu: CN for \"%.255s\", which is not a"
                " listed domain", r->path, r->lineno, r->line);
        return false;
    }
    rc = certset_add(wl->certs, r->line, (size_t)(sp - r->line), sp + 1,
                     r->len - (size_t)(sp - r->line) - 1);
    if (rc == CERTSET_NOMEM) {
        err_set(r->err, "snapshot %s: out of memory", r->path);
        return false;
    }
    if (rc != CERTSET_ADDED) {
        err_set(r->err, "snapshot %s: line %lu: %s CN for %.255s", r->path,
                r->lineno, rc == CERTSET_PRESENT ? "duplicate" : "bad", r->line);
        return false;
    }
    return true;
}

/* "certs N", the N pairs, "end N". */
static bool read_certs(struct reader *r, struct whitelist *wl, unsigned long long domains)
{
    unsigned long long pairs, i, end_count;
    char *end;

    if (!number_field(r, "certs", ULLONG_MAX, &pairs))
        return false;
    if (pairs > domains * CERTSET_PER_DOMAIN_MAX) {
        err_set(r->err, "snapshot %s: implausible CN count %llu", r->path, pairs);
        return false;
    }
    if ((wl->certs = certset_new((size_t)domains)) == NULL) {
        err_set(r->err, "snapshot %s: out of memory", r->path);
        return false;
    }
    for (i = 0; i < pairs; i++) {
        if (!next_line(r)) {
            truncated(r, "operator CNs");
            return false;
        }
        if (!read_pair(r, wl))
            return false;
    }
    if (!next_line(r)) {
        truncated(r, "no \"end\" line after the CNs");
        return false;
    }
    errno = 0;
    end_count = strncmp(r->line, "end ", 4) == 0 ? strtoull(r->line + 4, &end, 10) : 0;
    if (strncmp(r->line, "end ", 4) != 0 || *end != '\0' || errno != 0 || end_count != pairs) {
        err_set(r->err, "snapshot %s: line %lu: expected \"end %llu\"", r->path,
                r->lineno, pairs);
        return false;
    }
    return true;
}

/*
 * How many domains to make room for: the header's count, but no more than
 * the file can hold (a domain line takes at least two bytes).  The count
 * is checked against the lines actually read later; until then it is only
 * a claim, and a damaged or hostile header must not size an allocation of
 * gigabytes.  The set grows if the hint was short.
 */
static size_t size_hint(FILE *fp, unsigned long long count)
{
    struct stat st;
    unsigned long long room;

    if (fstat(fileno(fp), &st) != 0 || st.st_size <= 0)
        return 0;
    room = (unsigned long long)st.st_size / 2;
    return (size_t)(count < room ? count : room);
}

struct whitelist *snapshot_read(const char *path, struct err *err)
{
    struct reader r = { .path = path, .err = err };
    struct whitelist *wl;
    unsigned long long count = 0;
    bool ok, with_certs = false;

    r.fp = fopen(path, "r");
    if (r.fp == NULL) {
        err_set(err, "snapshot %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    wl = whitelist_new();
    ok = wl != NULL && read_header(&r, wl, &count, &with_certs);
    if (ok) {
        wl->domains = domainset_new(size_hint(r.fp, count));
        if (wl->domains == NULL) {
            err_set(err, "snapshot %s: out of memory", path);
            ok = false;
        }
    } else if (wl == NULL) {
        err_set(err, "snapshot %s: out of memory", path);
    }
    ok = ok && read_domains(&r, wl, count);
    ok = ok && (!with_certs || read_certs(&r, wl, count));
    if (ok && getc(r.fp) != EOF) {
        bad(&r, "data after \"end\"");
        ok = false;
    }
    if (ok && ferror(r.fp)) {
        err_set(err, "snapshot %s: read error: %s", path, strerror(errno));
        ok = false;
    }
    free(r.line);
    fclose(r.fp);
    if (!ok) {
        whitelist_free(wl);
        return NULL;
    }
    return wl;
}
