/* Fitting the `eegclass` model on its calibration trials, and the model as bytes.
 *
 * Model bytes (format version 1), all numbers little-endian:
 *   0        8   magic "SPXEEGCL"
 *   8        4   format version (u32)
 *   12       4   header length h (u32)
 *   16       h   header: a msgpack map {channels, classes: [str], cov, classifier, order, lag, dim,
 *                values, rate, filter, fmin, fmax, filter_order, window, tmin, tmax, lr_c,
 *                trained_on, cv_accuracy (nil unless chosen by CV)}
 *   16 + h   8 k the trained values (f64; k = header.values): covclf.h's state with every
 *                symmetric matrix stored as its upper triangle row by row (i <= j): MDM the class
 *                means; TS the reference, then the LR weights and the intercept. Halving the
 *                matrices keeps ACM models under the control request limit (1 MiB) longer.
 *   end - 8  8   FNV-1a 64 of every byte before it
 * A model is accepted only by a pipeline that would have produced it: same channel count, same
 * classes in the same order, same sample rate and band-pass. Anything else is refused whole. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "eegclass_internal.h"

#define MODEL_MAGIC "SPXEEGCL"
#define MODEL_FORMAT 1u
#define MODEL_FIXED 16u      /* magic, version, header length */
#define MODEL_HEADER_MAX 65536u

void spx_eeg_model_free(spx_eeg_model *m)
{
    if (!m)
        return;
    spx_covclf_free(m->clf);
    spx_cov_free(m->epoch_cov);
    free(m->cov_buf);
    free(m);
}

/* A model for windows of W samples and epochs of E samples. */
static int model_new(size_t channels, size_t W, size_t E, size_t n_classes, double lr_c,
                     spx_cov_estimator cov, spx_covclf_kind classifier, size_t order, size_t lag,
                     size_t max_train, spx_eeg_model **out)
{
    *out = NULL;
    spx_eeg_model *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->cov = cov;
    m->classifier = classifier;
    m->order = order;
    m->lag = lag;
    m->cv_accuracy = NAN;
    spx_covclf_params cp;
    spx_covclf_params_default(&cp, channels, W);
    cp.estimator = cov;
    cp.kind = classifier;
    cp.order = order;
    cp.lag = lag;
    cp.n_classes = n_classes;
    cp.lr_c = lr_c;
    cp.max_train = max_train < 2 ? 2 : max_train;
    int rc = spx_covclf_create(&m->clf, &cp);
    if (!rc) {
        spx_cov_params ep;
        spx_cov_params_default(&ep, channels, E);
        ep.estimator = cov;
        ep.order = order;
        ep.lag = lag;
        rc = spx_cov_create(&m->epoch_cov, &ep);
    }
    if (!rc) {
        m->dim = spx_covclf_dim(m->clf);
        if (!(m->cov_buf = malloc(m->dim * m->dim * sizeof *m->cov_buf)))
            rc = -ENOMEM;
    }
    if (rc) {
        spx_eeg_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int spx_eeg_model_new(const spx_eeg_state *st, spx_cov_estimator cov, spx_covclf_kind classifier,
                      size_t order, size_t lag, size_t max_train, spx_eeg_model **out)
{
    return model_new(st->C, st->W, st->E, st->p.n_classes, st->p.lr_c, cov, classifier, order, lag,
                     max_train, out);
}

static void install(spx_eeg_state *st, spx_eeg_model *m)
{
    spx_eeg_model_free(st->model);
    st->model = m;
}

int spx_eeg_fit(spx_eeg_state *st, char *err, size_t errlen)
{
    const spx_eeg_params *p = &st->p;
    if (!st->setup) {
        snprintf(err, errlen, "nothing to fit: no samples yet");
        return -1;
    }
    size_t fewest = SIZE_MAX;
    for (size_t k = 0; k < p->n_classes; k++)
        if (st->per_class[k] < fewest)
            fewest = st->per_class[k];
    size_t need = p->order == 0 ? p->folds : 2;
    if (fewest < need) {
        int at = snprintf(err, errlen, "need at least %zu calibration trials of every class (", need);
        for (size_t k = 0; k < p->n_classes && at > 0 && (size_t)at < errlen; k++)
            at += snprintf(err + at, errlen - (size_t)at, "%s%s: %zu", k ? ", " : "",
                           p->classes[k], st->per_class[k]);
        if (at > 0 && (size_t)at < errlen)
            snprintf(err + at, errlen - (size_t)at, ")");
        return -1;
    }
    size_t n = st->n_trials, order = p->order, lag = p->lag;
    double cv = NAN;
    if (order == 0) {
        spx_covclf_params cp;
        spx_covclf_params_default(&cp, st->C, st->E);
        cp.estimator = p->cov;
        cp.kind = p->classifier;
        cp.n_classes = p->n_classes;
        cp.lr_c = p->lr_c;
        cp.max_train = n;
        spx_acm_grid g = {.orders = p->grid_orders, .n_orders = p->n_grid_orders,
                          .lags = p->grid_lags, .n_lags = p->n_grid_lags, .folds = p->folds,
                          .seed = p->seed};
        double scores[EEG_GRID_MAX * EEG_GRID_MAX];
        int rc = spx_covclf_select_acm(&cp, st->trials, st->trial_labels, n, &g, &order, &lag,
                                       scores);
        if (rc) {
            snprintf(err, errlen, "choosing order and lag: %s", strerror(-rc));
            return -1;
        }
        for (size_t io = 0; io < p->n_grid_orders; io++)
            for (size_t il = 0; il < p->n_grid_lags; il++)
                if (p->grid_orders[io] == order && p->grid_lags[il] == lag &&
                    isnan(cv))
                    cv = scores[io * p->n_grid_lags + il];
    }
    spx_eeg_model *m;
    int rc = spx_eeg_model_new(st, p->cov, p->classifier, order, lag, n, &m);
    if (rc) {
        snprintf(err, errlen, "model: %s", strerror(-rc));
        return -1;
    }
    size_t nn = m->dim * m->dim, ct = st->C * st->E;
    double *covs = malloc(n * nn * sizeof *covs);
    rc = covs ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < n; i++)
        rc = spx_cov_compute(m->epoch_cov, st->trials + i * ct, st->E, covs + i * nn, NULL);
    if (!rc)
        rc = spx_covclf_fit_covs(m->clf, covs, st->trial_labels, n);
    free(covs);
    if (rc) {
        snprintf(err, errlen, "fit: %s", rc == -EDOM ? "a covariance is not positive definite "
                                                       "(flat or duplicated channels?)"
                                                     : strerror(-rc));
        spx_eeg_model_free(m);
        return -1;
    }
    m->trained_on = n;
    m->cv_accuracy = cv;
    install(st, m);
    return 0;
}

/* ---- bytes ------------------------------------------------------------------------------------- */

static uint64_t fnv1a64(const unsigned char *b, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put_u32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *b)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}

