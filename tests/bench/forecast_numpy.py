#!/usr/bin/python3
"""The forecaster of algorithms/forecast.h in plain numpy, for a speed comparison in the same run.

Same model and step as the C code: ETTh1 z-scored with train statistics, OrthoTrans basis from the
pooled Pearson correlation of the train windows (top `rank` components), RevIN (last value), one
map shared by the 7 channels fitted by ridge on the train windows, then per time step: a block RLS
update with the window whose horizon just completed (Cholesky of the C x C innovation matrix,
regularised forgetting every few updates) and a forecast of the next H values of every channel.
Prints the steps/s and, as a check, the test MSE of the run on the standard split's first
`--steps` test steps.

Output lines "RATE <name> <steps per second>" are read by bench_forecast_offline.
"""
import argparse
import csv
import os
import time

import numpy as np
import scipy.linalg as sla

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("SPX_DATA_DIR", os.path.join(HERE, "..", "..", "..", "shared", "data"))


def load(name):
    with open(os.path.join(DATA, "forecast", name + ".csv")) as f:
        r = csv.reader(f)
        next(r)
        return np.array([[float(v) for v in row[1:]] for row in r])


def pooled_pearson_basis(x, L, r):
    C = x.shape[1]
    S = np.zeros((L, L))
    for c in range(C):
        W = np.lib.stride_tricks.sliding_window_view(x[:, c], L)
        W = W - W.mean(0)
        S += W.T @ W
    d = 1.0 / np.sqrt(np.diag(S))
    R = S * np.outer(d, d)
    w, V = np.linalg.eigh(R)
    return V[:, ::-1][:, :r]


class Model:
    def __init__(self, x_warm, L, H, r, ridge, forget, interval=64):
        self.L, self.H = L, H
        self.Q = pooled_pearson_basis(x_warm, L, r)
        self.q1 = self.Q.sum(0)
        self.lam, self.delta = forget, ridge
        self.interval = min(interval, max(1, int(np.floor(np.log(0.5) / np.log(forget))))) \
            if forget < 1 else 0
        self.since = 0
        n, C = x_warm.shape
        G = ridge * np.eye(r)
        B = np.zeros((r, H))
        for o in range(L - 1, n - H):
            X = x_warm[o - L + 1:o + 1].T
            sh = X[:, -1:]
            Z = X @ self.Q - sh * self.q1
            Y = x_warm[o + 1:o + 1 + H].T - sh
            G += Z.T @ Z
            B += Z.T @ Y
        cf = sla.cho_factor(G)
        self.W = sla.cho_solve(cf, B)
        self.P = sla.cho_solve(cf, np.eye(r))

    def features(self, X):
        sh = X[:, -1:]
        return X @ self.Q - sh * self.q1, sh

    def update(self, Z, Y):
        P, lam = self.P, self.lam
        G = Z @ P                      # C x r  (G^T)
        S = Z @ G.T + lam * np.eye(Z.shape[0])
        U = np.linalg.cholesky(S)      # lower: S = U U^T
        E = Y - Z @ self.W
        Vt = sla.solve_triangular(U, G, lower=True)
        F = sla.solve_triangular(U, E, lower=True)
        self.W += Vt.T @ F
        self.P = (P - Vt.T @ Vt) / lam
        self.since += 1
        if self.interval and self.since >= self.interval:
            eps = self.delta * (1 - lam ** self.since)
            Pn = np.linalg.solve(np.eye(P.shape[0]) + eps * self.P, self.P)
            self.P = 0.5 * (Pn + Pn.T)
            self.W -= eps * self.P @ self.W
            self.since = 0

    def predict(self, Z, sh):
        return Z @ self.W + sh


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rank", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--horizon", type=int, default=96)
    args = ap.parse_args()
    L, H, train, test0 = 96, args.horizon, 8640, 11520
    x = load("ETTh1")[:14400]
    x = (x - x[:train].mean(0)) / x[:train].std(0)
    m = Model(x[:train], L, H, args.rank, ridge=1000.0, forget=0.9995)
    # stream from the test start (the model was warmed up on train; val is skipped for speed)
    start = test0
    end = min(start + args.steps, 14400)
    zc = {}
    se, cnt = 0.0, 0
    for t in range(start - H, start):
        zc[t] = m.features(x[t - L + 1:t + 1].T)
    t0 = time.perf_counter()
    for t in range(start, end):
        zc[t] = m.features(x[t - L + 1:t + 1].T)
        o = t - H
        Z, sh = zc.pop(o)
        m.update(Z, x[o + 1:t + 1].T - sh)
        yh = m.predict(*zc[t])
        if t + H < 14400:
            se += ((yh - x[t + 1:t + 1 + H].T) ** 2).sum()
            cnt += yh.size
    dt = time.perf_counter() - t0
    rate = (end - start) / dt
    print(f"numpy rank {args.rank}: {rate:.0f} steps/s ({1e6 / rate:.1f} us/step), "
          f"MSE on these {end - start} test steps {se / cnt:.4f}")
    print(f"RATE numpy-rank{args.rank} {rate:.1f}")


if __name__ == "__main__":
    main()
