#!/usr/bin/env bash
# Issue 26's measurements ("music with memory"): each variant of the beats-mode pop recipe, two seeds, scored on the
# validation split of POP909 (the likelihood with 32 and 128 notes of context, every 4th window, and of every note given its
# whole piece so far; the music yardstick with
# 3 draws of 200 notes per piece). Each writes one small result file under experiments/results/; experiments/memory.py
# turns them into docs/EXPERIMENTS.md's table. The test split is not scored here.
#   experiments/memory.sh train    # the runs (about 40 minutes each alone on the 2-core machine; they resume if stopped)
#   experiments/memory.sh score    # the result files of every finished run that has none yet (FORCE=1: all again)
#   experiments/memory.sh curves   # every run's validation pitch NLL per epoch, unfinished runs included
set -euo pipefail
cd "$(dirname "$0")/.."
M=${M:-"dotnet src/Cli/bin/Release/net10.0/musicgen.dll"}  # M="dotnet /copy/musicgen.dll": a copy, so rebuilding does not touch running runs
CACHE=${CACHE:-cache/pop909-5552638d-beats.mgcache}
R=experiments/results
mkdir -p "$R" runs

# name | extra training flags (beside --preset pop)
# (the pop preset looks back by bars since the lookback runs, so the runs without it say --lookback none)
VARIANTS=(
  "beats-pop|--lookback none"
  "lookback-bars|--lookback bars"
  "attention-32|--lookback none --attention 32"
  "lookback-attention-32|--lookback bars --attention 32"
  "carry|--carry-state"
  "carry-128|--carry-state --seq 128 --batch 16"
)

run_dir() { if [ "$2" = 1 ] && [ "$1" = beats-pop ]; then echo runs/beats-pop; else echo "runs/$1-s$2"; fi; }

case "${1:-score}" in
  train)
    # ONLY=name trains just that variant; SEEDS="2" just those seeds.
    for v in "${VARIANTS[@]}"; do
      [ -n "${ONLY:-}" ] && [ "${v%%|*}" != "$ONLY" ] && continue
      name=${v%%|*}; flags=${v#*|}
      for seed in ${SEEDS:-1 2}; do
        dir=$(run_dir "$name" "$seed")
        if [ -f "$dir/last.safetensors" ]; then $M train --resume "$dir" -q; else $M train --preset pop $flags --seed "$seed" --data "$CACHE" --out "$dir" -q; fi
      done
    done ;;
  score)
    for v in "${VARIANTS[@]}"; do
      name=${v%%|*}
      for seed in 1 2 3; do
        dir=$(run_dir "$name" "$seed")
        [ -f "$dir/best.safetensors" ] && grep -q '"kind":"epoch","epoch":9,' "$dir/metrics.jsonl" || { echo "skip $dir (not finished)"; continue; }
        # A run's files are made once (FORCE=1 makes them again). Whole pieces: every note given its piece so far.
        if [ "${FORCE:-0}" = 1 ] || [ ! -f "$R/memory-whole-$name-s$seed-validation.json" ]; then
          $M evaluate --whole-pieces --checkpoint "$dir/best.safetensors" --data "$CACHE" --split validation --json > "$R/memory-whole-$name-s$seed-validation.json"
        fi
        [ "${FORCE:-0}" = 1 ] || [ ! -f "$R/memory-music-$name-s$seed-validation.json" ] || { echo "have $dir"; continue; }
        for w in 32 128; do
          $M evaluate --checkpoint "$dir/best.safetensors" --data "$CACHE" --split validation --window "$w" --stride 4 --json > "$R/memory-nll-$name-s$seed-w$w-validation.json"
        done
        # At the pitch sampling all the variants were compared at (the beats default until issue 26's sampling sweep chose 0.8/0.9).
        $M evaluate --music --checkpoint "$dir/best.safetensors" --data "$CACHE" --split validation --seeds 3 --count 64 --notes 200 \
          --temperature 0.9 --top-p 0.95 --json > "$R/memory-music-$name-s$seed-validation.json"
      done
    done ;;
  curves)
    # Each run's validation pitch NLL per epoch (also of unfinished runs), from its metrics.jsonl.
    python3 - "$R/memory-curves.json" runs/beats-pop runs/beats-pop-s2 runs/lookback-bars-s1 runs/lookback-bars-s2 runs/attention-32-s1 runs/attention-32-s2 runs/lookback-attention-32-s1 runs/lookback-attention-32-s2 runs/carry-s1 runs/carry-s2 runs/carry-128-s1 runs/carry-128-s2 <<'PY'
import json, os, sys
# Runs whose folders are gone (a new machine) keep the curves recorded before; the runs here replace theirs.
out = json.load(open(sys.argv[1])) if os.path.exists(sys.argv[1]) else {}
for d in sys.argv[2:]:
    m = os.path.join(d, "metrics.jsonl")
    if os.path.exists(m):
        name = os.path.basename(d) + ("-s1" if os.path.basename(d) == "beats-pop" else "")
        out[name] = [json.loads(l)["val_pitch_nll"] for l in open(m) if '"kind":"epoch"' in l]
json.dump(out, open(sys.argv[1], "w"), indent=1)
PY
    ;;
  *) echo "usage: experiments/memory.sh train|score|curves" >&2; exit 2 ;;
esac