static uint64_t get_u64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static size_t tri(size_t dim) { return dim * (dim + 1) / 2; }

/* Values in the bytes: symmetric matrices as upper triangles. */
static size_t state_values(spx_covclf_kind kind, size_t dim, size_t n_classes)
{
    return kind == SPX_COVCLF_MDM ? n_classes * tri(dim) : tri(dim) + tri(dim) + 1;
}

/* Symmetric dim x dim blocks of covclf's state, as upper triangles (and back). */
static size_t n_matrices(spx_covclf_kind kind, size_t n_classes)
{
    return kind == SPX_COVCLF_MDM ? n_classes : 1;
}

static void pack_state(const double *full, double *packed, spx_covclf_kind kind, size_t dim,
                       size_t n_classes)
{
    size_t nn = dim * dim, k = 0, mats = n_matrices(kind, n_classes);
    for (size_t m = 0; m < mats; m++)
        for (size_t i = 0; i < dim; i++)
            for (size_t j = i; j < dim; j++)
                packed[k++] = full[m * nn + i * dim + j];
    if (kind == SPX_COVCLF_TS_LR)
        memcpy(packed + k, full + nn, (tri(dim) + 1) * sizeof *packed);
}

static void unpack_state(const double *packed, double *full, spx_covclf_kind kind, size_t dim,
                         size_t n_classes)
{
    size_t nn = dim * dim, k = 0, mats = n_matrices(kind, n_classes);
    for (size_t m = 0; m < mats; m++)
        for (size_t i = 0; i < dim; i++)
            for (size_t j = i; j < dim; j++) {
                full[m * nn + i * dim + j] = packed[k];
                full[m * nn + j * dim + i] = packed[k++];
            }
    if (kind == SPX_COVCLF_TS_LR)
        memcpy(full + nn, packed + k, (tri(dim) + 1) * sizeof *full);
}

