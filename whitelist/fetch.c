/*
 * fetch.c - download the ANS whitelist over verified (mutual) TLS.
 *
 * A thin, strict wrapper around one libcurl easy transfer.  The settings
 * that matter for the trust space are fixed here rather than offered as
 * options: peer and host verification on, TLS >= 1.2, https only (also
 * for redirects).  Most of the code turns libcurl's result into one line
 * an operator can act on: whose certificate failed and why, whether the
 * server wants a client certificate, a timeout, an HTTP error page, a
 * truncated or oversized body.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "common/curlinit.h"
#include "common/err.h"
#include "whitelist/fetch.h"

#ifndef MSSANTE_VERSION
#define MSSANTE_VERSION "dev"
#endif

#define FETCH_MAX_REDIRS 3L
#define FETCH_INITIAL_CAP ((size_t)256 << 10)

/* ------------------------------------------------------------------ */
/* libcurl initialisation                                              */

void fetch_options_from(struct fetch_options *opt, const struct fetch_settings *s)
{
    memset(opt, 0, sizeof(*opt));
    opt->url = s->url;
    opt->ca_file = s->ca_file;
    opt->client_cert = s->client_cert;
    opt->client_key = s->client_key;
    opt->connect_timeout_ms = s->connect_timeout_ms;
    opt->timeout_ms = s->timeout_ms;
    opt->max_size = s->max_size;
}

const char *fetch_error_name(enum fetch_error_kind kind)
{
    switch (kind) {
    case FETCH_ERR_NONE:       return "none";
    case FETCH_ERR_CONFIG:     return "config";
    case FETCH_ERR_TLS_VERIFY: return "tls-verify";
    case FETCH_ERR_TLS_CLIENT: return "tls-client-cert";
    case FETCH_ERR_TLS:        return "tls";
    case FETCH_ERR_RESOLVE:    return "resolve";
    case FETCH_ERR_CONNECT:    return "connect";
    case FETCH_ERR_TIMEOUT:    return "timeout";
    case FETCH_ERR_HTTP:       return "http";
    case FETCH_ERR_TOO_LARGE:  return "too-large";
    case FETCH_ERR_TRUNCATED:  return "truncated";
    case FETCH_ERR_OTHER:      return "other";
    case FETCH_ERR_CANCELLED:  return "cancelled";
    }
    return "other";
}

