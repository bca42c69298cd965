#!/usr/bin/env bash
# Issue 26's final measurement: the configuration chosen on the validation split (the pop preset, which looks back
# by bars, sampled at the beats models' pitch defaults, temperature 0.8 and nucleus 0.9; docs/EXPERIMENTS.md) scored
# on POP909's test split, once per training seed. A seed's files are written once and never again: the test split
# is not for choosing. experiments/memory.py --final makes the table.
#   experiments/memory-final.sh          # every finished seed of runs/lookback-bars-s1 ... -s3 not yet scored
set -euo pipefail
cd "$(dirname "$0")/.."
M=${M:-"dotnet src/Cli/bin/Release/net10.0/musicgen.dll"}
CACHE=${CACHE:-cache/pop909-5552638d-beats.mgcache}
R=experiments/results
for seed in 1 2 3; do
  dir=runs/lookback-bars-s$seed
  [ -f "$dir/best.safetensors" ] && grep -q '"kind":"epoch","epoch":9,' "$dir/metrics.jsonl" || { echo "skip $dir (not finished)"; continue; }
  out="$R/memory-final-lookback-bars-s$seed"
  [ ! -f "$out-music-test.json" ] || { echo "have $dir (scored once already)"; continue; }
  $M evaluate --checkpoint "$dir/best.safetensors" --data "$CACHE" --split test --window 32 --json > "$out-nll-w32-test.json"
  $M evaluate --whole-pieces --checkpoint "$dir/best.safetensors" --data "$CACHE" --split test --json > "$out-whole-test.json"
  $M evaluate --music --checkpoint "$dir/best.safetensors" --data "$CACHE" --split test --seeds 3 --count 64 --notes 200 --json > "$out-music-test.json"
  echo "scored $dir on the test split"
done
