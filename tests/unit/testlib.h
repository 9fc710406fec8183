/*
 * testlib.h - the smallest useful unit-test harness.
 *
 * CHECK() records a failure and carries on; each test program prints one
 * "ok"/"not ok" line per CHECK group and exits non-zero if anything failed.
 * tests/run-all.sh turns the exit codes into the closing "N passed, N failed".
 */
#ifndef MSSANTE_TESTLIB_H
#define MSSANTE_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int testlib_failures;
static int testlib_checks;

#define CHECK(cond) do { \
        testlib_checks++; \
        if (!(cond)) { \
            testlib_failures++; \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        } \
    } while (0)

#define CHECK_STR(a, b) do { \
        const char *testlib_a = (a), *testlib_b = (b); \
        testlib_checks++; \
        if (testlib_a == NULL || testlib_b == NULL || strcmp(testlib_a, testlib_b) != 0) { \
            testlib_failures++; \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n", \
                    __FILE__, __LINE__, #a, testlib_a ? testlib_a : "(null)", \
                    testlib_b ? testlib_b : "(null)"); \
        } \
    } while (0)

/* Directory of the test fixtures (tests/fixtures), overridable by env. */
static inline const char *testlib_fixtures(void)
{
    const char *d = getenv("MSSANTE_FIXTURES");
    return d ? d : "tests/fixtures";
}

#define TEST_DONE() do { \
        printf("%s: %d checks, %d failed\n", __FILE__, testlib_checks, testlib_failures); \
        return testlib_failures ? 1 : 0; \
    } while (0)

#endif
