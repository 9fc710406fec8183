/*
 * pidfile.h - the daemon's PidFile, written safely.
 *
 * The pid file often lives in a directory the daemon's user owns
 * (/run/mssante-milter): whoever can write there must not be able to make
 * the daemon write elsewhere, and a second daemon must not take over the
 * file of one that runs.  So:
 *  - an existing file is read without following a symbolic link; when it
 *    names a live mssante-milter process, the start is refused; when it
 *    names no process, or another program (a pid reused after a crash), it
 *    is stale and replaced;
 *  - the new file is written under a temporary name made by mkstemp in the
 *    same directory and renamed over the old one (common/atomicfile.h):
 *    never opened through a link, never seen half-written;
 *  - at exit the file is removed only if it still holds our pid.
 * pidfile_prepare() runs before the daemon detaches (its errors reach the
 * person who started it), pidfile_commit() after the fork, with the pid
 * of the process that stays.
 *
 * DIAGNOSTICS: every failure is one sentence naming PidFile and the
 * reason (a live daemon and its pid, a symbolic link, the system error).
 */
#ifndef MSSANTE_PIDFILE_H
#define MSSANTE_PIDFILE_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/atomicfile.h"
#include "common/err.h"

struct pidfile {
    bool open;                   /* between prepare and commit */
    bool written;                /* committed: remove at exit */
    pid_t pid;                   /* the pid written */
    struct atomic_file af;
};

/* What is at PATH now. */
enum pidfile_state {
    PIDFILE_ABSENT = 0,
    PIDFILE_STALE,               /* no such process, or not ours */
    PIDFILE_LIVE,                /* a running process of PROGRAM */
    PIDFILE_BAD                  /* unreadable, a link, not a pid: err says */
};

/* Inspect PATH for a running PROGRAM (its /proc comm name).  *PID gets
 * the pid read (0 when none). */
enum pidfile_state pidfile_inspect(const char *path, const char *program, pid_t *pid,
                                   struct err *err);

/* Check PATH and get ready to write it.  0, or -1 + err. */
int pidfile_prepare(struct pidfile *pf, const char *path, const char *program,
                    struct err *err);

/* Write PID and put the file in place.  0, or -1 + err. */
int pidfile_commit(struct pidfile *pf, pid_t pid, struct err *err);

/* Give up a prepared file, or remove a committed one that still holds
 * our pid.  Safe to call twice. */
void pidfile_remove(struct pidfile *pf);

#endif
