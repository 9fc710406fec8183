/*
 * replay.c - run a fuzz target without libFuzzer: feed it files.
 *
 *   fuzz_NAME FILE|DIR...
 *
 * Every regular file named, and every regular file directly inside a
 * directory named (in name order, so a run is reproducible), goes once
 * through LLVMFuzzerTestOneInput().  This is how "make check" replays the
 * committed corpus and the regression inputs of each target with the
 * normal compiler, and under SAN=1 with AddressSanitizer and UBSan: a
 * crash, a sanitizer report or a violated property kills the program
 * (the name of the file being replayed is printed first, on stderr).
 * A path that does not exist is an error.
 *
 * Exit status: 0 when every input went through, 1 on a usage or read
 * error; a crash ends the program the way it ends.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

#define REPLAY_MAX (64u << 20)   /* no committed input is anywhere near this */

/* Hand the target a copy of exactly LEN bytes, as libFuzzer does, so that
 * AddressSanitizer sees a read one byte past the input. */
static void feed_exact(const unsigned char *buf, size_t len)
{
    unsigned char *exact = malloc(len ? len : 1);

    if (exact == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        exit(1);
    }
    if (len > 0)
        memcpy(exact, buf, len);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
}

static int replay_file(const char *path, unsigned long *count)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (fp == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    do {
        if (len == cap) {
            unsigned char *grown;

            cap = cap ? cap * 2 : 65536;
            if (cap > REPLAY_MAX || (grown = realloc(buf, cap)) == NULL) {
                fprintf(stderr, "replay: %s: too large\n", path);
                free(buf);
                fclose(fp);
                return -1;
            }
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, fp);
        len += n;
    } while (n > 0);
    if (ferror(fp)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        fclose(fp);
        return -1;
    }
    fclose(fp);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
    feed_exact(buf, len);
    free(buf);
    (*count)++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, unsigned long *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));

            if (grown == NULL) {
                rc = -1;
                break;
            }
            names = grown;
        }
        if ((names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2)) == NULL) {
            rc = -1;
            break;
        }
        sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), by_name);
    for (i = 0; i < n; i++) {
        struct stat st;

        if (rc == 0 && stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            rc = replay_file(names[i], count);
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    unsigned long count = 0;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 1;
    }
    for (i = 1; i < argc; i++) {
        struct stat st;
        int rc;

        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            rc = replay_dir(argv[i], &count);
        else
            rc = replay_file(argv[i], &count);
        if (rc < 0)
            return 1;
    }
    printf("%lu inputs replayed\n", count);
    return 0;
}
