/*
 * cfgkeys.c - print the key table of mssante-milter.conf (config/keys.c),
 * one key per line:
 *
 *   NAME<TAB>KIND<TAB>RELOAD<TAB>DEFAULT
 *
 * KIND says how to compare the default with what a manual page writes:
 * "duration" (milliseconds), "ttl" (seconds), "size" (bytes) or "text".
 * RELOAD is "restart" or "live"; DEFAULT is "none" for a key without one.
 * Used by tests/integration/t_manpages.sh.
 */
#include <stdio.h>

#include "config/config.h"
#include "config/keys.h"
#include "config/values.h"

static const char *kind(const struct cfg_type *t)
{
    if (t == &cfgval_duration)
        return "duration";
    if (t == &cfgval_ttl)
        return "ttl";
    if (t == &cfgval_size)
        return "size";
    return "text";
}

int main(void)
{
    for (size_t i = 0; i < cfg_keys_count(); i++) {
        const struct cfg_key *k = cfg_keys_at(i);

        printf("%s\t%s\t%s\t%s\n", k->name, kind(k->type),
               k->reload == CFG_RESTART ? "restart" : "live", k->def ? k->def : "none");
    }
    return 0;
}
