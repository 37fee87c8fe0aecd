/* Durability level names (kept apart from stream.c so the control-argument fuzzer links alone). */
#include <string.h>

#include "stream.h"

const char *spx_durability_name(spx_durability d)
{
    switch (d) {
    case SPX_DURABILITY_SNAPSHOT: return "snapshot";
    case SPX_DURABILITY_JOURNAL: return "journal";
    default: return "none";
    }
}

int spx_durability_parse(const char *s, spx_durability *out)
{
    static const spx_durability all[] = {SPX_DURABILITY_NONE, SPX_DURABILITY_SNAPSHOT,
                                         SPX_DURABILITY_JOURNAL};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, spx_durability_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return -1;
}
