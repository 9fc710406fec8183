/*
 * ansxml.c - streaming parser for the ANS "liste blanche MSSante" XML.
 *
 * The file (3.7 MB in 2025, growing) is fed to expat in chunks, with
 * namespace processing on, and hashed (sha256) in the same pass so the
 * digest is of exactly the bytes that were parsed.  Only three things are
 * kept: DateDeGeneration, and per <Domaine> its <Nom> and the CN of its
 * <DNCertificatOperateur>.  Everything else (descriptions, contacts with
 * embedded newlines, DateMAJ) is skipped without being copied.
 *
 * What gets refused, and why: the caller keeps the previous list whenever
 * this returns NULL, so anything that is not clearly a complete ANS list
 * (truncated download, HTML error page, another XML document, a list with
 * no usable domain) must fail here rather than become an empty or partial
 * whitelist that would refuse legitimate health mail.  A single bad <Nom>
 * is not such a case: it is skipped and counted, as the real list has
 * carried the odd typo.
 *
 * Names are kept as the list writes them, "xn--" A-labels included: the
 * daemon compares every domain in A-label form (common/idna.h), so a
 * listed A-label matches the same name written in Unicode in an envelope.
 * A <Nom> written in Unicode is not converted but skipped as invalid (the
 * March 2025 list has none): the list names hosts, and an accent there is
 * more likely a typo of an ASCII name than a deliberate IDN, which would
 * let its lookalike in.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <expat.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "common/text.h"
#include "whitelist/ansxml.h"

#define NS_SEP    ' '           /* cannot occur in a namespace URI */
#define CHUNK     65536         /* bytes handed to expat per call */
#define TEXT_MAX  4096          /* longest Nom / DN / date we keep */
#define ROOT_NAME "ListeBlancheMSSante"
#define SNIFF_MAX 64            /* leading bytes kept to recognise HTML */

enum capture { CAP_NONE = 0, CAP_DATE, CAP_NOM, CAP_DN };

struct parse {
    XML_Parser xp;
    EVP_MD_CTX *md;
    struct ans_list *list;
    const char *source;
    struct err *err;            /* the caller's */
    bool failed;                /* err is written; ignore further events */

    int depth;                  /* current element depth, root = 1 */
    bool root_seen;
    bool date_seen;
    int domaine_depth;          /* depth of the open <Domaine>, or 0 */

    enum capture cap;           /* element whose text is being collected */
    int cap_depth;
    char text[TEXT_MAX];
    size_t text_len;
    bool text_overflow;

    char nom[TEXT_MAX];         /* current <Domaine>'s fields */
    size_t nom_len;
    bool have_nom;
    bool have_dn;
    char cn[TEXT_MAX];
    size_t cn_len;

    char sniff[SNIFF_MAX];      /* the first bytes, held back from expat (see feed) */
    size_t sniff_len;
    bool sniffed;               /* they went to expat */
    unsigned long long bytes;
};

static void fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the first error only (later ones are consequences) and stop expat. */
static void fail(struct parse *p, const char *fmt, ...)
{
    char text[ERR_MSG_MAX];
    va_list ap;

    if (p->failed)
        return;
    p->failed = true;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    err_set(p->err, "%s: %s", p->source, text);
    if (p->xp != NULL)
        XML_StopParser(p->xp, XML_FALSE);
}

