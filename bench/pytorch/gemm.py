"""PyTorch's float32 matrix product, the baseline for `musicgen bench gemm`: C = op(A) op(B), M = N = K = --n
(default 4096) unless --m/--k are given, transposes by --trans (NN, NT, TN), TF32 off unless --tf32, median of
--reps timed products after warm-up.

    python3 bench/pytorch/gemm.py [--n 4096] [--m M --k K] [--trans NT] [--reps 20] [--tf32]
"""
import argparse
import json
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--m", type=int, default=0)
    ap.add_argument("--k", type=int, default=0)
    ap.add_argument("--trans", default="NN")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    dev = torch.device(a.device)
    n = a.n
    m, k = a.m or n, a.k or n
    # Stored as the GEMM would find them: op(A) = A^T reads a [k, m] tensor, op(B) = B^T a [n, k] one.
    A = torch.rand(k, m, device=dev).t() if a.trans[0] == "T" else torch.rand(m, k, device=dev)
    B = torch.rand(n, k, device=dev).t() if a.trans[1] == "T" else torch.rand(k, n, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(3):
        A @ B
    sync()
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        A @ B
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(times)
    print(json.dumps({"bench": "gemm", "impl": "pytorch", "torch": torch.__version__, "device": str(dev), "tf32": a.tf32,
                      "m": m, "n": n, "k": k, "trans": a.trans, "median_ms": round(med, 4), "gflops": round(2 * m * n * k / (med / 1000) / 1e9, 1)}))


if __name__ == "__main__":
    main()
