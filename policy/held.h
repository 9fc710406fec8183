/*
 * held.h - the X-MSSante-Held header: why the daemon put a message in
 * Postfix's hold queue, written into the message itself, and signed.
 *
 * Postfix keeps no reason with a held message (its log only says "milter
 * triggers HOLD action"), so the daemon adds this header next to
 * smfi_quarantine, and "postcat -h -q QUEUEID" explains the hold from the
 * queue alone.  It is also how "mssantectl held" tells the messages the
 * daemon held from those held by anything else, and "held resubmit" puts
 * a message back as a local submission when the header says it was one.
 * The sender writes the headers, and a message the daemon accepts at DATA
 * (pipeline/early.h) keeps whatever headers it came with; anything else
 * may then hold it (an administrator's "postsuper -h", a header_checks
 * HOLD the sender can trigger).  So the header is only the daemon's when
 * it carries a MAC that only the daemon can make:
 *
 *   X-MSSante-Held: RULE; submission=local; mac=HEX; REASON
 *
 * RULE is the rule id of the verdict line ([a-z0-9-]); submission= says
 * how the message came in (local: sendmail(1), through non_smtpd_milters;
 * smtp: an SMTP client); HEX is HMAC-SHA256, 64 lower-case hex digits,
 * under the secret key of HeldKeyFile (common/keyfile.h), of the message's
 * queue id, RULE, the submission value and REASON; REASON, last since it
 * is free text, is the verdict's text in printable ASCII on one line, cut
 * so that the whole line stays under the 998 characters of RFC 5322.  A
 * header copied from another message does not verify (another queue id),
 * nor one whose rule, submission or reason was changed, nor one made
 * without the key; the form of the versions before the MAC (no mac=) is
 * read, to say so, but never trusted.
 *
 * Pure string and HMAC work, no I/O: used by the daemon (pipeline/held.c,
 * which has the key) and mssantectl (ctl/heldq.c, which reads it).
 */
#ifndef MSSANTE_POLICY_HELD_H
#define MSSANTE_POLICY_HELD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/keyfile.h"

#define HELD_HEADER        "X-MSSante-Held"
#define HELD_RULE_MAX      64
#define HELD_MAC_HEX       64       /* HMAC-SHA256 in hex */
#define HELD_VALUE_MAX     900      /* value bytes, NUL included */
#define HELD_KEY_BYTES     KEYFILE_BYTES

/* HeldKeyFile (config/keys.c points into it). */
struct held_settings {
    char *key_file;
};

/* The key file, for the messages about it. */
extern const struct keyfile_use held_key_use;

/* What a header value says (meaningful as far as it was read). */
struct held_mark {
    char rule[HELD_RULE_MAX];
    bool local_submission;
    char reason[HELD_VALUE_MAX];
};

/* Is NAME (a header field name) X-MSSante-Held, in any case? */
bool held_header_is(const char *name);

/*
 * The header value for message QID held by RULE (NULL: "hold") with
 * REASON (NULL: none), made safe (printable ASCII, one line, the reason
 * cut to fit SIZE) and signed with KEY.  0, or -1 when it cannot be made
 * (no queue id, SIZE too small, HMAC failure): the caller must not hold
 * the message unexplained.
 */
int held_header_value(char *buf, size_t size, const unsigned char key[HELD_KEY_BYTES],
                      const char *qid, const char *rule, bool local_submission,
                      const char *reason);

/* What a header value is. */
enum held_check {
    HELD_OURS = 0,      /* the daemon's: its MAC verifies under the key for this queue id */
    HELD_BAD_MAC,       /* the daemon's form, but a MAC that does not verify: forged,
                         * altered, copied from another message, or another key */
    HELD_NO_MAC,        /* the form before the MAC: never trusted */
    HELD_MALFORMED      /* not the daemon's form at all */
};

/*
 * Read VALUE, the header of message QID, and check its MAC under KEY
 * (NULL: no key, nothing verifies).  OUT gets what it says (for every
 * result but HELD_MALFORMED), which only HELD_OURS lets anyone believe.
 */
enum held_check held_header_check(const char *value, const unsigned char *key,
                                  const char *qid, struct held_mark *out);

/* "ours", "bad-mac", "no-mac", "malformed". */
const char *held_check_name(enum held_check c);

#endif
