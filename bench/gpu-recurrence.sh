#!/usr/bin/env bash
# The fused recurrence (issue "GPU code proven without a GPU") measured on the lent GPU: selftest on CUDA with the
# fused kernels, ptxas on every kernel's PTX, and training steps fused vs unfused beside PyTorch's cuDNN, same run.
# Here:  ../shared/tools/gpu-pack.sh src/Cli && musicgen kernels --ptx .gpu/ptx --arch sm_90
# There (device tool run, carry [".gpu"]):  bash bench/gpu-recurrence.sh
set -u
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"; LOG=$OUT/gpu-recurrence.log
mkdir -p /tmp/mg && tar xzf .gpu/musicgen.tgz -C /tmp/mg
MG=/tmp/mg/musicgen; PY="python3 bench/pytorch"
step() { local limit=$1; shift; echo "### $*" | tee -a "$LOG"; local t0=$(date +%s.%N)
  timeout "$limit" "$@" 2>&1 | tee -a "$LOG"; local rc=${PIPESTATUS[0]}
  echo "### rc=$rc wall_s=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")" | tee -a "$LOG"; }
step 20 nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
step 120 $MG selftest --device cuda
# ptxas (CUDA's PTX assembler) on every kernel's PTX, for the GPU in this machine
ptxas_all() { local ok=0 bad=0; for f in .gpu/ptx/*.ptx; do if ptxas -arch=sm_90 -o /dev/null "$f" 2>/tmp/ptxas.err; then ok=$((ok+1)); else bad=$((bad+1)); echo "FAIL $f: $(head -c 300 /tmp/ptxas.err)"; fi; done; echo "ptxas sm_90: $ok assembled, $bad failed"; }
export -f ptxas_all; export PATH=$PATH:/usr/local/cuda/bin
step 120 bash -c ptxas_all
for shape in "" "--hidden 512 --seq 64 --batch 256"; do
  steps=50; [ -n "$shape" ] && steps=20
  step 120 $MG bench train-step --device cuda $shape --steps $steps --recurrence fused --json
  step 120 $MG bench train-step --device cuda $shape --steps $steps --recurrence unfused --json
  step 90 $PY/train_step.py $shape --steps $steps
done
echo "### done" | tee -a "$LOG"
