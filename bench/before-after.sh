#!/usr/bin/env bash
# Interleaved before/after timing of two builds of the CLI (a refactor must not slow training down).
# Usage: bench/before-after.sh BEFORE_DLL AFTER_DLL [ROUNDS] [OUT.tsv]
#   BEFORE_DLL, AFTER_DLL: musicgen.dll of each build (for example a `git worktree` of the base commit built with -o).
# Each round runs every case on both builds, alternating which goes first, with the same thread count
# (MUSICGEN_THREADS, default 2). Every line of OUT is one run: round, case, build, median ms of that run.
# The summary printed at the end is the median over rounds per case and build, and after/before.
set -euo pipefail
before=$1; after=$2; rounds=${3:-4}; out=${4:-bench/results/before-after.tsv}
export MUSICGEN_THREADS=${MUSICGEN_THREADS:-2}
cases=(
  "train-step --steps 30"                                             # the seed network: 2-layer Bi-LSTM H=128 T=10 B=64
  "train-step --steps 20 --heads categorical --unidirectional --every-step --seq 32"  # the default model's shape of step
  "lstm --hidden 256 --seq 32 --batch 32"                             # one bidirectional layer, forward + backward
)
echo -e "round\tcase\tbuild\tms" > "$out"
for r in $(seq 1 "$rounds"); do
  for c in "${cases[@]}"; do
    order=(before after); [ $((r % 2)) -eq 0 ] && order=(after before)
    for b in "${order[@]}"; do
      dll=$before; [ "$b" = after ] && dll=$after
      ms=$(dotnet "$dll" bench $c --json | python3 -c 'import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d.get("median_ms") or d.get("ms"))')
      echo -e "$r\t$c\t$b\t$ms" | tee -a "$out"
    done
  done
done
python3 - "$out" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for case in dict.fromkeys(r["case"] for r in rows):
    med = {b: statistics.median(float(r["ms"]) for r in rows if r["case"] == case and r["build"] == b) for b in ("before", "after")}
    print(f"{case:80s} before {med['before']:8.2f} ms  after {med['after']:8.2f} ms  after/before {med['after'] / med['before']:.3f}")
PY
