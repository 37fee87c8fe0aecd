/* Causal IIR filtering of multichannel sample streams in second-order sections (SOS), and the
 * Butterworth band-pass design that feeds it.
 *
 * SOS layout is SciPy's: one row of 6 per section, b0 b1 b2 a0 a1 a2 (a0 = 1 after design).
 * spx_iir_butter_bandpass reproduces scipy.signal.butter(order, [lo, hi], btype='bandpass', fs=fs,
 * output='sos'): analog prototype, bilinear transform with pre-warping, then SciPy's zpk2sos
 * 'nearest' pairing (poles closest to the unit circle in the last section, gain in the first), so
 * the coefficients agree with SciPy's to rounding.
 *
 * Filtering is the transposed direct form II per section (as scipy.signal.sosfilt), with the state
 * of every channel kept in the filter between calls: filtering a signal in chunks of any sizes
 * gives bit-for-bit the same output as filtering it at once. Samples are time-major (n x C,
 * channel fastest), as they arrive on the wire. The state starts at zero (spx_iir_reset). */
#ifndef SPX_IIR_FILTER_H
#define SPX_IIR_FILTER_H

#include <stddef.h>

#define SPX_IIR_MAX_ORDER 16 /* band-pass sections = order */

/* Writes order sections (order x 6) into sos. 0 < lo < hi < fs / 2. Returns 0 or -EINVAL. */
int spx_iir_butter_bandpass(int order, double lo_hz, double hi_hz, double fs, double *sos,
                            size_t *n_sections);

/* Magnitude |H(e^{i 2 pi f / fs})| of the cascade (for checks and reports). */
double spx_iir_magnitude(const double *sos, size_t n_sections, double f_hz, double fs);

/* Non-zero when every section has its poles strictly inside the unit circle. */
int spx_iir_is_stable(const double *sos, size_t n_sections);

typedef struct spx_iir spx_iir;

/* Copies the sections (normalising by a0). Returns 0, -EINVAL or -ENOMEM. */
int spx_iir_create(spx_iir **out, const double *sos, size_t n_sections, size_t channels);
void spx_iir_free(spx_iir *f);
void spx_iir_reset(spx_iir *f);
size_t spx_iir_channels(const spx_iir *f);

/* Filters n time-major samples (n x channels). out may equal in. Returns 0 or -EINVAL. */
int spx_iir_process(spx_iir *f, const double *in, double *out, size_t n);

/* Durable state: the delay line of every section and channel (state_size values), so that a
 * filter made with the same sections and given them continues bit for bit. state_set refuses
 * non-finite values (-EINVAL, filter unchanged). */
size_t spx_iir_state_size(const spx_iir *f);
void spx_iir_state_get(const spx_iir *f, double *state);
int spx_iir_state_set(spx_iir *f, const double *state);

#endif
