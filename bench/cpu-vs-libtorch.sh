#!/usr/bin/env bash
# The CPU side-by-side of docs/BENCHMARKS.md (issue 17): a training step of the seed network (2-layer Bi-LSTM, B=64,
# 3 scalar inputs, pitch head 128 + 2 regression outputs, Adam) at three shapes, libtorch (TorchSharp-cpu 0.107)
# against ours with the plain GEMM kernel and with the packed one (what training uses), with 1 and 2 threads,
# interleaved over ROUNDS rounds on this machine. Needs the libtorch tool built first:
#   ../shared/tools/libtorch-bench/setup.sh /tmp/libtorch-bench
#   MG=path/to/musicgen bench/cpu-vs-libtorch.sh [ROUNDS]    -> bench/results/cpu-vs-libtorch.tsv + medians on stdout
# THREADS="1 2" (default) and GEMMS="plain auto" (default; GEMMS=auto skips the plain kernel) narrow the run; TSV=file names the output.
set -u
cd "$(dirname "$0")/.."
MG=${MG:-src/Cli/bin/Release/net10.0/musicgen}
LT=${LT:-/tmp/libtorch-bench/bin/Release/net10.0/TorchBench.dll}
ROUNDS=${1:-3}
TSV=${TSV:-bench/results/cpu-vs-libtorch.tsv}
[ -f "$LT" ] || { echo "libtorch bench not built: ../shared/tools/libtorch-bench/setup.sh /tmp/libtorch-bench"; exit 2; }
echo -e "round\tthreads\tshape\tside\tmedian_ms" > "$TSV"
for r in $(seq 1 "$ROUNDS"); do
  for t in ${THREADS:-1 2}; do
    for shape in 128x10 512x10 128x64; do
      h=${shape%x*}; s=${shape#*x}
      steps=50; [ "$shape" != 128x10 ] && steps=20
      ms=$(dotnet "$LT" "$t" "$shape" 2>/dev/null | sed -n 's/.*median *\([0-9.]*\) ms.*/\1/p')
      echo -e "$r\t$t\t$shape\tlibtorch\t$ms" >> "$TSV"
      for g in ${GEMMS:-plain auto}; do
        ms=$(MUSICGEN_THREADS=$t "$MG" bench train-step --hidden "$h" --seq "$s" --steps "$steps" --gemm "$g" --json | python3 -c "import json,sys; print(json.load(sys.stdin)['median_ms'])")
        echo -e "$r\t$t\t$shape\tours-$g\t$ms" >> "$TSV"
      done
    done
  done
done
python3 - "$TSV" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def med(shape, t, side):
    xs = [float(r["median_ms"]) for r in rows if r["shape"] == shape and r["threads"] == t and r["side"] == side and r["median_ms"]]
    return statistics.median(xs) if xs else None
f = lambda v: "-" if v is None else f"{v:.1f}"
print("| shape | threads | libtorch ms/step | ours, plain GEMM | ours, packed GEMM | ours / libtorch (packed) |")
print("|---|---|---|---|---|---|")
for shape in ["128x10", "512x10", "128x64"]:
    for t in sorted({r["threads"] for r in rows}):
        lt, plain, auto = med(shape, t, "libtorch"), med(shape, t, "ours-plain"), med(shape, t, "ours-auto")
        print(f"| H={shape.split('x')[0]}, T={shape.split('x')[1]} | {t} | {f(lt)} | {f(plain)} | {f(auto)} | {auto / lt:.2f} |")
PY
