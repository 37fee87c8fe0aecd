#!/usr/bin/python3
"""The incremental truncated SVD block update of algorithms/isvd.c, in numpy, for speed comparison.

Same steps as the C code: projection with a conditional second Gram-Schmidt pass, Householder QR of
the residual, SVD of its R factor to drop rounding directions, Gram matrix of the core, eigh, and the
rotation of the basis. Run with OPENBLAS_NUM_THREADS=1 for a one-thread figure.

Usage: isvd_numpy.py M N K P UPDATES [SEED]
Prints one line: "numpy m=M n=N k=K p=P updates=U seconds=S updates_per_s=R sigma0=X".
"""
import sys
import time

import numpy as np


def update(U, s, A, q, rank_tol=1e-12):
    a2 = np.einsum("ij,ij->j", A, A)
    if U.shape[1]:
        C = U.T @ A
        R = A - U @ C
        if np.any(2.0 * np.einsum("ij,ij->j", R, R) < a2):
            C2 = U.T @ R
            R -= U @ C2
            C += C2
    else:
        C = np.zeros((0, A.shape[1]))
        R = A.copy()
    Q, B = np.linalg.qr(R)
    X, sig, _ = np.linalg.svd(B)
    keep = int(np.count_nonzero(sig > rank_tol * np.sqrt(a2.sum())))
    keep = min(keep, U.shape[0] - U.shape[1])
    X = X[:, :keep]
    P = Q @ X
    Z = X.T @ B
    cur = U.shape[1]
    nn = cur + keep
    G = np.empty((nn, nn))
    G[:cur, :cur] = C @ C.T
    G[:cur, :cur][np.diag_indices(cur)] += s * s
    G[cur:, :cur] = Z @ C.T
    G[:cur, cur:] = G[cur:, :cur].T
    G[cur:, cur:] = Z @ Z.T
    lam, V = np.linalg.eigh(G)
    kk = min(q, nn)
    lam = lam[::-1][:kk]
    V = V[:, ::-1][:, :kk]
    Unew = U @ V[:cur] + P @ V[cur:]
    return Unew, np.sqrt(np.maximum(lam, 0.0))


def main():
    m, n, k, p, updates = (int(x) for x in sys.argv[1:6])
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    rng = np.random.default_rng(seed)
    q = min(k + p, m)
    blocks = rng.standard_normal((64, m, n))
    U = np.zeros((m, 0))
    s = np.zeros(0)
    # warm up to a full basis, then time
    for t in range(8):
        U, s = update(U, s, blocks[t % 64], q)
    t0 = time.perf_counter()
    for t in range(updates):
        U, s = update(U, s, blocks[t % 64], q)
    dt = time.perf_counter() - t0
    print(f"numpy m={m} n={n} k={k} p={p} updates={updates} seconds={dt:.6f} "
          f"updates_per_s={updates / dt:.1f} sigma0={s[0]:.6g}")


if __name__ == "__main__":
    main()
