/*
 * notice.h - the content-free notice sent to a classic address.
 *
 * When a forwarding target is outside the trust space it never gets the
 * message, only a notice that "a new secure message is waiting in the
 * MSSante mailbox X" (MSSANTE.md s.4).  The notice is built from fixed text
 * and four facts: the notice sender (NotifySender), the classic target, the
 * mailbox it is about, and the time.  The API takes nothing else, so nothing
 * of the original message (subject, sender, body, attachment, Message-ID)
 * can end up in a notice.
 *
 * The message (CRLF line ends, ready for SMTP DATA):
 *   From: NotifySender            To: the target
 *   Subject: fixed, bilingual     Date, Message-ID <TOKEN@sender-domain>
 *   MIME-Version: 1.0
 *   Content-Type: text/plain; charset=UTF-8
 *   Content-Transfer-Encoding: quoted-printable  (7-bit clean on any relay)
 *   Auto-Submitted: auto-generated               (RFC 3834: no auto-replies)
 *   the body: the built-in bilingual text, or NotifyTemplate.
 *
 * NotifyTemplate: a UTF-8 text file that replaces the body.  "%m" stands
 * for the mailbox, "%%" for a percent sign; any other '%' sequence is an
 * error, as are invalid UTF-8, NUL or other control characters (tab and
 * line ends aside), an empty text and more than NOTIFY_TEMPLATE_MAX bytes.
 * The file is read and checked once, when the configuration is loaded.
 * When the mailbox is unknown (a forward re-injected through sendmail,
 * forward/plan.h) the built-in text says "your MSSante mailbox" and "%m"
 * expands to NOTIFY_UNKNOWN_MAILBOX.
 */
#ifndef MSSANTE_NOTIFY_NOTICE_H
#define MSSANTE_NOTIFY_NOTICE_H

#include <stddef.h>

#include "common/err.h"

#define NOTIFY_TEMPLATE_MAX 8192
#define NOTIFY_UNKNOWN_MAILBOX "votre messagerie MSSant\xc3\xa9 / your MSSant\xc3\xa9 mailbox"

struct notify_template;   /* a checked template, opaque */

/* NotifyTemplate: the file, and its text as read and checked when the
 * configuration was loaded (the daemon never reads the file again). */
struct notify_template_file {
    char *path;                  /* NULL: the built-in text */
    struct notify_template *t;   /* owned; NULL when PATH is */
};

/* Check TEXT (LEN bytes) as a template.  NULL + err ("line N: ..."). */
struct notify_template *notify_template_parse(const char *text, size_t len,
                                              struct err *err);
/* Read and check the file PATH.  Errors name the file and line. */
struct notify_template *notify_template_load(const char *path, struct err *err);
void notify_template_free(struct notify_template *t);

struct notify_params {
    const char *from;        /* NotifySender: a plain address */
    const char *to;          /* the classic target */
    const char *mailbox;     /* the MSSante mailbox; NULL or "" when unknown */
    long long date;          /* Unix time, written as UTC */
    const char *unique;      /* Message-ID left part: [A-Za-z0-9.-], made by the caller */
    const struct notify_template *tmpl;   /* NULL: the built-in text */
};

/*
 * Build the notice.  Returns a malloc'd NUL-terminated message (*len its
 * length, if non-NULL), or NULL + err when an argument is unusable (an
 * address that does not parse or holds a line break, a bad unique part).
 */
char *notify_message_build(const struct notify_params *p, size_t *len,
                           struct err *err);

/* The same with SUBJECT (one line of printable ASCII) in place of the
 * built-in one: the notice of a held message (notify/held.h). */
char *notify_message_build_subject(const struct notify_params *p, const char *subject,
                                   size_t *len, struct err *err);

#endif
