/*
 * fuzz_snapshot.c - the daemon's snapshot file (whitelist/snapshot.c),
 * which it reads on a cold start with Redis down.
 *
 * Input: the file's bytes, written to a scratch file (snapshot_read takes
 * a path).
 *
 * Properties: a refused file comes with a reason; an accepted one holds
 * at least one domain, and written back with snapshot_write then read
 * again gives the same domains and metadata (the writer turns control
 * characters in a metadata value into '?': so does the comparison).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "tests/fuzz/fuzz.h"
#include "whitelist/snapshot.h"

static int in_other(const char *domain, void *arg)
{
    return domainset_contains(arg, domain) ? 0 : 1;
}

/* A and B are the same metadata value, as the writer would put it. */
static bool same_field(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char ca = (unsigned char)*a < 0x20 || *a == 0x7f ? '?' : *a;
        char cb = (unsigned char)*b < 0x20 || *b == 0x7f ? '?' : *b;

        if (ca != cb)
            return false;
    }
    return *a == *b;
}

static void round_trip(const char *path, const struct whitelist *wl)
{
    struct err err;
    char again_path[4200];
    struct whitelist *again;

    snprintf(again_path, sizeof(again_path), "%s.again", path);
    FUZZ_ASSERT(snapshot_write(again_path, wl, &err) == 0, "write: %s", err.msg);
    again = snapshot_read(again_path, &err);
    unlink(again_path);
    FUZZ_ASSERT(again != NULL, "what was written does not read back: %s", err.msg);
    FUZZ_ASSERT(domainset_count(again->domains) == domainset_count(wl->domains) &&
                domainset_foreach(wl->domains, in_other, again->domains) == 0,
                "the domains changed on the way back");
    FUZZ_ASSERT(same_field(again->version, wl->version) &&
                same_field(again->generated, wl->generated) &&
                same_field(again->sha256, wl->sha256) && same_field(again->source, wl->source)
                && again->entries == wl->entries && again->loaded_at == wl->loaded_at,
                "the metadata changed on the way back");
    whitelist_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_scratch_file(data, size);
    struct err err;
    struct whitelist *wl;

    err_clear(&err);
    wl = snapshot_read(path, &err);
    if (wl == NULL) {
        FUZZ_ASSERT(err.msg[0] != '\0', "refused without a reason");
        return 0;
    }
    FUZZ_ASSERT(domainset_count(wl->domains) > 0, "accepted without a domain");
    round_trip(path, wl);
    whitelist_free(wl);
    return 0;
}
