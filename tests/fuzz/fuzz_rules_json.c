/*
 * fuzz_rules_json.c - the forwarding-rules JSON of "mssantectl forwards
 * import" (forward/rules_json.c, the address checks of forward/rules.c).
 *
 * Input: the document (as a C string: up to the first NUL, which is what
 * the import reads from a file).
 *
 * Properties: a refused document comes with a reason naming what is
 * wrong; an accepted one has only checked rules (a mailbox, at least one
 * and at most FWD_MAX_TARGETS targets, none equal to its mailbox, no
 * mailbox twice), and exported then imported again gives the same rules.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forward/rules.h"
#include "tests/fuzz/fuzz.h"

static void check_rules(const struct fwd_rules *rs)
{
    size_t i, j;

    for (i = 0; i < rs->n; i++) {
        const struct fwd_rule *r = &rs->v[i];

        FUZZ_ASSERT(r->mailbox != NULL && r->mailbox[0] != '\0', "rule %zu: no mailbox", i);
        FUZZ_ASSERT(r->n_targets > 0 && r->n_targets <= FWD_MAX_TARGETS,
                    "rule %zu: %zu targets", i, r->n_targets);
        for (j = 0; j < r->n_targets; j++)
            FUZZ_ASSERT(strcasecmp(r->targets[j], r->mailbox) != 0,
                        "rule %zu forwards to itself", i);
        for (j = 0; j < i; j++)
            FUZZ_ASSERT(strcmp(rs->v[j].mailbox, r->mailbox) != 0, "mailbox %s twice",
                        r->mailbox);
    }
}

static void check_round_trip(const struct fwd_rules *rs)
{
    struct fwd_rules again = { 0 };
    struct err err;
    char *text = fwd_rules_to_json(rs);
    size_t i, j;

    FUZZ_ASSERT(text != NULL, "export failed");
    FUZZ_ASSERT(fwd_rules_from_json(text, &again, &err) == 0,
                "the export does not import: %s\n%s", err.msg, text);
    FUZZ_ASSERT(again.n == rs->n, "%zu rules exported, %zu imported", rs->n, again.n);
    for (i = 0; i < rs->n; i++) {
        const struct fwd_rule *a = &rs->v[i], *b = &again.v[i];

        FUZZ_ASSERT(strcmp(a->mailbox, b->mailbox) == 0 && a->mode == b->mode &&
                    a->n_targets == b->n_targets, "rule %zu changed on the way back", i);
        for (j = 0; j < a->n_targets; j++)
            FUZZ_ASSERT(strcmp(a->targets[j], b->targets[j]) == 0,
                        "rule %zu target %zu changed on the way back", i, j);
    }
    fwd_rules_clear(&again);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err err;
    char *text = fuzz_cstring(data, size);
    struct fwd_rules rs = { 0 };

    err_clear(&err);
    if (fwd_rules_from_json(text, &rs, &err) != 0) {
        FUZZ_ASSERT(err.msg[0] != '\0', "refused without a reason");
        FUZZ_ASSERT(rs.n == 0 && rs.v == NULL, "refused, yet rules returned");
    } else {
        check_rules(&rs);
        check_round_trip(&rs);
    }
    fwd_rules_clear(&rs);
    free(text);
    return 0;
}
