/*
 * msgsession.h - the session fuzz_message.c drives: the SMTP steps of one
 * connection as a table of functions (struct session_ops), and the one
 * implementation of it, over the message pipeline as the daemon runs it
 * (msgsession.c).
 */
#ifndef MSSANTE_FUZZ_MSGSESSION_H
#define MSSANTE_FUZZ_MSGSESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/pipeline.h"
#include "tests/fuzz/fuzz.h"

#define PHARMACY     "pharmacie@" FUZZ_LOCAL_DOMAIN
#define MAX_RCPT     64
#define ARG_MAX      2048

enum conv_answer { CONV_CLOSED = 0, CONV_OPEN = 1, CONV_DOWN = -1 };

/* What the session is told besides the SMTP steps. */
struct world {
    enum conv_answer conv;         /* the conversation store's answer */
    bool fin_accept;               /* FinWithContent accept */
    bool ins_warn;                 /* PatientKeyCheck warn */
};

/* ------------------------------------------------------------------ */
/* The session under test                                               */
/* ------------------------------------------------------------------ */

struct session_ops {
    void (*connect)(void *s, bool local_submission);
    struct verdict (*mail)(void *s, const char *arg, bool authenticated);
    struct verdict (*rcpt)(void *s, const char *arg);
    struct verdict (*data)(void *s);
    void (*header)(void *s, const char *name, const char *value);
    void (*eoh)(void *s);
    void (*body)(void *s, const void *buf, size_t len);
    struct verdict (*eom)(void *s);
    void (*abort)(void *s);
    /* Was RCPT (as given) removed from the message at its end? */
    bool (*removed)(void *s, const char *rcpt);
};

/*
 * The pipeline (pipeline/pipeline.h), as the daemon runs it but for the
 * world around it: the fixed whitelist of fuzzlib.c, a store whose
 * conversations answer what the script says (and that has no forwarding
 * rule), an MTA that takes every change and writes down the recipients it
 * is asked to remove.  Forwarding is on: a forward made elsewhere (a local
 * submission toward a classic address) loses its classic recipients.
 */
struct pipe_session {
    const struct world *world;
    bool open;                     /* C is connected */
    struct pl_conn c;
    struct rules_settings rules;
    struct pl_store store;
    struct pl_services svc;
    char removed[MAX_RCPT][ARG_MAX];   /* recipients the MTA was asked to remove */
    unsigned n_removed;
};


void pipe_init(struct pipe_session *s, const struct world *w);
void pipe_close(struct pipe_session *s);
extern const struct session_ops pipe_ops;

#endif