void fetch_result_free(struct fetch_result *res)
{
    free(res->body);
    res->body = NULL;
    res->len = 0;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static enum fetch_status fail(struct fetch_result *res, enum fetch_error_kind kind,
                              const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum fetch_status fail(struct fetch_result *res, enum fetch_error_kind kind,
                              const char *fmt, ...)
{
    va_list ap;

    fetch_result_free(res);
    res->status = FETCH_ERROR;
    res->kind = kind;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
    return FETCH_ERROR;
}

/* Validators come back from Redis or a state file: refuse anything that
 * could smuggle another header line into the request. */
static bool header_value_ok(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return false;
    return true;
}

/* Open the file the way the daemon will, so that a missing file or a
 * permission problem is reported by name rather than by libcurl's
 * "problem with the local certificate". */
static int check_readable(const char *what, const char *path, struct fetch_result *res)
{
    char ebuf[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        fail(res, FETCH_ERR_CONFIG, "cannot read %s %s: %s", what, path,
             strerror_r(errno, ebuf, sizeof(ebuf)));
        return -1;
    }
    close(fd);
    return 0;
}

static int check_options(const struct fetch_options *opt, char *host, size_t hostlen,
                         struct fetch_result *res)
{
    CURLU *u;
    char *scheme = NULL, *h = NULL;
    int rc = -1;

    if (opt->url == NULL || *opt->url == '\0') {
        fail(res, FETCH_ERR_CONFIG, "no URL to fetch the whitelist from");
        return -1;
    }
    if (opt->connect_timeout_ms <= 0 || opt->timeout_ms <= 0 || opt->max_size == 0 ||
        opt->max_size > SIZE_MAX / 2) {
        fail(res, FETCH_ERR_CONFIG, "timeouts and the maximum size must be positive and sane");
        return -1;
    }
    u = curl_url();
    if (u == NULL) {
        fail(res, FETCH_ERR_OTHER, "out of memory");
        return -1;
    }
    if (curl_url_set(u, CURLUPART_URL, opt->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK) {
        fail(res, FETCH_ERR_CONFIG, "invalid URL: %s", opt->url);
    } else if (strcasecmp(scheme, "https") != 0) {
        fail(res, FETCH_ERR_CONFIG, "refusing %s: only https:// URLs are allowed", opt->url);
    } else {
        snprintf(host, hostlen, "%s", h);
        rc = 0;
    }
    curl_free(scheme);
    curl_free(h);
    curl_url_cleanup(u);
    if (rc < 0)
        return -1;

    if (opt->client_key != NULL && opt->client_cert == NULL) {
        fail(res, FETCH_ERR_CONFIG, "a client key was given without a client certificate");
        return -1;
    }
    /* Same limits as the result fields they were stored from. */
    if ((opt->etag && (!header_value_ok(opt->etag) ||
                       strlen(opt->etag) >= sizeof(res->etag))) ||
        (opt->last_modified && (!header_value_ok(opt->last_modified) ||
                                strlen(opt->last_modified) >= sizeof(res->last_modified)))) {
        fail(res, FETCH_ERR_CONFIG, "stored ETag / Last-Modified is too long or has control characters");
        return -1;
    }
    if (opt->ca_file && check_readable("CA file", opt->ca_file, res) < 0)
        return -1;
    if (opt->client_cert && check_readable("client certificate", opt->client_cert, res) < 0)
        return -1;
    if (opt->client_key && check_readable("client key", opt->client_key, res) < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Body sink                                                           */

struct sink {
    char *buf;
    size_t len, cap, max;
    bool too_large;       /* the write callback refused to go past max */
    bool no_memory;
};

/* Guards the decoded size: CURLOPT_MAXFILESIZE only sees Content-Length,
 * which a chunked or gzip'ed reply does not give in decoded bytes. */
static size_t sink_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct sink *s = arg;
    size_t n = size * nmemb;

    if (n > s->max - s->len) {
        s->too_large = true;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : FETCH_INITIAL_CAP;
        char *p;

        /* No overflow: max <= SIZE_MAX / 2 (check_options). */
        while (cap < s->len + n + 1)
            cap *= 2;
        if (cap > s->max + 1)           /* never more than max + NUL */
            cap = s->max + 1;
        p = realloc(s->buf, cap);
        if (p == NULL) {
            s->no_memory = true;
            return 0;
        }
        s->buf = p;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

/* ------------------------------------------------------------------ */
/* Turning libcurl's verdict into one line                             */

/* Copy header NAME of the last response into dst, or "" when absent or
 * too long to be stored whole (a cut validator would never match). */
static void copy_header(CURL *curl, const char *name, char *dst, size_t dstlen)
{
    struct curl_header *h;

    dst[0] = '\0';
    if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK &&
        strlen(h->value) < dstlen && header_value_ok(h->value))
        memcpy(dst, h->value, strlen(h->value) + 1);
}

/* What the TLS layer saw, recorded by OpenSSL's message callback:
 * libcurl reports only its own error, and with TLS 1.3 a server that
 * rejects our certificate (or its absence) may reset the connection before
 * its alert has been read, so "Connection reset by peer" is all libcurl
 * knows.  That the server asked for a certificate tells the real story. */
struct tls_watch {
    bool cert_requested;    /* the server sent a CertificateRequest */
    int alert;              /* last alert received from the server, -1 none */
};

static void tls_watch_msg(int write_p, int version, int content_type, const void *buf,
                          size_t len, SSL *ssl, void *arg)
{
    struct tls_watch *w = arg;
    const unsigned char *b = buf;

    (void)version;
    (void)ssl;
    if (write_p || len < 1)
        return;
    if (content_type == SSL3_RT_HANDSHAKE && b[0] == SSL3_MT_CERTIFICATE_REQUEST)
        w->cert_requested = true;
    else if (content_type == SSL3_RT_ALERT && len >= 2 && b[1] != SSL_AD_CLOSE_NOTIFY)
        w->alert = b[1];
}

/* CURLOPT_SSL_CTX_FUNCTION: libcurl hands us each new SSL_CTX. */
static CURLcode tls_watch_install(CURL *curl, void *ssl_ctx, void *arg)
{
    (void)curl;
    SSL_CTX_set_msg_callback(ssl_ctx, tls_watch_msg);
    SSL_CTX_set_msg_callback_arg(ssl_ctx, arg);
    return CURLE_OK;
}

/* Alerts a server sends when it does not accept the client's certificate
 * (or its absence).  "handshake failure" is what a TLS 1.2 server says
 * when a required certificate is missing. */
static bool alert_is_about_client_cert(int alert, bool have_cert)
{
    switch (alert) {
    case SSL_AD_CERTIFICATE_REQUIRED:
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_ACCESS_DENIED:
        return true;
    case SSL_AD_HANDSHAKE_FAILURE:
        return !have_cert;
    default:
        return false;
    }
}

static enum fetch_status tls_verify_error(CURL *curl, const struct fetch_options *opt,
                                          const char *host, const char *errbuf,
                                          struct fetch_result *res)
{
    long vr = X509_V_OK;
    const char *trust = opt->ca_file ? opt->ca_file : "the system CA bundle";

    /* libcurl checks the host name itself, after OpenSSL accepted the
     * chain; its messages all end in "... target host name 'X'". */
    if (strstr(errbuf, "target host name") != NULL)
        return fail(res, FETCH_ERR_TLS_VERIFY,
                    "TLS verification failed: the certificate of %s is not issued for that host name (%s)",
                    host, errbuf);
    curl_easy_getinfo(curl, CURLINFO_SSL_VERIFYRESULT, &vr);
    switch (vr) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return fail(res, FETCH_ERR_TLS_VERIFY,
                    "TLS verification failed: the certificate of %s has expired (%s)",
                    host, errbuf);
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return fail(res, FETCH_ERR_TLS_VERIFY,
                    "TLS verification failed: the certificate of %s is not yet valid, check the clock (%s)",
                    host, errbuf);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return fail(res, FETCH_ERR_TLS_VERIFY,
                    "TLS verification failed: the certificate of %s is not issued by a CA in %s (%s)",
                    host, trust, errbuf);
    default:
        return fail(res, FETCH_ERR_TLS_VERIFY,
                    "TLS verification failed for %s: %s (%s)",
                    host, X509_verify_cert_error_string(vr), errbuf);
    }
}

/* A handshake or read/write failure: name the server's alert when there
 * was one, and say whether it is about our client certificate. */
static enum fetch_status tls_failure(const struct fetch_options *opt, const char *host,
                                     const struct tls_watch *w, CURLcode rc,
                                     const char *errbuf, struct fetch_result *res)
{
    bool have_cert = opt->client_cert != NULL;
    const char *name;

    if (w->alert < 0 && w->cert_requested && res->http_code == 0) {
        /* No alert read: a reset right after a certificate request. */
        if (!have_cert)
            return fail(res, FETCH_ERR_TLS_CLIENT,
                        "%s closed the connection: it requires a client certificate and none is configured (%s)",
                        host, errbuf);
        return fail(res, FETCH_ERR_TLS_CLIENT,
                    "%s closed the connection after receiving our client certificate %s: probably refused (%s)",
                    host, opt->client_cert, errbuf);
    }
    if (w->alert < 0) {
        if (rc == CURLE_SSL_CONNECT_ERROR)
            return fail(res, FETCH_ERR_TLS, "TLS handshake with %s failed (%s)", host, errbuf);
        return fail(res, FETCH_ERR_OTHER, "network error with %s (%s)", host, errbuf);
    }
    name = SSL_alert_desc_string_long(w->alert);
    if (!alert_is_about_client_cert(w->alert, have_cert))
        return fail(res, FETCH_ERR_TLS, "TLS session with %s failed, server alert \"%s\" (%s)",
                    host, name, errbuf);
    if (!have_cert)
        return fail(res, FETCH_ERR_TLS_CLIENT,
                    "%s refused the connection (TLS alert \"%s\"): it requires a client certificate and none is configured",
                    host, name);
    return fail(res, FETCH_ERR_TLS_CLIENT,
                "%s refused our client certificate %s (TLS alert \"%s\")",
                host, opt->client_cert, name);
}

static enum fetch_status timeout_error(CURL *curl, const struct fetch_options *opt,
                                       const char *host, const struct sink *s,
                                       struct fetch_result *res)
{
    curl_off_t connect_us = 0, tls_us = 0;

    curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_us);
    curl_easy_getinfo(curl, CURLINFO_APPCONNECT_TIME_T, &tls_us);
    if (connect_us == 0)
        return fail(res, FETCH_ERR_TIMEOUT, "timed out connecting to %s (connect timeout %ld ms)",
                    host, opt->connect_timeout_ms);
    if (tls_us == 0)
        return fail(res, FETCH_ERR_TIMEOUT, "timed out during the TLS handshake with %s (timeout %ld ms)",
                    host, opt->timeout_ms);
    return fail(res, FETCH_ERR_TIMEOUT,
                "download from %s exceeded the %ld ms timeout (%zu bytes received)",
                host, opt->timeout_ms, s->len);
}

/* libcurl 7.88 says "Couldn't connect to server"; the errno says why. */
static enum fetch_status connect_error(CURL *curl, const char *host, const char *errbuf,
                                       struct fetch_result *res)
{
    char ebuf[128];
    long oserr = 0;

    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &oserr);
    if (oserr != 0)
        return fail(res, FETCH_ERR_CONNECT, "cannot connect to %s: %s (%s)", host,
                    strerror_r((int)oserr, ebuf, sizeof(ebuf)), errbuf);
    return fail(res, FETCH_ERR_CONNECT, "cannot connect to %s (%s)", host, errbuf);
}

static enum fetch_status curl_error(CURL *curl, CURLcode rc, const struct fetch_options *opt,
                                    const char *host, const char *errbuf, const struct sink *s,
                                    const struct tls_watch *w, struct fetch_result *res)
{
    switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return tls_verify_error(curl, opt, host, errbuf, res);
    case CURLE_SSL_CACERT_BADFILE:
        return fail(res, FETCH_ERR_CONFIG, "cannot use CA file %s (%s)",
                    opt->ca_file ? opt->ca_file : "(default)", errbuf);
    case CURLE_SSL_CERTPROBLEM:
        return fail(res, FETCH_ERR_CONFIG, "cannot use client certificate %s / key %s (%s)",
                    opt->client_cert, opt->client_key ? opt->client_key : opt->client_cert,
                    errbuf);
    case CURLE_COULDNT_RESOLVE_HOST:
        return fail(res, FETCH_ERR_RESOLVE, "cannot resolve %s (%s)", host, errbuf);
    case CURLE_COULDNT_CONNECT:
        return connect_error(curl, host, errbuf, res);
    case CURLE_OPERATION_TIMEDOUT:
        return timeout_error(curl, opt, host, s, res);
    case CURLE_FILESIZE_EXCEEDED:
        return fail(res, FETCH_ERR_TOO_LARGE,
                    "the list from %s is larger than the %zu-byte limit (announced size)",
                    host, opt->max_size);
    case CURLE_WRITE_ERROR:
        if (s->too_large)
            return fail(res, FETCH_ERR_TOO_LARGE,
                        "the list from %s is larger than the %zu-byte limit", host, opt->max_size);
        return fail(res, FETCH_ERR_OTHER, "cannot store the list from %s: %s", host,
                    s->no_memory ? "out of memory" : errbuf);
    case CURLE_PARTIAL_FILE:
        return fail(res, FETCH_ERR_TRUNCATED,
                    "truncated download from %s: the connection closed after %zu bytes (%s)",
                    host, s->len, errbuf);
    case CURLE_UNSUPPORTED_PROTOCOL:
        /* Our own URL was checked to be https: this is a redirect. */
        return fail(res, FETCH_ERR_HTTP, "%s redirected to a non-https URL, refused (%s)",
                    host, errbuf);
    case CURLE_TOO_MANY_REDIRECTS:
        return fail(res, FETCH_ERR_HTTP, "too many redirects from %s (%s)", host, errbuf);
    case CURLE_ABORTED_BY_CALLBACK:
        return fail(res, FETCH_ERR_CANCELLED, "download from %s cancelled", host);
    case CURLE_SSL_CLIENTCERT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        /* With TLS 1.3 the server judges our certificate after the
         * client's side of the handshake is over, so its verdict arrives
         * as a read or write error, not a handshake error. */
        if (rc == CURLE_RECV_ERROR && res->http_code != 0 && w->alert < 0)
            return fail(res, FETCH_ERR_TRUNCATED,
                        "truncated download from %s after %zu bytes (%s)", host, s->len, errbuf);
        return tls_failure(opt, host, w, rc, errbuf, res);
    default:
        return fail(res, FETCH_ERR_OTHER, "download from %s failed: %s (%s)", host,
                    curl_easy_strerror(rc), errbuf);
    }
}

/* The <title> of an HTML error page, made printable, helps an operator
 * tell "maintenance" from "forbidden" without reading the whole page. */
static void html_title(const struct sink *s, char *out, size_t outlen)
{
    const char *t, *end;
    size_t n = 0;

    out[0] = '\0';
    if (s->buf == NULL || (t = strcasestr(s->buf, "<title>")) == NULL)
        return;
    t += strlen("<title>");
    end = strcasestr(t, "</title>");
    if (end == NULL)
        return;
    for (; t < end && n + 1 < outlen && n < 80; t++)
        out[n++] = ((unsigned char)*t >= 0x20 && (unsigned char)*t < 0x7f) ? *t : ' ';
    out[n] = '\0';
}

static enum fetch_status http_result(CURL *curl, const struct fetch_options *opt,
                                     const char *host, struct sink *s,
                                     struct fetch_result *res)
{
    char *ctype = NULL;
    char title[96];

    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->http_code);
    copy_header(curl, "ETag", res->etag, sizeof(res->etag));
    copy_header(curl, "Last-Modified", res->last_modified, sizeof(res->last_modified));

    if (res->http_code == 304) {
        bool asked = (opt->etag && *opt->etag) || (opt->last_modified && *opt->last_modified);

        /* Without a validator there is no list it could refer to. */
        if (!asked)
            return fail(res, FETCH_ERR_HTTP, "HTTP 304 from %s to an unconditional request", host);
        /* A 304 need not repeat the validators: keep the ones we sent
         * (check_options made sure they fit). */
        if (res->etag[0] == '\0' && opt->etag)
            snprintf(res->etag, sizeof(res->etag), "%s", opt->etag);
        if (res->last_modified[0] == '\0' && opt->last_modified)
            snprintf(res->last_modified, sizeof(res->last_modified), "%s", opt->last_modified);
        res->status = FETCH_NOT_MODIFIED;
        return FETCH_NOT_MODIFIED;
    }
    if (res->http_code == 200) {
        if (s->len == 0)
            return fail(res, FETCH_ERR_HTTP, "HTTP 200 from %s with an empty body", host);
        res->body = s->buf;
        res->len = s->len;
        s->buf = NULL;
        res->status = FETCH_OK;
        return FETCH_OK;
    }
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype);
    html_title(s, title, sizeof(title));
    return fail(res, FETCH_ERR_HTTP, "HTTP %ld from %s (%s, %zu bytes%s%s%s), not a whitelist",
                res->http_code, host, ctype ? ctype : "no content type", s->len,
                title[0] ? ", title \"" : "", title, title[0] ? "\"" : "");
}

