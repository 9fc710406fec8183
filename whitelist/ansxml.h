/*
 * ansxml.h - parse the ANS "liste blanche" XML with expat, streaming.
 *
 * Accepts only a complete, well-formed document whose root element is
 * ListeBlancheMSSante in namespace https://listeblanche.mssante.fr/schema,
 * with a DateDeGeneration and at least one domain.  Anything else (truncated,
 * HTML error page, empty list, another XML document) is refused with an
 * error message fit for an operator; the caller keeps its previous list.
 *
 * Per <Domaine>, the <Nom> goes into the domain set and the CN of
 * <DNCertificatOperateur> into the version's CN set (whitelist/certset.h),
 * used by the operator certificate rule and the outbound TLS policy.
 */
#ifndef MSSANTE_ANSXML_H
#define MSSANTE_ANSXML_H

#include <stddef.h>
#include "common/err.h"
#include "whitelist/whitelist.h"

#define ANS_NAMESPACE "https://listeblanche.mssante.fr/schema"

#define ANS_SKIPPED_NAMED 10          /* skipped entries named; the rest counted */
#define ANS_SKIPPED_TEXT  200

/* One skipped entry, for the operator: which, and why. */
struct ans_skipped {
    size_t entry;                    /* 1-based <Domaine> number in the file */
    char text[ANS_SKIPPED_TEXT];     /* "<Nom> \"x y\": not a valid domain name" */
};

struct ans_list {
    struct whitelist *wl;            /* domains, CNs, generated, sha256, entries */
    size_t skipped;                  /* <Nom> values that were not valid domains */
    size_t cn_skipped;               /* entries of a valid domain whose DN gave no
                                        usable CN (none, a control character, too
                                        long, or over the per-domain maximum) */
    struct ans_skipped named[ANS_SKIPPED_NAMED];   /* the first skipped entries */
    size_t n_named;
};

/* "entry 12: <Nom> \"x y\": not a valid domain name; entry 40: ...", or ""
 * when nothing was skipped; "(and N more)" past the named ones. */
void ans_list_skipped_text(const struct ans_list *list, char *buf, size_t size);

/* Parse a whole file / buffer.  On success returns a new ans_list (caller
 * frees with ans_list_free) and fills wl->sha256, wl->source.  On failure
 * returns NULL and writes a one-line reason into err. */
struct ans_list *ans_parse_file(const char *path, struct err *err);
struct ans_list *ans_parse_buffer(const char *buf, size_t len, const char *source,
                                  struct err *err);

/*
 * The same, fed as the bytes arrive: begin, feed any number of chunks of
 * any size (a chunk boundary may fall anywhere, inside a tag or a UTF-8
 * sequence), then end, which checks the document is complete and returns
 * the list as the two calls above do (NULL + err on failure).  Once a
 * feed has returned -1 the document is refused: further feeds are
 * ignored, and end only frees.  SOURCE must stay valid until end (it is
 * named in errors and copied into wl->source).  ans_stream_fail() refuses
 * the document for a reason of the caller's (a read error).  end always
 * frees the stream.
 */
struct ans_stream;
struct ans_stream *ans_stream_begin(const char *source, size_t size_hint,
                                    struct err *err);
int ans_stream_feed(struct ans_stream *s, const char *buf, size_t len);
void ans_stream_fail(struct ans_stream *s, const char *why);
struct ans_list *ans_stream_end(struct ans_stream *s);

/* Detach the whitelist (caller now owns it) and free the rest. */
struct whitelist *ans_list_take_whitelist(struct ans_list *list);
void ans_list_free(struct ans_list *list);

#endif
