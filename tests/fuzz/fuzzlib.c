/*
 * fuzzlib.c - the helpers of fuzz.h, linked into every fuzz target.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy/classify.h"
#include "tests/fuzz/fuzz.h"

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s:%d: property violated: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

uint8_t fuzz_byte(struct fuzz_in *in)
{
    uint8_t b;

    if (in->n == 0)
        return 0;
    b = *in->p++;
    in->n--;
    return b;
}

const uint8_t *fuzz_take(struct fuzz_in *in, size_t n, size_t *got)
{
    const uint8_t *start = in->p;

    if (n > in->n)
        n = in->n;
    in->p += n;
    in->n -= n;
    *got = n;
    return start;
}

char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static char scratch_path[4096];

static void scratch_remove(void)
{
    if (scratch_path[0] != '\0')
        unlink(scratch_path);
}

const char *fuzz_scratch_file(const uint8_t *data, size_t size)
{
    FILE *fp;

    if (scratch_path[0] == '\0') {
        const char *dir = getenv("TMPDIR");
        int fd;

        snprintf(scratch_path, sizeof(scratch_path), "%s/mssante-fuzz.XXXXXX",
                 dir != NULL && dir[0] != '\0' ? dir : "/tmp");
        if ((fd = mkstemp(scratch_path)) < 0) {
            perror("fuzz: mkstemp");
            abort();
        }
        close(fd);
        atexit(scratch_remove);
    }
    if ((fp = fopen(scratch_path, "wb")) == NULL
        || (size > 0 && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", scratch_path, strerror(errno));
        abort();
    }
    return scratch_path;
}

/* ------------------------------------------------------------------ */
/* The fixed trust space                                                */
/* ------------------------------------------------------------------ */

static const char *const listed[] = {
    "medecin.mssante.fr", "pharmacien.mssante.fr", "chu-lille.mssante.fr",
    "lgpi.mssante.fr", "mssante.apicrypt.org", "interop-mssante.apicrypt.org",
};

static const char *const local_domains[] = { FUZZ_LOCAL_DOMAIN };

bool fuzz_domain_listed(const char *domain)
{
    size_t i;

    for (i = 0; i < sizeof(listed) / sizeof(listed[0]); i++)
        if (strcmp(listed[i], domain) == 0)
            return true;
    return false;
}

static bool lookup(const void *ctx, const char *domain)
{
    (void)ctx;
    return fuzz_domain_listed(domain);
}

const struct policy_env *fuzz_policy_env(void)
{
    static const struct policy_env env = {
        .is_listed = lookup,
        .lookup_ctx = NULL,
        .local_domains = local_domains,
        .n_local_domains = 1,
        .patient_domain = FUZZ_PATIENT_DOMAIN,
        .is_cn_listed = NULL,
    };

    return &env;
}
