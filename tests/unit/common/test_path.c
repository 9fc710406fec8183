/*
 * test_path.c - path_dir() (common/path.c): the directory a file goes in.
 * One named case per line.
 */
#include "tests/unit/testlib.h"
#include "common/path.h"

static void dir_is(const char *path, const char *want)
{
    char buf[64];

    path_dir(path, buf, sizeof(buf));
    CHECK_STR(buf, want);
}

static void test_absolute(void)
{
    dir_is("/var/lib/mssante-milter/held.key", "/var/lib/mssante-milter");
}

static void test_root(void)
{
    dir_is("/held.key", "/");
}

static void test_bare(void)
{
    dir_is("held.key", ".");
}

static void test_relative(void)
{
    dir_is("keys/held.key", "keys");
}

static void test_cut(void)
{
    char buf[5];

    path_dir("/abcdefgh/x", buf, sizeof(buf));
    CHECK_STR(buf, "/abc");
}

static const struct test_case cases[] = {
    { "an absolute path: its directory", test_absolute },
    { "a file at the root: /", test_root },
    { "a bare file name: .", test_bare },
    { "a relative path: its directory", test_relative },
    { "a directory longer than the buffer is cut, NUL-terminated", test_cut },
};

TEST_MAIN(cases)
