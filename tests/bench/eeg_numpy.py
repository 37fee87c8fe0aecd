#!/usr/bin/python3
"""The numpy twin of bench_eeg_latency.c: the same per-window computations on the same windows with
the same trained models, timed the same way (one window at a time, wall clock per window).

    A: OAS covariance (sklearn's formula) + MDM with each class mean's M^-1/2 precomputed,
       d^2 = sum(log^2(eigvalsh(M^-1/2 C M^-1/2))).
    B: augmented covariance (order, lag; MOABB slicing) + OAS + tangent space at the reference
       (R^-1/2 precomputed; eigh + log) + logistic regression (w, b).

Usage: eeg_numpy.py MODEL_FILE OUT_FILE  (written by bench_eeg_latency; little-endian)
  MODEL_FILE: int64 C, T, n, order, lag, then float64 windows (n x C x T), the two class means'
  M^-1/2 (2 x C x C), R^-1/2 (C*order square), w (C*order*(C*order+1)/2), b.
  OUT_FILE receives the int32 labels of A then B; stdout one line per computation:
  "A p50_ms p99_ms windows_per_s" and "B ...".
"""
import sys
import time

import numpy as np


def oas(x):
    x = x - x.mean(axis=1, keepdims=True)
    p, n = x.shape
    s = x @ x.T / n
    mu = np.trace(s) / p
    alpha = np.mean(s ** 2)
    num = alpha + mu * mu
    den = (n + 1.0) * (alpha - mu * mu / p)
    sh = 1.0 if den == 0 else min(num / den, 1.0)
    s = (1.0 - sh) * s
    s.flat[:: p + 1] += sh * mu
    return s


def augment(x, order, lag):
    if order == 1:
        return x
    t = x.shape[1]
    return np.concatenate([x[:, p * lag: t - (order - p) * lag] for p in range(order)], axis=0)


def main():
    model, out = sys.argv[1], sys.argv[2]
    raw = open(model, "rb").read()
    c, t, n, order, lag = np.frombuffer(raw, "<i8", 5)
    f = np.frombuffer(raw, "<f8", offset=40)
    k = 0
    win = f[k:k + n * c * t].reshape(n, c, t); k += n * c * t
    mis = f[k:k + 2 * c * c].reshape(2, c, c); k += 2 * c * c
    d = c * order
    ris = f[k:k + d * d].reshape(d, d); k += d * d
    nf = d * (d + 1) // 2
    w = f[k:k + nf]; k += nf
    b = f[k]
    iu = np.triu_indices(d)
    coef = (np.sqrt(2) * np.triu(np.ones((d, d)), 1) + np.eye(d))[iu]

    def pred_a(x):
        s = oas(x)
        d2 = [np.sum(np.log(np.linalg.eigvalsh(m @ s @ m)) ** 2) for m in mis]
        return int(np.argmin(d2))

    def pred_b(x):
        s = oas(augment(x, order, lag))
        e, v = np.linalg.eigh(ris @ s @ ris)
        lg = (v * np.log(e)) @ v.T
        score = float(lg[iu] * coef @ w + b)
        return 1 if score > 0 else 0

    labels = []
    for name, fn in (("A", pred_a), ("B", pred_b)):
        for i in range(min(n, 20)):  # warm-up
            fn(win[i])
        times = np.empty(n)
        lab = np.empty(n, np.int32)
        t_all = time.perf_counter()
        for i in range(n):
            t0 = time.perf_counter()
            lab[i] = fn(win[i])
            times[i] = time.perf_counter() - t0
        total = time.perf_counter() - t_all
        labels.append(lab)
        print("%s %.4f %.4f %.1f" % (name, 1e3 * np.percentile(times, 50),
                                     1e3 * np.percentile(times, 99), n / total))
    np.concatenate(labels).astype("<i4").tofile(out)


if __name__ == "__main__":
    main()