int spx_eeg_model_encode(const spx_eeg_state *st, unsigned char **out, size_t *len)
{
    const spx_eeg_model *m = st->model;
    const spx_eeg_params *p = &st->p;
    *out = NULL;
    if (!m)
        return -EINVAL;
    size_t k = state_values(m->classifier, m->dim, p->n_classes);
    double *full = malloc(spx_covclf_state_size(m->clf) * sizeof *full);
    double *values = malloc(k * sizeof *values);
    int rc = full && values ? spx_covclf_state_get(m->clf, full) : -ENOMEM;
    if (!rc)
        pack_state(full, values, m->classifier, m->dim, p->n_classes);
    free(full);
    if (rc) {
        free(values);
        return rc;
    }
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 19);
    spx_pack_key_uint(&pk, "channels", st->C);
    spx_pack_cstr(&pk, "classes");
    msgpack_pack_array(&pk, (uint32_t)p->n_classes);
    for (size_t i = 0; i < p->n_classes; i++)
        spx_pack_cstr(&pk, p->classes[i]);
    spx_pack_key_cstr(&pk, "cov", spx_eeg_cov_name(m->cov));
    spx_pack_key_cstr(&pk, "classifier", spx_eeg_classifier_name(m->classifier));
    spx_pack_key_uint(&pk, "order", m->order);
    spx_pack_key_uint(&pk, "lag", m->lag);
    spx_pack_key_uint(&pk, "dim", m->dim);
    spx_pack_key_uint(&pk, "values", k);
    spx_pack_key_double(&pk, "rate", st->rate);
    spx_pack_key_bool(&pk, "filter", p->filter);
    spx_pack_key_double(&pk, "fmin", p->fmin);
    spx_pack_key_double(&pk, "fmax", p->fmax);
    spx_pack_key_uint(&pk, "filter_order", (uint64_t)p->filter_order);
    spx_pack_key_double(&pk, "window", p->window);
    spx_pack_key_double(&pk, "tmin", p->tmin);
    spx_pack_key_double(&pk, "tmax", p->tmax);
    spx_pack_key_double(&pk, "lr_c", p->lr_c);
    spx_pack_key_uint(&pk, "trained_on", m->trained_on);
    spx_pack_cstr(&pk, "cv_accuracy");
    if (isnan(m->cv_accuracy))
        msgpack_pack_nil(&pk);
    else
        msgpack_pack_double(&pk, m->cv_accuracy);
    size_t total = MODEL_FIXED + sb.size + 8 * k + 8;
    unsigned char *b = sb.data && sb.size <= MODEL_HEADER_MAX ? malloc(total) : NULL;
    if (!b) {
        msgpack_sbuffer_destroy(&sb);
        free(values);
        return -ENOMEM;
    }
    memcpy(b, MODEL_MAGIC, 8);
    put_u32(b + 8, MODEL_FORMAT);
    put_u32(b + 12, (uint32_t)sb.size);
    memcpy(b + MODEL_FIXED, sb.data, sb.size);
    unsigned char *v = b + MODEL_FIXED + sb.size;
    for (size_t i = 0; i < k; i++) {
        uint64_t bits;
        memcpy(&bits, &values[i], 8);
        put_u64(v + 8 * i, bits);
    }
    put_u64(b + total - 8, fnv1a64(b, total - 8));
    msgpack_sbuffer_destroy(&sb);
    free(values);
    *out = b;
    *len = total;
    return 0;
}

/* The header's fields, read and type-checked. */
typedef struct model_header {
    uint64_t channels, order, lag, dim, values, filter_order, trained_on;
    double rate, fmin, fmax, window, tmin, tmax, lr_c, cv_accuracy;
    bool filter;
    spx_cov_estimator cov;
    spx_covclf_kind classifier;
} model_header;

static int header_uint(const msgpack_object *map, const char *key, uint64_t *out, char *err,
                       size_t errlen)
{
    if (spx_obj_uint(spx_map_get(map, key), out) == 0)
        return 0;
    snprintf(err, errlen, "model header: %s missing or not an unsigned integer", key);
    return -1;
}

