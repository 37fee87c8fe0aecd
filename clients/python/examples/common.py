"""What the examples share: endpoints on the command line, the data folder, and checks that the
daemon has the pipeline an example needs."""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))   # run from a checkout as is

import spectra  # noqa: E402

# The project's real data lives beside the checkout (see ../shared/data/README.md).
DATA = os.environ.get("SPECTRA_DATA", os.path.join(ROOT, "..", "shared", "data"))

EXIT_NO_PIPELINE = 3


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--control", default=spectra.DEFAULT_CONTROL, help="control endpoint")
    p.add_argument("--ingest", default=spectra.DEFAULT_INGEST, help="ingest endpoint")
    p.add_argument("--publish", default=spectra.DEFAULT_PUBLISH, help="results endpoint")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for a control reply (a get waits for the pipeline to "
                        "catch up)")
    return p


def connect(args):
    """A Client on the endpoints of args; exits with a message when no daemon answers."""
    client = spectra.Client(args.control, args.ingest, args.publish, timeout=args.timeout,
                            linger=5.0)
    try:
        client.wait_ready(timeout=5.0)
    except spectra.Timeout:
        client.close(linger=0)
        sys.exit(f"no spectrad answers on {args.control} (start one: spectrad, or pass --control)")
    return client


def require_algo(client, algo, kind):
    """Exits (status 3) with a clear message when the daemon has no `algo` pipeline for `kind`."""
    algos = {a["algo"]: a for a in client.algos()}
    if algo not in algos or kind not in algos[algo].get("kinds", []):
        client.close(linger=0)
        have = ", ".join(sorted(algos)) or "none"
        print(f"this spectrad has no '{algo}' pipeline for {kind} streams (it has: {have}); "
              f"build a spectrad that includes streams/adapters/{algo}*.c", file=sys.stderr)
        sys.exit(EXIT_NO_PIPELINE)
    return algos[algo]


def fresh_stream(client, stream, kind, dim, **create_args):
    """Creates the example's stream, dropping one of the same name left by an earlier run."""
    try:
        client.create(stream, kind, dim, **create_args)
    except spectra.DaemonError as e:
        if e.code != "exists":
            raise
        print(f"stream {stream} exists (an earlier run?): dropping it", file=sys.stderr)
        client.drop(stream)
        client.create(stream, kind, dim, **create_args)


def drain(sub, into):
    """Appends every result already received by sub to the list into."""
    while True:
        try:
            into.append(sub.recv(timeout=0))
        except spectra.Timeout:
            return
