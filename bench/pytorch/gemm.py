"""PyTorch's float32 matrix product, the baseline for `musicgen bench gemm`: C = A B at M = N = K (default 4096),
TF32 off unless --tf32, median of --reps timed products after warm-up.

    python3 bench/pytorch/gemm.py [--n 4096] [--reps 20] [--tf32]
"""
import argparse
import json
import statistics
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4096)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--tf32", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    dev = torch.device(a.device)
    n = a.n
    A = torch.rand(n, n, device=dev)
    B = torch.rand(n, n, device=dev)
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
                      "m": n, "n": n, "k": n, "median_ms": round(med, 4), "gflops": round(2 * n ** 3 / (med / 1000) / 1e9, 1)}))


if __name__ == "__main__":
    main()