/* ------------------------------------------------------------------ */
/* The transfer                                                        */

/* CURLOPT_XFERINFOFUNCTION: libcurl calls it at least once a second, also
 * while connecting or waiting for a silent server. */
static int cancel_check(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                        curl_off_t ultotal, curl_off_t ulnow)
{
    const struct fetch_options *opt = arg;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return opt->cancel(opt->cancel_arg) != 0;
}

static int setup(CURL *curl, const struct fetch_options *opt, struct sink *s,
                 struct tls_watch *w, struct curl_slist **headers, char *errbuf)
{
    char line[400];
    CURLcode rc = CURLE_OK;

#define SET(o, v) do { if (rc == CURLE_OK) rc = curl_easy_setopt(curl, o, v); } while (0)
    SET(CURLOPT_ERRORBUFFER, errbuf);
    SET(CURLOPT_URL, opt->url);
    SET(CURLOPT_PROTOCOLS_STR, "https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, FETCH_MAX_REDIRS);
    SET(CURLOPT_NOSIGNAL, 1L);              /* we run in a daemon thread */
    SET(CURLOPT_USERAGENT, "mssante-milter/" MSSANTE_VERSION);
    SET(CURLOPT_ACCEPT_ENCODING, "");        /* every encoding libcurl decodes */
    SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    SET(CURLOPT_SSL_CTX_FUNCTION, tls_watch_install);   /* OpenSSL backends only */
    SET(CURLOPT_SSL_CTX_DATA, w);
    if (opt->ca_file) {
        /* Trust exactly this file: no extra directory of public CAs. */
        SET(CURLOPT_CAINFO, opt->ca_file);
        SET(CURLOPT_CAPATH, (char *)NULL);
    }
    if (opt->client_cert) {
        SET(CURLOPT_SSLCERT, opt->client_cert);
        SET(CURLOPT_SSLCERTTYPE, "PEM");
        SET(CURLOPT_SSLKEY, opt->client_key ? opt->client_key : opt->client_cert);
        SET(CURLOPT_SSLKEYTYPE, "PEM");
    }
    SET(CURLOPT_CONNECTTIMEOUT_MS, opt->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, opt->timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)opt->max_size);
    SET(CURLOPT_WRITEFUNCTION, sink_write);
    SET(CURLOPT_WRITEDATA, s);
    if (opt->cancel) {
        SET(CURLOPT_XFERINFOFUNCTION, cancel_check);
        SET(CURLOPT_XFERINFODATA, (void *)opt);
        SET(CURLOPT_NOPROGRESS, 0L);
    }

