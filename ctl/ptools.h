/*
 * ptools.h - how mssantectl talks to Postfix: only through Postfix's own
 * commands (postqueue -j, postcat, postsuper, sendmail), never by reading
 * or writing the queue directory itself.  The queue file format is
 * Postfix's business; its tools are the interface it documents and keeps.
 *
 * MAIL_CONFIG: like Postfix's tools, mssantectl takes the Postfix
 * configuration directory of the instance to work on from the environment
 * variable MAIL_CONFIG (an instance with another configuration directory,
 * postmulti(1)); it is passed on explicitly as "-c DIR" (sendmail: "-C
 * DIR"), so that every tool works on the same instance.
 *
 * The tools are looked for in PATH, then in /usr/sbin and /usr/bin (cron
 * jobs often run without /usr/sbin in PATH).  They run without a shell:
 * arguments are passed as they are (an address may hold anything).
 *
 * DIAGNOSTICS: ptools_init() says on stderr which tool is missing, that
 * the command needs root, or that MAIL_CONFIG is not a directory, and
 * returns CTL_UNAVAILABLE (or CTL_USAGE for MAIL_CONFIG).
 */
#ifndef MSSANTE_CTL_PTOOLS_H
#define MSSANTE_CTL_PTOOLS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct ptools {
    char postqueue[PATH_MAX];
    char postcat[PATH_MAX];
    char postsuper[PATH_MAX];
    char sendmail[PATH_MAX];
    char config_dir[PATH_MAX];    /* MAIL_CONFIG, or "" for Postfix's default */
    bool root;                    /* running as root */
};

/* What one command did. */
struct ptools_run {
    int status;                   /* exit status; -1: could not run, or killed */
    char *out;                    /* its standard output, NUL-terminated (owned) */
    size_t out_len;
    char *err;                    /* its standard error, NUL-terminated (owned) */
    size_t err_len;
};

/* Find the tools and read MAIL_CONFIG.  NEED_ROOT: refuse to go on when
 * not root (postcat -q and postsuper need it).  0, or an exit code (CTL_*)
 * after saying why on stderr. */
int ptools_init(struct ptools *pt, bool need_root);

/* Where the Postfix configuration is: MAIL_CONFIG or /etc/postfix. */
const char *ptools_config_dir(const struct ptools *pt);

/* Start the command line of TOOL (one of PT's paths) in ARGV: the tool,
 * then "-c DIR" for MAIL_CONFIG ("-C DIR" for sendmail).  Returns the
 * number of words written (at most 3). */
size_t ptools_argv(const struct ptools *pt, const char *tool, const char **argv);

/* Run ARGV (argv[0] a full path; NULL-terminated) with IN (IN_LEN bytes,
 * NULL for none) on its standard input; capture both outputs into R
 * (release with ptools_run_free).  0 once the command ran (R->status says
 * how it ended), -1 + a message on stderr when it could not be run. */
int ptools_exec(const char *const *argv, const char *in, size_t in_len,
                struct ptools_run *r);
void ptools_run_free(struct ptools_run *r);

/* The first line of R's standard error (or "exit status N"), for messages. */
const char *ptools_why(const struct ptools_run *r);

#endif
