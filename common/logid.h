/*
 * logid.h - how a patient identifier appears in the log and in
 * mssantectl's output.
 *
 * A patient's address is <INS matricule>@PatientDomain, and the matricule
 * is derived from the social-security number: health data, which a mail
 * log (rotated, shipped to a SIEM, read by whoever debugs) must not hold
 * in clear.  LogPatientId chooses what is written instead:
 *
 *   hash   (default) "hmac:" and 16 hex digits: HMAC-SHA256 of the id
 *          (ASCII letters upper-cased, as 2a/2B name one patient) under a
 *          secret key, cut to 64 bits.  The same patient gives the same
 *          value on every line, every day, every node that shares the key,
 *          so a conversation can be followed; without the key, nobody can
 *          test a guessed number against it.
 *   mask   the first 5 characters (sex, year and month of birth), then
 *          '*' for each of the others: "27903**********".
 *   clear  the id itself.
 *
 * The key (LogPatientIdKeyFile) is a key file as common/keyfile.h keeps
 * them: made at the daemon's first start when the file is missing, mode
 * 0600, owned by the user the daemon runs as; root and that user read it,
 * and so mssantectl run by either shows the same values as the log.
 *
 * DIAGNOSTICS: logid_start() fails with keyfile_load()'s sentence, naming
 * the key file and what is wrong with it.
 */
#ifndef MSSANTE_LOGID_H
#define MSSANTE_LOGID_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/keyfile.h"

enum logid_mode { LOGID_HASH = 0, LOGID_MASK, LOGID_CLEAR };

/* LogPatientId and LogPatientIdKeyFile (config/keys.c points into it). */
struct logid_settings {
    enum logid_mode mode;        /* LogPatientId */
    char *key_file;              /* LogPatientIdKeyFile */
};

#define LOGID_PREFIX      "hmac:"
#define LOGID_HEX         16           /* hex digits shown of the HMAC */
#define LOGID_MASK_KEEP   5            /* characters mask keeps */
#define LOGID_MAX         160          /* room for any formatted id, NUL included */

/*
 * Apply S from now on.  In hash mode the key is read from S->key_file, or
 * made there when the file is missing and CREATE is true.  0, or -1 + err
 * (the mode in force is then unchanged).  Call before the threads that
 * log start (the key is read without a lock afterwards).
 */
int logid_start(const struct logid_settings *s, bool create, struct err *err);

/* The key file, for the messages about it (keyfile_check() of
 * "mssante-milter -n", the warning about a file others can read). */
extern const struct keyfile_use logid_key_use;

/* Was the key logid_start() read in a file readable by others than its
 * owner (group or world)? */
bool logid_key_loose(void);

/* Switch the mode alone (mssantectl --show-ins: LOGID_CLEAR). */
void logid_set_mode(enum logid_mode mode);
enum logid_mode logid_mode(void);

/* ID as the mode in force shows it.  Before logid_start() in hash mode,
 * without a key, the id is masked rather than shown. */
void logid_format(const char *id, char *out, size_t size);

/*
 * ADDR ("local@domain", no brackets) with its local part formatted as
 * above when its domain is PATIENT_DOMAIN (any case); any other address
 * is copied as it is.
 */
void logid_address(const char *addr, const char *patient_domain, char *out, size_t size);

/*
 * TEXT with every address in PATIENT_DOMAIN rewritten as logid_address()
 * does (an SMTP reply or a hold reason that names a patient's address).
 * Cut to SIZE.
 */
void logid_redact(const char *text, const char *patient_domain, char *out, size_t size);

#endif
