/*
 * early.h - may a message be accepted before its end (EarlyAccept)?
 *
 * For ordinary mail every rule has decided by DATA: the trust-space rules
 * are envelope rules, and the steps after DATA only matter to a message
 * that a patient rule, a forwarding rule, DryRun or a hold concerns.
 * Accepting such a message early spares Postfix sending it to the daemon
 * (the body in 64 KiB chunks, end of message) and waiting for each reply.
 * Whatever is decided early must be exactly what the whole path would
 * have decided.  At DATA, once the envelope is accepted, nothing later can
 * change the verdict or the message, but when EarlyAccept is off; under
 * DryRun (its X-MSSante-Verdict header is added at end of message); for a
 * local submission (Postfix forbids refusing its emulated steps, so
 * refusals are kept for end of message, and it may be a forward
 * re-injected by a local delivery agent, which the forwarding stage
 * rewrites); when a refusal or a hold was kept for end of message; for a
 * recipient in PatientDomain (conversations, [FIN], its headers and body);
 * when the forwarding stage may act (a local recipient with a rule, or
 * rules that could not be read at DATA).  Otherwise the message is
 * accepted at DATA (SMFIS_ACCEPT): Postfix sends the daemon none of its
 * headers, body or end of message.
 *
 * The headers of such a message are never seen, so nothing may depend on
 * the daemon deleting a header the sender wrote.  The one that mattered,
 * X-MSSante-Held (which "mssantectl held" reads to tell the daemon's held
 * messages, and which can make "held resubmit" put a message back as a
 * local submission), carries a MAC under a key only the daemon and root
 * can read (policy/held.h): a sender's copy, left in a message accepted
 * here and later held by something else, is never taken for the
 * daemon's.  The whole path still deletes the ones it sees, to keep the
 * queue tidy.
 *
 * An MTA that sends no DATA event (milter_protocol 2) accepts nothing
 * early: every message takes the whole path, and the refusal of a mixed
 * list comes at end of message (pipeline.c, msgpol_end()).
 *
 * Pure: no I/O, fed by the pipeline core (pipeline.c), unit-tested alone.
 */
#ifndef MSSANTE_PIPELINE_EARLY_H
#define MSSANTE_PIPELINE_EARLY_H

#include <stdbool.h>

/* Why a message may not be accepted early; EARLY_OK when it may. */
enum early_why {
    EARLY_OK = 0,
    EARLY_OFF,             /* EarlyAccept no */
    EARLY_DRY_RUN,         /* DryRun: the header is added at end of message */
    EARLY_LOCAL,           /* a local submission */
    EARLY_KEPT,            /* a refusal or a hold kept for end of message */
    EARLY_PATIENT,         /* a recipient in PatientDomain */
    EARLY_FORWARDING       /* the forwarding stage may act */
};

/* What is known of a message at DATA, once its envelope was accepted. */
struct early_data_in {
    bool early_accept;     /* EarlyAccept */
    bool dry_run;          /* DryRun */
    bool local_submission; /* Postfix cleanup's emulated session */
    bool kept;             /* a verdict kept for end of message */
    bool patient;          /* a recipient in PatientDomain, or the patient stage active */
    bool forwarding;       /* forwarding_pending() */
};

/* At DATA: EARLY_OK when nothing after DATA can change the verdict. */
enum early_why early_at_data(const struct early_data_in *in);

/* "ok", "off", "dry-run", ... for the debug log. */
const char *early_why_name(enum early_why why);

#endif
