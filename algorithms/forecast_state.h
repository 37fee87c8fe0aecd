/* Durable state of the forecaster, without any I/O: the parts later updates and results depend on,
 * listed as named arrays and counters pointing into the live instance, so a caller can copy them
 * out (save) and back into an instance made by spx_forecast_create() with the same parameters
 * (load), after which it continues bit for bit like the original.
 *
 * What is listed: the configuration fingerprint, counters and phase, the warm-up buffer (until the
 * warm-up fit), standardisation, the sample ring, the OrthoTrans basis (and its running statistics
 * when it is refreshed online), NormLin weights, the feature cache of the last H + 1 origins, the
 * RLS map(s) with their covariance and checkpoint counter, the newest forecast, and the metrics'
 * pending forecasts, recent samples and sums. Work buffers are not listed.
 *
 * Load protocol:
 *   1. read the saved phase ("fitted", 0 or 1);
 *   2. list the fields for that phase with spx_forecast_state_fields() and copy every one in, each
 *      exactly `count` values;
 *   3. spx_forecast_state_finish_load(): checks the fingerprint and every counter, tag and scale
 *      against the instance (refusing anything a save could not have produced) and drops the
 *      warm-up buffer when the state is past the warm-up. On failure the instance must be freed. */
#ifndef SPX_FORECAST_STATE_H
#define SPX_FORECAST_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "forecast.h"

typedef enum spx_forecast_field_type {
    SPX_FORECAST_FIELD_F64 = 0, /* double[count] */
    SPX_FORECAST_FIELD_U64 = 1, /* uint64_t[count] */
} spx_forecast_field_type;

typedef struct spx_forecast_field {
    const char *name;           /* unique, stable across versions of the same layout */
    spx_forecast_field_type type;
    void *data;                 /* into the instance */
    size_t count;               /* >= 1 */
    int scalar;                 /* one counter or statistic rather than an array */
} spx_forecast_field;

/* Upper bound on the number of fields, for the caller's array. */
#define SPX_FORECAST_STATE_MAX_FIELDS 48

/* 1 once the warm-up fit is done. */
int spx_forecast_state_fitted(const spx_forecast *f);

/* Lists the fields of f for the given phase (normally spx_forecast_state_fitted(f); for a load, the
 * saved one) into out (room for SPX_FORECAST_STATE_MAX_FIELDS). Returns the count. Does not change
 * the state. */
size_t spx_forecast_state_fields(spx_forecast *f, int fitted, spx_forecast_field *out);

/* After every field of `fitted`'s list has been written: validates and completes the load.
 * Returns 0 or -EINVAL with the reason in err. */
int spx_forecast_state_finish_load(spx_forecast *f, int fitted, char *err, size_t errlen);

#endif
