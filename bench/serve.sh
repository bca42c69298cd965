#!/usr/bin/env bash
# How soon `musicgen serve` answers Generate: the median time of POST /api/generate for 200 notes with the trace the
# page asks for (the page starts playing as soon as this answer arrives), over 7 requests after one warm-up request.
#   bench/serve.sh [MUSICGEN]     # default: the Release build's apphost
set -euo pipefail
cd "$(dirname "$0")/.."
MG=${1:-src/Cli/bin/Release/net10.0/musicgen}
PORT=${PORT:-5391}
"$MG" serve --port "$PORT" > /tmp/musicgen-serve-bench.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:$PORT/api/models" >/dev/null && break; sleep 0.5; done
python3 - "$PORT" <<'PY'
import json, statistics, sys, time, urllib.request
port = sys.argv[1]
def once(seed):
    body = json.dumps({"model": "pop", "notes": 200, "seed": seed, "trace": True}).encode()
    t = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/generate", body, {"content-type": "application/json"})) as r:
        data = r.read()
    return time.perf_counter() - t, len(data), json.loads(data)["seconds"]
once(0)
runs = [once(s) for s in range(1, 8)]
print(json.dumps({"bench": "serve-generate", "notes": 200, "trace": True, "reps": len(runs),
                  "median_ms": round(1000 * statistics.median(r[0] for r in runs), 1),
                  "compose_ms": round(1000 * statistics.median(r[2] for r in runs), 1),
                  "response_bytes": int(statistics.median(r[1] for r in runs))}))
PY
