/*
 * tlspolicy.c - write the Postfix TLS policy table of a whitelist version.
 *
 * The walk is certset_foreach(): domains and their CNs come sorted and
 * unique, so the same list always gives the same bytes (an operator can
 * diff two tables, and configuration management sees no spurious change).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/atomicfile.h"
#include "common/err.h"
#include "whitelist/certset.h"
#include "whitelist/domainset.h"
#include "whitelist/tlspolicy.h"

struct printer {
    FILE *fp;
    enum tls_policy_level level;
    struct tls_policy_stats *st;
    tls_policy_warn_fn warn;
    void *arg;
};

const char *tls_policy_level_name(enum tls_policy_level level)
{
    return level == TLS_POLICY_ENCRYPT ? "encrypt" : "secure";
}

int tls_policy_level_parse(const char *text, enum tls_policy_level *out)
{
    if (text != NULL && strcasecmp(text, "secure") == 0)
        *out = TLS_POLICY_SECURE;
    else if (text != NULL && strcasecmp(text, "encrypt") == 0)
        *out = TLS_POLICY_ENCRYPT;
    else
        return -1;
    return 0;
}

bool tls_policy_cn_usable(const char *cn)
{
    static const char *const keywords[] = { "hostname", "nexthop", "dot-nexthop" };
    char norm[DOMAINSET_NAME_MAX + 1];
    size_t i, len = cn != NULL ? strlen(cn) : 0;

    /* The normal form must be the CN itself: no upper case, no trailing dot. */
    if (len == 0 || domainset_normalise(cn, len, norm) != len || strcmp(norm, cn) != 0)
        return false;
    for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (strcmp(cn, keywords[i]) == 0)
            return false;
    return true;
}

/* Header values come from the list: print them on one line, whatever
 * they hold. */
static void put_value(FILE *fp, const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, fp);
}

static void put_header(FILE *fp, const struct whitelist *wl, enum tls_policy_level level)
{
    fputs("# Postfix smtp_tls_policy_maps table for the MSSante trust space, written by\n"
          "# mssante-milter from whitelist version ", fp);
    put_value(fp, wl->version[0] ? wl->version : "unknown");
    fputs(" (generated ", fp);
    put_value(fp, wl->generated[0] ? wl->generated : "unknown");
    fprintf(fp, "), level %s.\n", tls_policy_level_name(level));
    fputs("# Use it as texthash:FILE (no postmap).  Rewritten for each new list: do not\n"
          "# edit.  Domains whose operators list no certificate are not in it.\n", fp);
}

static int put_encrypt(const char *domain, const char *const *cns, size_t n, void *arg)
{
    struct printer *p = arg;

    (void)cns;
    (void)n;
    fprintf(p->fp, "%s encrypt\n", domain);
    p->st->domains++;
    return ferror(p->fp) ? -1 : 0;
}

static void dropped(struct printer *p, const char *domain, const char *cn)
{
    if (cn != NULL)
        p->st->cns_dropped++;
    else
        p->st->domains_dropped++;
    if (p->warn != NULL)
        p->warn(p->arg, domain, cn);
}

/* The usable CNs are counted first: a domain with none gets no line. */
static int put_secure(const char *domain, const char *const *cns, size_t n, void *arg)
{
    struct printer *p = arg;
    size_t i, usable = 0;

    for (i = 0; i < n; i++)
        usable += tls_policy_cn_usable(cns[i]);
    if (usable > 0)
        fprintf(p->fp, "%s secure match=", domain);
    for (i = 0, usable = 0; i < n; i++) {
        if (!tls_policy_cn_usable(cns[i])) {
            dropped(p, domain, cns[i]);
            continue;
        }
        fprintf(p->fp, "%s%s", usable++ == 0 ? "" : ":", cns[i]);
    }
    if (usable == 0) {
        dropped(p, domain, NULL);
        return 0;
    }
    fputc('\n', p->fp);
    p->st->domains++;
    p->st->cns += usable;
    return ferror(p->fp) ? -1 : 0;
}

int tls_policy_print(FILE *fp, const struct whitelist *wl, enum tls_policy_level level,
                     struct tls_policy_stats *stats, tls_policy_warn_fn warn, void *arg)
{
    struct tls_policy_stats local;
    struct printer p = { fp, level, stats != NULL ? stats : &local, warn, arg };

    memset(p.st, 0, sizeof(*p.st));
    if (wl == NULL || wl->certs == NULL)
        return -1;
    put_header(fp, wl, level);
    if (certset_foreach(wl->certs, level == TLS_POLICY_ENCRYPT ? put_encrypt : put_secure,
                        &p) != 0)
        return -1;
    return ferror(fp) ? -1 : 0;
}

int tls_policy_write(const char *path, const struct whitelist *wl,
                     enum tls_policy_level level, struct tls_policy_stats *stats,
                     tls_policy_warn_fn warn, void *arg, struct err *err)
{
    struct atomic_file af;

    if (wl == NULL || wl->certs == NULL) {
        err_set(err, "%s: not written: the list in force carries no operator"
                " certificate CNs (a snapshot in the old format 1)", path);
        return -1;
    }
    if (atomic_file_open(&af, path, 0644, err) < 0)
        return -1;
    if (tls_policy_print(af.fp, wl, level, stats, warn, arg) < 0) {
        atomic_file_abort(&af);
        err_set(err, "%s: write failed", path);
        return -1;
    }
    return atomic_file_commit(&af, err);
}
