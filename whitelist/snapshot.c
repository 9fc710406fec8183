/*
 * snapshot.c - the daemon's on-disk copy of the last good whitelist.
 *
 * Format (text, one item per line, fixed order):
 *
 *   # mssante-milter whitelist snapshot
 *   format 1
 *   version <id>          generated <date>      sha256 <hex>
 *   source <source>       loaded <unix time>    entries <n>
 *   count <distinct domains>
 *   domains
 *   <one normalised domain per line>
 *   end <count>
 *
 * (each key on its own line; a value may be empty).  The snapshot is only
 * read on a cold start with Redis down, i.e. exactly when nothing else can
 * vouch for it, so the reader is strict: a wrong header, a bad or duplicate
 * domain, a missing "end" or a count that does not add up refuses the whole
 * file rather than serve part of a list.  The writer goes through a
 * temporary file, fsync and rename so a crash leaves either the old
 * snapshot or the new one, never a mix.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "whitelist/snapshot.h"

#define SNAP_MAGIC   "# mssante-milter whitelist snapshot"
#define SNAP_FORMAT  "1"
#define SNAP_MAX_COUNT 10000000UL   /* far above any real list: a sanity bound */
#define TIME_T_MAX (sizeof(time_t) == 8 ? (unsigned long long)INT64_MAX \
                                        : (unsigned long long)INT32_MAX)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

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

static int write_body(FILE *fp, const struct whitelist *wl)
{
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
    fprintf(fp, "end %zu\n", count);
    return ferror(fp) ? -1 : 0;
}

/* Make the rename itself durable. */
static void sync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    int fd;

    if (copy == NULL)
        return;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

int snapshot_write(const char *path, const struct whitelist *wl, char *err, size_t errlen)
{
    char tmp[4096];
    FILE *fp;
    int fd, saved;

    if (wl == NULL || domainset_count(wl->domains) == 0) {
        set_err(err, errlen, "snapshot %s: refusing to write an empty whitelist", path);
        return -1;
    }
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp)) {
        set_err(err, errlen, "snapshot %s: path too long", path);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (fp = fdopen(fd, "w")) == NULL) {
        saved = errno;
        if (fd >= 0)
            close(fd);
        set_err(err, errlen, "snapshot %s: cannot create %s: %s", path, tmp, strerror(saved));
        return -1;
    }
    if (write_body(fp, wl) != 0 || fflush(fp) != 0 || fsync(fd) != 0) {
        saved = errno;
        fclose(fp);
        unlink(tmp);
        set_err(err, errlen, "snapshot %s: write failed: %s", path, strerror(saved));
        return -1;
    }
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        saved = errno;
        unlink(tmp);
        set_err(err, errlen, "snapshot %s: cannot install: %s", path, strerror(saved));
        return -1;
    }
    sync_parent_dir(path);
    return 0;
}

/* ----------------------------------------------------------------- read */

struct reader {
    FILE *fp;
    const char *path;
    char *line;
    size_t cap;
    size_t len;          /* without the newline */
    unsigned long lineno;
    char *err;
    size_t errlen;
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
    set_err(r->err, r->errlen, "snapshot %s: line %lu: %s", r->path, r->lineno, what);
}

static void truncated(struct reader *r, const char *what)
{
    set_err(r->err, r->errlen, "snapshot %s: truncated after line %lu (%s)",
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
        set_err(r->err, r->errlen, "snapshot %s: line %lu: expected \"%s\"",
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
        set_err(r->err, r->errlen, "snapshot %s: line %lu: %s too long",
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
        set_err(r->err, r->errlen, "snapshot %s: line %lu: bad %s \"%s\"",
                r->path, r->lineno, key, v);
        return false;
    }
    return true;
}

static bool read_header(struct reader *r, struct whitelist *wl, unsigned long long *count)
{
    unsigned long long loaded, entries;
    const char *v;

    if (!next_line(r) || line_has_nul(r) || strcmp(r->line, SNAP_MAGIC) != 0) {
        set_err(r->err, r->errlen, "snapshot %s: not a mssante-milter snapshot", r->path);
        return false;
    }
    if ((v = field(r, "format")) == NULL)
        return false;
    if (strcmp(v, SNAP_FORMAT) != 0) {
        set_err(r->err, r->errlen, "snapshot %s: unsupported format \"%s\"", r->path, v);
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
        set_err(r->err, r->errlen, "snapshot %s: implausible domain count %llu", r->path, *count);
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
            set_err(r->err, r->errlen, "snapshot %s: out of memory", r->path);
            return false;
        }
        /* Written in normal form: anything else means the file was damaged. */
        if (rc != 1 || !domainset_contains(wl->domains, r->line)) {
            set_err(r->err, r->errlen, "snapshot %s: line %lu: %s domain \"%.255s\"",
                    r->path, r->lineno, rc == 0 ? "duplicate" : "bad", r->line);
            return false;
        }
        seen++;
    }
    errno = 0;
    end_count = strtoull(r->line + 4, &end, 10);
    if (*end != '\0' || errno != 0 || end_count != count || seen != count) {
        set_err(r->err, r->errlen, "snapshot %s: line %lu: count mismatch (header %llu, "
                "%llu domains, %s)", r->path, r->lineno, count, seen, r->line);
        return false;
    }
    if (getc(r->fp) != EOF) {
        bad(r, "data after \"end\"");
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

struct whitelist *snapshot_read(const char *path, char *err, size_t errlen)
{
    struct reader r = { .path = path, .err = err, .errlen = errlen };
    struct whitelist *wl;
    unsigned long long count = 0;
    bool ok;

    r.fp = fopen(path, "r");
    if (r.fp == NULL) {
        set_err(err, errlen, "snapshot %s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    wl = whitelist_new();
    ok = wl != NULL && read_header(&r, wl, &count);
    if (ok) {
        wl->domains = domainset_new(size_hint(r.fp, count));
        if (wl->domains == NULL) {
            set_err(err, errlen, "snapshot %s: out of memory", path);
            ok = false;
        }
    } else if (wl == NULL) {
        set_err(err, errlen, "snapshot %s: out of memory", path);
    }
    ok = ok && read_domains(&r, wl, count);
    if (ok && ferror(r.fp)) {
        set_err(err, errlen, "snapshot %s: read error: %s", path, strerror(errno));
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
