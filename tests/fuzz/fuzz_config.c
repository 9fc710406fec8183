/*
 * fuzz_config.c - mssante-milter.conf (config/config.c, the key table of
 * config/keys.c and the value types of config/values*.c).
 *
 * Input: the file's bytes, written to a scratch file (config_load reads a
 * path, as the daemon, "mssante-milter -n" and mssantectl do).  Errors go
 * to a sink that counts them instead of stderr.
 *
 * Properties: a refused file reports at least one "FILE:LINE: message"
 * line; an accepted one reports none and has what the daemon needs
 * (LocalDomains, a whitelist source), every LocalDomains entry in normal
 * form.
 *
 * A NotifyTemplate key makes the parser read the file it names; the
 * fuzzer may name any file of the machine, which is only read (and at
 * most NOTIFY_TEMPLATE_MAX + 1 bytes of it).  Run the fuzzer with its
 * standard input on /dev/null, as tests/fuzz/run.sh does, so that
 * "/dev/stdin" cannot block it.
 */
#include <string.h>

#include "config/config.h"
#include "policy/address.h"
#include "tests/fuzz/fuzz.h"

struct errors {
    unsigned n;
};

static void count_error(void *arg, const char *line)
{
    struct errors *e = arg;

    FUZZ_ASSERT(line != NULL && line[0] != '\0', "empty error line");
    e->n++;
}

static void check_loaded(const struct config *cfg)
{
    size_t i;

    FUZZ_ASSERT(cfg->rules.local_domains.n > 0, "accepted without LocalDomains");
    FUZZ_ASSERT(cfg->live.file != NULL || redis_configured(&cfg->redis),
                "accepted without a whitelist source");
    for (i = 0; i < cfg->rules.local_domains.n; i++) {
        char copy[ADDR_DOMAIN_MAX + 1];
        size_t len = strlen(cfg->rules.local_domains.v[i]);

        FUZZ_ASSERT(len > 0 && len <= ADDR_DOMAIN_MAX, "LocalDomains entry of length %zu", len);
        memcpy(copy, cfg->rules.local_domains.v[i], len + 1);
        FUZZ_ASSERT(addr_normalize_domain(copy) && strcmp(copy, cfg->rules.local_domains.v[i]) == 0,
                    "LocalDomains entry \"%s\" not in normal form", cfg->rules.local_domains.v[i]);
    }
    FUZZ_ASSERT(cfg->rules.local_domains.v[cfg->rules.local_domains.n] == NULL, "list not NULL-terminated");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_scratch_file(data, size);
    struct errors e = { 0 };
    struct config *cfg = config_load_report(path, count_error, &e);

    if (cfg == NULL) {
        FUZZ_ASSERT(e.n > 0, "refused without an error line");
        return 0;
    }
    FUZZ_ASSERT(e.n == 0, "accepted with %u error lines", e.n);
    check_loaded(cfg);
    config_free(cfg);
    return 0;
}