static bool is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim XML white space around S[0..*len); returns the new start. */
static const char *trim(const char *s, size_t *len)
{
    size_t n = *len;

    while (n > 0 && is_xml_space(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_xml_space(s[n - 1]))
        n--;
    *len = n;
    return s;
}

/*
 * Find the CN in a distinguished name and copy its value, unescaped and
 * trimmed, into OUT.  Accepts the RFC 4514 form ("CN=a,OU=b", with or
 * without spaces after the commas, CN at any position, "\," escapes) and
 * OpenSSL's "/C=FR/CN=a" form.  Returns the value's length, 0 if none.
 */
static size_t dn_find_cn(const char *dn, size_t len, char *out, size_t outlen)
{
    char sep = ',';
    size_t i = 0;

    if (len > 0 && dn[0] == '/') {
        sep = '/';
        i = 1;
    }
    while (i < len) {
        size_t t0, t1, n = 0;
        bool is_cn;

        while (i < len && dn[i] == ' ')
            i++;
        for (t0 = i; i < len && dn[i] != '=' && dn[i] != sep && dn[i] != '+'; i++)
            ;
        for (t1 = i; t1 > t0 && dn[t1 - 1] == ' '; t1--)
            ;
        is_cn = (t1 - t0 == 2 && strncasecmp(dn + t0, "CN", 2) == 0)
                || (t1 - t0 == 7 && memcmp(dn + t0, "2.5.4.3", 7) == 0);
        if (i < len && dn[i] == '=') {
            for (i++; i < len && dn[i] == ' '; i++)
                ;
            while (i < len && dn[i] != sep && dn[i] != '+') {
                char c = dn[i++];

                if (c == '\\' && i < len) {
                    if (i + 1 < len && text_hexval(dn[i]) >= 0 && text_hexval(dn[i + 1]) >= 0) {
                        c = (char)(text_hexval(dn[i]) * 16 + text_hexval(dn[i + 1]));
                        i += 2;
                    } else {
                        c = dn[i++];
                    }
                }
                /* A control character (a newline above all) would corrupt
                 * the '\n'-separated CN lists kept in Redis. */
                if (is_cn && ((unsigned char)c < 0x20 || c == 0x7f))
                    return 0;
                if (is_cn && n + 1 < outlen)
                    out[n++] = c;
            }
            while (is_cn && n > 0 && out[n - 1] == ' ')
                n--;
            if (is_cn && n > 0) {
                out[n] = '\0';
                return n;
            }
        }
        if (i < len)
            i++;            /* the separator */
    }
    return 0;
}

/* Split expat's "URI<sep>local" name; *ns_len is 0 without a namespace. */
static const char *local_name(const XML_Char *name, size_t *ns_len)
{
    const char *sep = strchr(name, NS_SEP);

    if (sep == NULL) {
        *ns_len = 0;
        return name;
    }
    *ns_len = (size_t)(sep - name);
    return sep + 1;
}

static bool in_ans_ns(const XML_Char *name, const char **local)
{
    size_t ns_len;

    *local = local_name(name, &ns_len);
    return ns_len == strlen(ANS_NAMESPACE) && memcmp(name, ANS_NAMESPACE, ns_len) == 0;
}

static bool looks_like_html(const struct parse *p);

static void check_root(struct parse *p, const XML_Char *name)
{
    const char *local;
    size_t ns_len;

    p->root_seen = true;
    if (in_ans_ns(name, &local) && strcmp(local, ROOT_NAME) == 0)
        return;
    local = local_name(name, &ns_len);
    if (strcasecmp(local, "html") == 0 || looks_like_html(p))
        fail(p, "not an ANS whitelist document (HTML page)");
    else if (ns_len == 0)
        fail(p, "not an ANS whitelist document (root element %s)", local);
    else
        fail(p, "not an ANS whitelist document (root element {%.*s}%s)",
             (int)ns_len, name, local);
}

static void start_capture(struct parse *p, enum capture cap)
{
    p->cap = cap;
    p->cap_depth = p->depth;
    p->text_len = 0;
    p->text_overflow = false;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct parse *p = ud;
    const char *local;

    (void)atts;
    p->depth++;
    if (p->failed)
        return;
    if (p->depth == 1) {
        check_root(p, name);
        return;
    }
    if (p->cap != CAP_NONE || !in_ans_ns(name, &local))
        return;
    if (p->depth == 2 && strcmp(local, "DateDeGeneration") == 0) {
        start_capture(p, CAP_DATE);
    } else if (p->domaine_depth == 0 && strcmp(local, "Domaine") == 0) {
        p->domaine_depth = p->depth;
        p->have_nom = false;
        p->nom_len = 0;
        p->have_dn = false;
        p->cn_len = 0;
    } else if (p->domaine_depth != 0 && p->depth == p->domaine_depth + 1) {
        if (strcmp(local, "Nom") == 0)
            start_capture(p, CAP_NOM);
        else if (strcmp(local, "DNCertificatOperateur") == 0)
            start_capture(p, CAP_DN);
    }
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    struct parse *p = ud;
    size_t n = (size_t)len;

    if (p->failed || p->cap == CAP_NONE || p->depth != p->cap_depth)
        return;
    if (p->text_len + n >= sizeof(p->text)) {
        p->text_overflow = true;
        return;
    }
    memcpy(p->text + p->text_len, s, n);
    p->text_len += n;
}

static void end_date(struct parse *p, const char *s, size_t n)
{
    struct whitelist *wl = p->list->wl;

    if (n == 0) {
        fail(p, "DateDeGeneration is empty");
    } else if (p->text_overflow || n >= sizeof(wl->generated)) {
        fail(p, "DateDeGeneration is too long");
    } else {
        memcpy(wl->generated, s, n);
        wl->generated[n] = '\0';
        p->date_seen = true;
    }
}

static void end_capture(struct parse *p)
{
    size_t n = p->text_len;
    const char *s = trim(p->text, &n);

    switch (p->cap) {
    case CAP_DATE:
        end_date(p, s, n);
        break;
    case CAP_NOM:
        /* An over-long name is kept empty so that it counts as invalid. */
        p->have_nom = true;
        p->nom_len = p->text_overflow ? 0 : n;
        memcpy(p->nom, s, p->nom_len);
        break;
    case CAP_DN:
        p->have_dn = true;
        p->cn_len = p->text_overflow ? 0 : dn_find_cn(s, n, p->cn, sizeof(p->cn));
        break;
    case CAP_NONE:
        break;
    }
    p->cap = CAP_NONE;
}

/* Name a skipped entry (the first ANS_SKIPPED_NAMED): the text comes from
 * the file, so it is cut and made printable. */
static void name_skipped(struct parse *p, const char *what, const char *value, size_t len,
                         const char *why)
{
    struct ans_list *l = p->list;
    struct ans_skipped *s;
    char shown[64];
    size_t i, n = len < sizeof(shown) - 4 ? len : sizeof(shown) - 4;

    if (l->n_named >= ANS_SKIPPED_NAMED)
        return;
    for (i = 0; i < n; i++)
        shown[i] = (unsigned char)value[i] < 0x20 || value[i] == '"' || value[i] == 0x7f
                   ? '?' : value[i];
    snprintf(shown + n, sizeof(shown) - n, "%s", n < len ? "..." : "");
    s = &l->named[l->n_named++];
    s->entry = l->wl->entries;
    snprintf(s->text, sizeof(s->text), "%s \"%s\": %s", what, shown, why);
}

void ans_list_skipped_text(const struct ans_list *list, char *buf, size_t size)
{
    size_t used = 0, total = list->skipped + list->cn_skipped;

    if (size == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < list->n_named && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%sentry %zu: %s", i ? "; " : "",
                                 list->named[i].entry, list->named[i].text);
    if (total > list->n_named && used < size)
        snprintf(buf + used, size - used, " (and %zu more)", total - list->n_named);
}

/* Remember (domain, CN) for the operator certificate rule.  A CN the set
 * refuses is counted, not fatal: the domain itself is still listed. */
static void add_cn(struct parse *p)
{
    int rc;

    if (!p->have_dn)
        return;
    if (p->cn_len == 0) {
        p->list->cn_skipped++;
        name_skipped(p, "<DNCertificatOperateur> of", p->nom, p->nom_len,
                     "no usable CN (operator certificate rule: no CN for this entry)");
        return;
    }
    rc = certset_add(p->list->wl->certs, p->nom, p->nom_len, p->cn, p->cn_len);
    if (rc == CERTSET_NOMEM) {
        fail(p, "out of memory");
    } else if (rc < 0) {
        p->list->cn_skipped++;
        name_skipped(p, "CN", p->cn, p->cn_len, "not usable (too many for the domain, or not "
                     "a host name)");
    }
}

static void end_domaine(struct parse *p)
{
    int rc;

    p->domaine_depth = 0;
    p->list->wl->entries++;
    if (!p->have_nom) {
        p->list->skipped++;
        name_skipped(p, "<Domaine>", "", 0, "no <Nom>");
        return;
    }
    rc = domainset_add(p->list->wl->domains, p->nom, p->nom_len);
    if (rc == -1) {
        p->list->skipped++;
        name_skipped(p, "<Nom>", p->nom, p->nom_len, p->nom_len == 0
                     ? "empty or too long: not a domain name" : "not a valid domain name");
        return;
    }
    if (rc == -2)
        fail(p, "out of memory");
    else
        add_cn(p);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct parse *p = ud;

    (void)name;
    if (!p->failed) {
        if (p->cap != CAP_NONE && p->depth == p->cap_depth)
            end_capture(p);
        else if (p->domaine_depth != 0 && p->depth == p->domaine_depth)
            end_domaine(p);
    }
    p->depth--;
}

/* The list has no DTD; refusing entity declarations shuts the door on
 * entity-expansion tricks in a file fetched from the network. */
static void XMLCALL on_entity_decl(void *ud, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len,
                                   const XML_Char *base, const XML_Char *system_id,
                                   const XML_Char *public_id, const XML_Char *notation)
{
    (void)name; (void)is_param; (void)value; (void)value_len; (void)base;
    (void)system_id; (void)public_id; (void)notation;
    fail(ud, "entity declarations are not allowed in the whitelist");
}

/* An HTML error page served instead of the list deserves a clearer
 * message than expat's "mismatched tag". */
static bool looks_like_html(const struct parse *p)
{
    size_t i = 0;

    if (p->sniff_len >= 3 && memcmp(p->sniff, "\xef\xbb\xbf", 3) == 0)
        i = 3;
    while (i < p->sniff_len && is_xml_space(p->sniff[i]))
        i++;
    return (p->sniff_len - i >= 14 && strncasecmp(p->sniff + i, "<!doctype html", 14) == 0)
           || (p->sniff_len - i >= 5 && strncasecmp(p->sniff + i, "<html", 5) == 0);
}

/* Errors expat can only report once it knows the input has ended. */
static bool is_eof_error(enum XML_Error code)
{
    return code == XML_ERROR_NO_ELEMENTS || code == XML_ERROR_UNCLOSED_TOKEN
           || code == XML_ERROR_PARTIAL_CHAR || code == XML_ERROR_UNCLOSED_CDATA_SECTION;
}

static void xml_failed(struct parse *p, bool final)
{
    enum XML_Error code = XML_GetErrorCode(p->xp);

    if (p->failed)
        return;
    if (!p->root_seen && looks_like_html(p)) {
        fail(p, "not an ANS whitelist document (HTML page)");
        return;
    }
    fail(p, "line %lu: XML error: %s%s",
         (unsigned long)XML_GetCurrentLineNumber(p->xp), XML_ErrorString(code),
         final && p->root_seen && is_eof_error(code) ? " (truncated file?)" : "");
}

static int expat_parse(struct parse *p, const char *buf, size_t len, bool final)
{
    if (XML_Parse(p->xp, buf, (int)len, final) != XML_STATUS_OK) {
        xml_failed(p, final);
        return -1;
    }
    return p->failed ? -1 : 0;
}

/*
 * Hash and parse one chunk.  Returns 0, or -1 with the error recorded.
 * The first SNIFF_MAX bytes are held back until they are all there (or
 * the document ends) and only then handed to expat: an error in them is
 * told apart as an HTML page or not from all of them, so the message
 * does not depend on where the chunks were cut.
 */
static int feed(struct parse *p, const char *buf, size_t len, bool final)
{
    if (len > 0 && EVP_DigestUpdate(p->md, buf, len) != 1) {
        fail(p, "sha256 failed");
        return -1;
    }
    p->bytes += len;
    if (!p->sniffed) {
        size_t n = SNIFF_MAX - p->sniff_len < len ? SNIFF_MAX - p->sniff_len : len;

        memcpy(p->sniff + p->sniff_len, buf, n);
        p->sniff_len += n;
        buf += n;
        len -= n;
        if (p->sniff_len < SNIFF_MAX && !final)
            return 0;
        p->sniffed = true;
        if (expat_parse(p, p->sniff, p->sniff_len, final && len == 0) < 0 || len == 0)
            return p->failed ? -1 : 0;
    }
    return expat_parse(p, buf, len, final);
}

static int parse_begin(struct parse *p, const char *source, size_t size_hint,
                       struct err *err)
{
    memset(p, 0, sizeof(*p));
    p->source = source ? source : "(buffer)";
    p->err = err;
    err_clear(err);
    p->list = calloc(1, sizeof(*p->list));
    p->xp = XML_ParserCreateNS(NULL, NS_SEP);
    p->md = EVP_MD_CTX_new();
    if (p->list == NULL || p->xp == NULL || p->md == NULL
        || (p->list->wl = whitelist_new()) == NULL
        || (p->list->wl->domains = domainset_new(size_hint / 400 + 64)) == NULL
        || (p->list->wl->certs = certset_new(size_hint / 400 + 64)) == NULL
        || EVP_DigestInit_ex(p->md, EVP_sha256(), NULL) != 1) {
        fail(p, "out of memory");
        return -1;
    }
    XML_SetUserData(p->xp, p);
    XML_SetElementHandler(p->xp, on_start, on_end);
    XML_SetCharacterDataHandler(p->xp, on_text);
    XML_SetEntityDeclHandler(p->xp, on_entity_decl);
    return 0;
}

/* The document parsed: check it is a usable list and fill the metadata. */
static void parse_finish(struct parse *p)
{
    struct whitelist *wl = p->list->wl;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0, i;

    if (!p->date_seen) {
        fail(p, "missing DateDeGeneration: not a complete ANS whitelist");
        return;
    }
    if (domainset_count(wl->domains) == 0) {
        fail(p, "empty whitelist: no valid domain in %zu <Domaine> entries", wl->entries);
        return;
    }
    if (EVP_DigestFinal_ex(p->md, digest, &dlen) != 1 || dlen != 32) {
        fail(p, "sha256 failed");
        return;
    }
    for (i = 0; i < dlen; i++)
        snprintf(wl->sha256 + 2 * i, 3, "%02x", digest[i]);
    snprintf(wl->source, sizeof(wl->source), "%s", p->source);
}

/* Free everything but the list on success; everything on failure. */
static struct ans_list *parse_end(struct parse *p)
{
    struct ans_list *list = p->list;

    if (p->xp != NULL)
        XML_ParserFree(p->xp);
    EVP_MD_CTX_free(p->md);
    if (p->failed) {
        ans_list_free(list);
        return NULL;
    }
    return list;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                         */
/* ------------------------------------------------------------------ */

struct ans_stream {
    struct parse p;
};

struct ans_stream *ans_stream_begin(const char *source, size_t size_hint,
                                    struct err *err)
{
    /* On the heap: three TEXT_MAX buffers, and this may run in a thread
     * with a small stack. */
    struct ans_stream *s = malloc(sizeof(*s));

    if (s == NULL) {
        err_set(err, "%s: out of memory", source ? source : "(buffer)");
        return NULL;
    }
    if (parse_begin(&s->p, source, size_hint, err) < 0) {
        parse_end(&s->p);
        free(s);
        return NULL;
    }
    return s;
}

int ans_stream_feed(struct ans_stream *s, const char *buf, size_t len)
{
    size_t off = 0;

    /* expat takes an int length: hand it the data in CHUNK pieces. */
    while (off < len && !s->p.failed) {
        size_t n = len - off < CHUNK ? len - off : CHUNK;

        feed(&s->p, buf + off, n, false);
        off += n;
    }
    return s->p.failed ? -1 : 0;
}

void ans_stream_fail(struct ans_stream *s, const char *why)
{
    fail(&s->p, "%s", why);
}

struct ans_list *ans_stream_end(struct ans_stream *s)
{
    struct ans_list *list;

    if (!s->p.failed && s->p.bytes == 0)
        fail(&s->p, "empty file");
    if (!s->p.failed && feed(&s->p, "", 0, true) == 0)
        parse_finish(&s->p);
    list = parse_end(&s->p);
    free(s);
    return list;
}

struct ans_list *ans_parse_buffer(const char *buf, size_t len, const char *source,
                                  struct err *err)
{
    struct ans_stream *s = ans_stream_begin(source, len, err);

    if (s == NULL)
        return NULL;
    ans_stream_feed(s, buf, len);
    return ans_stream_end(s);
}

struct ans_list *ans_parse_file(const char *path, struct err *err)
{
    struct ans_stream *s;
    struct stat st;
    FILE *fp = fopen(path, "rb");
    char *chunk;
    size_t hint = 0, n;

    if (fp == NULL) {
        err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    chunk = malloc(CHUNK);
    if (chunk == NULL) {
        fclose(fp);
        err_set(err, "%s: out of memory", path);
        return NULL;
    }
    if (fstat(fileno(fp), &st) == 0 && st.st_size > 0)
        hint = (size_t)st.st_size;
    if ((s = ans_stream_begin(path, hint, err)) != NULL) {
        while ((n = fread(chunk, 1, CHUNK, fp)) > 0 && ans_stream_feed(s, chunk, n) == 0)
            ;
        if (ferror(fp)) {
            char why[128];

            snprintf(why, sizeof(why), "read error: %s", strerror(errno));
            ans_stream_fail(s, why);
        }
    }
    free(chunk);
    fclose(fp);
    return s != NULL ? ans_stream_end(s) : NULL;
}

struct whitelist *ans_list_take_whitelist(struct ans_list *list)
{
    struct whitelist *wl;

    if (list == NULL)
        return NULL;
    wl = list->wl;
    list->wl = NULL;
    ans_list_free(list);
    return wl;
}

void ans_list_free(struct ans_list *list)
{
    if (list == NULL)
        return;
    whitelist_free(list->wl);
    free(list);
}
