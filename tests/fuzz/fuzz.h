/*
 * fuzz.h - what the fuzz targets of tests/fuzz/ share.
 *
 * Each fuzz_NAME.c defines LLVMFuzzerTestOneInput() for one parser of
 * outside input.  It is linked two ways (see the Makefile):
 *  - with libFuzzer (clang -fsanitize=fuzzer,address,undefined) by
 *    "make fuzz", which explores new inputs;
 *  - with replay.c and the normal compiler for "make check", which feeds
 *    it every committed corpus and regression file (also under SAN=1).
 *
 * A target must be deterministic and leave nothing behind between calls
 * (no leak, no global state that changes the next input's outcome), so
 * that a crash replays from its input alone.  Besides crashes, a target
 * may check properties of what it parsed (FUZZ_ASSERT): a violated
 * property aborts, and libFuzzer keeps the input like any crash.
 */
#ifndef MSSANTE_FUZZ_H
#define MSSANTE_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A violated property: print it (with the target's file and line) and abort. */
#define FUZZ_ASSERT(cond, ...) \
    do { \
        if (!(cond)) \
            fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

/* A cursor over the input, for targets that take decisions (chunk sizes,
 * options) from its bytes.  Reading past the end gives zeros. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

uint8_t fuzz_byte(struct fuzz_in *in);

/* N bytes (fewer when the input runs out): returns where they start, and
 * sets *got to how many there are. */
const uint8_t *fuzz_take(struct fuzz_in *in, size_t n, size_t *got);

/* A copy of DATA with a NUL added (the parser wants a C string); the
 * caller frees it.  Never NULL: out of memory aborts. */
char *fuzz_cstring(const uint8_t *data, size_t size);

/* Write DATA to this process's scratch file (created once, in TMPDIR or
 * /tmp, removed at exit) and return its path: for parsers that read a
 * file by name. */
const char *fuzz_scratch_file(const uint8_t *data, size_t size);

/*
 * The fixed trust space the policy targets run against: the local domain
 * FUZZ_LOCAL_DOMAIN, the patients' domain FUZZ_PATIENT_DOMAIN and a few
 * listed MSSante domains (see fuzzlib.c), with no operator certificate.
 */
#define FUZZ_LOCAL_DOMAIN   "chu-test.mssante.fr"
#define FUZZ_PATIENT_DOMAIN "patient.mssante.fr"

struct policy_env;
const struct policy_env *fuzz_policy_env(void);

/* Is DOMAIN (normalised) one of the fixed list's?  What an oracle uses. */
bool fuzz_domain_listed(const char *domain);

#endif
