#!/usr/bin/env bash
# The data-parallel measurements of docs/SCALE.md, on this machine: training steps of the seed network (2-layer
# Bi-LSTM of 128, windows of 10 notes, batch 64, categorical heads) on POP909, as
#   one process on 1 thread | one process on 2 threads | mpiexec -n 2, each rank on 1 thread,
# interleaved over ROUNDS rounds, each run a fixed number of optimizer steps. Each run's metrics.jsonl gives the
# training seconds of its epoch (without validation) and, for the MPI runs, the exchange time per step.
#   MG=path/to/musicgen bench/scale.sh [ROUNDS]   -> bench/results/scale.tsv and a summary on stdout
set -u
cd "$(dirname "$0")/.."
MG=${MG:-src/Cli/bin/Release/net10.0/musicgen}
ROUNDS=${1:-3}
CACHE=$(ls cache/pop909-*.mgcache 2>/dev/null | grep -v -- -sustain | head -1)
[ -n "$CACHE" ] || { echo "no POP909 cache: run  $MG prepare --data ../shared/data/pop909  first"; exit 2; }
command -v mpiexec >/dev/null || { echo "mpiexec not found: apt install mpich"; exit 2; }
OUTDIR=$(mktemp -d)
TSV=bench/results/scale.tsv
# About 60 steps of 64 windows per run (--stride 330 of POP909's training windows); validation (every 400th window)
# is not in the timed training seconds.
ARGS=(--epochs 1 --batch 64 --val-stride 400 --patience 0 --log-every 1000 --checkpoint-every 100000 --quiet)
echo -e "round\tsetup\tsteps\ttrain_s\tms_per_step\texchange_ms_per_step\tnotes_per_s" > "$TSV"
one() { # one ROUND NAME EXTRA_TRAIN_ARG command...
  local round=$1 name=$2 extra=$3; shift 3
  local run="$OUTDIR/$name-$round"
  "$@" train --data "$CACHE" --out "$run" "${ARGS[@]}" $extra > "$run.log" 2>&1 || { echo "FAILED $name (see $run.log)"; cat "$run.log"; return; }
  python3 - "$run/metrics.jsonl" "$round" "$name" >> "$TSV" <<'PY'
import json, sys
e = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"epoch"' in l][-1]
steps, s = e["step"], e["train_seconds"]
x = e.get("exchange_ms_per_step")
print(f"{sys.argv[2]}\t{sys.argv[3]}\t{steps}\t{s:.3f}\t{1000 * s / steps:.2f}\t{'' if x is None else x}\t{e['notes_per_s']}")
PY
}
SEED="--stride 330"                 # the seed network: about 60 steps
WIDE="--hidden 512 --stride 1000"   # H=512: about 20 steps
for r in $(seq 1 "$ROUNDS"); do
  one "$r" "1proc-1thread" "$SEED" env MUSICGEN_THREADS=1 "$MG"
  one "$r" "1proc-2threads" "$SEED" env MUSICGEN_THREADS=2 "$MG"
  one "$r" "2ranks-1thread" "$SEED --distributed" mpiexec -n 2 -env MUSICGEN_THREADS 1 "$MG"
  one "$r" "h512-1proc-1thread" "$WIDE" env MUSICGEN_THREADS=1 "$MG"
  one "$r" "h512-1proc-2threads" "$WIDE" env MUSICGEN_THREADS=2 "$MG"
  one "$r" "h512-2ranks-1thread" "$WIDE --distributed" mpiexec -n 2 -env MUSICGEN_THREADS 1 "$MG"
done
rm -rf "$OUTDIR"
python3 - "$TSV" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
base = {}
for name in ["1proc-1thread", "1proc-2threads", "2ranks-1thread", "h512-1proc-1thread", "h512-1proc-2threads", "h512-2ranks-1thread"]:
    rs = [r for r in rows if r["setup"] == name]
    if not rs: continue
    ms = statistics.median(float(r["ms_per_step"]) for r in rs)
    base.setdefault(name.startswith("h512"), ms)
    speedup = base[name.startswith("h512")] / ms
    x = [float(r["exchange_ms_per_step"]) for r in rs if r["exchange_ms_per_step"]]
    print(f"{name:16s} median {ms:7.1f} ms/step ({1000 / ms:5.2f} steps/s, {64000 / ms:7.0f} notes/s)  speed-up x{speedup:.2f}"
          + (f"  exchange {statistics.median(x):.2f} ms/step" if x else "") + f"  (runs: {', '.join(r['ms_per_step'] for r in rs)})")
PY
