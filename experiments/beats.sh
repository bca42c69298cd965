#!/usr/bin/env bash
# The measurements behind docs/DEFAULT_MODEL.md's beats-mode pop model. Each writes one small result file under
# experiments/results/; experiments/tables.py turns them into the docs' tables.
#   experiments/beats.sh CHECKPOINT [OLD_CHECKPOINT]
# Choices (the key strength) are made on these files; the test split is scored once per model, by the last block.
set -euo pipefail
cd "$(dirname "$0")/.."
NEW=${1:?checkpoint of the beats-mode model}
OLD=${2:-}
M="dotnet src/Cli/bin/Release/net10.0/musicgen.dll"
R=experiments/results
mkdir -p "$R"

# 1. Key control: the 24 keys in turn, 64 pieces of 200 notes, two seeds per strength (no corpus involved).
: > "$R/key-control.jsonl"
for strength in 0 0.5 1 1.5 2 3; do
  for seed in 1 2; do
    $M evaluate --keys --checkpoint "$NEW" --count 64 --notes 200 --key-strength "$strength" --seed "$seed" --json >> "$R/key-control.jsonl"
  done
done

# 2. Likelihood on the full validation split (every window), each model on its own corpus reading.
$M evaluate --checkpoint "$NEW" --data ../shared/data/pop909 --split validation --json > "$R/nll-pop-beats-validation.json"
if [ -n "$OLD" ]; then $M evaluate --checkpoint "$OLD" --data ../shared/data/pop909 --split validation --json > "$R/nll-pop-seconds-validation.json"; fi

# 3. Music against the validation split (for choosing), then the test split once.
$M evaluate --music --checkpoint "$NEW" --data ../shared/data/pop909 --split validation --seeds 3 --count 64 --notes 200 --json > "$R/music-pop-beats-validation.json"
$M evaluate --music --checkpoint "$NEW" --data ../shared/data/pop909 --split test --seeds 3 --count 64 --notes 200 --json > "$R/music-pop-beats-test.json"
if [ -n "$OLD" ]; then
  $M evaluate --music --checkpoint "$OLD" --data ../shared/data/pop909 --split validation --seeds 3 --count 64 --notes 200 --json > "$R/music-pop-seconds-validation.json"
  $M evaluate --music --checkpoint "$OLD" --data ../shared/data/pop909 --split test --seeds 3 --count 64 --notes 200 --json > "$R/music-pop-seconds-test.json"
fi
