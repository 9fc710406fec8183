/*
 * held.h - the X-MSSante-Held header: why the daemon put a message in
 * Postfix's hold queue, written into the message itself.
 *
 * Postfix keeps no reason with a held message (its log only says "milter
 * triggers HOLD action"), so the daemon adds this header next to
 * smfi_quarantine, and "postcat -h -q QUEUEID" explains the hold from the
 * queue alone.  It is also how "mssantectl held" tells the messages the
 * daemon held from those held by anything else: the daemon deletes every
 * X-MSSante-Held header a message arrives with (the sender writes the
 * headers), so the only one a queued message can carry is the daemon's.
 *
 *   X-MSSante-Held: RULE; submission=local; REASON
 *
 * RULE is the rule id of the verdict line ([a-z0-9-]); submission= says
 * how the message came in (local: sendmail(1), through non_smtpd_milters;
 * smtp: an SMTP client), which "held resubmit" needs: it puts a message
 * back as a local submission, and only a local submission may be put
 * back that way.  REASON is the verdict's text in printable ASCII, cut so
 * that the whole line stays under the 998 characters of RFC 5322.
 *
 * Pure string work: used by the daemon (pipeline/held.c) and mssantectl.
 */
#ifndef MSSANTE_POLICY_HELD_H
#define MSSANTE_POLICY_HELD_H

#include <stdbool.h>
#include <stddef.h>

#define HELD_HEADER        "X-MSSante-Held"
#define HELD_RULE_MAX      64
#define HELD_VALUE_MAX     900      /* value bytes, NUL included */

struct held_mark {
    char rule[HELD_RULE_MAX];
    bool local_submission;
    char reason[HELD_VALUE_MAX];
};

/* Is NAME (a header field name) X-MSSante-Held, in any case? */
bool held_header_is(const char *name);

/* The header value for a message held by RULE (NULL: "hold") with REASON
 * (NULL: none), made safe: printable ASCII, one line, cut to SIZE. */
void held_header_value(char *buf, size_t size, const char *rule, bool local_submission,
                       const char *reason);

/* Read a header value back.  0, or -1 when it is not the daemon's form. */
int held_header_parse(const char *value, struct held_mark *out);

#endif
