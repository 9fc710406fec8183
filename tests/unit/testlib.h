/*
 * testlib.h - the smallest useful unit-test harness.
 *
 * A test program is a table of named cases, one line each:
 *
 *   static const struct test_case cases[] = {
 *       { "outbound mixed list: refused at DATA", test_outbound },
 *       ...
 *   };
 *   TEST_MAIN(cases)
 *
 * CHECK() records a failure and carries on.  Each case is reported on one
 * line, "ok - NAME" or "not ok - NAME" (its failed checks before it as
 * "# file:line: ..." lines), the protocol tests/run-all.sh reads from
 * every test; the program exits non-zero if anything failed.
 * TEST_MAIN_SETUP(cases, setup) runs SETUP before the cases; a non-zero
 * return is a "not ok" of the whole program.  A program with its own
 * set-up and clean-up (a temporary directory, a Redis) writes its main()
 * around TEST_RUN(cases).
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
            printf("# %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        } \
    } while (0)

#define CHECK_STR(a, b) do { \
        const char *testlib_a = (a), *testlib_b = (b); \
        testlib_checks++; \
        if (testlib_a == NULL || testlib_b == NULL || strcmp(testlib_a, testlib_b) != 0) { \
            testlib_failures++; \
            printf("# %s:%d: CHECK_STR failed: %s == \"%s\", expected \"%s\"\n", \
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

struct test_case {
    const char *name;            /* what the case shows, as it is reported */
    void (*run)(void);
};

/* Run CASES (N of them) one by one, one protocol line each.  Returns the
 * exit status: 0 when every check held. */
static inline int testlib_run(const char *file, const struct test_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int before = testlib_failures;

        fflush(stdout);
        cases[i].run();
        printf("%s - %s\n", testlib_failures == before ? "ok" : "not ok", cases[i].name);
        fflush(stdout);
    }
    printf("# %s: %zu cases, %d checks, %d failed\n", file, n, testlib_checks,
           testlib_failures);
    return testlib_failures ? 1 : 0;
}

#define TEST_MAIN(cases) \
    int main(void) \
    { \
        return testlib_run(__FILE__, cases, sizeof(cases) / sizeof((cases)[0])); \
    }

/* The case table run inside a main() of one's own (set-up and clean-up
 * around it); the exit status to return. */
#define TEST_RUN(cases) testlib_run(__FILE__, cases, sizeof(cases) / sizeof((cases)[0]))

/* The same, after SETUP (an int (*)(void): 0 to go on). */
#define TEST_MAIN_SETUP(cases, setup) \
    int main(void) \
    { \
        if ((setup)() != 0) { \
            printf("not ok - %s: set-up\n", __FILE__); \
            return 1; \
        } \
        return testlib_run(__FILE__, cases, sizeof(cases) / sizeof((cases)[0])); \
    }

/* The same, inside a fresh directory: DIR, a char array of the program
 * that its cases read, gets "/tmp/NAME.XXXXXX" made by mkdtemp(), and is
 * removed with all it holds once the cases have run. */
#define TEST_MAIN_TMPDIR(cases, dir, name) \
    int main(void) \
    { \
        char testlib_cmd[sizeof(dir) + 16]; \
        int testlib_rc; \
        snprintf(dir, sizeof(dir), "/tmp/%s.XXXXXX", name); \
        if (mkdtemp(dir) == NULL) { \
            printf("not ok - %s: set-up (mkdtemp)\n", __FILE__); \
            return 1; \
        } \
        testlib_rc = TEST_RUN(cases); \
        snprintf(testlib_cmd, sizeof(testlib_cmd), "rm -rf '%s'", dir); \
        if (system(testlib_cmd) != 0) \
            fprintf(stderr, "cannot remove %s\n", dir); \
        return testlib_rc; \
    }

/* The old ending of a program without a case table (one report line). */
#define TEST_DONE() do { \
        printf("%s: %d checks, %d failed\n", __FILE__, testlib_checks, testlib_failures); \
        return testlib_failures ? 1 : 0; \
    } while (0)

#endif
