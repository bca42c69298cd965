#!/usr/bin/env bash
# Reproduces every row of docs/EXPERIMENTS.md with the project's own commands.
#
#   experiments/run.sh [STAGE...]      stages: arch10 weights reg corpus arch32 rescore (default: all, in that order)
#
# Each run trains into $RUNS/NAME (skipped when $RUNS/NAME/done exists, so the script can be stopped and started
# again), then scores its best checkpoint on ASAP's held-out test pieces: likelihoods (`evaluate --json`) and the
# music table (`evaluate --music --json`). Wall times go to $RUNS/NAME/wall_s. Summarise with
# experiments/summarize.py. Sized for the 2-core development machine: every run at most about 15 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
MG=${MG:-src/Cli/bin/Release/net10.0/musicgen}
RUNS=${RUNS:-experiments/runs}
DATA=${DATA:-../shared/data}
mkdir -p "$RUNS" cache
# The corpora: ASAP's performances (split by piece), and the mixed corpus (ASAP + POP909 + maestro-sample).
"$MG" prepare --data "$DATA/asap" --sustain -q >/dev/null
"$MG" prepare --data "$DATA/pop909" -q >/dev/null
"$MG" prepare --data "$DATA/maestro-sample" --sustain -q >/dev/null
ASAP=$(ls cache/asap-*-sustain.mgcache | head -1)
MIXED=$("$MG" prepare --merge "$ASAP" $(ls cache/pop909-*.mgcache | grep -v -- -sustain | head -1) $(ls cache/maestro-sample-*-sustain.mgcache | head -1) | sed -n 's/.*cache \(cache\/merged-[0-9a-f]*\.mgcache\)$/\1/p')

# The equal budget: 2 epochs of 40,000 training windows each (every 83rd window of ASAP's 3.3M; the corpus-size runs
# scale the stride with their corpus), batch 64, so
# 1,250 optimizer steps and the same windows for every model at a given window length. The last-step models thus
# predict the same number of notes; an every-step model predicts T notes per window from the same windows, at
# about the same wall time (measured). Validation: every 16th validation window, and as many training windows
# scored the same way (--train-eval), after each epoch. No early stopping.
BUDGET=(--epochs 2 --val-stride 16 --train-eval --patience 0 --quiet)
EVERY83=(--stride 83) # 40,000 of ASAP's 3.3 M training windows per epoch

run() { # run NAME DATA [train args...]
  local name=$1 data=$2; shift 2
  local dir="$RUNS/$name"
  [ -f "$dir/done" ] && { echo "skip $name (done)"; return; }
  rm -rf "$dir"
  echo "=== $name: train $*"
  local t0=$(date +%s)
  "$MG" train --data "$data" --out "$dir" "$@" > "$dir.train.log" 2>&1 || { echo "FAILED $name (see $dir.train.log)"; return; }
  local t1=$(date +%s)
  score "$dir" "${SCORE_MUSIC:-1}"
  echo "$((t1 - t0))" > "$dir/wall_s"; echo "$(( $(date +%s) - t1 ))" > "$dir/eval_s"
  mv "$dir.train.log" "$dir/train.log"; touch "$dir/done"
  keep "$dir" "experiments/results/asap/$name"
  echo "    $name: trained in $((t1 - t0)) s"
}

# The small files of a finished run, committed under experiments/results/ (runs themselves are not: checkpoints):
# scores, wall times, the epoch lines of metrics.jsonl and the best checkpoint's metadata. summarize.py reads either.
keep() { # keep RUN_DIR RESULT_DIR
  mkdir -p "$2"
  for f in test.json music.json wall_s eval_s done; do [ -f "$1/$f" ] && cp "$1/$f" "$2/"; done
  grep '"kind":"epoch"' "$1/metrics.jsonl" > "$2/epochs.jsonl" || true
  python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print(json.dumps(json.loads(f.read(n))["__metadata__"]))' \
    "$1/best.safetensors" > "$2/checkpoint.json"
}

# The held-out classical test: every 4th window of ASAP's test pieces (36,779 windows of 10 notes), the music table
# from 2 sampling seeds x 32 pieces x 200 notes against 32 real test segments.
score() { # score RUN_DIR [MUSIC: 1 = also the music table]
  "$MG" evaluate --checkpoint "$1" --data "$ASAP" --split test --stride 4 --json > "$1/test.json"
  [ "${2:-1}" = 1 ] && "$MG" evaluate --music --checkpoint "$1" --data "$ASAP" --count 32 --seeds 2 --json > "$1/music.json" 2> "$1/music.log"
  return 0
}

