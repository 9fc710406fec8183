/*
 * early.c - may a message be accepted before its end (see early.h).
 *
 * The order of the tests only picks which reason the debug log names
 * when several hold: the most general first.
 */
#include <stddef.h>

#include "pipeline/early.h"

enum early_why early_at_data(const struct early_data_in *in)
{
    if (!in->early_accept)
        return EARLY_OFF;
    if (in->dry_run)
        return EARLY_DRY_RUN;
    if (in->local_submission)
        return EARLY_LOCAL;
    if (in->kept)
        return EARLY_KEPT;
    if (in->patient)
        return EARLY_PATIENT;
    if (in->forwarding)
        return EARLY_FORWARDING;
    return EARLY_OK;
}

const char *early_why_name(enum early_why why)
{
    static const char *const names[] = {
        [EARLY_OK] = "ok",
        [EARLY_OFF] = "off",
        [EARLY_DRY_RUN] = "dry-run",
        [EARLY_LOCAL] = "local-submission",
        [EARLY_KEPT] = "kept-for-end",
        [EARLY_PATIENT] = "patient",
        [EARLY_FORWARDING] = "forwarding",
    };

    if ((unsigned)why < sizeof(names) / sizeof(names[0]) && names[why] != NULL)
        return names[why];
    return "unknown";
}
