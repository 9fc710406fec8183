/*
 * test_pidfile.c - PidFile (common/pidfile.c): a live daemon's file is
 * refused, a stale one replaced, a link never followed, and the file is
 * removed only while it holds our pid.  One named case per line.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/testlib.h"
#include "common/pidfile.h"

static char dir[64];

static void put(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    if (fp != NULL) {
        fputs(text, fp);
        fclose(fp);
    }
}

static long read_back(const char *path)
{
    FILE *fp = fopen(path, "r");
    long pid = -1;

    if (fp != NULL) {
        if (fscanf(fp, "%ld", &pid) != 1)
            pid = -1;
        fclose(fp);
    }
    return pid;
}

static void named(const char *name, int ok, const char *detail)
{
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  case \"%s\": %s\n", name, detail);
}

/* This test program's own name, as /proc shows it: a "live daemon". */
static const char *me(void)
{
    static char comm[64];
    FILE *fp = fopen("/proc/self/comm", "r");

    if (fp == NULL || fgets(comm, sizeof(comm), fp) == NULL)
        snprintf(comm, sizeof(comm), "test_pidfile");
    if (fp != NULL)
        fclose(fp);
    comm[strcspn(comm, "\n")] = '\0';
    return comm;
}

static void test_write_and_remove(void)
{
    struct pidfile pf;
    char path[128];
    struct err err;

    snprintf(path, sizeof(path), "%s/a.pid", dir);
    CHECK(pidfile_prepare(&pf, path, "mssante-milter", &err) == 0);
    CHECK(pidfile_commit(&pf, getpid(), &err) == 0);
    named("the file holds the pid", read_back(path) == (long)getpid(), "other content");
    pidfile_remove(&pf);
    named("removed at exit", access(path, F_OK) != 0, "still there");

    /* Taken over by another daemon meanwhile: left alone. */
    CHECK(pidfile_prepare(&pf, path, "mssante-milter", &err) == 0);
    CHECK(pidfile_commit(&pf, getpid(), &err) == 0);
    put(path, "1\n");
    pidfile_remove(&pf);
    named("another daemon's file is not removed", access(path, F_OK) == 0, "removed");
    unlink(path);
}

static void test_live_and_stale(void)
{
    struct pidfile pf;
    char path[128], text[32];
    struct err err;
    pid_t child, got;

    snprintf(path, sizeof(path), "%s/b.pid", dir);
    /* A live process of that name: our parent would do, but the name must
     * match; a child of ours that waits is "the daemon". */
    child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    snprintf(text, sizeof(text), "%ld\n", (long)child);
    put(path, text);
    CHECK(pidfile_inspect(path, me(), &got, &err) == PIDFILE_LIVE && got == child);
    CHECK(pidfile_prepare(&pf, path, me(), &err) == -1);
    snprintf(text, sizeof(text), "pid %ld", (long)child);
    named("a live daemon's file is refused, naming its pid",
          strstr(err.msg, text) != NULL && strstr(err.msg, "running") != NULL, err.msg);
    named("the same pid under another program's name is stale",
          pidfile_inspect(path, "mssante-milter", &got, &err) == PIDFILE_STALE, "not stale");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    named("a dead process's file is stale",
          pidfile_inspect(path, me(), &got, &err) == PIDFILE_STALE, "not stale");
    CHECK(pidfile_prepare(&pf, path, me(), &err) == 0);
    CHECK(pidfile_commit(&pf, getpid(), &err) == 0);
    named("a stale file is replaced", read_back(path) == (long)getpid(), "old content");
    pidfile_remove(&pf);

    put(path, "not a pid\n");
    named("garbage is stale", pidfile_inspect(path, me(), &got, &err) == PIDFILE_STALE,
          "not stale");
    unlink(path);
}

static void test_link(void)
{
    struct pidfile pf;
    char path[128], target[128];
    struct err err;

    snprintf(path, sizeof(path), "%s/c.pid", dir);
    snprintf(target, sizeof(target), "%s/victim", dir);
    put(target, "precious\n");
    CHECK(symlink(target, path) == 0);
    CHECK(pidfile_prepare(&pf, path, "mssante-milter", &err) == -1);
    named("a symbolic link is refused", strstr(err.msg, "symbolic link") != NULL, err.msg);
    named("its target is untouched", read_back(target) == -1, "changed");
}

static const struct test_case cases[] = {
    { "written, then removed", test_write_and_remove },
    { "a live daemon refused, a stale file replaced", test_live_and_stale },
    { "a planted link refused, its target untouched", test_link },
};

TEST_MAIN_TMPDIR(cases, dir, "test_pidfile")
