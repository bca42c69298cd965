#!/usr/bin/env python3
"""docs/EXPERIMENTS.md's table of issue 26's variants ("music with memory") from the result files experiments/memory.sh writes.

    python3 experiments/memory.py                         # prints the table
    python3 experiments/memory.py --doc docs/EXPERIMENTS.md   # writes it between the memory-table markers
    python3 experiments/memory.py --curves                 # the per-epoch table alone
    python3 experiments/memory.py --final [--doc FILE]     # the test split, once per seed (experiments/memory-final.sh)
"""
import glob, json, os, re, statistics, sys

R = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
VARIANTS = [("beats-pop", "the pop recipe, no lookback"), ("lookback-bars", "+ lookback by bars (the pop preset)"), ("attention-32", "+ attention to 32, no lookback"),
            ("lookback-attention-32", "+ lookback by bars + attention to 32"), ("carry", "+ lookback by bars + carry-state"),
            ("carry-128", "+ lookback by bars + carry-state, windows of 128 (batch 16)")]


def load(path):
    return json.load(open(path)) if os.path.exists(path) else None


def stat(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.mean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def feature(d, name, key):
    return next(f[key] for f in d["features"] if f["name"] == name)


def table():
    lines = ["| variant | seeds | pitch NLL, 32 notes | pitch NLL, 128 notes | pitch NLL, whole pieces | note NLL, 32 | mean overlap / real vs real | repeated 4-grams: rate, overlap | longest repeat: share, overlap |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    real = None
    for name, label in VARIANTS:
        seeds = sorted({re.search(r"-s(\d+)-", os.path.basename(p)).group(1) for p in glob.glob(os.path.join(R, f"memory-music-{name}-s*-validation.json"))})
        if not seeds:
            continue
        w32 = [load(os.path.join(R, f"memory-nll-{name}-s{s}-w32-validation.json")) for s in seeds]
        w128 = [load(os.path.join(R, f"memory-nll-{name}-s{s}-w128-validation.json")) for s in seeds]
        mus = [load(os.path.join(R, f"memory-music-{name}-s{s}-validation.json")) for s in seeds]
        whole = [load(os.path.join(R, f"memory-whole-{name}-s{s}-validation.json")) for s in seeds]
        real = mus[0]
        lines.append(
            f"| {label} | {len(seeds)} | {stat([d['pitch_nll'] for d in w32 if d], '.4f')} | {stat([d['pitch_nll'] for d in w128 if d], '.4f')} "
            f"| {stat([d['pitch_nll'] for d in whole if d], '.4f')} "
            f"| {stat([d['note_nll'] for d in w32 if d], '.3f')} | {stat([m['mean_overlap_all'] / m['real_vs_real_all'] for m in mus], '.3f')} "
            f"| {stat([feature(m, 'repeated interval 4-grams', 'candidate_mean') for m in mus], '.3f')}, {stat([feature(m, 'repeated interval 4-grams', 'overlap') for m in mus], '.3f')} "
            f"| {stat([feature(m, 'longest exact repeat', 'candidate_mean') for m in mus], '.3f')}, {stat([feature(m, 'longest exact repeat', 'overlap') for m in mus], '.3f')} |")
    if real is None:
        return ""
    lines.append("")
    lines.append(f"Real validation segments repeat {feature(real, 'repeated interval 4-grams', 'real_mean'):.3f} of their interval 4-grams, and their longest exact "
                 f"repeat is {feature(real, 'longest exact repeat', 'real_mean'):.3f} of a piece; mean ± sd over seeds.")
    return "\n".join(lines) + "\n"


def context_table():
    """Whole-piece pitch NLL by how many notes of the piece came before each note (evaluate --whole-pieces), mean over seeds."""
    rows, bands, first = [], None, None
    for name, label in VARIANTS:
        files = [load(p) for p in sorted(glob.glob(os.path.join(R, f"memory-whole-{name}-s*-validation.json")))]
        files = [f for f in files if f and "pitch_nll_by_context" in f]
        if not files:
            continue
        first = first or files[0]
        bands = bands or list(first["pitch_nll_by_context"])
        rows.append(f"| {label} | {len(files)} | " + " | ".join(stat([f["pitch_nll_by_context"][b]["pitch_nll"] for f in files], '.4f') for b in bands) + " |")
    if not rows:
        return ""
    notes = first["pitch_nll_by_context"]
    head = "| variant | seeds | " + " | ".join(f"{b} before ({notes[b]['notes']:,} notes)" for b in bands) + " |"
    return "\n".join([head, "|---|---:|" + "---:|" * len(bands)] + rows) + "\n"


def curves():
    """Validation pitch NLL per epoch of each run (every 4th window, as training reports it), from memory-curves.json."""
    d = load(os.path.join(R, "memory-curves.json"))
    if not d:
        return ""
    runs = sorted(d)
    epochs = max(len(v) for v in d.values())
    lines = ["| epoch | " + " | ".join(runs) + " |", "|---:|" + "---:|" * len(runs)]
    for e in range(epochs):
        lines.append(f"| {e + 1} | " + " | ".join(f"{d[r][e]:.4f}" if e < len(d[r]) else "" for r in runs) + " |")
    return "\n".join(lines) + "\n"


def final_table():
    """The chosen configuration on the test split, one row per training seed and their mean ± sd, beside issue 26's targets."""
    seeds = sorted(int(re.search(r"-s(\d+)-music", p).group(1)) for p in glob.glob(os.path.join(R, "memory-final-lookback-bars-s*-music-test.json")))
    if not seeds:
        return ""
    rows = []
    for s in seeds:
        f = lambda kind: load(os.path.join(R, f"memory-final-lookback-bars-s{s}-{kind}-test.json"))
        w32, whole, m = f("nll-w32"), f("whole"), f("music")
        rows.append({"seed": s, "nll": w32["pitch_nll"], "note": w32["note_nll"], "whole": whole["pitch_nll"], "mean": m["mean_overlap_all"] / m["real_vs_real_all"],
                     "rate4": feature(m, "repeated interval 4-grams", "candidate_mean"), "over4": feature(m, "repeated interval 4-grams", "overlap"),
                     "longest": feature(m, "longest exact repeat", "candidate_mean"), "overlong": feature(m, "longest exact repeat", "overlap"),
                     "real4": feature(m, "repeated interval 4-grams", "real_mean"), "reallong": feature(m, "longest exact repeat", "real_mean")})
    lines = ["| seed | pitch NLL, 32 notes | pitch NLL, whole pieces | note NLL, 32 | mean overlap / real vs real | repeated 4-grams: rate, overlap | longest repeat: share, overlap |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['nll']:.4f} | {r['whole']:.4f} | {r['note']:.3f} | {r['mean']:.3f} | {r['rate4']:.3f}, {r['over4']:.3f} | {r['longest']:.3f}, {r['overlong']:.3f} |")
    col = lambda k, fmt: stat([r[k] for r in rows], fmt)
    lines.append(f"| **mean of {len(rows)}** | **{col('nll', '.4f')}** | {col('whole', '.4f')} | {col('note', '.3f')} | **{col('mean', '.3f')}** "
                 f"| {col('rate4', '.3f')}, **{col('over4', '.3f')}** | {col('longest', '.3f')}, **{col('overlong', '.3f')}** |")
    lines.append("| issue 26's target | at most 1.80 | | | at least 0.9 | overlap at least 0.7 | overlap at least 0.7 |")
    lines.append("")
    lines.append(f"Real test segments repeat {rows[0]['real4']:.3f} of their interval 4-grams, and their longest exact repeat is {rows[0]['reallong']:.3f} of a piece.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--final"]:
        text = final_table()
        if len(sys.argv) == 4 and sys.argv[2] == "--doc":
            doc = open(sys.argv[3]).read()
            start, end = "<!-- memory-final -->\n", "<!-- /memory-final -->"
            if start not in doc or end not in doc:
                sys.exit(f"{sys.argv[3]} has no {start.strip()} ... {end} markers")
            open(sys.argv[3], "w").write(doc[: doc.index(start) + len(start)] + text + doc[doc.index(end):])
        else:
            print(text, end="")
        sys.exit()
    if len(sys.argv) == 2 and sys.argv[1] == "--curves":
        print(curves(), end="")
        sys.exit()
    text = table()
    if context_table():
        text += ("\nPitch NLL of whole pieces by how many notes of the piece came before the note (every note of the 59 validation "
                 "pieces, read from the piece's start with the state carried: `evaluate --whole-pieces`):\n\n" + context_table())
    if curves():
        text += "\nValidation pitch NLL after each epoch (every 4th window; the runs share the schedule, so the epochs compare):\n\n" + curves()
    if len(sys.argv) == 3 and sys.argv[1] == "--doc":
        doc = open(sys.argv[2]).read()
        start, end = "<!-- memory-table -->\n", "<!-- /memory-table -->"
        if start not in doc or end not in doc:
            sys.exit(f"{sys.argv[2]} has no {start.strip()} ... {end} markers")
        doc = doc[: doc.index(start) + len(start)] + text + doc[doc.index(end):]
        open(sys.argv[2], "w").write(doc)
    else:
        print(text, end="")
