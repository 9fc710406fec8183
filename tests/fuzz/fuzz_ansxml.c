/*
 * fuzz_ansxml.c - the ANS whitelist XML (whitelist/ansxml.c), streamed.
 *
 * Input: one byte S that seeds the chunk sizes, then the document.  The
 * document is parsed twice: whole (ans_parse_buffer, as the fetcher does)
 * and streamed through ans_stream_feed() in chunks of 1 to 512 bytes
 * drawn from S, so that chunk boundaries fall inside tags, character
 * data, entity references and UTF-8 sequences.
 *
 * Properties:
 *  - both parses accept or both refuse, with the same error; when both
 *    are expat's syntax errors the wording may differ (expat reports the
 *    first error it can see with the bytes it has: text after the root
 *    element is "junk after document element" when it comes in a chunk
 *    of its own, "invalid token" when a '<' follows it in the same one);
 *  - an accepted list is the same both ways: domains, entries, skipped
 *    names, (domain, CN) pairs and the sha256 of the bytes;
 *  - an accepted list has a DateDeGeneration and at least one domain,
 *    every domain of a CN pair is in the set and no CN holds a control
 *    character (the CN lists in Redis are separated by newlines).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "whitelist/ansxml.h"
#include "whitelist/certset.h"
#include "tests/fuzz/fuzz.h"

static struct ans_list *streamed(const uint8_t *doc, size_t len, unsigned seed,
                                 char *err, size_t errlen)
{
    struct ans_stream *s = ans_stream_begin("fuzz", len, err, errlen);
    uint32_t x = seed * 2654435761u + 1;
    size_t off = 0;

    FUZZ_ASSERT(s != NULL, "ans_stream_begin: %s", err);
    while (off < len) {
        size_t n = len - off;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (n > 1 + x % 512)
            n = 1 + x % 512;
        if (ans_stream_feed(s, (const char *)doc + off, n) < 0)
            break;
        off += n;
    }
    return ans_stream_end(s);
}

/* The (domain, CN) walk of a list, as one string: equal walks, equal sets. */
struct walk {
    char *text;
    size_t len;
};

static int add_pairs(const char *domain, const char *const *cns, size_t n, void *arg)
{
    struct walk *w = arg;
    size_t i;

    for (i = 0; i < n; i++) {
        size_t more = strlen(domain) + strlen(cns[i]) + 2;
        char *grown = realloc(w->text, w->len + more + 1);

        if (grown == NULL)
            return -1;
        w->text = grown;
        w->len += (size_t)sprintf(w->text + w->len, "%s %s\n", domain, cns[i]);
    }
    return 0;
}

static char *walk_of(const struct ans_list *l)
{
    struct walk w = { NULL, 0 };

    if (l->wl->certs != NULL && certset_foreach(l->wl->certs, add_pairs, &w) != 0) {
        free(w.text);
        return NULL;
    }
    return w.text != NULL ? w.text : strdup("");
}

static void check_same(const struct ans_list *a, const struct ans_list *b)
{
    char *wa, *wb;

    FUZZ_ASSERT(domainset_count(a->wl->domains) == domainset_count(b->wl->domains),
                "domains: %zu whole, %zu streamed", domainset_count(a->wl->domains),
                domainset_count(b->wl->domains));
    FUZZ_ASSERT(a->wl->entries == b->wl->entries && a->skipped == b->skipped,
                "entries or skipped names differ");
    FUZZ_ASSERT(strcmp(a->wl->sha256, b->wl->sha256) == 0 &&
                strcmp(a->wl->generated, b->wl->generated) == 0, "sha256 or date differ");
    wa = walk_of(a);
    wb = walk_of(b);
    FUZZ_ASSERT(wa != NULL && wb != NULL, "out of memory walking the CNs");
    FUZZ_ASSERT(strcmp(wa, wb) == 0, "CN pairs differ:\n%s---\n%s", wa, wb);
    free(wa);
    free(wb);
}

static int check_pair(const char *domain, const char *const *cns, size_t n, void *arg)
{
    const struct ans_list *l = arg;
    const char *c;
    size_t i;

    FUZZ_ASSERT(domainset_contains(l->wl->domains, domain),
                "CN pair for \"%s\", not in the set", domain);
    for (i = 0; i < n; i++) {
        FUZZ_ASSERT(cns[i][0] != '\0', "empty CN for \"%s\"", domain);
        for (c = cns[i]; *c != '\0'; c++)
            FUZZ_ASSERT((unsigned char)*c >= 0x20 && *c != 0x7f,
                        "control character in the CN of \"%s\"", domain);
    }
    return 0;
}

static void check_list(const struct ans_list *l)
{
    FUZZ_ASSERT(l->wl->generated[0] != '\0', "accepted without a DateDeGeneration");
    FUZZ_ASSERT(domainset_count(l->wl->domains) > 0, "accepted without a domain");
    if (l->wl->certs != NULL)
        FUZZ_ASSERT(certset_foreach(l->wl->certs, check_pair, (void *)l) == 0,
                    "out of memory walking the CNs");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = { data, size };
    unsigned seed = fuzz_byte(&in);
    char err_whole[512], err_stream[512];
    struct ans_list *whole, *stream;

    whole = ans_parse_buffer((const char *)in.p, in.n, "fuzz", err_whole, sizeof(err_whole));
    stream = streamed(in.p, in.n, seed, err_stream, sizeof(err_stream));
    FUZZ_ASSERT((whole == NULL) == (stream == NULL), "whole %s, streamed %s",
                whole ? "accepted" : err_whole, stream ? "accepted" : err_stream);
    if (whole == NULL) {
        FUZZ_ASSERT(err_whole[0] != '\0', "refused without a reason");
        FUZZ_ASSERT(strcmp(err_whole, err_stream) == 0
                    || (strstr(err_whole, ": XML error: ") && strstr(err_stream, ": XML error: ")),
                    "whole \"%s\", streamed \"%s\"", err_whole, err_stream);
    } else {
        check_same(whole, stream);
        check_list(whole);
    }
    ans_list_free(whole);
    ans_list_free(stream);
    return 0;
}
