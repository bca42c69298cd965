#!/usr/bin/env bash
# How the chorales a frame model samples move, against the real validation chorales (docs/POLYPHONIC.md): for each run,
# 4 pieces from each of the first 8 validation chorales' first 8 frames, 64 frames each at temperature 1, seed 5; then
# experiments/frames_stats.py writes experiments/results/jsb/NAME/samples-valid.json.
#   MG=path/to/musicgen experiments/chorales.sh NAME [NAME ...]     # runs in $RUNS/NAME (default experiments/jsb-runs)
set -euo pipefail
cd "$(dirname "$0")/.."
MG=${MG:-src/Cli/bin/Release/net10.0/musicgen}
RUNS=${RUNS:-experiments/jsb-runs}
JSB=${JSB:-../shared/data/jsb-chorales/jsb-chorales-quarter.json}
for name in "$@"; do
  out=$(mktemp -d)
  for piece in 0 1 2 3 4 5 6 7; do
    "$MG" frames generate -c "$RUNS/$name" --data "$JSB" --primer-split valid --primer-piece $piece --primer-frames 8 \
      --frames 64 --count 4 --seed 5 --out "$out/p$piece.mid" > /dev/null
  done
  mkdir -p "experiments/results/jsb/$name"
  python3 experiments/frames_stats.py "$JSB" valid "$out"/*.mid --skip 8 --json "experiments/results/jsb/$name/samples-valid.json"
  rm -rf "$out"
done
