/*
 * test_atomicfile.c - the files the daemon and mssantectl rewrite (the
 * whitelist snapshot, the StatsFile, the TLS policy table) never write
 * through a link planted in their directory.
 *
 * These files are rewritten by root (mssantectl whitelist load, fetch) or
 * by the daemon in directories others may write to.  They used to be
 * written to a predictable temporary name ("PATH.tmp.PID" for the
 * snapshot, "PATH.PID.tmp" for the StatsFile) opened with O_CREAT|O_TRUNC,
 * so a symlink planted at that name made the writer overwrite any file.
 * Each case plants symlinks to a file that must not change at every name
 * the old code used, and at the target itself, then writes: the planted
 * file keeps its content, the target is a regular file with the new
 * content, and no temporary file is left.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/testlib.h"
#include "common/atomicfile.h"
#include "common/err.h"
#include "stats/stats.h"
#include "whitelist/ansxml.h"
#include "whitelist/snapshot.h"
#include "whitelist/tlspolicy.h"
#include "whitelist/whitelist.h"

#define PRECIOUS "do not overwrite me\n"

static char dir[] = "/tmp/mssante-test-atomicfile-XXXXXX";
static struct whitelist *wl;

static const char *in_dir(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];

    snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
    return p;
}

static int write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    if (fp == NULL)
        return -1;
    fputs(text, fp);
    return fclose(fp);
}

static bool has_text(const char *path, const char *text)
{
    char buf[256] = "";
    FILE *fp = fopen(path, "r");
    size_t n;

    if (fp == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return strcmp(buf, text) == 0;
}

/* Entries of the directory whose name does not start with a dot. */
static int visible_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Entries of the directory whose name starts with a dot (not . and ..). */
static int hidden_entries(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] == '.' && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* The writers under test: write PATH, 0 or -1 + err. */
static int write_snapshot(const char *path, struct err *err)
{
    return snapshot_write(path, wl, err);
}

static int write_stats(const char *path, struct err *err)
{
    return stats_write_file(path, err);
}

static int write_tls_policy(const char *path, struct err *err)
{
    struct tls_policy_stats st;

    return tls_policy_write(path, wl, TLS_POLICY_SECURE, &st, NULL, NULL, err);
}

static int write_direct(const char *path, struct err *err)
{
    struct atomic_file af;

    if (atomic_file_open(&af, path, 0644, err) < 0)
        return -1;
    fputs("new content\n", af.fp);
    return atomic_file_commit(&af, err);
}

/* Where a link may be planted beside TARGET: the I-th name, or NULL. */
static const char *planted(size_t i, const char *target, char *buf, size_t size)
{
    long pid = (long)getpid();

    switch (i) {
    case 0:                                  /* the snapshot's old temporary name */
        snprintf(buf, size, "%s.tmp.%ld", target, pid);
        return buf;
    case 1:                                  /* the StatsFile's */
        snprintf(buf, size, "%s.%ld.tmp", target, pid);
        return buf;
    case 2:
        snprintf(buf, size, "%s.tmp", target);
        return buf;
    case 3:
        snprintf(buf, size, "%s.new", target);
        return buf;
    }
    return NULL;
}

struct writer_case {
    const char *name;
    int (*write)(const char *path, struct err *err);
    const char *first_line;       /* what the target starts with once written */
};

static const struct writer_case cases[] = {
    { "snapshot (SnapshotFile, mssantectl whitelist load)", write_snapshot,
      "# mssante-milter whitelist snapshot" },
    { "StatsFile", write_stats, "# HELP " },
    { "TLS policy table (TLSPolicyFile, mssantectl whitelist tls-policy)", write_tls_policy,
      "# Postfix smtp_tls_policy_maps table" },
    { "atomic_file itself", write_direct, "new content" },
};

static bool starts_with_line(const char *path, const char *prefix)
{
    char line[512] = "";
    FILE *fp = fopen(path, "r");
    bool ok;

    if (fp == NULL)
        return false;
    ok = fgets(line, sizeof(line), fp) != NULL;
    fclose(fp);
    return ok && strncmp(line, prefix, strlen(prefix)) == 0;
}

static void run_case(const struct writer_case *t)
{
    const char *target = in_dir("target"), *victim = in_dir("victim");
    const char *victim2 = in_dir("victim-of-target");
    char link_path[600];
    struct err err = { "" };
    struct stat st;
    bool ok = true;
    int rc;

    if (write_text(victim, PRECIOUS) < 0 || write_text(victim2, PRECIOUS) < 0) {
        printf("not ok - %s # cannot set up: %s\n", t->name, strerror(errno));
        CHECK(0);
        return;
    }
    for (size_t i = 0; planted(i, target, link_path, sizeof(link_path)) != NULL; i++)
        ok = ok && symlink(victim, link_path) == 0;
    ok = ok && symlink(victim2, target) == 0;          /* the target itself, too */
    if (!ok) {
        printf("not ok - %s # cannot plant the links: %s\n", t->name, strerror(errno));
        CHECK(0);
        return;
    }

    rc = t->write(target, &err);
    ok = rc == 0 && has_text(victim, PRECIOUS) && has_text(victim2, PRECIOUS)
         && lstat(target, &st) == 0 && S_ISREG(st.st_mode)
         && starts_with_line(target, t->first_line) && hidden_entries() == 0;
    printf("%s - %s: no planted link followed\n", ok ? "ok" : "not ok", t->name);
    if (!ok)
        fprintf(stderr, "  rc %d (%s); victim %s; victim of the target %s; target %s; "
                "%d hidden file(s) left\n", rc, err.msg,
                has_text(victim, PRECIOUS) ? "intact" : "OVERWRITTEN",
                has_text(victim2, PRECIOUS) ? "intact" : "OVERWRITTEN",
                lstat(target, &st) == 0 && S_ISREG(st.st_mode) ? "a file" : "not a file",
                hidden_entries());
    CHECK(ok);

    /* Clean up for the next case: the links, the target, the victims. */
    for (size_t i = 0; planted(i, target, link_path, sizeof(link_path)) != NULL; i++)
        unlink(link_path);
    unlink(target);
    unlink(victim);
    unlink(victim2);
    CHECK(visible_entries() == 0);
}

int main(void)
{
    char path[512];
    struct err err = { "" };

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/ans-small.xml", testlib_fixtures());
    if ((wl = ans_list_take_whitelist(ans_parse_file(path, &err))) == NULL) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        return 1;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(&cases[i]);
    whitelist_free(wl);
    rmdir(dir);
    TEST_DONE();
}
