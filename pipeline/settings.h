/*
 * settings.h - the rule keys of mssante-milter.conf, as one connection
 * applies them (config/keys.c points into struct rules_settings).
 *
 * A connection uses the configuration in force when it opened, whatever
 * reloads happen meanwhile (milter/cfgref.h): the live keys here change
 * for the next connection, the restart-only ones (the patient keys) keep
 * their startup value, which is why they may be read from any connection's
 * copy.
 */
#ifndef MSSANTE_PIPELINE_SETTINGS_H
#define MSSANTE_PIPELINE_SETTINGS_H

#include <stdbool.h>

#include "common/cidr.h"
#include "common/strlist.h"
#include "policy/trustspace.h"

struct rules_settings {
    /* The operator and the trust boundary (live). */
    struct strlist local_domains;      /* LocalDomains: normalised, no duplicates */
    char *patient_domain;              /* PatientDomain, normalised */
    struct cidr_list internal_hosts;   /* InternalHosts; "none": empty */
    enum cert_mode operator_certificate;   /* OperatorCertificate */
    bool dry_run;                      /* DryRun: refuse nothing, say it in a header */
    bool forwarding;                   /* Forwarding */
    bool patient_inbound_log;          /* PatientInbound log (default enforce) */

    /* Patients (read at start only). */
    bool patient_key_warn;             /* PatientKeyCheck warn (default reject) */
    bool fin_content_accept;           /* FinWithContent accept (default reject) */
    struct strlist pharmacy_mailboxes; /* PharmacyMailboxes: "local@domain", "@domain" */
    long long conversation_ttl;        /* ConversationTTL, seconds; 0 = no expiry */
};

/* The domains of RULES in ENV (LocalDomains, PatientDomain); the
 * whitelist's fields are left empty (pipeline/ports.h fills them for a
 * step, mssantectl with the list it read). */
void rules_policy_env(const struct rules_settings *rules, struct policy_env *env);

#endif
