#!/usr/bin/env python3
"""The model of docs/SCALE.md: data-parallel training of a global batch B over N machines, from the measured compute per
window (bench/scale.sh on one 2-core machine, both cores) and a ring all-reduce over the network:

    step(N)    = c * B / N + allreduce(N)
    allreduce  = 2 (N-1)/N * bytes / bandwidth + 2 (N-1) * latency        (ring: reduce-scatter, then all-gather)
    speed-up   = c * B / step(N)
    break-even local batch b* = allreduce / c   (below it a machine spends more time exchanging than computing)

Assumes c (ms per window) stays what it is at B = 64 on one machine; at a local batch of a few windows our GEMMs run
less efficiently, so the real speed-up at large N is lower than this says.
    python3 bench/scale_model.py [bench/results/scale.tsv]
"""
import csv, statistics, sys

tsv = sys.argv[1] if len(sys.argv) > 1 else "bench/results/scale.tsv"
rows = list(csv.DictReader(open(tsv), delimiter="\t"))
def median(setup): return statistics.median(float(r["ms_per_step"]) for r in rows if r["setup"] == setup)

nets = {  # name: (parameters, ms per step of 64 windows on one machine with both cores)
    "seed network (2x Bi-LSTM 128)": (661_792, median("1proc-2threads")),
    "H=512 (2x Bi-LSTM 512)": (8_870_176, median("h512-1proc-2threads")),
}
links = {"10 Gb/s Ethernet": (10e9 / 8, 20e-6), "100 Gb/s InfiniBand": (100e9 / 8, 2e-6)}  # bytes/s, latency per message
B = 64
print(f"| network | gradient | link | all-reduce N=2 / 8 / 64 | speed-up N=2 / 8 / 16 / 64 (B={B}) | break-even local batch |")
print("|---|---|---|---|---|---|")
for net, (params, step_ms) in nets.items():
    size = 4 * params
    c = step_ms / 1000 / B  # seconds per window
    for link, (bw, lat) in links.items():
        def ar(n): return 2 * (n - 1) / n * size / bw + 2 * (n - 1) * lat
        def speedup(n): return c * B / (c * B / n + ar(n))
        ars = " / ".join(f"{1000 * ar(n):.1f}" for n in (2, 8, 64))
        sps = " / ".join(f"{speedup(n):.1f}" for n in (2, 8, 16, 64))
        print(f"| {net} | {size / 1e6:.1f} MB | {link} | {ars} ms | {sps} | {ar(64) / c:.1f} windows |")
print()
print(f"(compute per window on one 2-core machine: " + "; ".join(f"{n}: {s / B:.2f} ms" for n, (_, s) in nets.items()) + ")")
