#!/usr/bin/python3
"""scikit-learn IncrementalPCA as a streaming top-eigenvector estimator, on the same matrices as
tests/bench/bench_topeig_accuracy.c, for comparison with the topeig methods.

Run the C report with --dump first, then this script (Debian's python3, python3-sklearn):

    build/bin/bench_topeig_accuracy --dump /tmp/topeig-dump
    /usr/bin/python3 tests/bench/sklearn_ipca.py /tmp/topeig-dump

Accuracy: IncrementalPCA(n_components=1, batch_size=512), partial_fit over the rows in stream order,
<v, v1>^2 against numpy's exact top eigenvector of A^T A (eigh). IncrementalPCA centres the data;
for the zero-mean spikes and the z-scored spambase that changes nothing, for raw spambase (mean far
from 0) its answer is the top principal component, not the top eigenvector of A^T A, so both
references are printed. Speed: rows/s of partial_fit on uniform random rows at d = 100, 1000, 10000
(one BLAS thread, as the C benchmark).
"""
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.decomposition import IncrementalPCA  # noqa: E402


def load(dump_dir, name):
    with open(os.path.join(dump_dir, name + ".shape")) as f:
        n, d = (int(v) for v in f.read().split())
    a = np.fromfile(os.path.join(dump_dir, name + ".f64"), dtype="<f8")
    return a.reshape(n, d)


def top_eig(m):
    w, v = np.linalg.eigh(m)
    return v[:, -1], w[-1] / w[-2]


def ipca_vector(a, batch=512):
    ipca = IncrementalPCA(n_components=1, batch_size=batch)
    for i in range(0, a.shape[0], batch):
        chunk = a[i:i + batch]
        if chunk.shape[0] < 1:
            break
        if chunk.shape[0] == 1:  # partial_fit needs at least n_components rows; fold a lone row in
            continue
        ipca.partial_fit(chunk)
    return ipca.components_[0]


def corr2(v, u):
    return float(np.dot(v, u) ** 2 / (np.dot(v, v) * np.dot(u, u)))


def accuracy(dump_dir, shuffles):
    print("IncrementalPCA(n_components=1, batch_size=512): <v,v1>^2 vs exact top eigenvector of A^T A")
    print(f"{'matrix':<22} {'R':>6} {'<v,v1>^2':>10}")
    for name in ["spike-1.5", "spike-3", "spike-10", "heavy-iso", "heavy-aligned", "adversarial",
                 "spambase-raw", "spambase-z"]:
        path = os.path.join(dump_dir, name + ".f64")
        if not os.path.exists(path):
            print(f"{name:<22} (no dump)")
            continue
        a = load(dump_dir, name)
        v1, R = top_eig(a.T @ a)
        v = ipca_vector(a)
        line = f"{name:<22} {R:6.2f} {corr2(v, v1):10.5f}"
        if name == "spambase-raw":
            c = a - a.mean(axis=0)
            pc1, _ = top_eig(c.T @ c)
            line += f"   (vs the top principal component: {corr2(v, pc1):.5f})"
        print(line, flush=True)
        if name.startswith("spambase") and shuffles > 0:
            rng = np.random.default_rng(1000)
            cs = []
            for _ in range(shuffles):
                cs.append(corr2(ipca_vector(a[rng.permutation(a.shape[0])]), v1))
            cs = np.sort(np.array(cs))
            print(f"{'  ' + str(shuffles) + ' random orders':<22} {'':>6} median {np.median(cs):.4f} "
                  f"min {cs[0]:.4f}  below 0.99: {np.mean(cs < 0.99) * 100:.0f}%", flush=True)


def speed():
    print("\nIncrementalPCA partial_fit throughput (batch 512, one BLAS thread)")
    print(f"{'d':>6} {'rows/s':>12}")
    rng = np.random.default_rng(1)
    for d, n in [(100, 100_000), (1000, 20_000), (10000, 2048)]:
        a = rng.uniform(-0.5, 0.5, size=(n, d))
        best = 0.0
        for _ in range(2):
            t0 = time.process_time()
            ipca_vector(a)
            best = max(best, n / (time.process_time() - t0))
        print(f"{d:>6} {best:12.0f}", flush=True)


def main():
    dump_dir = sys.argv[1] if len(sys.argv) > 1 else "/tmp/topeig-dump"
    shuffles = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    accuracy(dump_dir, shuffles)
    speed()


if __name__ == "__main__":
    main()
