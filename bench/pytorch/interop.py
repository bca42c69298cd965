"""Loads one of our checkpoints into PyTorch nn.LSTM by its tensor names, runs the windows of a probe file
(`musicgen probe --checkpoint X --out probe.safetensors`) and compares the outputs with ours.

    python3 bench/pytorch/interop.py CHECKPOINT PROBE [--device cuda] [--tolerance 1e-4]

Prints one JSON line; exits 1 when the largest absolute difference exceeds the tolerance.
"""
import argparse
import json
import sys

import torch
from musicgen_torch import load_checkpoint, read_safetensors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("probe")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    a = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    net, config, _ = load_checkpoint(a.checkpoint, a.device)
    probe, probe_meta = read_safetensors(a.probe)
    if json.loads(probe_meta["config"]) != config:
        raise SystemExit("the probe was made with another model's config")
    with torch.no_grad():
        logits, regression = net(probe["inputs"].to(a.device))
    diffs = {"logits": (logits.cpu() - probe["logits"]).abs().max().item()}
    if regression is not None:
        diffs["regression"] = (regression.cpu() - probe["regression"]).abs().max().item()
    worst = max(diffs.values())
    print(json.dumps({
        "check": "interop", "checkpoint": a.checkpoint, "device": a.device, "torch": torch.__version__,
        "network": f'{config["Layers"]}x{"bi" if config["Bidirectional"] else "uni"}LSTM({config["Hidden"]}), {config["Input"]} input, {config.get("Heads", "regression")} heads',
        "windows": probe["inputs"].shape[1], "seq": probe["inputs"].shape[0], "max_abs_diff": diffs,
        "logit_scale": probe["logits"].abs().max().item(), "tolerance": a.tolerance, "pass": worst <= a.tolerance,
    }))
    sys.exit(0 if worst <= a.tolerance else 1)


if __name__ == "__main__":
    main()
