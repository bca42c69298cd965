"""PyTorch's side of `musicgen bench train-step`: the same network (musicgen_torch.MusicNet: per layer
nn.LSTM(bidirectional=True) -> LayerNorm -> Dropout 0.2; a 128-way pitch head and 2 regression outputs), the same
loss shape (pitch cross-entropy + 0.5 x squared error per regression output), gradient-norm clip 1 and Adam,
timed step by step after a warm-up. cuDNN is on (PyTorch's default on CUDA).

    python3 bench/pytorch/train_step.py [--hidden 128 --seq 10 --batch 64 --layers 2] [--device cuda] [--tf32]

Prints one JSON line: median and minimum ms per step over --steps timed steps.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from musicgen_torch import MusicNet


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seq", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--unidirectional", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in matrix products and cuDNN (default: off, true float32)")
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    config = {"Layers": a.layers, "Hidden": a.hidden, "Bidirectional": not a.unidirectional, "Velocity": False,
              "Input": "scalar", "EmbeddingDim": 32, "LayerNorm": True, "Dropout": 0.2, "Heads": "regression"}
    dev = torch.device(a.device)
    torch.manual_seed(1)
    net = MusicNet(config).to(dev).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    T, B = a.seq, a.batch
    inputs = torch.rand(T, B, 3, device=dev)
    pitch = torch.randint(0, 128, (B,), device=dev)
    reg_target = torch.rand(B, 2, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        logits, reg = net(inputs)
        loss = F.cross_entropy(logits, pitch) + 0.5 * F.mse_loss(reg, reg_target, reduction="none").sum(1).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(a.warmup):
        step()
    sync()
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({
        "bench": "train-step", "impl": "pytorch", "torch": torch.__version__,
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "cudnn": torch.backends.cudnn.version() if dev.type == "cuda" else None, "tf32": a.tf32,
        "layers": a.layers, "hidden": a.hidden, "seq": T, "batch": B, "bidirectional": not a.unidirectional,
        "parameters": sum(p.numel() for p in net.parameters()), "steps": a.steps,
        "median_ms": round(statistics.median(times), 4), "min_ms": round(min(times), 4),
    }))


if __name__ == "__main__":
    main()
