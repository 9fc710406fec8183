/*
 * fetch.h - download the ANS whitelist over verified (mutual) TLS.
 *
 * One HTTPS GET with libcurl (OpenSSL backend) into memory.  The server
 * certificate and host name are always verified, against ca_file when set
 * (the IGC-Sante chain, which public bundles do not hold) or else libcurl's
 * default bundle; there is deliberately no option to turn verification off.
 * TLS >= 1.2, https only (redirects too), gzip accepted, the body capped at
 * max_size, and a conditional GET when the previous ETag / Last-Modified
 * are given, so an unchanged list costs a 304 and nothing else.
 *
 * What is fetched is only bytes: the caller parses them (whitelist/ansxml.h)
 * and decides whether they may replace the current list (whitelist/guard.h).
 *
 * Threads: fetch_list() initialises libcurl itself (common/curlinit.h,
 * which the daemon also calls from main() before it starts threads).
 * Each call uses its own easy handle: concurrent calls are fine.
 */
#ifndef MSSANTE_FETCH_H
#define MSSANTE_FETCH_H

#include <stddef.h>


/*
 * The fetcher's keys (config/keys.c points into it; their defaults are
 * there).  Read at start only.  The download uses the first seven; the
 * guard (whitelist/guard.h) the next two; the daemon's refresh thread
 * (whitelist/fetch_thread.h) the last two.
 */
struct fetch_settings {
    char *url;                       /* WhitelistURL, https only */
    char *ca_file;                   /* WhitelistCAFile; NULL = the system bundle */
    char *client_cert;               /* WhitelistClientCert (mutual TLS) */
    char *client_key;                /* WhitelistClientKey; NULL = in the cert */
    int connect_timeout_ms;          /* WhitelistConnectTimeout */
    int timeout_ms;                  /* WhitelistTimeout, the whole transfer */
    size_t max_size;                 /* WhitelistMaxSize, bytes (2026 list: ~5 MiB) */
    int min_domains;                 /* WhitelistMinDomains */
    int max_shrink;                  /* WhitelistMaxShrink, percent */
    int refresh_ms;                  /* WhitelistRefresh, 0 = no refresh thread */
    int max_age_ms;                  /* WhitelistMaxAge, 0 = no stale warning */
};

struct fetch_options {
    const char *url;                 /* https:// only */
    const char *ca_file;             /* PEM bundle, the only CAs trusted;
                                      * NULL = libcurl's default bundle */
    const char *client_cert;         /* PEM, optional (mutual TLS) */
    const char *client_key;          /* PEM, unencrypted; NULL = inside client_cert */
    long connect_timeout_ms;         /* > 0 */
    long timeout_ms;                 /* > 0, whole transfer */
    size_t max_size;                 /* decoded body limit in bytes, > 0 */
    const char *etag;                /* previous ETag, as received, or NULL
                                      * (both fit the fetch_result fields) */
    const char *last_modified;       /* previous Last-Modified, as received, or NULL;
                                      * send them only while the list they came
                                      * with is the one in force */
    int (*cancel)(void *arg);        /* optional: called about once a second
                                      * during the transfer; non-zero aborts it
                                      * (FETCH_ERR_CANCELLED), so a daemon's
                                      * shutdown need not wait out timeout_ms */
    void *cancel_arg;
};

enum fetch_status {
    FETCH_OK = 0,                    /* 200, body in result */
    FETCH_NOT_MODIFIED,              /* 304: the current list is still the ANS's */
    FETCH_ERROR                      /* see kind and error */
};

enum fetch_error_kind {
    FETCH_ERR_NONE = 0,
    FETCH_ERR_CONFIG,                /* bad URL / unreadable CA, cert or key file */
    FETCH_ERR_TLS_VERIFY,            /* server certificate or host name not verified */
    FETCH_ERR_TLS_CLIENT,            /* server refused us: no or unaccepted client cert */
    FETCH_ERR_TLS,                   /* other TLS failure (protocol version, ...) */
    FETCH_ERR_RESOLVE,               /* host name did not resolve */
    FETCH_ERR_CONNECT,               /* connection refused / unreachable */
    FETCH_ERR_TIMEOUT,               /* connect or total timeout */
    FETCH_ERR_HTTP,                  /* status other than 200/304, or empty 200 */
    FETCH_ERR_TOO_LARGE,             /* body larger than max_size */
    FETCH_ERR_TRUNCATED,             /* connection closed before the whole body */
    FETCH_ERR_OTHER,                 /* anything else libcurl reports */
    FETCH_ERR_CANCELLED              /* the cancel hook asked to stop */
};

struct fetch_result {
    enum fetch_status status;
    enum fetch_error_kind kind;      /* FETCH_ERR_NONE unless status == FETCH_ERROR */
    long http_code;                  /* 0 when no response was received */
    char *body;                      /* FETCH_OK: malloc'ed, NUL-terminated; else NULL */
    size_t len;                      /* body length, without the terminating NUL */
    char etag[256];                  /* ETag of this response ("" if none); */
    char last_modified[64];          /* Last-Modified likewise.  On a 304 that
                                      * omits them, the ones sent.  Store them
                                      * after FETCH_OK / FETCH_NOT_MODIFIED
                                      * only: they are "" after an error. */
    char error[512];                 /* one line, "" unless FETCH_ERROR */
};

/* OPT for downloading the list as S says: URL, CA, client certificate,
 * timeouts, size limit; no validators, no cancel hook. */
void fetch_options_from(struct fetch_options *opt, const struct fetch_settings *s);

/* Download OPT->url.  Always fills RES (free it with fetch_result_free)
 * and returns RES->status. */
enum fetch_status fetch_list(const struct fetch_options *opt, struct fetch_result *res);

/* Release the body; RES can be reused afterwards. */
void fetch_result_free(struct fetch_result *res);

/* Short stable name for a kind ("tls-verify", "timeout", ...), for logs,
 * "mssantectl whitelist status" and scripts. */
const char *fetch_error_name(enum fetch_error_kind kind);

#endif
