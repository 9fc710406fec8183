/*
 * pipeline_fixture.h - what the whole-message tests of tests/unit/pipeline/
 * share (test_pipeline.c, test_pipeline_patients.c,
 * test_pipeline_forward.c, test_early.c): the whitelist in force (one
 * listed domain, medecin.mssante.fr), the connection, and message(), which
 * takes one message from connect to end of message through the pipeline
 * (tests/unit/plharness.h), checking that each step before the end goes
 * on.
 *
 * Everything is static: each test program has its own copy, and CHECK()
 * counts in that program's testlib.h.  Include it after testlib.h.
 */
#ifndef MSSANTE_TESTS_PIPELINE_FIXTURE_H
#define MSSANTE_TESTS_PIPELINE_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "policy/held.h"
#include "tests/unit/plharness.h"
#include "tests/unit/testlib.h"

/* A program uses only some of what is here. */
#define PLF_UNUSED __attribute__((unused))

#define LOCAL_MAILBOX "<cardio@" PLH_LOCAL_DOMAIN ">"
#define PATIENT       "<279035121518989@patient.mssante.fr>"

static PLF_UNUSED bool listed(const void *ctx, const char *domain)
{
    (void)ctx;
    return strcmp(domain, "medecin.mssante.fr") == 0;
}

static PLF_UNUSED const char *const locals[] = { PLH_LOCAL_DOMAIN };
static PLF_UNUSED const struct policy_env whitelist = {
    listed, NULL, locals, 1, "patient.mssante.fr", NULL
};

static PLF_UNUSED struct pl_conn c;

#define HELD_QID "4F3A2B1C0D"
static PLF_UNUSED const char *eom_qid;   /* the queue id the MTA gives at end of message */

/* A fresh harness with the whitelist in force. */
static PLF_UNUSED void start(void)
{
    plh_init();
    plh_env = &whitelist;
    eom_qid = NULL;
}

/* The X-MSSante-Held header the MTA was asked to add, checked with the
 * harness's key for HELD_QID. */
static PLF_UNUSED enum held_check held_in_log(void)
{
    const char *p = strstr(plh_mta_log, "add_header X-MSSante-Held: ");
    char value[HELD_VALUE_MAX + 64];
    struct held_mark m;

    if (p == NULL)
        return HELD_MALFORMED;
    p += strlen("add_header X-MSSante-Held: ");
    snprintf(value, sizeof(value), "%.*s", (int)strcspn(p, "\n"), p);
    return held_header_check(value, plh_held_key, HELD_QID, &m);
}

/* Is NEEDLE in the last verdict line? */
static PLF_UNUSED bool line_has(const char *needle)
{
    return strstr(plh_verdict_line(), needle) != NULL;
}

/* One message from CL: SENDER to the N RCPTS (each expected to get
 * CONTINUE), the HEADERS and BODY; the end-of-message answer. */
static PLF_UNUSED struct pl_answer message(const struct plh_client *cl, const char *sender,
                                           const char *const *rcpts, size_t n,
                                           const char *const *headers, const char *body)
{
    const char *mailer = cl->port == 0 ? NULL : "smtp";

    CHECK(plh_connect(&c, cl).code == PL_CONTINUE);
    CHECK(plh_mail(&c, cl, sender).code == PL_CONTINUE);
    for (size_t i = 0; i < n; i++)
        CHECK(pl_rcpt(&c, rcpts[i], mailer).code == PL_CONTINUE);
    CHECK(pl_data(&c).code == PL_CONTINUE);
    plh_content(&c, headers, body);
    pl_queue_id(&c, eom_qid);
    return pl_eom(&c, &plh_mta);
}

#endif
