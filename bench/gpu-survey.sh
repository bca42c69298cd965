#!/usr/bin/env bash
# The GPU measurements of docs/BENCHMARKS.md, in one run on the lent GPU machine (no .NET there: a packed build).
# Here, from the project root:
#   ../shared/tools/gpu-pack.sh src/Cli
#   mkdir -p .gpu/ckpt && cp RUN_A/best.safetensors .gpu/ckpt/bi-seed.safetensors && cp RUN_B/best.safetensors .gpu/ckpt/bi-cat.safetensors
# There (the device tool's run, carry [".gpu"]):  bash bench/gpu-survey.sh
# Every step has its own time limit and the script goes on past a failure; all output goes to $OUT/gpu-run.log.
set -u
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"; LOG=$OUT/gpu-run.log
mkdir -p /tmp/mg && tar xzf .gpu/musicgen.tgz -C /tmp/mg
MG=/tmp/mg/musicgen; PY="python3 bench/pytorch"
step() { local limit=$1; shift; echo "### $*" | tee -a "$LOG"; local t0=$(date +%s.%N)
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"; local rc=${PIPESTATUS[0]}
  echo "### rc=$rc wall_s=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")" | tee -a "$LOG"; }

step 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
step 30 python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name(0))"
step 20 nproc
step 60 $MG devices
step 150 $MG selftest --device cuda
# (a) the seed network: 2-layer Bi-LSTM, H=128, T=10, B=64, 3 inputs, pitch head 128 + 2 regression outputs
step 90 $MG bench train-step --device cuda --steps 50 --json
step 90 $PY/train_step.py --steps 50
# (b) a large network: H=512, T=64, B=256
step 120 $MG bench train-step --device cuda --hidden 512 --seq 64 --batch 256 --steps 20 --json
step 90 $PY/train_step.py --hidden 512 --seq 64 --batch 256 --steps 20
step 60 $PY/train_step.py --hidden 512 --seq 64 --batch 256 --steps 20 --tf32
# GEMM at 4096^3
step 90 $MG bench gemm --device cuda --m 4096 --n 4096 --k 4096 --reps 10 --json
step 60 $PY/gemm.py --n 4096
step 60 $PY/gemm.py --n 4096 --tf32
# Interoperability: our checkpoints in PyTorch nn.LSTM, the same windows, outputs compared (ours on cuda and on cpu)
for m in default:embedded bi-seed:.gpu/ckpt/bi-seed.safetensors bi-cat:.gpu/ckpt/bi-cat.safetensors; do
  name=${m%%:*}; file=${m#*:}; ck=(); [ "$file" != embedded ] && ck=(--checkpoint "$file")
  [ "$file" = embedded ] && file=models/default-pop909.safetensors
  for dev in cuda cpu; do
    step 60 $MG probe "${ck[@]}" --device $dev --windows 64 --out /tmp/probe-$name-$dev.safetensors
    step 60 $PY/interop.py "$file" /tmp/probe-$name-$dev.safetensors --device cuda
  done
done
# Generation with the embedded default model, single and 64 pieces at once (and on this machine's CPU for scale)
step 90 $MG bench generate --device cuda --count 1 --notes 200 --reps 3 --json
step 90 $MG bench generate --device cuda --count 64 --notes 100 --reps 3 --json
step 60 $MG bench generate --device cpu --count 1 --notes 200 --reps 3 --json
step 60 $MG bench generate --device cpu --count 64 --notes 100 --reps 3 --json
echo "### done" | tee -a "$LOG"
