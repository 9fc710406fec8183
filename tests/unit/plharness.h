/*
 * plharness.h - drive whole messages through the pipeline
 * (pipeline/pipeline.h) in a unit test, without libmilter and Redis:
 *  - the whitelist in force is the lookups of a struct policy_env the
 *    test points plh_env at (NULL is_listed: no list);
 *  - the store answers what the test says: conversations open, closed or
 *    down (plh_conv), forwarding rules from a small table (plh_rules_of),
 *    notices (forwarding, held) counted (the forwarding ones written down
 *    in plh_notice_log), or refused (plh_notices_refused);
 *  - the MTA writes down each change it is asked for, one line each, in
 *    plh_mta_log ("add_header NAME: VALUE", "change_header NAME #I: VALUE",
 *    "delete_header NAME #I", "add_rcpt R", "del_rcpt R", "quarantine
 *    REASON"), and refuses them all when plh_mta_refuses is set;
 *  - the log goes to plh_log, one line each, not to stderr.
 * LocalDomains is hopital-exemple.mssante.fr, PatientDomain
 * patient.mssante.fr, InternalHosts 10.0.0.0/8, EarlyAccept off (a case
 * that follows a message to its end), as plh_init() sets them in
 * plh_rules; a test changes plh_rules for its case.
 */
#ifndef MSSANTE_PLHARNESS_H
#define MSSANTE_PLHARNESS_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/pipeline.h"
#include "policy/held.h"

#define PLH_LOCAL_DOMAIN "hopital-exemple.mssante.fr"

/* A client as the MTA describes it at connect and at MAIL FROM. */
struct plh_client {
    const char *ip;               /* "10.0.0.7", "::1" */
    unsigned port;                /* 0 with "localhost": a local submission */
    const char *hostname;
    const char *myhostname;       /* the j macro, or NULL */
    const char *auth;             /* {auth_authen}, or NULL */
    const char *cert_cn;          /* {cert_subject}, or NULL */
};

extern const struct plh_client PLH_OUTSIDE, PLH_INTERNAL, PLH_AUTH, PLH_LOCAL;

extern const struct policy_env *plh_env;   /* the whitelist in force (plh_init keeps it) */
extern struct rules_settings plh_rules;
extern struct pl_services plh_svc;     /* its held_key is plh_held_key */
/* The HeldKeyFile key of the tests: bytes 0x01, 0x02 ... 0x20. */
#define PLH_HELD_KEY { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, \
                       21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 }
extern const unsigned char plh_held_key[HELD_KEY_BYTES];
extern int plh_conv;                       /* conv_is_open: 1, 0, -1 (down) */
extern unsigned plh_records, plh_closures, plh_notices, plh_held_notices;
extern unsigned plh_rules_reads;           /* rules_get calls */
extern char plh_notice_log[1024];          /* "notice to T about \"MAILBOX\"\n" each */
extern bool plh_mta_refuses;
extern bool plh_notices_refused;           /* notices_queue fails */
extern char plh_mta_log[8192];
extern const struct pl_mta plh_mta;
extern char plh_log[16384];

/* The last verdict line in plh_log ("" when none). */
const char *plh_verdict_line(void);

/* A forwarding rule of the store: MAILBOX copy|redirect TARGETS. */
struct plh_rule {
    const char *mailbox;
    bool redirect;
    const char *targets[4];       /* NULL-ended */
};
extern const struct plh_rule *plh_rules_of;   /* NULL-mailbox-ended table, or NULL */

/* Set everything back to its start: the settings above, an empty store,
 * MTA log and log, the full store (conversations and forwarding). */
void plh_init(void);

/* The store without its forwarding operations (as without Redis for the
 * forwarding stage), or without any (no Redis at all). */
void plh_store_without_forwarding(void);
void plh_store_none(void);

/* Connect CL. */
struct pl_answer plh_connect(struct pl_conn *c, const struct plh_client *cl);

/* MAIL FROM ARG from CL (its macros). */
struct pl_answer plh_mail(struct pl_conn *c, const struct plh_client *cl, const char *arg);

/* Headers ("Name: value" each, NULL-ended), end of headers and, unless
 * the pipeline accepted the message there (its answer, returned), a body. */
struct pl_answer plh_content(struct pl_conn *c, const char *const *headers, const char *body);

#endif
