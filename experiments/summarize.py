#!/usr/bin/env python3
"""Tables and plots of docs/EXPERIMENTS.md from the runs of experiments/run.sh (plain Python 3, no packages).

    python3 experiments/summarize.py [RUNS_DIR] [--plots DIR] [--mg PATH_TO_MUSICGEN] [--doc docs/EXPERIMENTS.md]

Prints one markdown table per question (mean over seeds, and the spread: half the range between the seeds), and draws
the learning curves and NLL against corpus size with `musicgen plot` (ScottPlot). With --doc, the tables also replace
the part of that file between the lines "<!-- tables -->" and "<!-- /tables -->".
"""
import contextlib
import io
import json
import os
import statistics
import struct
import subprocess
import sys

args = sys.argv[1:]
runs_dir = args[0] if args and not args[0].startswith("--") else ("experiments/runs" if os.path.isdir("experiments/runs") else "experiments/results/asap")
plots = args[args.index("--plots") + 1] if "--plots" in args else "docs/images"
mg = args[args.index("--mg") + 1] if "--mg" in args else "src/Cli/bin/Release/net10.0/musicgen"
doc = args[args.index("--doc") + 1] if "--doc" in args else None


def load(name):
    d = os.path.join(runs_dir, name)
    if not os.path.exists(os.path.join(d, "done")):
        return None
    r = {"name": name}
    with open(os.path.join(d, "test.json")) as f:
        r["test"] = json.loads(f.read().strip().splitlines()[-1])
    music = os.path.join(d, "music.json")
    r["music"] = json.loads(open(music).read().strip().splitlines()[-1]) if os.path.exists(music) else None
    # A run folder (metrics.jsonl, best.safetensors) or its kept results (epochs.jsonl, checkpoint.json; run.sh's keep).
    metrics = os.path.join(d, "metrics.jsonl") if os.path.exists(os.path.join(d, "metrics.jsonl")) else os.path.join(d, "epochs.jsonl")
    r["epochs"] = [json.loads(l) for l in open(metrics) if '"kind":"epoch"' in l]
    r["wall"] = int(open(os.path.join(d, "wall_s")).read())
    if os.path.exists(os.path.join(d, "checkpoint.json")):
        meta = json.load(open(os.path.join(d, "checkpoint.json")))
    else:
        with open(os.path.join(d, "best.safetensors"), "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            meta = json.loads(f.read(n))["__metadata__"]
    r["params"] = int(meta["parameters"])
    r["config"] = json.loads(meta["config"])
    return r


def feature(r, name, key):
    if r["music"] is None:
        return float("nan")
    for x in r["music"]["features"]:
        if x["name"] == name:
            return x[key]
    return float("nan")


COLUMNS = [  # (header, getter, digits)
    ("params", lambda r: r["params"], 0),
    ("train s", lambda r: r["wall"], 0),
    ("pitch NLL", lambda r: r["test"]["pitch_nll"], 3),
    ("pitch acc", lambda r: 100 * r["test"]["pitch_accuracy"], 1),
    ("step NLL", lambda r: r["test"]["step_nll"], 3),
    ("dur NLL", lambda r: r["test"]["duration_nll"], 3),
    ("vel NLL", lambda r: r["test"]["velocity_nll"], 3),
    ("note NLL", lambda r: r["test"]["note_nll"], 3),
    ("music overlap", lambda r: r["music"]["mean_overlap_headline"] if r["music"] else float("nan"), 3),
    ("rep. 4-grams", lambda r: feature(r, "repeated interval 4-grams", "candidate_mean"), 3),
    ("longest run", lambda r: feature(r, "longest same-pitch run", "candidate_mean"), 2),
    ("distinct pitches", lambda r: feature(r, "distinct pitches", "candidate_mean"), 1),
    ("between-piece dist.", lambda r: (r["music"] or {}).get("diversity_candidate") or float("nan"), 3),
]


def cell(values, digits):
    values = [v for v in values if v == v]
    if not values:
        return "n/a"
    m = statistics.mean(values)
    if digits == 0:
        return f"{m:,.0f}"
    if len(values) == 1:
        return f"{m:.{digits}f}"
    half = (max(values) - min(values)) / 2
    return f"{m:.{digits}f} ± {half:.{digits}f}"


def table(title, rows):
    """rows: (label, [run names of the seeds])"""
    print(f"\n### {title}\n")
    print("| configuration | seeds | " + " | ".join(h for h, _, _ in COLUMNS) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    for label, names in rows:
        rs = [r for r in (load(n) for n in names) if r]
        if not rs:
            print(f"| {label} | 0 | " + " | ".join("not run yet" for _ in COLUMNS) + " |")
            continue
        print(f"| {label} | {len(rs)} | " + " | ".join(cell([g(r) for r in rs], d) for _, g, d in COLUMNS) + " |")
    real = next((r for _, names in rows for r in (load(n) for n in names) if r and r["music"]), None)
    if real:
        m = real["music"]
        print(f"\nReal held-out ASAP segments: repeated 4-grams {feature(real, 'repeated interval 4-grams', 'real_mean'):.3f}, "
              f"longest run {feature(real, 'longest same-pitch run', 'real_mean'):.2f}, distinct pitches "
              f"{feature(real, 'distinct pitches', 'real_mean'):.1f}, between-piece distance {m.get('diversity_real') or float('nan'):.3f}; "
              f"real-vs-real music overlap {m.get('real_vs_real_headline') or float('nan'):.3f}.")


def seeds(prefix):
    return [f"{prefix}-s{s}" for s in (1, 2)]


def curves(title, configs, png, metric_pairs=(("train_eval_pitch_nll", "train"), ("val_pitch_nll", "validation"))):
    """Learning curves: per configuration, the mean over seeds of each metric per epoch."""
    lines = ["series,x,y,spread,style,group"]
    for label, names in configs:
        rs = [r for r in (load(n) for n in names) if r]
        if not rs:
            continue
        for key, what in metric_pairs:
            epochs = min(len(r["epochs"]) for r in rs)
            for e in range(epochs):
                vals = [r["epochs"][e][key] for r in rs if r["epochs"][e].get(key) is not None]
                if vals:
                    lines.append(f"{label} {what},{e + 1},{statistics.mean(vals)},{(max(vals) - min(vals)) / 2},{'dashed' if what == 'train' else ''},{label}")
    if len(lines) == 1:
        return
    csv = png.replace(".png", ".csv")
    open(csv, "w").write("\n".join(lines) + "\n")
    subprocess.run([mg, "plot", "--csv", csv, "--out", png, "--title", title + " (dashed: training windows, solid: validation)",
                    "--x-label", "epoch", "--y-label", "pitch NLL (nats)"], check=True)


os.makedirs(plots, exist_ok=True)
captured = io.StringIO()
tee = contextlib.redirect_stdout(captured)
tee.__enter__()
for T in (10, 32):
    table(f"Architecture, window {T}", [
        ("Bi-LSTM 2x128, heads read the ends (fixed)", seeds(f"arch{T}-bi-ends")),
        ("Bi-LSTM 2x128, heads read the last step (old)", seeds(f"arch{T}-bi-last")),
        ("LSTM 2x212, last step", seeds(f"arch{T}-uni-last")),
        ("LSTM 2x212, every step", seeds(f"arch{T}-uni-every")),
    ])
table("Loss weights (Bi-LSTM, fixed heads, window 10)", [
    ("pitch first: 1 / 0.5 / 0.5 / 0.25 (default)", seeds("arch10-bi-ends")),
    ("equal: 1 / 1 / 1 / 1", seeds("weights-equal")),
    ("TensorFlow tutorial: 0.05 / 1 / 1 / 1", seeds("weights-tutorial")),
])
table("Regularisation (Bi-LSTM, 1 % of ASAP's training performances, every window, 4 epochs)", [
    ("dropout 0.2 + layer norm (default)", seeds("reg-both")),
    ("layer norm only", seeds("reg-nodrop")),
    ("dropout only", seeds("reg-nonorm")),
    ("neither", seeds("reg-none")),
])
table("Corpus size (Bi-LSTM, same budget, all scored on ASAP's test pieces)", [
    ("10 % of ASAP", seeds("corpus-010")),
    ("30 % of ASAP", seeds("corpus-030")),
    ("100 % of ASAP", seeds("arch10-bi-ends")),
    ("ASAP + POP909 + maestro-sample", seeds("corpus-mixed")),
])
# Wall time of every run on the 2-core machine (training, then scoring), by stage.
print("\n### Wall time per run (2-core machine, shared with other work while these ran)\n")
print("| stage | runs | training s (median, range) | scoring s (median) |")
print("|---|---:|---:|---:|")
for stage in ("arch10", "weights", "reg", "corpus", "arch32"):
    rows = []
    for name in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else []:
        d = os.path.join(runs_dir, name)
        if name.startswith(stage) and os.path.exists(os.path.join(d, "done")):
            ev = os.path.join(d, "eval_s")
            rows.append((int(open(os.path.join(d, "wall_s")).read()), int(open(ev).read()) if os.path.exists(ev) else 0))
    if rows:
        w = [r[0] for r in rows]; e = [r[1] for r in rows]
        print(f"| {stage} | {len(rows)} | {statistics.median(w):.0f} ({min(w)}-{max(w)}) | {statistics.median(e):.0f} |")
    else:
        print(f"| {stage} | 0 | not run yet | |")
tee.__exit__(None, None, None)
print(captured.getvalue())
if doc:
    text = open(doc).read()
    start, end = text.index("<!-- tables -->"), text.index("<!-- /tables -->")
    open(doc, "w").write(text[:start] + "<!-- tables -->\n" + captured.getvalue().strip() + "\n" + text[end:])
curves("Regularisation: 1 % of ASAP, train vs validation", [
    ("both", seeds("reg-both")), ("no dropout", seeds("reg-nodrop")), ("no norm", seeds("reg-nonorm")), ("neither", seeds("reg-none"))],
    os.path.join(plots, "exp-regularisation.png"))
curves("Architecture, window 10: train vs validation", [
    ("bi ends", seeds("arch10-bi-ends")), ("bi last", seeds("arch10-bi-last")), ("uni last", seeds("arch10-uni-last")), ("uni every", seeds("arch10-uni-every"))],
    os.path.join(plots, "exp-architecture.png"))
# NLL against corpus size: training notes (millions) on a log axis.
sizes = []
for label, prefix in (("ASAP fraction", "corpus-010"), ("ASAP fraction", "corpus-030"), ("ASAP fraction", "arch10-bi-ends"), ("ASAP + POP909 + maestro-sample", "corpus-mixed")):
    rs = [r for r in (load(n) for n in seeds(prefix)) if r]
    if rs:
        sizes.append((label, prefix, rs))
if sizes:
    frac = {"corpus-010": 0.1, "corpus-030": 0.3, "arch10-bi-ends": 1.0}
    lines = ["series,x,y,spread"]
    for label, prefix, rs in sizes:
        x = 100 * frac[prefix] if prefix in frac else 100 * 4.83 / 3.33  # mixed: its training windows against ASAP's
        v = [r["test"]["pitch_nll"] for r in rs]
        lines.append(f"{label},{x},{statistics.mean(v)},{(max(v) - min(v)) / 2}")
    csv = os.path.join(plots, "exp-corpus.csv")
    open(csv, "w").write("\n".join(lines) + "\n")
    subprocess.run([mg, "plot", "--csv", csv, "--out", os.path.join(plots, "exp-corpus.png"), "--log-x", "--title",
                    "Test pitch NLL on ASAP's held-out pieces against training corpus size", "--x-label",
                    "training corpus, % of ASAP's training performances (by notes)", "--y-label", "pitch NLL (nats)"], check=True)
