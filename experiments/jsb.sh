#!/usr/bin/env bash
# The JSB Chorales sweep of docs/POLYPHONIC.md: frame models trained with `musicgen frames train`, chosen on validation NLL
# only: a sweep run scores the validation split alone.
#   MG=path/to/musicgen experiments/jsb.sh NAME "TRAIN ARGS" [NAME "TRAIN ARGS" ...]
# Each run trains into $RUNS/NAME (default experiments/jsb-runs; skipped when $RUNS/NAME/done exists; resumed when it
# stopped part-way) and writes train.log, valid.json and wall_s (training seconds, from its metrics) there. The chosen configuration's runs (two seeds or more) are then scored once on
# the test split, and recorded:
#   FINAL=1 MG=... experiments/jsb.sh NAME "TRAIN ARGS" ...   # also `frames evaluate --final --record experiments/results/polyphonic-final.tsv`
# (a run already finished is then scored on the test split without training again). JSB=path picks another frames file
# (Nottingham, MuseData: ../shared/data/polyphonic/*.json). Two invocations side by side on 2 cores: MUSICGEN_THREADS=1
# for each (an epoch 66-68 s against 81-90 s with two threads each; docs/USAGE.md).
set -u
cd "$(dirname "$0")/.."
MG=${MG:-src/Cli/bin/Release/net10.0/musicgen}
RUNS=${RUNS:-experiments/jsb-runs}
JSB=${JSB:-../shared/data/jsb-chorales/jsb-chorales-quarter.json}
mkdir -p "$RUNS"
while [ $# -ge 2 ]; do
  name=$1 args=$2; shift 2
  dir="$RUNS/$name"
  if [ -f "$dir/done" ]; then
    # A finished run chosen on validation is scored on the test split once (FINAL=1), without training it again.
    if [ "${FINAL:-0}" = 1 ] && [ ! -f "$dir/test.json" ]; then
      "$MG" frames evaluate -c "$dir" -d "$JSB" --final --json --record experiments/results/polyphonic-final.tsv | grep '"split":"test"' > "$dir/test.json"
      mkdir -p "experiments/results/jsb/$name" && cp "$dir/test.json" "experiments/results/jsb/$name/"
      echo "    $name: test $(cat "$dir/test.json")"
    else echo "skip $name (done)"; fi
    continue
  fi
  t0=$(date +%s)
  if [ -f "$dir/last.safetensors" ]; then
    # A run stopped part-way (a signal, the end of a session) resumes exactly where its last checkpoint left it.
    echo "=== $name: resumed"
    "$MG" frames train --resume "$dir" --data "$JSB" >> "$dir.train.log" 2>&1 || { echo "STOPPED $name (see $dir.train.log; run again to resume)"; continue; }
  else
    rm -rf "$dir"
    echo "=== $name: frames train $args"
    # shellcheck disable=SC2086
    "$MG" frames train --data "$JSB" --out "$dir" $args > "$dir.train.log" 2>&1 || { echo "STOPPED $name (see $dir.train.log; run again to resume)"; continue; }
  fi
  # Training seconds over all sessions, from the run's own metrics (the epochs' times).
  python3 -c "import json,sys; print(round(sum(json.loads(l)['Seconds'] for l in open(sys.argv[1]))))" "$dir/metrics.jsonl" > "$dir/wall_s"
  echo "$args" > "$dir/args"
  mv "$dir.train.log" "$dir/train.log"
  "$MG" frames evaluate -c "$dir" -d "$JSB" --split valid --json > "$dir/valid.json"
  if [ "${FINAL:-0}" = 1 ]; then
    "$MG" frames evaluate -c "$dir" -d "$JSB" --final --json --record experiments/results/polyphonic-final.tsv | grep '"split":"test"' > "$dir/test.json"
  fi
  touch "$dir/done"
  # The small files are kept under experiments/results/jsb/ (committed; the run folders with checkpoints are not).
  mkdir -p "experiments/results/jsb/$name" && cp "$dir"/{valid.json,train.log,args,wall_s,done} "experiments/results/jsb/$name/"
  [ -f "$dir/test.json" ] && cp "$dir/test.json" "experiments/results/jsb/$name/"
  echo "    $name: $(tail -1 "$dir/train.log")"
done
