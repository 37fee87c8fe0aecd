/* Attach parameters of the `eegclass` pipeline (names follow MOABB/pyRiemann where they exist:
 * fmin, fmax, tmin, tmax). What depends on the sample rate (band below Nyquist, window long enough
 * for the augmentation) is checked in spx_eeg_setup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eegclass_internal.h"

static const struct { const char *name; spx_cov_estimator e; } g_covs[] = {
    {"oas", SPX_COV_OAS},
    {"lw", SPX_COV_LEDOIT_WOLF},
    {"sample", SPX_COV_SAMPLE},
};

static const struct { const char *name; spx_covclf_kind k; } g_classifiers[] = {
    {"mdm", SPX_COVCLF_MDM},
    {"ts", SPX_COVCLF_TS_LR},
};

const char *spx_eeg_cov_name(spx_cov_estimator e)
{
    for (size_t i = 0; i < sizeof g_covs / sizeof g_covs[0]; i++)
        if (g_covs[i].e == e)
            return g_covs[i].name;
    return "?";
}

const char *spx_eeg_classifier_name(spx_covclf_kind k)
{
    for (size_t i = 0; i < sizeof g_classifiers / sizeof g_classifiers[0]; i++)
        if (g_classifiers[i].k == k)
            return g_classifiers[i].name;
    return "?";
}

int spx_eeg_cov_parse(const char *s, spx_cov_estimator *out)
{
    for (size_t i = 0; i < sizeof g_covs / sizeof g_covs[0]; i++)
        if (strcmp(s, g_covs[i].name) == 0) {
            *out = g_covs[i].e;
            return 0;
        }
    return -1;
}

int spx_eeg_classifier_parse(const char *s, spx_covclf_kind *out)
{
    for (size_t i = 0; i < sizeof g_classifiers / sizeof g_classifiers[0]; i++)
        if (strcmp(s, g_classifiers[i].name) == 0) {
            *out = g_classifiers[i].k;
            return 0;
        }
    return -1;
}

static int parse_label(const spx_param *p, char *out, char *err, size_t errlen)
{
    size_t n = strlen(p->value);
    if (n == 0 || n > SPX_LABEL_MAX) {
        snprintf(err, errlen, "%s=%s: a label of 1 to %d bytes", p->key, p->value, SPX_LABEL_MAX);
        return -1;
    }
    memcpy(out, p->value, n + 1);
    return 0;
}

static int parse_classes(const spx_param *p, spx_eeg_params *ep, char *err, size_t errlen)
{
    ep->n_classes = 0;
    const char *s = p->value;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);
        if (n == 0 || n > SPX_LABEL_MAX) {
            snprintf(err, errlen, "classes=%s: comma-separated event labels of 1 to %d bytes",
                     p->value, SPX_LABEL_MAX);
            return -1;
        }
        if (ep->n_classes == EEG_MAX_CLASSES) {
            snprintf(err, errlen, "classes=%s: at most %d classes", p->value, EEG_MAX_CLASSES);
            return -1;
        }
        char *dst = ep->classes[ep->n_classes];
        memcpy(dst, s, n);
        dst[n] = '\0';
        for (size_t i = 0; i < ep->n_classes; i++)
            if (strcmp(ep->classes[i], dst) == 0) {
                snprintf(err, errlen, "classes=%s: %s named twice", p->value, dst);
                return -1;
            }
        ep->n_classes++;
        if (!comma)
            break;
        s = comma + 1;
    }
    if (ep->n_classes < 2) {
        snprintf(err, errlen, "classes=%s: at least two classes", p->value);
        return -1;
    }
    return 0;
}

static int parse_list(const spx_param *p, uint64_t hi, size_t *out, size_t *n_out, char *err,
                      size_t errlen)
{
    size_t n = 0;
    const char *s = p->value;
    for (;;) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (end == s || *s == '-' || *s == '+' || v < 1 || v > hi || (*end && *end != ',') ||
            n == EEG_GRID_MAX) {
            snprintf(err, errlen, "%s=%s: up to %d comma-separated integers in [1, %llu]", p->key,
                     p->value, EEG_GRID_MAX, (unsigned long long)hi);
            return -1;
        }
        out[n++] = (size_t)v;
        if (!*end)
            break;
        s = end + 1;
    }
    *n_out = n;
    return 0;
}

static int parse_size(const spx_param *p, uint64_t lo, uint64_t hi, size_t *out, char *err,
                      size_t errlen)
{
    uint64_t v;
    if (spx_param_uint(p, lo, hi, &v, err, errlen) != 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_one(const spx_param *p, spx_eeg_params *ep, bool *has_classes, char *err,
                     size_t errlen)
{
    const char *k = p->key, *v = p->value;
    if (strcmp(k, "classes") == 0) {
        *has_classes = true;
        return parse_classes(p, ep, err, errlen);
    }
    if (strcmp(k, "cov") == 0) {
        if (spx_eeg_cov_parse(v, &ep->cov) == 0)
            return 0;
        snprintf(err, errlen, "cov=%s: unknown (oas, lw, sample)", v);
        return -1;
    }
    if (strcmp(k, "classifier") == 0) {
        if (spx_eeg_classifier_parse(v, &ep->classifier) == 0)
            return 0;
        snprintf(err, errlen, "classifier=%s: unknown (mdm, ts)", v);
        return -1;
    }
    if (strcmp(k, "order") == 0) {
        if (strcmp(v, "auto") == 0) {
            ep->order = 0;
            return 0;
        }
        return parse_size(p, 1, 8, &ep->order, err, errlen);
    }
    if (strcmp(k, "lag") == 0)
        return parse_size(p, 1, 64, &ep->lag, err, errlen);
    if (strcmp(k, "orders") == 0)
        return parse_list(p, 8, ep->grid_orders, &ep->n_grid_orders, err, errlen);
    if (strcmp(k, "lags") == 0)
        return parse_list(p, 64, ep->grid_lags, &ep->n_grid_lags, err, errlen);
    if (strcmp(k, "folds") == 0)
        return parse_size(p, 2, 10, &ep->folds, err, errlen);
    if (strcmp(k, "min_trials") == 0)
        return parse_size(p, 0, 1024, &ep->min_trials, err, errlen);
    if (strcmp(k, "max_trials") == 0)
        return parse_size(p, 4, 1024, &ep->max_trials, err, errlen);
    if (strcmp(k, "mode") == 0) {
        if (strcmp(v, "windows") == 0)
            ep->mode = EEG_MODE_WINDOWS;
        else if (strcmp(v, "cues") == 0)
            ep->mode = EEG_MODE_CUES;
        else if (strcmp(v, "both") == 0)
            ep->mode = EEG_MODE_WINDOWS | EEG_MODE_CUES;
        else {
            snprintf(err, errlen, "mode=%s: unknown (windows, cues, both)", v);
            return -1;
        }
        return 0;
    }
    if (strcmp(k, "window") == 0)
        return spx_param_double(p, 1e-3, 60.0, &ep->window, err, errlen);
    if (strcmp(k, "hop") == 0)
        return spx_param_double(p, 1e-3, 60.0, &ep->hop, err, errlen);
    if (strcmp(k, "tmin") == 0)
        return spx_param_double(p, -10.0, 60.0, &ep->tmin, err, errlen);
    if (strcmp(k, "tmax") == 0)
        return spx_param_double(p, -10.0, 70.0, &ep->tmax, err, errlen);
    if (strcmp(k, "settle") == 0)
        return spx_param_double(p, 0.0, 10.0, &ep->settle, err, errlen);
    if (strcmp(k, "filter") == 0) {
        if (strcmp(v, "butter") == 0 || strcmp(v, "none") == 0) {
            ep->filter = strcmp(v, "butter") == 0;
            return 0;
        }
        snprintf(err, errlen, "filter=%s: unknown (butter, none)", v);
        return -1;
    }
    if (strcmp(k, "fmin") == 0)
        return spx_param_double(p, 1e-6, 1e6, &ep->fmin, err, errlen);
    if (strcmp(k, "fmax") == 0)
        return spx_param_double(p, 1e-6, 1e6, &ep->fmax, err, errlen);
    if (strcmp(k, "filter_order") == 0) {
        size_t o;
        if (parse_size(p, 1, 8, &o, err, errlen) != 0)
            return -1;
        ep->filter_order = (int)o;
        return 0;
    }
    if (strcmp(k, "lr_c") == 0)
        return spx_param_double(p, 1e-6, 1e6, &ep->lr_c, err, errlen);
    if (strcmp(k, "seed") == 0)
        return spx_param_uint(p, 0, UINT64_MAX, &ep->seed, err, errlen);
    if (strcmp(k, "cue") == 0)
        return parse_label(p, ep->cue_label, err, errlen);
    if (strcmp(k, "feedback") == 0)
        return parse_label(p, ep->feedback_label, err, errlen);
    snprintf(err, errlen,
             "unknown parameter %s (classes, cov, classifier, order, lag, orders, lags, folds, "
             "min_trials, max_trials, mode, window, hop, tmin, tmax, settle, filter, fmin, fmax, "
             "filter_order, lr_c, seed, cue, feedback)", k);
    return -1;
}

int spx_eeg_params_parse(spx_eeg_params *ep, const spx_param *params, size_t n_params, char *err,
                         size_t errlen)
{
    memset(ep, 0, sizeof *ep);
    ep->cov = SPX_COV_OAS;
    ep->classifier = SPX_COVCLF_MDM;
    ep->order = 1;
    ep->lag = 1;
    const size_t orders[] = {1, 2, 3}, lags[] = {1, 2, 4};
    memcpy(ep->grid_orders, orders, sizeof orders);
    ep->n_grid_orders = 3;
    memcpy(ep->grid_lags, lags, sizeof lags);
    ep->n_grid_lags = 3;
    ep->folds = 3;
    ep->min_trials = 10;
    ep->max_trials = 256;
    ep->mode = EEG_MODE_WINDOWS | EEG_MODE_CUES;
    ep->window = 1.0;
    ep->hop = 0.125;
    ep->tmin = 0.0;
    ep->tmax = 3.0;
    ep->settle = 0.5;
    ep->filter = true;
    ep->fmin = 8.0;
    ep->fmax = 35.0;
    ep->filter_order = 4;
    ep->lr_c = 1.0;
    snprintf(ep->cue_label, sizeof ep->cue_label, "cue");
    snprintf(ep->feedback_label, sizeof ep->feedback_label, "feedback");

    bool has_classes = false;
    for (size_t i = 0; i < n_params; i++)
        if (parse_one(&params[i], ep, &has_classes, err, errlen) != 0)
            return -1;
    if (!has_classes) {
        snprintf(err, errlen, "classes=LABEL,LABEL[,...] is required: the event labels of the "
                              "cues that are classes (e.g. classes=T1,T2)");
        return -1;
    }
    if (ep->classifier == SPX_COVCLF_TS_LR && ep->n_classes != 2) {
        snprintf(err, errlen, "classifier=ts takes exactly two classes (mdm takes more)");
        return -1;
    }
    if (!(ep->tmax > ep->tmin) || ep->tmax - ep->tmin > 60.0) {
        snprintf(err, errlen, "tmax must be above tmin, by at most 60 s");
        return -1;
    }
    if (ep->filter && !(ep->fmin < ep->fmax)) {
        snprintf(err, errlen, "fmin must be below fmax");
        return -1;
    }
    if (ep->min_trials > ep->max_trials) {
        snprintf(err, errlen, "min_trials must not exceed max_trials (%zu)", ep->max_trials);
        return -1;
    }
    if (ep->order == 0 && ep->min_trials && ep->min_trials < ep->folds) {
        snprintf(err, errlen, "order=auto needs min_trials >= folds (%zu) or 0", ep->folds);
        return -1;
    }
    for (size_t i = 0; i < ep->n_classes; i++)
        if (strcmp(ep->classes[i], ep->cue_label) == 0 ||
            strcmp(ep->classes[i], ep->feedback_label) == 0) {
            snprintf(err, errlen, "class %s is also the cue or feedback label", ep->classes[i]);
            return -1;
        }
    if (strcmp(ep->cue_label, ep->feedback_label) == 0) {
        snprintf(err, errlen, "cue and feedback labels must differ");
        return -1;
    }
    return 0;
}
