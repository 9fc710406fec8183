/*
 * values_lists.c - the value types of mssante-milter.conf that hold more
 * than one thing (see values.h): domain and mailbox lists, address lists
 * (InternalHosts), a Redis endpoint, a notice template.  The single
 * values are values.c's; the rules for WHY are the same.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/cidr.h"
#include "common/redis.h"
#include "common/strlist.h"
#include "config/values.h"
#include "notify/notice.h"
#include "policy/patient.h"

/* ---- lists ------------------------------------------------------------- */

/* The next entry of a comma and/or space separated list: *LEN bytes at
 * the returned pointer, or NULL at the end. */
static const char *next_entry(const char **p, size_t *len)
{
    const char *start;

    while (**p == ',' || cfgval_is_space(**p))
        (*p)++;
    if (**p == '\0')
        return NULL;
    start = *p;
    while (**p != '\0' && **p != ',' && !cfgval_is_space(**p))
        (*p)++;
    *len = (size_t)(*p - start);
    return start;
}

static void list_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    const struct strlist *l = field;
    size_t used = 0;

    (void)k;
    buf[0] = '\0';
    for (size_t i = 0; i < l->n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", l->v[i]);
}

static bool list_same(const void *a, const void *b)
{
    return strlist_same(a, b);
}

static bool list_copy(void *dst, const void *src)
{
    return strlist_copy(dst, src) == 0;
}

static void list_release(void *field)
{
    strlist_free(field);
}

/* An empty list that is NULL-terminated too, for code that walks V. */
static bool list_init(void *field)
{
    struct strlist *l = field;

    return l->v != NULL || (l->v = calloc(1, sizeof(*l->v))) != NULL;
}

/* LocalDomains: normalised, duplicates dropped, at least one. */
static bool domains_parse(void *field, const struct cfg_key *k, const char *text,
                          struct err *why)
{
    struct strlist l = { NULL, 0 };
    const char *p = text, *entry;
    size_t len;

    (void)k;
    while ((entry = next_entry(&p, &len)) != NULL) {
        char *norm = NULL;

        if (!cfgval_domain_copy(entry, len, &norm)) {
            err_set(why, "\"%.*s\" is not a valid domain name", (int)len, entry);
            strlist_free(&l);
            return false;
        }
        if (norm == NULL || (!strlist_contains(&l, norm)
                             && strlist_add(&l, norm, strlen(norm)) < 0)) {
            free(norm);
            strlist_free(&l);
            err_set(why, "out of memory");
            return false;
        }
        free(norm);
    }
    if (l.n == 0) {
        err_set(why, "expected one or more domain names");
        return false;
    }
    strlist_free(field);
    *(struct strlist *)field = l;
    return true;
}

const struct cfg_type cfgval_domains = {
    .parse = domains_parse, .format = list_format, .same = list_same, .copy = list_copy,
    .release = list_release, .init = list_init,
};

/* Append ENTRY (LEN bytes) to L; a domain written in Unicode in its
 * A-label form, the form recipients are compared in (values.c
 * cfgval_domain_copy()).  0; -1 out of memory; -2 not a domain. */
static int mailbox_add(struct strlist *l, const char *entry, size_t len)
{
    const char *at = memrchr(entry, '@', len);
    size_t local_len, i;
    char *dom = NULL, *joined;
    int rc;

    if (at == NULL)
        return strlist_add(l, entry, len);
    local_len = (size_t)(at - entry);
    for (i = local_len + 1; i < len && (unsigned char)entry[i] < 0x80; i++)
        ;
    if (i == len)
        return strlist_add(l, entry, len);
    if (!cfgval_domain_copy(at + 1, len - local_len - 1, &dom))
        return -2;
    if (dom == NULL || (joined = malloc(local_len + 1 + strlen(dom) + 1)) == NULL) {
        free(dom);
        return -1;
    }
    sprintf(joined, "%.*s@%s", (int)local_len, entry, dom);
    rc = strlist_add(l, joined, strlen(joined));
    free(joined);
    free(dom);
    return rc;
}

