#!/usr/bin/env bash
# Issue 26's sampling defaults, chosen on the validation split: the music yardstick (`evaluate --music`, 5 draws of
# one 200-note piece per validation file) of a model's pieces at each pitch temperature and nucleus of a grid, for
# every training seed of the model. One small result file per point under experiments/results/;
# experiments/sampling.py makes the table and applies the choice rule. The test split is not scored here.
#   experiments/sampling.sh pop         # the pop recipe (lookback by bars), runs/lookback-bars-s1 and -s2
#   experiments/sampling.sh classical   # the classical recipe, runs/classical-lookback-notes-s1, -s2 (CLASSICAL=another run family)
# Existing result files are kept (FORCE=1: all again). DRAWS=15 TEMPERATURES=... NUCLEI=... re-measures the leading points
# with more draws, into sampling-MODEL15-... files (a separate table: python3 experiments/sampling.py pop15).
# A second stage, STAGE=dynamics, keeps the pitch setting chosen in the first (PITCH="T P", the model's default) and
# sweeps the step (onset) bins' and the velocity bins' temperatures (STEP_TEMPERATURES, VELOCITY_TEMPERATURES), into
# sampling-MODEL-dyn-sS-stX-vtY-validation.json (python3 experiments/sampling.py classical-dyn).
# A seed whose run folder is gone and that is the shipped model (SHIPPED_SEED, default 1) is read from the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
M=${M:-"dotnet src/Cli/bin/Release/net10.0/musicgen.dll"}
R=experiments/results
TEMPERATURES=${TEMPERATURES:-"0.6 0.7 0.8 0.9 1.0"}
NUCLEI=${NUCLEI:-"0.9 0.95 1.0"}
DRAWS=${DRAWS:-5}
STEP_TEMPERATURES=${STEP_TEMPERATURES:-"0.9 1.0 1.1"}              # STAGE=dynamics only
VELOCITY_TEMPERATURES=${VELOCITY_TEMPERATURES:-"0.5 0.6 0.7 0.8 1.0"}
SEEDS=${SEEDS:-"1 2"}                   # the training seeds (finished runs only)
mkdir -p "$R"

case "${1:-}" in
  pop) family=lookback-bars; data=cache/pop909-5552638d-beats.mgcache; pitch=${PITCH:-"0.8 0.9"} ;;
  classical) family=${CLASSICAL:-classical-lookback-notes}; data=${ASAP:-../shared/data/asap}; extra="--sustain"; pitch=${PITCH:-"0.6 1.0"} ;;
  *) echo "usage: experiments/sampling.sh pop|classical" >&2; exit 2 ;;
esac

# Another run family of the classical recipe (CLASSICAL=classical-lookback-notes-e10) names its files by what it adds (classical-e10-...).
tag=$1; [ "$1" = classical ] && tag=$1${family#classical-lookback-notes}
[ "${STAGE:-pitch}" = dynamics ] && tag=$tag-dyn
# More draws than 5 name the files MODEL15 (classical15, classical-dyn15; classical-e10-15 where the name ends in a digit).
[ "$DRAWS" = 5 ] || { [[ $tag =~ [0-9]$ ]] && tag=$tag-$DRAWS || tag=$tag$DRAWS; }
for seed in $SEEDS; do
  dir=runs/$family-s$seed
  if [ -f "$dir/best.safetensors" ]; then model=(--checkpoint "$dir/best.safetensors")
  elif [ "$seed" = "${SHIPPED_SEED:-1}" ]; then model=(--model "$1")   # the shipped model is this seed's best, in float16
  else echo "skip $dir (no best.safetensors)"; continue; fi
  if [ "${STAGE:-pitch}" = dynamics ]; then
    read -r pt pp <<< "$pitch"
    for st in $STEP_TEMPERATURES; do
      for vt in $VELOCITY_TEMPERATURES; do
        out="$R/sampling-$tag-s$seed-st$st-vt$vt-validation.json"
        [ "${FORCE:-0}" = 1 ] || [ ! -f "$out" ] || continue
        # shellcheck disable=SC2086
        $M evaluate --music "${model[@]}" --data "$data" ${extra:-} --split validation --seeds "$DRAWS" --count 64 --notes 200 \
          --temperature "$pt" --top-p "$pp" --step-temperature "$st" --velocity-temperature "$vt" --json 2>/dev/null > "$out.tmp"
        mv "$out.tmp" "$out"
        echo "$out"
      done
    done
    continue
  fi
  for t in $TEMPERATURES; do
    for p in $NUCLEI; do
      out="$R/sampling-$tag-s$seed-t$t-p$p-validation.json"
      [ "${FORCE:-0}" = 1 ] || [ ! -f "$out" ] || continue
      # shellcheck disable=SC2086
      $M evaluate --music "${model[@]}" --data "$data" ${extra:-} --split validation \
        --seeds "$DRAWS" --count 64 --notes 200 --temperature "$t" --top-p "$p" --json 2>/dev/null > "$out.tmp"
      mv "$out.tmp" "$out"
      echo "$out"
    done
  done
done
