#!/usr/bin/env bash
# The final Bernoulli runs of docs/POLYPHONIC.md scored the way the RRU paper's released code scores (musicgen frames
# evaluate --protocol rru: 200-frame windows each from a zero state, each window's mean, batches of 16), beside the
# benchmark's number, on the validation and the test split. Nothing is chosen from these numbers: they only put our
# final models beside RRU's table on its own terms. One JSON line per run and split in
# experiments/results/rru-protocol.jsonl (rewritten).
#   MG=path/to/musicgen RUNS=experiments/jsb-runs experiments/rru_protocol.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MG=${MG:-src/Cli/bin/Release/net10.0/musicgen}
RUNS=${RUNS:-experiments/jsb-runs}
D=../shared/data
out=experiments/results/rru-protocol.jsonl
: > "$out.new"
score() { # dataset-name frames-file run
  [ -f "$RUNS/$3/best.safetensors" ] || { echo "skip $3 (no checkpoint in $RUNS)"; return; }
  "$MG" frames evaluate -c "$RUNS/$3" -d "$2" --final --protocol rru --json |
    python3 -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); r.pop("config")
    print(json.dumps({"dataset":sys.argv[1],"run":sys.argv[2],**r}))' "$1" "$3" >> "$out.new"
  echo "scored $3"
}
score jsb "$D/jsb-chorales/jsb-chorales-quarter.json" bern-h384-d6-avg
score jsb "$D/jsb-chorales/jsb-chorales-quarter.json" bern-h384-d6-avg-s2
score nottingham "$D/polyphonic/nottingham.json" nott-bern-h384-d6-avg
score nottingham "$D/polyphonic/nottingham.json" nott-bern-h384-d6-avg-s2
score musedata "$D/polyphonic/musedata.json" md-bern-h384-d6-avg
score musedata "$D/polyphonic/musedata.json" md-bern-h384-d6-avg-s2
mv "$out.new" "$out"