/* PharmacyMailboxes: "local@domain" (the local part may hold '*'
 * wildcards) and "@domain" entries, kept as written but for a domain
 * written in Unicode (matching ignores case). */
static bool mailboxes_parse(void *field, const struct cfg_key *k, const char *text,
                            struct err *why)
{
    struct strlist l = { NULL, 0 };
    const char *p = text, *entry;
    size_t len;
    int rc;

    (void)k;
    while ((entry = next_entry(&p, &len)) != NULL) {
        if ((rc = mailbox_add(&l, entry, len)) < 0) {
            if (rc == -2)
                err_set(why, "\"%.*s\": not a valid domain name after the '@'", (int)len,
                        entry);
            else
                err_set(why, "out of memory");
            strlist_free(&l);
            return false;
        }
        if (!patient_pharmacy_entry_valid(l.v[l.n - 1])) {
            err_set(why, "\"%s\" is neither local@domain (the local part may hold '*' "
                    "wildcards) nor @domain", l.v[l.n - 1]);
            strlist_free(&l);
            return false;
        }
    }
    if (l.n == 0) {
        err_set(why, "expected one or more mailboxes");
        return false;
    }
    strlist_free(field);
    *(struct strlist *)field = l;
    return true;
}

const struct cfg_type cfgval_mailboxes = {
    .parse = mailboxes_parse, .format = list_format, .same = list_same, .copy = list_copy,
    .release = list_release, .init = list_init,
};

/* InternalHosts: addresses and CIDR blocks (common/cidr.h), or "none". */
static bool hosts_parse(void *field, const struct cfg_key *k, const char *text,
                        struct err *why)
{
    (void)k;
    if (strcasecmp(text, "none") == 0) {
        cidr_list_free(field);
        return true;
    }
    return cidr_list_parse(text, field, why) == 0;
}

static void hosts_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    const struct cidr_list *l = field;
    size_t used = 0;

    (void)k;
    snprintf(buf, size, "none");
    for (size_t i = 0; i < l->n && used < size; i++) {
        const struct cidr *c = &l->v[i];
        char ip[INET6_ADDRSTRLEN] = "?";
        unsigned full = c->family == AF_INET ? 32 : 128;

        inet_ntop(c->family, c->addr, ip, sizeof(ip));
        used += (size_t)snprintf(buf + used, size - used, c->prefix < full ? "%s%s/%u" : "%s%s",
                                 i ? " " : "", ip, c->prefix);
    }
}

static bool hosts_same(const void *a, const void *b)
{
    const struct cidr_list *x = a, *y = b;

    return x->n == y->n && (x->n == 0 || memcmp(x->v, y->v, x->n * sizeof(*x->v)) == 0);
}

static bool hosts_copy(void *dst, const void *src)
{
    const struct cidr_list *s = src;
    struct cidr_list *d = dst, copy = { NULL, s->n };

    if (s->n > 0 && (copy.v = malloc(s->n * sizeof(*copy.v))) == NULL)
        return false;
    if (s->n > 0)
        memcpy(copy.v, s->v, s->n * sizeof(*copy.v));
    cidr_list_free(d);
    *d = copy;
    return true;
}

static void hosts_release(void *field)
{
    cidr_list_free(field);
}

const struct cfg_type cfgval_hosts = {
    .parse = hosts_parse, .format = hosts_format, .same = hosts_same, .copy = hosts_copy,
    .release = hosts_release,
};

/* ---- structures -------------------------------------------------------- */

static bool redis_parse(void *field, const struct cfg_key *k, const char *text,
                        struct err *why)
{
    struct redis_endpoint ep;

    (void)k;
    if (redis_endpoint_parse(text, &ep) < 0) {
        err_set(why, "expected HOST:PORT, [IPV6]:PORT or unix:/path, got \"%s\"", text);
        return false;
    }
    redis_endpoint_free(field);
    *(struct redis_endpoint *)field = ep;
    return true;
}

