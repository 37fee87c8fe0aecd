/* The one table of pipeline kinds. Adding an algorithm: write streams/adapters/<algo>.c exporting
 * a spx_pipeline_ops, declare it here and add its row. */
#include "pipeline_kind.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const spx_pipeline_ops spx_topeig_ops;
extern const spx_pipeline_ops spx_isvd_ops;
extern const spx_pipeline_ops spx_svdcluster_ops;
extern const spx_pipeline_ops spx_forecast_ops;
extern const spx_pipeline_ops spx_eegclass_ops;

static const spx_pipeline_ops *const g_kinds[] = {
    &spx_topeig_ops,
    &spx_isvd_ops,
    &spx_svdcluster_ops,
    &spx_forecast_ops,
    &spx_eegclass_ops,
    NULL,
};

const spx_pipeline_ops *const *spx_pipeline_kinds(void) { return g_kinds; }

const spx_pipeline_ops *spx_pipeline_kind_find(const char *algo)
{
    for (size_t i = 0; g_kinds[i]; i++)
        if (strcmp(g_kinds[i]->algo, algo) == 0)
            return g_kinds[i];
    return NULL;
}

int spx_param_double(const spx_param *p, double lo, double hi, double *out, char *err,
                     size_t errlen)
{
    char *end;
    errno = 0;
    double v = strtod(p->value, &end);
    if (end == p->value || *end || errno || !isfinite(v)) {
        snprintf(err, errlen, "%s=%s: not a number", p->key, p->value);
        return -1;
    }
    if (v < lo || v > hi) {
        snprintf(err, errlen, "%s=%s: must be in [%g, %g]", p->key, p->value, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int spx_param_uint(const spx_param *p, uint64_t lo, uint64_t hi, uint64_t *out, char *err,
                   size_t errlen)
{
    char *end;
    errno = 0;
    if (p->value[0] == '-' || p->value[0] == '\0') {
        snprintf(err, errlen, "%s=%s: not a non-negative integer", p->key, p->value);
        return -1;
    }
    unsigned long long v = strtoull(p->value, &end, 10);
    if (*end || errno) {
        snprintf(err, errlen, "%s=%s: not a non-negative integer", p->key, p->value);
        return -1;
    }
    if (v < lo || v > hi) {
        snprintf(err, errlen, "%s=%s: must be in [%llu, %llu]", p->key, p->value,
                 (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}