rescore() { # runs scored before the protocol above (the whole test split) are scored again the same way
  for d in "$RUNS"/*/; do
    d=${d%/}
    [ -f "$d/done" ] && ! grep -q '"stride":4' "$d/test.json" && { echo "rescore $(basename "$d")";
      "$MG" evaluate --checkpoint "$d" --data "$ASAP" --split test --stride 4 --json > "$d/test.json"; }
  done
}

stage_arch() { # window length
  local T=$1
  for seed in 1 2; do
    run "arch$T-bi-ends-s$seed"   "$ASAP" "${BUDGET[@]}" "${EVERY83[@]}" --seq "$T" --seed $seed
    run "arch$T-bi-last-s$seed"   "$ASAP" "${BUDGET[@]}" "${EVERY83[@]}" --seq "$T" --seed $seed --bidirectional-heads last
    run "arch$T-uni-last-s$seed"  "$ASAP" "${BUDGET[@]}" "${EVERY83[@]}" --seq "$T" --seed $seed --unidirectional --hidden 212
    run "arch$T-uni-every-s$seed" "$ASAP" "${BUDGET[@]}" "${EVERY83[@]}" --seq "$T" --seed $seed --unidirectional --hidden 212 --every-step
  done
}

stage_weights() { # pitch-first is arch10-bi-ends; equal weights; the TensorFlow tutorial's (pitch 0.05, step 1, duration 1)
  for seed in 1 2; do
    run "weights-equal-s$seed"    "$ASAP" "${BUDGET[@]}" "${EVERY83[@]}" --seed $seed --pitch-weight 1 --step-weight 1 --duration-weight 1 --velocity-weight 1
    run "weights-tutorial-s$seed" "$ASAP" "${BUDGET[@]}" "${EVERY83[@]}" --seed $seed --pitch-weight 0.05 --step-weight 1 --duration-weight 1 --velocity-weight 1
  done
}

stage_reg() { # overfitting made visible: 1 % of ASAP's training performances (about 10), every window, 4 epochs
  local small=(--train-fraction 0.01 --epochs 4 --val-stride 16 --train-eval --patience 0 --quiet)
  local SCORE_MUSIC=0 # the question is overfitting: likelihoods and curves
  for seed in 1 2; do
    run "reg-both-s$seed"    "$ASAP" "${small[@]}" --seed $seed
    run "reg-nodrop-s$seed"  "$ASAP" "${small[@]}" --seed $seed --dropout 0
    run "reg-nonorm-s$seed"  "$ASAP" "${small[@]}" --seed $seed --no-layer-norm
    run "reg-none-s$seed"    "$ASAP" "${small[@]}" --seed $seed --dropout 0 --no-layer-norm
  done
}

stage_corpus() { # the same budget (about 40,000 windows an epoch) on 10 %, 30 % and 100 % of ASAP's training performances,
  # and on the mixed corpus: the stride scales with the corpus, so every run takes about the same number of steps
  for seed in 1 2; do
    run "corpus-010-s$seed"   "$ASAP"  "${BUDGET[@]}" --stride 8 --seed $seed --train-fraction 0.1
    run "corpus-030-s$seed"   "$ASAP"  "${BUDGET[@]}" --stride 25 --seed $seed --train-fraction 0.3
    # 100 %: arch10-bi-ends-s$seed
    run "corpus-mixed-s$seed" "$MIXED" "${BUDGET[@]}" --stride 120 --seed $seed
  done
}

stages=("$@"); [ ${#stages[@]} -eq 0 ] && stages=(arch10 weights reg corpus arch32 rescore)
for s in "${stages[@]}"; do
  case $s in
    arch10) stage_arch 10 ;;
    arch32) stage_arch 32 ;;
    weights) stage_weights ;;
    reg) stage_reg ;;
    corpus) stage_corpus ;;
    rescore) rescore ;;
    *) echo "unknown stage '$s' (arch10 weights reg corpus arch32 rescore)"; exit 2 ;;
  esac
done
