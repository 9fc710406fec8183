/*
 * import.h - the conversations that began before the milter, as a CSV
 * file the sysadmin exports from the old set-up ("mssantectl conversation
 * import FILE"): one line per conversation,
 *
 *     mailbox,patient[,opened_at]
 *
 * mailbox    a mailbox of ours (its domain in LocalDomains);
 * patient    the patient's INS matricule, or the whole address in
 *            PatientDomain; the key must match (a wrong one would open the
 *            conversation to a stranger), whatever PatientKeyCheck says;
 * opened_at  when it began: ISO 8601 ("2026-11-02T09:30:00+01:00", a zone
 *            or none for UTC, or a bare date) or Unix seconds; not in the
 *            future (IMPORT_SKEW of clock difference allowed), not before
 *            2000; empty or absent: the time of the import.
 *
 * What spreadsheets write is read too: ';' as well as ',' between fields,
 * fields in double quotes ("" inside is one quote), spaces around fields,
 * CRLF line ends, a UTF-8 byte order mark.  Blank lines and lines starting
 * with '#' are skipped, and so is a first line whose first field is
 * "mailbox" (a header).
 *
 * Pure: one line in, one row or a reason out; the file and Redis are the
 * caller's (ctl/cmd_conversation.c, conversation/store.h conv_import()).
 */
#ifndef MSSANTE_CONV_IMPORT_H
#define MSSANTE_CONV_IMPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "conversation/store.h"

#define IMPORT_LINE_MAX 4096        /* longer lines are refused */
#define IMPORT_SKEW     300         /* seconds an opened_at may be ahead of now */
#define IMPORT_EPOCH    946684800LL /* 2000-01-01T00:00:00Z: nothing opened before */

/* What a row is checked against. */
struct import_rules {
    const char *const *local_domains;   /* LocalDomains, normalised */
    size_t n_local_domains;
    const char *patient_domain;         /* PatientDomain, normalised */
    long long now;                      /* Unix time of the import */
};

struct import_row {
    char mailbox[CONV_ID_MAX + 1];      /* local@domain (domain normalised) */
    char patient[CONV_ID_MAX + 1];      /* the matricule, "2A"/"2B" upper-cased */
    long long opened_at;                /* Unix time (now when not given) */
    bool opened_given;                  /* the line had an opened_at */
};

enum import_line {
    IMPORT_ROW = 0,     /* OUT holds a valid row */
    IMPORT_SKIP,        /* blank, a comment, or the header */
    IMPORT_BAD          /* refused: WHY says why */
};

/* Read LINE (LEN bytes, without its newline; FIRST: the file's first
 * line).  A row, a line to skip, or a refusal with its reason. */
enum import_line import_parse_line(const struct import_rules *r, const char *line, size_t len,
                                   bool first, struct import_row *out, struct err *why);

/* opened_at: ISO 8601 or Unix seconds.  0, or -1 with WHY. */
int import_parse_time(const char *text, long long now, long long *out, struct err *why);

#endif
