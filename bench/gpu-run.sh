#!/usr/bin/env bash
# Issue 24's targets in one device call (under 8 minutes): our GEMM and training steps beside PyTorch's cuBLAS and
# cuDNN on the same GPU, medians, written to $OUT/gpu-latest.json (commit it as bench/results/gpu-latest.json).
# Here, from the project root:   ../shared/tools/gpu-pack.sh src/Cli
# There (the device tool's run, carry [".gpu"]):   bash bench/gpu-run.sh
# Every step has its own time limit and the script goes on past a failure; the raw lines go to $OUT/gpu-run.log.
# (bench/gpu-survey.sh is the longer survey: interoperability, generation, the recurrence variants.)
set -u
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"; LOG=$OUT/gpu-run.log; : > "$LOG"
mkdir -p /tmp/mg && tar xzf .gpu/musicgen.tgz -C /tmp/mg
MG=/tmp/mg/musicgen; PY="python3 bench/pytorch"
step() { # step TAG LIMIT COMMAND...: the command's last JSON line goes to the log under TAG
  local tag=$1 limit=$2; shift 2
  local line; line=$(timeout "$limit" "$@" 2>>"$OUT/stderr.log" | grep '^{' | tail -1)
  echo "$tag ${line:-null}" | tee -a "$LOG"; }

echo "device $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" | tee -a "$LOG"
# Every op on the GPU against the managed CPU backend first (TF32 GEMM, both block tiles and all recurrences included):
# a timing of a wrong kernel is worth nothing.
timeout 240 $MG selftest --device cuda > "$OUT/selftest.log" 2>&1
echo "selftest \"$(tail -1 "$OUT/selftest.log")\"" | tee -a "$LOG"
# GEMM at 4096^3, float32: ours (the kernel Auto picks, then each by name), cuBLAS with TF32 off and on.
step gemm_4096 120 $MG bench gemm --device cuda --m 4096 --n 4096 --k 4096 --reps 10 --json
step gemm_4096_tiled 120 $MG bench gemm --device cuda --m 4096 --n 4096 --k 4096 --reps 5 --kernel tiled --json
step gemm_4096_tf32 60 $MG bench gemm --device cuda --m 4096 --n 4096 --k 4096 --reps 10 --precision tf32 --json
step cublas_4096 60 $PY/gemm.py --n 4096 --reps 10
step cublas_4096_tf32 60 $PY/gemm.py --n 4096 --reps 10 --tf32
# The large step's GEMM shapes (2-layer Bi-LSTM, H=512, T=64, B=256): input projection, recurrent product, and their
# backward products, each ours against cuBLAS.
for shape in "16384 2048 1024 NT" "256 2048 512 NT" "16384 1024 2048 NN" "2048 1024 16384 TN" "256 512 2048 NN" "2048 512 256 TN"; do
  set -- $shape
  step "gemm_${1}x${2}x${3}_$4" 60 $MG bench gemm --device cuda --m $1 --n $2 --k $3 --trans $4 --reps 10 --json
  # The blocked kernel's two block tiles, to check (or replace) the rule that picks between them (BlockedGemm.SideFor).
  for tile in 64 128; do step "tile${tile}_${1}x${2}x${3}_$4" 60 $MG bench gemm --device cuda --m $1 --n $2 --k $3 --trans $4 --reps 10 --kernel blocked --tile $tile --json; done
  step "cublas_${1}x${2}x${3}_$4" 60 $PY/gemm.py --m $1 --n $2 --k $3 --trans $4 --reps 10
done
# Training steps: the seed network (2-layer Bi-LSTM, H=128, T=10, B=64) and the large one, against cuDNN.
step step_seed 120 $MG bench train-step --device cuda --steps 50 --json
step step_seed_torch 90 $PY/train_step.py --steps 50
step step_large 180 $MG bench train-step --device cuda --hidden 512 --seq 64 --batch 256 --steps 20 --json
step step_large_tiled 180 $MG bench train-step --device cuda --hidden 512 --seq 64 --batch 256 --steps 20 --recurrence tiled --json
step step_large_torch 90 $PY/train_step.py --hidden 512 --seq 64 --batch 256 --steps 20
step step_large_torch_tf32 90 $PY/train_step.py --hidden 512 --seq 64 --batch 256 --steps 20 --tf32
# --precision tf32: the large step on tensor cores, and what TF32 does to that network's gradients (one step, both precisions).
step step_large_tf32 180 $MG bench train-step --device cuda --hidden 512 --seq 64 --batch 256 --steps 20 --precision tf32 --json
step precision_large 120 $MG bench precision --device cuda --hidden 512 --seq 64 --batch 256 --json

python3 - "$LOG" "$OUT/gpu-latest.json" <<'PY'
import json, sys, datetime
lines = {}
device = ""
for l in open(sys.argv[1]):
    tag, _, rest = l.strip().partition(" ")
    if tag == "device": device = rest; continue
    lines[tag] = None if rest == "null" else json.loads(rest)  # (the selftest line holds a JSON string)
def get(tag, key):
    v = lines.get(tag)
    return None if v is None else v.get(key)
out = {
    "date": datetime.date.today().isoformat(), "device": device, "selftest": lines.get("selftest"),
    "gemm_4096_gflops": get("gemm_4096", "gflops"), "gemm_4096_kernel": get("gemm_4096", "kernel"),
    "gemm_4096_tiled_gflops": get("gemm_4096_tiled", "gflops"),
    "cublas_4096_gflops": get("cublas_4096", "gflops"), "cublas_4096_tf32_gflops": get("cublas_4096_tf32", "gflops"),
    "step_seed_ms": get("step_seed", "median_ms"), "step_seed_torch_ms": get("step_seed_torch", "median_ms"),
    "step_large_ms": get("step_large", "median_ms"), "step_large_torch_ms": get("step_large_torch", "median_ms"),
    "step_large_tf32_ms": get("step_large_tf32", "median_ms"),
    "step_large_tiled_ms": get("step_large_tiled", "median_ms"),
    "gemm_4096_tf32_gflops": get("gemm_4096_tf32", "gflops"),
    "tf32_gradient_relative_error": get("precision_large", "gradient_relative_error"),
    "tf32_worst_parameter": get("precision_large", "worst_parameter"), "tf32_worst_relative_error": get("precision_large", "worst_relative_error"),
    "step_large_torch_tf32_ms": get("step_large_torch_tf32", "median_ms"),
    "large_step_gemms": {t[5:]: {"ours_gflops": get(t, "gflops"), "kernel": get(t, "kernel"), "tile": get(t, "tile"),
                                 "blocked_64_gflops": get("tile64_" + t[5:], "gflops"), "blocked_128_gflops": get("tile128_" + t[5:], "gflops"),
                                 "cublas_gflops": get("cublas_" + t[5:], "gflops")}
                         for t in lines if t.startswith("gemm_") and "x" in t and not t.startswith("gemm_4096")},
}
json.dump(out, open(sys.argv[2], "w"), indent=1)
print(json.dumps(out, indent=1))
PY
