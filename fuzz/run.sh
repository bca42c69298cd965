#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of untrusted bytes with SharpFuzz + AFL++ (fuzz/README.md).
#   fuzz/run.sh [TARGET...]        targets: midi safetensors cache csv (default: all); DURATION=300 seconds each
# Needs: afl++ (Debian: apt-get install afl++), the sharpfuzz tool (dotnet tool install --tool-path ~/.sharpfuzz
# SharpFuzz.CommandLine), ../shared/data for the seeds. Output: fuzz/out/<target>/ (ignored by git); a summary line
# per target with executions, paths and crashes; crashing inputs are in fuzz/out/<target>/default/crashes/.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-300}
SHARPFUZZ=${SHARPFUZZ:-$(command -v sharpfuzz || echo ~/.sharpfuzz/sharpfuzz)}
DATA=${DATA:-../shared/data}
BIN=fuzz/out/bin
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(midi safetensors cache csv)
command -v afl-fuzz >/dev/null || { echo "fuzz: afl-fuzz not found (apt-get install afl++)"; exit 2; }
[ -x "$SHARPFUZZ" ] || { echo "fuzz: sharpfuzz not found (dotnet tool install --tool-path ~/.sharpfuzz SharpFuzz.CommandLine)"; exit 2; }

rm -rf "$BIN" fuzz/out/plain && dotnet build fuzz/MusicGen.Fuzz -c Release -nologo -v q -o "$BIN" >/dev/null
# An uninstrumented copy for replaying inputs outside AFL (instrumented code needs AFL's shared memory: outside it, it faults).
cp -r "$BIN" fuzz/out/plain
# Instrument the libraries that parse: our MIDI, cache and safetensors readers, and NAudio's MIDI parser under ours.
for dll in MusicGen.Midi.dll MusicGen.Model.dll NAudio.Midi.dll NAudio.Core.dll; do "$SHARPFUZZ" "$BIN/$dll" >/dev/null; done

# Seeds, made from the shared corpora in a temporary folder (never copied into the repository).
seeds=$(mktemp -d); trap 'rm -rf "$seeds"' EXIT
mkdir -p "$seeds"/{midi,safetensors,cache,csv}
find "$DATA/pop909" "$DATA/maestro-sample" "$DATA/asap" -name '*.mid*' -size -12k 2>/dev/null | sort | head -12 | while read -r f; do cp "$f" "$seeds/midi/"; done
[ -n "$(ls "$seeds/midi")" ] || printf 'MThd\0\0\0\6\0\0\0\1\1\xe0MTrk\0\0\0\x0c\0\x90\x3c\x50\x83\x60\x80\x3c\0\0\xff\x2f\0' > "$seeds/midi/tiny.mid"
head -c 4000 "$DATA/asap/metadata.csv" > "$seeds/csv/asap.csv" || true
head -c 4000 "$(ls "$DATA"/maestro-sample/*.csv | head -1)" > "$seeds/csv/maestro.csv" || true
MG=${MG:-src/Cli/bin/Release/net10.0/musicgen}
mkdir -p "$seeds/tmp/corpus" && cp "$(ls "$seeds"/midi/* | head -1)" "$(ls "$seeds"/midi/* | tail -1)" "$seeds/tmp/corpus/"
"$MG" prepare --data "$seeds/tmp/corpus" --out "$seeds/tmp" -q >/dev/null && cp "$seeds"/tmp/*.mgcache "$seeds/cache/tiny.mgcache"
"$MG" probe --windows 1 --out "$seeds/safetensors/probe.safetensors" >/dev/null

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1
for t in "${targets[@]}"; do
  out=fuzz/out/$t; rm -rf "$out"
  nice -n "${NICE:-0}" afl-fuzz -i "$seeds/$t" -o "$out" -t 10000 -m none -V "$DURATION" -- dotnet "$BIN/MusicGen.Fuzz.dll" "$t" > "fuzz/out/$t.log" 2>&1 || true
  stats=$out/default/fuzzer_stats
  if [ -f "$stats" ]; then
    get() { sed -n "s/^$1 *: *//p" "$stats"; }
    echo "fuzz $t: $(get execs_done) executions in $(get run_time) s, $(get corpus_count) paths, $(get saved_crashes) crashes, $(get saved_hangs) hangs"
  else
    echo "fuzz $t: afl-fuzz did not start (see fuzz/out/$t.log)"
  fi
done
