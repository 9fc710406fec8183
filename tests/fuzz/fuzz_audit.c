/*
 * fuzz_audit.c - the forwarding audit of "mssantectl forwards
 * audit|rewrite": virtual(5) maps, aliases(5) files and Sieve scripts
 * (audit/audit.c, maps.c, sieve.c, edit.c).
 *
 * Input: one byte whose value modulo 4 chooses the reader (0: guessed
 * from the content, 1: virtual, 2: aliases, 3: sieve), then the file.
 * LocalDomains and the whitelist are the fixed ones of fuzzlib.c.
 *
 * Properties:
 *  - a refused file comes with a reason;
 *  - "changed" says exactly whether the output differs from the input,
 *    and nothing changes without a classic target found;
 *  - every finding has a line inside the file and formats to a report line;
 *  - the rewrite does its job: the output, audited again with the same
 *    reader, has no classic target left and is not changed again.
 */
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "common/err.h"
#include "tests/fuzz/fuzz.h"

static size_t count_lines(const char *d, size_t len)
{
    size_t n = 1, i;

    for (i = 0; i < len; i++)
        if (d[i] == '\n' && i + 1 < len)
            n++;
    return n;
}

static void check_result(const char *d, size_t len, const struct fwd_audit_result *r)
{
    size_t i, classic = 0, lines = count_lines(d, len);

    FUZZ_ASSERT(r->output != NULL, "no output");
    FUZZ_ASSERT(r->changed == (r->output_len != len || memcmp(r->output, d, len) != 0),
                "changed=%d is wrong", r->changed);
    for (i = 0; i < r->n_findings; i++) {
        const struct fwd_finding *f = &r->findings[i];
        char *line = fwd_audit_format("fuzz", f);

        FUZZ_ASSERT(line != NULL, "finding %zu does not format", i);
        FUZZ_ASSERT(f->line >= 1 && f->line <= lines, "finding on line %u of %zu", f->line,
                    lines);
        classic += f->kind == FWD_FIND_CLASSIC;
        free(line);
    }
    FUZZ_ASSERT(classic == r->n_classic, "n_classic %zu, counted %zu", r->n_classic, classic);
    FUZZ_ASSERT(r->n_classic > 0 || !r->changed, "changed without a classic target");
}

static void check_rewrite_done(const struct fwd_audit_opts *opts,
                               const struct fwd_audit_result *first)
{
    struct fwd_audit_opts again_opts = *opts;
    struct fwd_audit_result again;
    struct err err;

    again_opts.type = first->type;
    FUZZ_ASSERT(fwd_audit_run("fuzz-output", first->output, first->output_len, &again_opts,
                              &again, &err) == 0,
                "the rewritten %s file is refused: %s", fwd_audit_type_name(first->type), err.msg);
    FUZZ_ASSERT(again.n_classic == 0, "%zu classic targets left after the rewrite (first: %s)",
                again.n_classic, again.n_findings ? again.findings[0].target : "-");
    FUZZ_ASSERT(!again.changed, "a second rewrite changes the file again");
    fwd_audit_result_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum fwd_audit_type types[] = {
        FWD_AUDIT_AUTO, FWD_AUDIT_VIRTUAL, FWD_AUDIT_ALIASES, FWD_AUDIT_SIEVE,
    };
    struct fuzz_in in = { data, size };
    struct fwd_audit_opts opts = {
        .type = types[fuzz_byte(&in) % 4],
        .env = fuzz_policy_env(),
        .default_domain = FUZZ_LOCAL_DOMAIN,
        .sieve_mailbox = "dr.martin@" FUZZ_LOCAL_DOMAIN,
    };
    struct fwd_audit_result r;
    struct err err;

    err_clear(&err);
    if (fwd_audit_run("fuzz-input", (const char *)in.p, in.n, &opts, &r, &err) != 0) {
        FUZZ_ASSERT(err.msg[0] != '\0', "refused without a reason");
        return 0;
    }
    check_result((const char *)in.p, in.n, &r);
    check_rewrite_done(&opts, &r);
    fwd_audit_result_free(&r);
    return 0;
}
