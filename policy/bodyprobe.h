/*
 * bodyprobe.h - body emptiness for [FIN] closures (MSSANTE.md s.5): a
 * streaming probe fed the body chunks as libmilter hands them over, which
 * says whether a closure would swallow content.
 *
 * Pure code, like the rest of policy/; policy/patient.h includes this
 * header, so its users need nothing more.
 */
#ifndef MSSANTE_BODYPROBE_H
#define MSSANTE_BODYPROBE_H

#include <stdbool.h>
#include <stddef.h>

#define BODY_PROBE_BOUNDARY_MAX 70    /* RFC 2046 */
#define BODY_PROBE_DEPTH        4     /* nested multiparts followed */
#define BODY_PROBE_LINE_MAX     1024  /* longer lines are never boundaries */

/*
 * A message counts as empty when:
 *  - its whole body is white space (SP, HTAB, CR, LF), or
 *  - the top-level Content-Type is multipart/... with a usable boundary,
 *    every part's body is white space, no part is an attachment
 *    (Content-Disposition other than "inline", or a filename/name
 *    parameter), and the closing boundary is seen.  Preamble and epilogue
 *    of the top-level multipart are ignored (RFC 2046: not shown to
 *    anyone); those of nested multiparts count as content.
 * Whenever the structure is more than this reads with certainty (nesting
 * deeper than BODY_PROBE_DEPTH, a part header that does not parse, a
 * Content-Type or Content-Disposition parameter given twice - boundary=A;
 * boundary=B, or boundary with boundary*0 - or a parameter list that does
 * not parse, a boundary of an outer level inside an unfinished inner one,
 * no closing boundary), the message is NOT empty: a closure with content
 * it cannot vouch for is refused rather than silently losing that content.
 * A mail reader may take another boundary than the probe from such a
 * header and show text the probe took for a preamble.
 * An HTML part is content even when it renders as nothing: the probe does
 * not interpret HTML.
 *
 * Fixed size, no allocation.  The fields are private.
 */
struct body_probe {
    int state;                         /* enum in bodyprobe.c */
    bool any_text;                     /* a byte other than white space was seen */
    bool content;                      /* sticky: content (or doubt) found */
    bool done;                         /* body_probe_empty() was called */
    const char *why;                   /* static English reason once content is set */
    unsigned depth;                    /* open multipart levels */
    size_t blen[BODY_PROBE_DEPTH];
    char boundary[BODY_PROBE_DEPTH][BODY_PROBE_BOUNDARY_MAX + 1];
    bool push_pending;                 /* current part header declared a multipart */
    bool part_has_type;                /* current part header had a Content-Type */
    size_t line_len;
    bool line_text;                    /* current line has a non-white-space byte */
    bool line_long;                    /* current line did not fit in line[] */
    char line[BODY_PROBE_LINE_MAX];
    size_t hdr_len;                    /* pending (unfolded) part header */
    bool hdr_long;
    char hdr[BODY_PROBE_LINE_MAX];
};

/* CONTENT_TYPE is the message's top-level Content-Type value, NULL if none. */
void body_probe_init(struct body_probe *p, const char *content_type);

/* Feed the next LEN bytes of the body (any chunking; CRLF or LF lines). */
void body_probe_feed(struct body_probe *p, const void *buf, size_t len);

/* After the last chunk: true if the body is empty in the sense above. */
bool body_probe_empty(struct body_probe *p);

/* Why the body is not empty (static English phrase), NULL when it is. */
const char *body_probe_why(const struct body_probe *p);

#endif
