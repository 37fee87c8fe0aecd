#!/usr/bin/python3
"""Streams EEGMMIDB motor-imagery recordings (EDF+, 64 channels, 160 Hz, cues T1 = left fist,
T2 = right fist) into spectrad's `eegclass` pipeline as if live, and plots the class
probabilities it publishes for each sliding window, over the cues, to a PNG.

    spectrad &                                   # or any running daemon
    /usr/bin/python3 clients/python/examples/live_eeg_probabilities.py --out eeg.png

The calibration runs (default S001R08, S001R12: the same imagery task) are pushed first at full
speed with their cue events, so the pipeline has labelled trials to fit on; then the live run
(default S001R04) is pushed in chunks of --chunk seconds, --speed times faster than real time.
Cue events travel with the samples, as a stimulus program would send them. EDF is read with
libbiosig's Python binding (Debian: python3-biosig). Exits with status 3 when the daemon has no
`eegclass` pipeline.
"""

import json
import os
import sys
import time

import numpy as np

from common import DATA, connect, drain, fresh_stream, parser, require_algo

RUNS = os.path.join(DATA, "eeg", "eegmmidb", "S001")


def read_edf(path):
    """(samples n x C in uV, rate, channel names, events [{t (s from start), label, duration}])."""
    try:
        import biosig
    except ImportError:
        sys.exit("reading EDF needs libbiosig's Python binding: apt-get install python3-biosig")
    header = json.loads(biosig.header(path))
    data = np.ascontiguousarray(biosig.data(path), dtype=np.float64)
    names = [c["Label"].strip(". ") for c in header["CHANNEL"][:data.shape[1]]]
    events = [{"t": float(e["POS"]), "label": e["Description"].strip(),
               "duration": float(e.get("DUR") or 0.0)} for e in header.get("EVENT", [])]
    return data, float(header["Samplingrate"]), names, events


def find_proba(result):
    """(probabilities, predicted span end) of a window prediction in a result map, or None. The
    body layout is the eegclass pipeline's (docs/algorithms.md); probabilities are an ndarray
    under "proba" in the result or in one of its maps (e.g. "window")."""
    for where in ("window", "prediction", None):
        m = result if where is None else result.get(where)
        if isinstance(m, dict) and isinstance(m.get("proba"), np.ndarray):
            t = m.get("t_end", m.get("t", None))
            return m["proba"], t
    return None


def push_run(client, stream, data, rate, events, t_start, chunk, speed):
    """Pushes one recording starting at time t_start, in chunks of `chunk` samples; speed > 0
    paces it at speed x real time. Yields after every chunk, so the caller can read results."""
    evs = [dict(e, t=t_start + e["t"]) for e in events]
    start = time.monotonic()
    for lo in range(0, len(data), chunk):
        part = data[lo:lo + chunk]
        t0 = t_start + lo / rate
        t1 = t_start + (lo + len(part)) / rate
        mine = [e for e in evs if t0 <= e["t"] < t1 or (lo == 0 and e["t"] < t0)]
        client.push_series(stream, part, t0, rate, events=mine)
        if speed > 0:
            delay = start + (lo + len(part)) / rate / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield lo + len(part)


def main():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--live", default=os.path.join(RUNS, "S001R04.edf"), help="the run shown")
    p.add_argument("--calibration", default=",".join(
        os.path.join(RUNS, f"S001R{r}.edf") for r in ("08", "12")),
        help="comma-separated runs pushed first, for the classifier to train on ('' for none)")
    p.add_argument("--chunk", type=float, default=0.125, help="seconds of samples per push")
    p.add_argument("--speed", type=float, default=10.0,
                   help="times faster than real time (0: as fast as the daemon takes them)")
    p.add_argument("--classes", default="T1,T2")
    p.add_argument("--stream", default="example-eeg")
    p.add_argument("--keep", action="store_true", help="keep the stream at the end")
    p.add_argument("--out", default="live_eeg_probabilities.png")
    args = p.parse_args()

    calibration = [f for f in args.calibration.split(",") if f]
    for f in [args.live] + calibration:
        if not os.path.exists(f):
            sys.exit(f"{f}: not found (pass --live/--calibration, or set SPECTRA_DATA)")
    live, rate, names, live_events = read_edf(args.live)
    classes = args.classes.split(",")

    client = connect(args)
    require_algo(client, "eegclass", "series")
    fresh_stream(client, args.stream, "series", live.shape[1], rate=rate, channel_names=names)
    sub = client.subscribe(args.stream + ".", hwm=100000)
    time.sleep(0.3)   # ZeroMQ forwards the subscription asynchronously
    client.attach(args.stream, "clf", "eegclass", every=0, interval_ms=0, classes=args.classes)

    chunk = max(1, int(round(args.chunk * rate)))
    bodies = []
    t_next = time.time() - 3600.0   # recordings are stamped back to back, ending about now
    for f in calibration:
        data, r, _, events = read_edf(f)
        if r != rate or data.shape[1] != live.shape[1]:
            sys.exit(f"{f}: {data.shape[1]} channels at {r} Hz, the live run has "
                     f"{live.shape[1]} at {rate} Hz")
        for _ in push_run(client, args.stream, data, rate, events, t_next, 10 * chunk, 0):
            drain(sub, bodies)
        print(f"calibration {os.path.basename(f)}: {len(data) / rate:.0f} s, "
              f"{sum(e['label'] in classes for e in events)} cues pushed")
        t_next += len(data) / rate + 5.0
    n_calibration = len(bodies)

    live_start = t_next
    for done in push_run(client, args.stream, live, rate, live_events, live_start, chunk,
                         args.speed):
        drain(sub, bodies)
        print(f"\rlive {os.path.basename(args.live)}: {done / rate:6.1f} of "
              f"{len(live) / rate:.0f} s, {len(bodies) - n_calibration} results", end="",
              flush=True)
    print()
    client.wait_accepted(args.stream, timeout=60)
    client.get(args.stream, "clf")
    time.sleep(0.5)
    drain(sub, bodies)

    points = []
    for b in bodies:
        found = find_proba(b["result"])
        if found is not None:
            proba, t = found
            points.append((t if isinstance(t, float) else b["t_in"], proba))
    points = [(t - live_start, pr) for t, pr in points if t >= live_start]
    if not points:
        keys = sorted(bodies[-1]["result"]) if bodies else []
        client.close()
        sys.exit(f"no window probabilities in {len(bodies)} results of the live run (result keys: "
                 f"{keys}); was the classifier fitted? see the pipeline's docs")
    t = np.array([pt for pt, _ in points])
    proba = np.vstack([pr for _, pr in points])
    print(f"{len(points)} window predictions during the live run ({sub.lost} results lost)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(14, 5), constrained_layout=True)
    colors = {c: f"C{i}" for i, c in enumerate(classes)}
    for e in live_events:
        if e["label"] in colors:
            ax.axvspan(e["t"], e["t"] + (e["duration"] or 4.0), color=colors[e["label"]],
                       alpha=0.15, lw=0)
    for i, c in enumerate(classes[:proba.shape[1]]):
        ax.plot(t, proba[:, i], color=colors[c], lw=1, label=f"P({c})")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, len(live) / rate)
    ax.set_xlabel(f"seconds into {os.path.basename(args.live)}")
    ax.set_ylabel("class probability")
    ax.set_title("spectrad eegclass: live class probabilities per window; shaded: the cue "
                 "intervals, in the colour of their class")
    ax.legend(loc="upper right")
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")

    if not args.keep:
        client.drop(args.stream)
    client.close()


if __name__ == "__main__":
    main()
