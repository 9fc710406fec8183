/*
 * early.h - may a message be accepted before its end (EarlyAccept)?
 *
 * For ordinary mail every rule has decided by DATA: the trust-space rules
 * are envelope rules, and the steps after DATA only matter to a message
 * that a patient rule, a forwarding rule, DryRun or a hold concerns.
 * Accepting such a message early spares Postfix sending it to the daemon
 * (the body in 64 KiB chunks, end of message) and waiting for each reply.
 * Whatever is decided early must be exactly what the whole path would
 * have decided, so the decision is taken in two steps:
 *
 *   DATA  once the envelope is accepted: nothing later can change the
 *         verdict or the message.  Not so when EarlyAccept is off; under
 *         DryRun (its X-MSSante-Verdict header is added at end of
 *         message); for a local submission (Postfix forbids refusing its
 *         emulated steps, so refusals are kept for end of message, and it
 *         may be a forward re-injected by a local delivery agent, which
 *         the forwarding stage rewrites); when a refusal or a hold was
 *         kept for end of message; for a recipient in PatientDomain
 *         (conversations, [FIN], its headers and body); when the
 *         forwarding stage may act (a local recipient with a rule, or
 *         rules that could not be read at DATA).
 *   EOH   the headers are in: a message that arrived with an
 *         X-MSSante-Held header takes the whole path, since the daemon
 *         deletes that header at end of message (pipeline/held.h: only
 *         the daemon's may be in a queued message, "mssantectl held"
 *         relies on it).  Otherwise the message is accepted there, and
 *         Postfix sends nothing more of it to the daemon.
 *
 * The accept comes at the end of the headers rather than at DATA for that
 * one reason: the sender writes the headers, and no rule may be skipped
 * for a header the daemon has not seen.  The body, the part that costs,
 * is never sent.
 *
 * Pure: no I/O, fed by the pipeline core (pipeline.c), unit-tested alone.
 */
#ifndef MSSANTE_PIPELINE_EARLY_H
#define MSSANTE_PIPELINE_EARLY_H

#include <stdbool.h>

/* Why a message may not be accepted early; EARLY_OK when it may. */
enum early_why {
    EARLY_OK = 0,
    EARLY_NOT_DECIDED,     /* no DATA seen yet (or an MTA that sends none) */
    EARLY_OFF,             /* EarlyAccept no */
    EARLY_DRY_RUN,         /* DryRun: the header is added at end of message */
    EARLY_LOCAL,           /* a local submission */
    EARLY_KEPT,            /* a refusal or a hold kept for end of message */
    EARLY_PATIENT,         /* a recipient in PatientDomain */
    EARLY_FORWARDING,      /* the forwarding stage may act */
    EARLY_HELD_HEADER      /* an X-MSSante-Held header to delete */
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

/* At end of headers: AT_DATA is what early_at_data() said (or
 * EARLY_NOT_DECIDED), HELD_HEADERS the X-MSSante-Held headers seen.
 * EARLY_OK: accept the message now. */
enum early_why early_at_eoh(enum early_why at_data, unsigned held_headers);

/* "ok", "off", "dry-run", ... for the debug log. */
const char *early_why_name(enum early_why why);

#endif