    /* The validators are sent back exactly as the server wrote them
     * (RFC 9110 13.1), not re-formatted from a parsed date. */
    if (opt->etag && *opt->etag) {
        snprintf(line, sizeof(line), "If-None-Match: %s", opt->etag);
        *headers = curl_slist_append(*headers, line);
        if (*headers == NULL)
            return -1;
    }
    if (opt->last_modified && *opt->last_modified) {
        struct curl_slist *h;

        snprintf(line, sizeof(line), "If-Modified-Since: %s", opt->last_modified);
        h = curl_slist_append(*headers, line);
        if (h == NULL)
            return -1;
        *headers = h;
    }
    if (*headers)
        SET(CURLOPT_HTTPHEADER, *headers);
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

enum fetch_status fetch_list(const struct fetch_options *opt, struct fetch_result *res)
{
    char host[256], errbuf[CURL_ERROR_SIZE];
    struct err why;
    struct sink s;
    struct tls_watch w = { false, -1 };
    struct curl_slist *headers = NULL;
    CURL *curl;
    CURLcode rc;
    enum fetch_status st;

    memset(res, 0, sizeof(*res));
    if (curl_init_once(&why) < 0)
        return fail(res, FETCH_ERR_OTHER, "%s", why.msg);
    if (check_options(opt, host, sizeof(host), res) < 0)
        return FETCH_ERROR;

    curl = curl_easy_init();
    if (curl == NULL)
        return fail(res, FETCH_ERR_OTHER, "cannot create a libcurl handle");
    memset(&s, 0, sizeof(s));
    s.max = opt->max_size;
    errbuf[0] = '\0';
    if (setup(curl, opt, &s, &w, &headers, errbuf) < 0) {
        st = fail(res, FETCH_ERR_OTHER, "cannot configure libcurl (%s)",
                  errbuf[0] ? errbuf : "out of memory or option unsupported");
    } else {
        rc = curl_easy_perform(curl);
        if (errbuf[0] == '\0')
            snprintf(errbuf, sizeof(errbuf), "%s", curl_easy_strerror(rc));
        if (rc != CURLE_OK) {
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->http_code);
            st = curl_error(curl, rc, opt, host, errbuf, &s, &w, res);
        } else {
            st = http_result(curl, opt, host, &s, res);
        }
    }
    free(s.buf);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return st;
}
