/*
 * fetchprobe.c - drive whitelist/fetch.c once from the command line.
 *
 *   fetchprobe [-e ETAG] [-l LAST_MODIFIED] [-s MAX_BYTES] [-t TIMEOUT_MS]
 *              [-T CONNECT_TIMEOUT_MS] [-o BODY_FILE] URL CAFILE [CERT [KEY]]
 *
 * CAFILE "-" means libcurl's default bundle.  Prints, on stdout:
 *   status=ok|not-modified|error kind=KIND http=CODE bytes=N
 *   etag=VALUE
 *   last-modified=VALUE
 *   error=ONE LINE            (errors only)
 * and exits 0 (ok), 3 (not modified), 1 (error) or 2 (usage).  The body,
 * already decoded, goes to BODY_FILE when -o is given.  Used by
 * tests/integration/t_fetch_tls.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/curlinit.h"
#include "common/err.h"
#include "config/config.h"
#include "whitelist/fetch.h"

static void usage(void)
{
    fprintf(stderr, "usage: fetchprobe [-e ETAG] [-l LAST_MODIFIED] [-s MAX_BYTES] "
            "[-t TIMEOUT_MS] [-T CONNECT_TIMEOUT_MS] [-o BODY_FILE] URL CAFILE [CERT [KEY]]\n");
    exit(2);
}

static long number(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v <= 0)
        usage();
    return v;
}

static int write_body(const char *path, const struct fetch_result *res)
{
    FILE *f = fopen(path, "wb");
    int ok;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    ok = fwrite(res->body, 1, res->len, f) == res->len;
    if (fclose(f) != 0)
        ok = 0;
    if (!ok)
        perror(path);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct fetch_options opt;
    struct fetch_result res;
    const char *out = NULL;
    static const char *const names[] = { "ok", "not-modified", "error" };
    struct config *defaults;
    struct err err;
    int c, rc;

    /* The timeouts and the size limit the configuration gives by default. */
    if ((defaults = config_defaults()) == NULL)
        return 1;
    fetch_options_from(&opt, &defaults->fetch);
    while ((c = getopt(argc, argv, "e:l:s:t:T:o:")) != -1) {
        switch (c) {
        case 'e': opt.etag = optarg; break;
        case 'l': opt.last_modified = optarg; break;
        case 's': opt.max_size = (size_t)number(optarg); break;
        case 't': opt.timeout_ms = number(optarg); break;
        case 'T': opt.connect_timeout_ms = number(optarg); break;
        case 'o': out = optarg; break;
        default: usage();
        }
    }
    if (argc - optind < 2 || argc - optind > 4)
        usage();
    opt.url = argv[optind];
    opt.ca_file = strcmp(argv[optind + 1], "-") == 0 ? NULL : argv[optind + 1];
    if (argc - optind >= 3)
        opt.client_cert = argv[optind + 2];
    if (argc - optind == 4)
        opt.client_key = argv[optind + 3];

    if (curl_init_once(&err) < 0) {
        fprintf(stderr, "fetchprobe: %s\n", err.msg);
        return 1;
    }
    fetch_list(&opt, &res);
    printf("status=%s kind=%s http=%ld bytes=%zu\n", names[res.status],
           fetch_error_name(res.kind), res.http_code, res.len);
    printf("etag=%s\nlast-modified=%s\n", res.etag, res.last_modified);
    if (res.status == FETCH_ERROR)
        printf("error=%s\n", res.error);

    rc = res.status == FETCH_OK ? 0 : res.status == FETCH_NOT_MODIFIED ? 3 : 1;
    if (res.status == FETCH_OK && out != NULL && write_body(out, &res) < 0)
        rc = 1;
    fetch_result_free(&res);
    config_free(defaults);
    return rc;
}
