#!/usr/bin/python3
"""What a user would pick instead: statsmodels state-space models updated online, one per channel.

ETTh1 z-scored with train statistics; for each of the 7 channels a SARIMAX(2,0,1) and a
state-space ExponentialSmoothing (additive trend, damped) fitted once on the last 2000 train rows;
then per time step and channel: results.extend([new value]) (Kalman filter step, parameters kept:
no re-estimation) and results.forecast(H). One step = all 7 channels, like the C model's step.
Also prints the MSE over the streamed test steps (H = 96), to show what the speed buys.

Output lines "RATE <name> <steps per second>" are read by bench_forecast_offline (the first one
is the figure it compares with).
"""
import argparse
import csv
import os
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("SPX_DATA_DIR", os.path.join(HERE, "..", "..", "..", "shared", "data"))


def load(name):
    with open(os.path.join(DATA, "forecast", name + ".csv")) as f:
        r = csv.reader(f)
        next(r)
        return np.array([[float(v) for v in row[1:]] for row in r])


def stream(results, x, start, end, H):
    C = x.shape[1]
    se, cnt = 0.0, 0
    t0 = time.perf_counter()
    for t in range(start, end):
        for c in range(C):
            results[c] = results[c].extend(x[t:t + 1, c])
            f = results[c].forecast(H)
            if t + H < x.shape[0]:
                se += float(((f - x[t + 1:t + 1 + H, c]) ** 2).sum())
                cnt += H
    dt = time.perf_counter() - t0
    return (end - start) / dt, se / max(cnt, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--horizon", type=int, default=96)
    args = ap.parse_args()
    import statsmodels
    from statsmodels.tsa.statespace.exponential_smoothing import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    # after the imports: statsmodels installs its own "always" filter for its warnings
    warnings.simplefilter("ignore")

    H, train, test0 = args.horizon, 8640, 11520
    x = load("ETTh1")[:14400]
    x = (x - x[:train].mean(0)) / x[:train].std(0)
    fit_rows = x[train - 2000:train]
    C = x.shape[1]
    end = min(test0 + args.steps, 14400)

    # SARIMAX: fit on train, filter through val (state only), then stream the test steps
    res = []
    for c in range(C):
        m = SARIMAX(fit_rows[:, c], order=(2, 0, 1), trend="c")
        r = m.fit(disp=False)
        res.append(r.extend(x[train:test0, c]))
    rate, mse = stream(res, x, test0, end, H)
    print(f"statsmodels {statsmodels.__version__} SARIMAX(2,0,1) x {C} channels, extend + "
          f"forecast({H}) per step: {rate:.1f} steps/s, MSE on {end - test0} test steps {mse:.4f}")
    print(f"RATE statsmodels-SARIMAX {rate:.2f}")

    res = []
    for c in range(C):
        m = ExponentialSmoothing(fit_rows[:, c], trend=True, damped_trend=True)
        r = m.fit(disp=False)
        res.append(r.extend(x[train:test0, c]))
    rate, mse = stream(res, x, test0, end, H)
    print(f"statsmodels ExponentialSmoothing(damped trend) x {C} channels: {rate:.1f} steps/s, "
          f"MSE on {end - test0} test steps {mse:.4f}")
    print(f"RATE statsmodels-ETS {rate:.2f}")


if __name__ == "__main__":
    main()
