#!/usr/bin/env bash
# The final Bernoulli runs of docs/POLYPHONIC.md scored the way the RRU paper's released code scores (musicgen frames
# evaluate --protocol rru: 200-frame windows each from a zero state, each window's mean, batches of 16), beside the
# benchmark's number, on the validation and the test split. Nothing is chosen from these numbers: they only put our
# final models beside RRU's table on its own terms. One JSON line per run and split in
# experiments/results/rru-protocol.jsonl (a run already there is not scored again).
#   MG=path/to/musicgen RUNS=experiments/jsb-runs experiments/rru_protocol.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MG=${MG:-src/Cli/bin/Release/net10.0/musicgen}
RUNS=${RUNS:-experiments/jsb-runs}
D=../shared/data
out=experiments/results/rru-protocol.jsonl
touch "$out"
score() { # dataset-name frames-file run: appended once; a run already in the file is kept as it is
  grep -q "\"run\": \"$3\"" "$out" && { echo "have $3"; return; }
  [ -f "$RUNS/$3/best.safetensors" ] && [ -f "$RUNS/$3/done" ] || { echo "skip $3 (not a finished run in $RUNS)"; return; }
  "$MG" frames evaluate -c "$RUNS/$3" -d "$2" --final --protocol rru --json |
    python3 -c 'import json,sys
for l in sys.stdin:
    r=json.loads(l); r.pop("config")
    print(json.dumps({"dataset":sys.argv[1],"run":sys.argv[2],**r}))' "$1" "$3" >> "$out"
  echo "scored $3"
}
J="$D/jsb-chorales/jsb-chorales-quarter.json" N="$D/polyphonic/nottingham.json" M="$D/polyphonic/musedata.json"
# The final Bernoulli configurations (docs/POLYPHONIC.md), and before them the earlier ones of JSB and Nottingham.
for run in bern-h384-d6-avg bern-h384-d6-avg-s2 h384-d5-avg-tr3-e120 h384-d5-avg-tr3-e120-s2 h384-d4-avg-tr3-e120 h384-d4-avg-tr3-e120-s2 \
    h384-d3-wd3-avg-tr3-e120 h384-d3-wd3-avg-tr3-e120-s2 h384-d3-wd3-avg-tr3-e200 h384-d3-wd3-avg-tr3-e200-s2 \
    h384-l3-d3-wd3-res-avg-tr3-e200 h384-l3-d3-wd3-res-avg-tr3-e200-s2; do score jsb "$J" $run; done
for run in nott-bern-h384-d6-avg nott-bern-h384-d6-avg-s2 nott-bern-h384-d5-avg-tr1-len nott-bern-h384-d5-avg-tr1-len-s2 \
    nott-bern-h384-d5-avg-tr1-len-e120 nott-bern-h384-d5-avg-tr1-len-e120-s2 \
    nott-bern-h384-d4-avg-tr2-len-e120 nott-bern-h384-d4-avg-tr2-len-e120-s2; do score nottingham "$N" $run; done
for run in md-bern-h384-d6-avg md-bern-h384-d6-avg-s2; do score musedata "$M" $run; done