static void redis_format(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    const struct redis_endpoint *ep = field;

    (void)k;
    if (ep->host == NULL && ep->unix_path == NULL)
        buf[0] = '\0';
    else
        redis_endpoint_format(ep, buf, size);
}

static bool redis_same(const void *a, const void *b)
{
    const struct redis_endpoint *x = a, *y = b;

    return cfgval_same_string(x->host, y->host) && x->port == y->port
           && cfgval_same_string(x->unix_path, y->unix_path);
}

static bool redis_copy(void *dst, const void *src)
{
    const struct redis_endpoint *s = src;
    struct redis_endpoint copy = { NULL, s->port, NULL };

    if ((s->host != NULL && (copy.host = strdup(s->host)) == NULL)
        || (s->unix_path != NULL && (copy.unix_path = strdup(s->unix_path)) == NULL)) {
        redis_endpoint_free(&copy);
        return false;
    }
    redis_endpoint_free(dst);
    *(struct redis_endpoint *)dst = copy;
    return true;
}

static void redis_release(void *field)
{
    redis_endpoint_free(field);
}

/* The reload warning's wording of an endpoint (an IPv6 host unbracketed,
 * as it always was). */
static void redis_describe(const void *field, const struct cfg_key *k, char *buf, size_t size)
{
    const struct redis_endpoint *ep = field;

    (void)k;
    if (ep->host == NULL && ep->unix_path == NULL)
        snprintf(buf, size, "unset");
    else if (ep->unix_path != NULL)
        snprintf(buf, size, "unix:%s", ep->unix_path);
    else
        snprintf(buf, size, "%s:%d", ep->host, ep->port);
}

const struct cfg_type cfgval_redis = {
    .parse = redis_parse, .format = redis_format, .same = redis_same, .copy = redis_copy,
    .release = redis_release, .describe = redis_describe,
};

/* NotifyTemplate: read and checked now, so that "-n" and a reload report
 * a bad template with the rest, and the daemon never reads it again. */
static bool template_parse(void *field, const struct cfg_key *k, const char *text,
                           struct err *why)
{
    struct notify_template_file *tf = field;
    struct notify_template *t = notify_template_load(text, why);
    char *path;

    (void)k;
    if (t == NULL)
        return false;
    if ((path = strdup(text)) == NULL) {
        notify_template_free(t);
        err_set(why, "out of memory");
        return false;
    }
    notify_template_free(tf->t);
    free(tf->path);
    tf->t = t;
    tf->path = path;
    return true;
}

static void template_format(const void *field, const struct cfg_key *k, char *buf,
                            size_t size)
{
    cfgval_string.format(&((const struct notify_template_file *)field)->path, k, buf, size);
}

static bool template_same(const void *a, const void *b)
{
    return cfgval_same_string(((const struct notify_template_file *)a)->path,
                       ((const struct notify_template_file *)b)->path);
}

/* A reload keeps the running template's path only: the notice worker runs
 * with the startup template, and a reloaded configuration carries none. */
static bool template_copy(void *dst, const void *src)
{
    struct notify_template_file *d = dst;

    if (!cfgval_set_string(&d->path, ((const struct notify_template_file *)src)->path))
        return false;
    notify_template_free(d->t);
    d->t = NULL;
    return true;
}

static void template_release(void *field)
{
    struct notify_template_file *tf = field;

    notify_template_free(tf->t);
    free(tf->path);
    tf->t = NULL;
    tf->path = NULL;
}

static void template_describe(const void *field, const struct cfg_key *k, char *buf,
                              size_t size)
{
    cfgval_string.describe(&((const struct notify_template_file *)field)->path, k, buf, size);
}

const struct cfg_type cfgval_template = {
    .parse = template_parse, .format = template_format, .same = template_same,
    .copy = template_copy, .release = template_release, .describe = template_describe,
};
