/*
 * fuzz_bodyprobe.c - the MIME body probe that decides whether a [FIN]
 * closure would swallow content (policy/bodyprobe.c), fed in chunks.
 *
 * Input: one byte L, then L bytes of the top-level Content-Type value (L
 * 255: no Content-Type header at all), then one byte S that seeds the
 * chunk sizes, then the body.  libmilter cuts a body wherever it likes,
 * in the middle of a CRLF or of a boundary line, so the body is fed three
 * ways: whole, in chunks of 1 to 64 bytes drawn from S, and one byte at a
 * time.
 *
 * Properties:
 *  - the three feedings give the same answer and the same reason;
 *  - "empty" comes without a reason, "not empty" with one;
 *  - without a multipart Content-Type, the body is empty exactly when it
 *    is white space only (SP, HTAB, CR, LF);
 *  - a body with nothing but white space is never "not empty" for want of
 *    a closing boundary.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/bodyprobe.h"
#include "tests/fuzz/fuzz.h"

struct answer {
    bool empty;
    const char *why;
};

/* Feed BODY in chunks whose sizes come from a xorshift generator seeded
 * with SEED (0: the whole body at once; 1: one byte at a time). */
static struct answer probe(const char *ctype, const uint8_t *body, size_t len, unsigned seed)
{
    struct body_probe p;
    struct answer a;
    uint32_t x = seed * 2654435761u + 1;
    size_t off = 0;

    body_probe_init(&p, ctype);
    while (off < len) {
        size_t n = len - off;

        if (seed == 1) {
            n = 1;
        } else if (seed != 0) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if (n > 1 + x % 64)
                n = 1 + x % 64;
        }
        body_probe_feed(&p, body + off, n);
        off += n;
    }
    if (len == 0)
        body_probe_feed(&p, "", 0);
    a.empty = body_probe_empty(&p);
    a.why = body_probe_why(&p);
    return a;
}

static bool all_white(const uint8_t *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (b[i] != ' ' && b[i] != '\t' && b[i] != '\r' && b[i] != '\n')
            return false;
    return true;
}

static bool multipart(const char *ctype)
{
    while (ctype != NULL && (*ctype == ' ' || *ctype == '\t' || *ctype == '\r' || *ctype == '\n'))
        ctype++;
    return ctype != NULL && strncasecmp(ctype, "multipart/", 10) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size };
    const uint8_t *ct, *body;
    size_t ctlen, blen;
    uint8_t l = fuzz_byte(&in);
    char *ctype = NULL;
    unsigned seed;
    struct answer whole, chunked, bytes;

    if (l != 255) {
        ct = fuzz_take(&in, l, &ctlen);
        ctype = fuzz_cstring(ct, ctlen);
    }
    seed = 2u + fuzz_byte(&in);
    body = fuzz_take(&in, in.n, &blen);

    whole = probe(ctype, body, blen, 0);
    chunked = probe(ctype, body, blen, seed);
    bytes = probe(ctype, body, blen, 1);

    FUZZ_ASSERT(whole.empty == chunked.empty && whole.empty == bytes.empty,
                "chunking changes the answer: whole %d, chunked %d, bytes %d",
                whole.empty, chunked.empty, bytes.empty);
    FUZZ_ASSERT(whole.why == chunked.why && whole.why == bytes.why,
                "chunking changes the reason: \"%s\" / \"%s\" / \"%s\"",
                whole.why ? whole.why : "-", chunked.why ? chunked.why : "-",
                bytes.why ? bytes.why : "-");
    FUZZ_ASSERT(whole.empty == (whole.why == NULL), "empty=%d with reason \"%s\"",
                whole.empty, whole.why ? whole.why : "-");
    if (!multipart(ctype) && whole.why == NULL)
        FUZZ_ASSERT(all_white(body, blen), "text in a single-part body counted as empty");
    if (!multipart(ctype) && all_white(body, blen) && !whole.empty)
        FUZZ_ASSERT(strcmp(whole.why, "text in the body") != 0, "white space counted as text");
    if (all_white(body, blen) && !whole.empty)
        FUZZ_ASSERT(strcmp(whole.why, "no closing MIME boundary") != 0,
                    "white space refused for a missing boundary");
    free(ctype);
    return 0;
}