static int header_double(const msgpack_object *map, const char *key, double *out, char *err,
                         size_t errlen)
{
    if (spx_obj_double(spx_map_get(map, key), out) == 0 && isfinite(*out))
        return 0;
    snprintf(err, errlen, "model header: %s missing or not a finite number", key);
    return -1;
}

static int read_header(const spx_eeg_state *st, const msgpack_object *map, model_header *h,
                       char *err, size_t errlen)
{
    const spx_eeg_params *p = &st->p;
    if (map->type != MSGPACK_OBJECT_MAP) {
        snprintf(err, errlen, "model header is not a map");
        return -1;
    }
    if (header_uint(map, "channels", &h->channels, err, errlen) ||
        header_uint(map, "order", &h->order, err, errlen) ||
        header_uint(map, "lag", &h->lag, err, errlen) ||
        header_uint(map, "dim", &h->dim, err, errlen) ||
        header_uint(map, "values", &h->values, err, errlen) ||
        header_uint(map, "filter_order", &h->filter_order, err, errlen) ||
        header_uint(map, "trained_on", &h->trained_on, err, errlen) ||
        header_double(map, "rate", &h->rate, err, errlen) ||
        header_double(map, "fmin", &h->fmin, err, errlen) ||
        header_double(map, "fmax", &h->fmax, err, errlen) ||
        header_double(map, "window", &h->window, err, errlen) ||
        header_double(map, "tmin", &h->tmin, err, errlen) ||
        header_double(map, "tmax", &h->tmax, err, errlen) ||
        header_double(map, "lr_c", &h->lr_c, err, errlen))
        return -1;
    if (spx_obj_bool(spx_map_get(map, "filter"), &h->filter) != 0) {
        snprintf(err, errlen, "model header: filter missing or not a boolean");
        return -1;
    }
    const msgpack_object *cv = spx_map_get(map, "cv_accuracy");
    h->cv_accuracy = NAN;
    if (cv && cv->type != MSGPACK_OBJECT_NIL && spx_obj_double(cv, &h->cv_accuracy) != 0) {
        snprintf(err, errlen, "model header: cv_accuracy is not a number");
        return -1;
    }
    char text[32];
    if (spx_obj_str(spx_map_get(map, "cov"), text, sizeof text) != 0 ||
        spx_eeg_cov_parse(text, &h->cov) != 0) {
        snprintf(err, errlen, "model header: cov missing or unknown");
        return -1;
    }
    if (spx_obj_str(spx_map_get(map, "classifier"), text, sizeof text) != 0 ||
        spx_eeg_classifier_parse(text, &h->classifier) != 0) {
        snprintf(err, errlen, "model header: classifier missing or unknown");
        return -1;
    }
    /* What makes the model this pipeline's. */
    if (h->channels != st->C) {
        snprintf(err, errlen, "the model is for %llu channels, this stream has %zu",
                 (unsigned long long)h->channels, st->C);
        return -1;
    }
    const msgpack_object *cls = spx_map_get(map, "classes");
    bool same = cls && cls->type == MSGPACK_OBJECT_ARRAY && cls->via.array.size == p->n_classes;
    for (size_t i = 0; same && i < p->n_classes; i++) {
        char label[SPX_LABEL_MAX + 1];
        same = spx_obj_str(&cls->via.array.ptr[i], label, sizeof label) == 0 &&
               strcmp(label, p->classes[i]) == 0;
    }
    if (!same) {
        snprintf(err, errlen, "the model's classes differ from this pipeline's (same labels in "
                              "the same order needed)");
        return -1;
    }
    double rate = st->setup ? st->rate : h->rate;
    if (!spx_eeg_rate_ok(p, h->rate) || fabs(h->rate - rate) > 1e-9 * rate) {
        snprintf(err, errlen, "the model is for %g Hz, this stream is at %g Hz", h->rate, rate);
        return -1;
    }
    if (h->filter != p->filter ||
        (p->filter && (h->fmin != p->fmin || h->fmax != p->fmax ||
                       h->filter_order != (uint64_t)p->filter_order))) {
        snprintf(err, errlen, "the model was trained with another band-pass (filter, fmin, fmax, "
                              "filter_order must match)");
        return -1;
    }
    if (h->order < 1 || h->order > 8 || h->lag < 1 || h->lag > 64 || h->dim != st->C * h->order) {
        snprintf(err, errlen, "model header: order, lag or dim out of range");
        return -1;
    }
    if (h->classifier == SPX_COVCLF_TS_LR && p->n_classes != 2) {
        snprintf(err, errlen, "model header: ts takes two classes");
        return -1;
    }
    if (h->values != state_values(h->classifier, (size_t)h->dim, p->n_classes)) {
        snprintf(err, errlen, "model header: %llu values do not fit the model's shape",
                 (unsigned long long)h->values);
        return -1;
    }
    return 0;
}

