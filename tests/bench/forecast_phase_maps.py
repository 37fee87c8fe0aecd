#!/usr/bin/python3
"""Prototype (numpy) of the next step for issue 6's ETTh1 H = 96 target: phase-conditioned maps.

Not the pipeline's model yet. Measures, on the standard ETTh1 split (z-scored with the train rows,
L = H = 96, RevIN last value, warm-up = train rows [0, 8640)), the online leak-free protocol with
the models written as exponentially weighted ridge solutions recomputed at every step (what RLS
with regularised forgetting equals at its checkpoints):

  shared   one map for all channels and all origins (the pipeline's model; forget 0.999, ridge 1000)
  phase    one map per phase of the origin (origin index mod 24: hour of day on hourly data), each
           shrunk towards the current shared map:
               W_h = argmin sum_{windows of phase h} lam_h^age ||y - W^T x||^2 + lam2 ||W - W_s||^2
                   = (G_h + lam2 I)^-1 (B_h + lam2 W_s),
           so each phase keeps the shared map's shape and learns its own daily-cycle dynamics;
           optionally the shared map's features get a one-hot of the phase (a per-hour bias).

After sample t: add the window with origin t - H (all its targets observed) to the statistics, then
forecast from origin t. Metrics: windows whose targets all lie in val [8640, 11520) or test
[11520, 14400). Every setting is chosen on val; test is printed beside it, never used to choose.

Usage: forecast_phase_maps.py [--quick]   (about 1 min per row on 2 busy cores)
"""
import argparse
import csv
import os
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("SPX_DATA_DIR", os.path.join(HERE, "..", "..", "..", "shared", "data"))
L = H = 96
TRAIN, VAL_END, TEST_END = 8640, 11520, 14400


def load(name):
    with open(os.path.join(DATA, "forecast", name + ".csv")) as f:
        r = csv.reader(f)
        next(r)
        return np.array([[float(v) for v in row[1:]] for row in r])


def orthotrans(z, rank):
    """Top `rank` eigenvectors of the train windows' pooled Pearson correlation."""
    win = sliding_window_view(z[:TRAIN], L, axis=0)  # (n, C, L)
    a = 0.0
    for c in range(z.shape[1]):
        w = win[:, c, :] - win[:, c, :].mean(0)
        a = a + w.T @ w
    d = np.sqrt(np.diag(a))
    ev, q = np.linalg.eigh(a / np.outer(d, d))
    return q[:, ::-1][:, :rank]


def run(z, lam=1000.0, lam_s=0.999, lam2=1000.0, lam_h=0.9995, period=24, hour=True, rank=L,
        phase=True):
    c = z.shape[1]
    w = sliding_window_view(z, L + H, axis=0)  # window j: origin j + L - 1
    n = len(w)
    origin = np.arange(n) + L - 1
    sh = w[..., L - 1:L]
    x = w[..., :L] - sh
    y = w[..., L:] - sh
    if rank < L:
        x = x @ orthotrans(z, rank)
    if hour:
        oh = np.zeros((n, period))
        oh[np.arange(n), origin % period] = 1.0
        x = np.concatenate([x, np.repeat(oh[:, None, :], c, 1)], -1)
    k = x.shape[-1]
    eye = np.eye(k)
    warm = origin + H <= TRAIN - 1
    xw, yw = x[warm].reshape(-1, k), y[warm].reshape(-1, H)
    gs, bs = xw.T @ xw, xw.T @ yw
    gh = np.zeros((period, k, k))
    bh = np.zeros((period, k, H))
    for h in range(period):
        m = warm & (origin % period == h)
        xa, ya = x[m].reshape(-1, k), y[m].reshape(-1, H)
        gh[h], bh[h] = xa.T @ xa, xa.T @ ya
    sse = {"val": 0.0, "test": 0.0}
    cnt = {"val": 0, "test": 0}
    for t in range(TRAIN - 1, TEST_END - H):
        if t > TRAIN - 1:
            j = t - H - (L - 1)  # the window whose horizon ends at t
            g, b = x[j].T @ x[j], x[j].T @ y[j]
            gs, bs = lam_s * gs + g, lam_s * bs + b
            gh *= lam_h
            bh *= lam_h
            gh[(t - H) % period] += g
            bh[(t - H) % period] += b
        part = "val" if t + H <= VAL_END - 1 else "test" if t >= VAL_END - 1 else None
        if part is None:
            continue
        ws = np.linalg.solve(gs + lam * eye, bs)
        if phase:
            p = t % period
            ws = np.linalg.solve(gh[p] + lam2 * eye, bh[p] + lam2 * ws)
        j = t - (L - 1)
        sse[part] += float(((x[j] @ ws - y[j]) ** 2).mean())
        cnt[part] += 1
    return sse["val"] / cnt["val"], sse["test"] / cnt["test"], cnt["test"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="only the shared baseline and the val-best")
    a = ap.parse_args()
    d = load("ETTh1")[:TEST_END]
    z = (d - d[:TRAIN].mean(0)) / d[:TRAIN].std(0)
    rows = [
        ("shared (the pipeline's model, full rank)", dict(phase=False, hour=False)),
        ("shared + hour one-hot", dict(phase=False)),
        ("phase maps lam2=300", dict(lam2=300.0)),
        ("phase maps lam2=1000", dict(lam2=1000.0)),
        ("phase maps lam2=1000, no one-hot", dict(lam2=1000.0, hour=False)),
        ("phase maps lam2=1000, lam_h=0.9998", dict(lam2=1000.0, lam_h=0.9998)),
        ("phase maps lam2=1000, lam_h=0.9998, rank 32", dict(lam2=1000.0, lam_h=0.9998, rank=32)),
    ]
    if a.quick:
        rows = [rows[0], rows[5]]
    best = None
    print("ETTh1 H=96 online leak-free MSE (z-scored), settings chosen on val")
    for name, kw in rows:
        t0 = time.time()
        v, te, nt = run(z, **kw)
        print(f"  {name:46s} val {v:.4f}  test {te:.4f}  ({nt} test windows, {time.time() - t0:.0f} s)",
              flush=True)
        if best is None or v < best[1]:
            best = (name, v, te)
    print(f"chosen on val: {best[0]}: test MSE {best[2]:.4f}")


if __name__ == "__main__":
    main()
