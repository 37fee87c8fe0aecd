#!/usr/bin/env python3
"""Formats the live topeig results of `make demo` (JSON lines from `spectra sub`) as a table.

For reference it computes the exact top eigenvector of A^T A of the same file with numpy, so each
line shows how close the streaming estimate is: <v, v1>^2 (1.0 = identical direction)."""
import json
import sys

import numpy as np

data_path, names_path = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
a = np.loadtxt(data_path)[:, :57]
w, vecs = np.linalg.eigh(a.T @ a)
v1 = vecs[:, -1]

names = [f"x{i + 1}" for i in range(57)]
if names_path:
    try:
        rows = [l.strip() for l in open(names_path) if l.strip()]
        if len(rows) == 54:   # the file lists the word/char features; UCI names the last three so
            rows += ["capital_run_length_average", "capital_run_length_longest",
                     "capital_run_length_total"]
        if len(rows) == 57:
            names = rows
    except OSError:
        pass

print(f"{'seq':>4} {'rows':>6} {'eigenvalue s1^2/n':>18} {'<v,v1>^2':>9}  largest loadings")
for line in sys.stdin:
    msg = json.loads(line)
    res = msg["result"]
    v = np.asarray(res["vector"], dtype=float)
    corr = float(v @ v1) ** 2
    top = np.argsort(-np.abs(v))[:2]
    loads = ", ".join(f"{names[i]} {v[i]:+.3f}" for i in top)
    print(f"{msg['seq']:>4} {res['rows_seen']:>6} {res['eigenvalue']:>18.6g} {corr:>9.6f}  {loads}",
          flush=True)
print(f"exact (numpy eigh): eigenvalue s1^2/n = {w[-1] / len(a):.6g}")
