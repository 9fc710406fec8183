/*
 * test_keyfile.c - a secret key in a file of its own (common/keyfile.c):
 * made once at mode 0600 and read back the same, never made without
 * CREATE, a file others can read said so, and every bad file refused with
 * a sentence that names the configuration key and the file.  One named
 * case per line; a failing case is reported by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keyfile.h"
#include "tests/unit/testlib.h"

static const struct keyfile_use use = {
    "TestKeyFile", "changes everything signed so far", "can be read by others; chmod 600 it",
};

static char dir[64];

static void report(const char *name, int ok, const char *got)
{
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  case \"%s\": got \"%s\"\n", name, got);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    CHECK(fp != NULL);
    if (fp != NULL) {
        fputs(text, fp);
        fclose(fp);
    }
}

/* Made at the first start, 0600, read again the same. */
static void test_made_once(void)
{
    unsigned char first[KEYFILE_BYTES], again[KEYFILE_BYTES];
    char path[128];
    struct err err;
    struct stat st;
    bool loose = true;

    snprintf(path, sizeof(path), "%s/made.key", dir);
    CHECK(keyfile_check(&use, path, NULL, &err) == 0);              /* missing, makeable */
    CHECK(keyfile_load(&use, path, false, first, NULL, &err) == -1); /* not made without CREATE */
    report("a missing key: the error names the key and the file",
           strncmp(err.msg, "TestKeyFile ", 12) == 0 && strstr(err.msg, path) != NULL, err.msg);
    CHECK(access(path, F_OK) != 0);
    CHECK(keyfile_load(&use, path, true, first, &loose, &err) == 0 && !loose);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 65);
    CHECK(keyfile_check(&use, path, &loose, &err) == 1 && !loose);
    CHECK(keyfile_load(&use, path, true, again, NULL, &err) == 0);   /* read, not made again */
    CHECK(memcmp(first, again, sizeof(first)) == 0);
    CHECK(keyfile_load(&use, path, false, again, NULL, &err) == 0);
    CHECK(memcmp(first, again, sizeof(first)) == 0);
}

/* A key written by hand (upper-case digits, no newline) reads as written. */
static void test_written_by_hand(void)
{
    unsigned char k[KEYFILE_BYTES];
    char path[128];
    struct err err;

    snprintf(path, sizeof(path), "%s/hand.key", dir);
    write_file(path, "000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f");
    chmod(path, 0600);
    CHECK(keyfile_load(&use, path, true, k, NULL, &err) == 0);
    for (size_t i = 0; i < KEYFILE_BYTES; i++)
        CHECK(k[i] == i);
}

/* Readable by others: used, and said so. */
static void test_loose(void)
{
    unsigned char k[KEYFILE_BYTES];
    char path[128];
    struct err err;
    bool loose = false;

    snprintf(path, sizeof(path), "%s/loose.key", dir);
    CHECK(keyfile_load(&use, path, true, k, &loose, &err) == 0 && !loose);
    chmod(path, 0644);
    CHECK(keyfile_check(&use, path, &loose, &err) == 1 && loose);
    CHECK(keyfile_load(&use, path, true, k, &loose, &err) == 0 && loose);
    chmod(path, 0640);
    CHECK(keyfile_load(&use, path, true, k, &loose, &err) == 0 && loose);
    chmod(path, 0600);
    CHECK(keyfile_load(&use, path, true, k, &loose, &err) == 0 && !loose);
}

static void test_bad_files(void)
{
    unsigned char k[KEYFILE_BYTES];
    char path[128], link_path[128];
    struct err err;

    snprintf(path, sizeof(path), "%s/short.key", dir);
    write_file(path, "00112233\n");
    CHECK(keyfile_load(&use, path, true, k, NULL, &err) == -1);
    report("a short key is refused, naming the file and what a new one costs",
           strstr(err.msg, path) != NULL && strstr(err.msg, use.renewal) != NULL, err.msg);
    CHECK(keyfile_check(&use, path, NULL, &err) == -1);

    snprintf(path, sizeof(path), "%s/nothex.key", dir);
    write_file(path, "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    CHECK(keyfile_load(&use, path, true, k, NULL, &err) == -1);

    snprintf(link_path, sizeof(link_path), "%s/link.key", dir);
    snprintf(path, sizeof(path), "%s/made.key", dir);
    CHECK(symlink(path, link_path) == 0);
    CHECK(keyfile_load(&use, link_path, true, k, NULL, &err) == -1);
    report("a key reached through a symbolic link is refused",
           strstr(err.msg, "symbolic link") != NULL, err.msg);
    CHECK(keyfile_check(&use, link_path, NULL, &err) == -1);

    snprintf(path, sizeof(path), "%s/no-such-dir/x.key", dir);
    CHECK(keyfile_check(&use, path, NULL, &err) == -1);
    CHECK(keyfile_load(&use, path, true, k, NULL, &err) == -1);
    report("a directory that is not there: said", strstr(err.msg, "cannot create") != NULL,
           err.msg);

    CHECK(keyfile_load(&use, "", true, k, NULL, &err) == -1);
    report("no path: said", strcmp(err.msg, "TestKeyFile is not set") == 0, err.msg);
    CHECK(keyfile_check(&use, NULL, NULL, &err) == -1);
    CHECK(keyfile_load(&use, dir, true, k, NULL, &err) == -1);     /* a directory */
}

static const struct test_case cases[] = {
    { "made once at 0600, read back the same, never without CREATE", test_made_once },
    { "a key written by hand", test_written_by_hand },
    { "a file others can read: used, said loose", test_loose },
    { "bad files refused, each said", test_bad_files },
};

TEST_MAIN_TMPDIR(cases, dir, "test_keyfile")