int spx_eeg_model_load(spx_eeg_state *st, const unsigned char *b, size_t len, char *err,
                       size_t errlen)
{
    if (len < MODEL_FIXED + 8 || memcmp(b, MODEL_MAGIC, 8) != 0) {
        snprintf(err, errlen, "not an eegclass model (bad magic or too short)");
        return -1;
    }
    uint32_t version = get_u32(b + 8), hlen = get_u32(b + 12);
    if (version != MODEL_FORMAT) {
        snprintf(err, errlen, "model format version %u: this daemon reads version %u", version,
                 MODEL_FORMAT);
        return -1;
    }
    if (hlen > MODEL_HEADER_MAX || hlen > len - MODEL_FIXED - 8) {
        snprintf(err, errlen, "model header length %u out of bounds", hlen);
        return -1;
    }
    if (get_u64(b + len - 8) != fnv1a64(b, len - 8)) {
        snprintf(err, errlen, "model checksum mismatch (corrupt or truncated bytes)");
        return -1;
    }
    char why[128];
    if (spx_msgpack_prescan(b + MODEL_FIXED, hlen, 4, why, sizeof why) != SPX_OK) {
        snprintf(err, errlen, "model header: %s", why);
        return -1;
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    model_header h;
    memset(&h, 0, sizeof h);
    int rc = msgpack_unpack_next(&up, (const char *)b + MODEL_FIXED, hlen, NULL) ==
                     MSGPACK_UNPACK_SUCCESS
                 ? read_header(st, &up.data, &h, err, errlen)
                 : (snprintf(err, errlen, "model header is not msgpack"), -1);
    msgpack_unpacked_destroy(&up);
    if (rc)
        return -1;
    if ((size_t)MODEL_FIXED + hlen + 8 * h.values + 8 != len) {
        snprintf(err, errlen, "model length %zu does not match its header", len);
        return -1;
    }
    size_t W = st->setup ? st->W : (size_t)llround(st->p.window * h.rate);
    size_t E = st->setup ? st->E : (size_t)llround((st->p.tmax - st->p.tmin) * h.rate);
    if (h.order * h.lag + 2 > W || h.order * h.lag + 2 > E) {
        snprintf(err, errlen, "the model's order %llu x lag %llu does not fit in a window of %zu "
                              "samples", (unsigned long long)h.order, (unsigned long long)h.lag, W);
        return -1;
    }
    double *values = malloc(h.values * sizeof *values);
    spx_eeg_model *m = NULL;
    rc = values ? model_new(st->C, W, E, st->p.n_classes, h.lr_c, h.cov, h.classifier,
                            (size_t)h.order, (size_t)h.lag, 2, &m)
                : -ENOMEM;
    double *full = NULL;
    if (!rc && !(full = malloc(spx_covclf_state_size(m->clf) * sizeof *full)))
        rc = -ENOMEM;
    if (!rc) {
        const unsigned char *v = b + MODEL_FIXED + hlen;
        for (size_t i = 0; i < h.values; i++) {
            uint64_t bits = get_u64(v + 8 * i);
            memcpy(&values[i], &bits, 8);
        }
        unpack_state(values, full, h.classifier, (size_t)h.dim, st->p.n_classes);
        rc = spx_covclf_state_set(m->clf, full);
        if (rc)
            snprintf(err, errlen, "the model's values are not a valid model (%s)",
                     rc == -EDOM ? "a class mean or reference is not positive definite"
                                 : "not finite");
    } else {
        snprintf(err, errlen, "model: %s", strerror(-rc));
    }
    free(values);
    free(full);
    if (!rc && !st->setup && spx_eeg_setup(st, h.rate, err, errlen) != 0)
        rc = -1;
    if (rc) {
        spx_eeg_model_free(m);
        return -1;
    }
    m->trained_on = (size_t)h.trained_on;
    m->cv_accuracy = h.cv_accuracy;
    m->loaded = true;
    install(st, m);
    return 0;
}
