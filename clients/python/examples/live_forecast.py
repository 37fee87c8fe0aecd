#!/usr/bin/python3
"""Streams the ETTh1 electricity-transformer series (7 channels, hourly) into spectrad's `forecast`
pipeline, collects the forecast published at every origin, and plots forecast vs actual oil
temperature (OT) to a PNG.

    spectrad &                                   # or any running daemon
    /usr/bin/python3 clients/python/examples/live_forecast.py --out forecast.png

The pipeline warms up on the first samples (by default max(8 (lookback + horizon), 1000)), then
issues an H-step forecast after every sample and learns online, leak-free (it updates only on
windows whose whole horizon has arrived). Exits with status 3 when the daemon has no `forecast`
pipeline.
"""

import datetime
import os
import sys
import time

import numpy as np

from common import DATA, connect, drain, fresh_stream, parser, require_algo


def read_ett(path):
    """(times as epoch seconds, values n x 7, column names) of an ETT csv (date, then 7 columns)."""
    with open(path) as f:
        names = f.readline().strip().split(",")[1:]
        dates, rows = [], []
        for line in f:
            fields = line.rstrip("\n").split(",")
            dates.append(datetime.datetime.fromisoformat(fields[0])
                         .replace(tzinfo=datetime.timezone.utc).timestamp())
            rows.append([float(x) for x in fields[1:]])
    return np.array(dates), np.array(rows), names


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--csv", default=os.path.join(DATA, "forecast", "ETTh1.csv"))
    p.add_argument("--samples", type=int, default=3000, help="hours to stream (default 3000)")
    p.add_argument("--horizon", type=int, default=24, help="forecast horizon H in hours")
    p.add_argument("--lookback", type=int, default=96, help="lookback L in hours")
    p.add_argument("--chunk", type=int, default=24, help="samples per push (default one day)")
    p.add_argument("--speed", type=float, default=2000.0,
                   help="samples per second to stream (0: as fast as the daemon takes them)")
    p.add_argument("--plot-hours", type=int, default=24 * 14, help="hours shown in the top panel")
    p.add_argument("--stream", default="example-etth1")
    p.add_argument("--keep", action="store_true", help="keep the stream at the end")
    p.add_argument("--out", default="live_forecast.png")
    args = p.parse_args()

    if not os.path.exists(args.csv):
        sys.exit(f"{args.csv}: not found (pass --csv, or set SPECTRA_DATA to the data folder)")
    times, values, names = read_ett(args.csv)
    n = min(args.samples, len(values))
    target = names.index("OT") if "OT" in names else len(names) - 1
    H = args.horizon

    client = connect(args)
    require_algo(client, "forecast", "series")
    rate = 1.0 / 3600.0
    fresh_stream(client, args.stream, "series", values.shape[1], rate=rate, channel_names=names)
    # Every origin publishes its own body; a deep queue on our side rides out bursts.
    sub = client.subscribe(args.stream + ".", hwm=100000)
    time.sleep(0.3)   # ZeroMQ forwards the subscription asynchronously
    client.attach(args.stream, "fc", "forecast", every=0, interval_ms=0, horizon=H,
                  lookback=args.lookback)

    bodies = []
    start = time.monotonic()
    for lo in range(0, n, args.chunk):
        chunk = values[lo:min(lo + args.chunk, n)]
        client.push_series(args.stream, chunk, times[lo], rate)
        if args.speed > 0:
            delay = start + (lo + len(chunk)) / args.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        drain(sub, bodies)
        if lo // args.chunk % 25 == 0 and bodies:
            r = bodies[-1]["result"]
            state = "forecasting" if r["ready"] else "warming up"
            print(f"\r{lo + len(chunk):6d}/{n} samples pushed, {len(bodies)} results, {state}",
                  end="", flush=True)
    client.wait_accepted(args.stream, timeout=30)
    final = client.get(args.stream, "fc")              # after every sample pushed
    metrics = client.get(args.stream, "fc", detail="metrics")
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and (not bodies or bodies[-1]["count"] < n):
        drain(sub, bodies)
        time.sleep(0.05)
    print()

    # One forecast per origin k (0-based sample index): row h predicts sample k + 1 + h.
    origins = {}
    for b in bodies:
        r = b["result"]
        if b["pipeline"] == "fc" and r.get("ready") and r.get("forecast") is not None:
            origins[r["origin"]] = r["forecast"]
    if not origins:
        client.close()
        sys.exit(f"no forecast published after {n} samples (warm-up {final['result']['warmup']}); "
                 "stream more with --samples")
    step1 = np.full(n + H, np.nan)
    stepH = np.full(n + H, np.nan)
    for k, f in origins.items():
        step1[k + 1] = f[0, target]
        stepH[k + H] = f[H - 1, target]
    actual = values[:n, target]
    scored = ~np.isnan(step1[1:n])
    mae1 = np.mean(np.abs(step1[1:n][scored] - actual[1:][scored]))
    naive1 = np.mean(np.abs(actual[:-1][scored] - actual[1:][scored]))
    print(f"{len(origins)} forecasts received ({sub.lost} lost by the subscriber); "
          f"OT 1-step MAE {mae1:.3f} vs last-value {naive1:.3f} (input units, same hours)")
    print(f"pipeline's running metrics over {metrics['forecasts_scored']} scored forecasts "
          f"({metrics['units']} units, all channels, H={H}): MSE {metrics['mse']:.4f}, "
          f"MAE {metrics['mae']:.4f}")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = (times[:n + H] - times[0]) / 3600.0 if n + H <= len(times) else None
    x = np.arange(n + H) if hours is None else hours
    lo = max(0, n - args.plot_hours)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 8), constrained_layout=True)
    ax1.plot(x[lo:n], actual[lo:], color="black", lw=1.2, label="actual OT")
    ax1.plot(x[lo:n + 1], step1[lo:n + 1], color="tab:blue", lw=1, label="1 h ahead")
    ax1.plot(x[lo:n + H], stepH[lo:n + H], color="tab:orange", lw=1, label=f"{H} h ahead")
    ax1.set_title(f"ETTh1 oil temperature: live forecasts of spectrad's forecast pipeline "
                  f"(last {n - lo} of {n} hours streamed)")
    ax1.set_xlabel("hours since the first sample")
    ax1.set_ylabel(names[target])
    ax1.legend(loc="upper left")

    # Whole H-step forecasts from a few recent origins against what happened.
    recent = sorted(k for k in origins if k + H < n)[-4 * H::H][:4]
    ax2.plot(x[lo:n], actual[lo:], color="black", lw=1.2, label="actual OT")
    for i, k in enumerate(recent):
        ax2.plot(x[k + 1:k + 1 + H], origins[k][:, target], lw=1.5,
                 label=f"{H} h forecasts from {len(recent)} origins" if i == 0 else None,
                 color=f"C{i}")
        ax2.axvline(x[k], color=f"C{i}", ls=":", lw=0.8)
    ax2.set_xlim(x[recent[0] - H] if recent else x[lo], x[n - 1])
    ax2.set_title(f"{H}-hour forecasts from recent origins (dotted: origin). Pipeline metrics: "
                  f"MSE {metrics['mse']:.3f}, MAE {metrics['mae']:.3f} ({metrics['units']})")
    ax2.set_xlabel("hours since the first sample")
    ax2.set_ylabel(names[target])
    ax2.legend(loc="upper left")
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")

    if not args.keep:
        client.drop(args.stream)
    client.close()


if __name__ == "__main__":
    main()
