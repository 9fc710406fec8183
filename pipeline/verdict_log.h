/*
 * verdict_log.h - the verdict line and the text that goes into it
 * (internal to pipeline/: the core, pipeline.c, decides when a line is
 * written; this says what it reads).
 *
 * The line's format is kept stable, operators parse it (verdict_log.c
 * shows it field by field).  Everything from the network that reaches it
 * is made safe first (stage.h's pl_log_field, or a quoted field with no
 * quote), and a patient's address or identifier is shown as LogPatientId
 * says (common/logid.h).
 */
#ifndef MSSANTE_PIPELINE_VERDICT_LOG_H
#define MSSANTE_PIPELINE_VERDICT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "pipeline/pipeline.h"

/* Does a verdict's action refuse the step (reject, defer or hold)? */
static inline bool pl_refusal(enum action a)
{
    return a != ACT_CONTINUE;
}

/* Text from the network inside a quoted log field: no quote, no control
 * character, no non-ASCII byte. */
void pl_copy_quoted(char *dst, size_t size, const char *src);

/* "<a@b>" for ST ADDR_OK (A), "<>" for ADDR_NULL, else the RAW text made
 * safe; a patient's address as LogPatientId says (RULES' PatientDomain). */
void pl_format_addr(char *dst, size_t size, enum addr_status st, const struct mailaddr *a,
                    const char *raw, const struct rules_settings *rules);

/* " KEY=<local@U-label>" for an address whose domain was written in
 * Unicode (the verdict line shows its A-labels first), or "". */
void pl_format_unicode(char *dst, size_t size, const char *key, const struct mailaddr *a);

/* "[IP]" of the client at SA, for client= ("[unknown]" when the MTA gave
 * none). */
void pl_format_client(char *dst, size_t size, const struct sockaddr *sa);

/* "[IP]:PORT" of the client at SA, for the debug log. */
void pl_describe_peer(char *dst, size_t size, const struct sockaddr *sa);

/* One recipient on the line to come (ADDR as pl_format_addr() gave it,
 * UNICODE as pl_format_unicode() did); past PL_RCPT_LOG_MAX recipients or
 * PL_RCPT_LOG_BYTES, only counted ("+N more"). */
void pl_note_rcpt(struct pl_msg *m, const char *addr, enum addr_class cls, bool refused,
                  const char *unicode);

/* The transaction's one verdict line, FINAL being the verdict that
 * applied (NULL: it ended without one, "abort"); the message is counted
 * (stats/stats.h), its fate kept in C->msg.fate, and the transaction
 * closed (C->msg.in_txn false). */
void pl_log_message(struct pl_conn *c, const struct verdict *final);

/* The line of a transaction still open that neither end of message nor a
 * refusal closed (a new MAIL, abort, disconnect); nothing when none is. */
void pl_log_unfinished(struct pl_conn *c);

#endif
