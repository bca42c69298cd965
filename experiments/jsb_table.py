#!/usr/bin/env python3
"""The JSB Chorales table of docs/JSB.md from experiments/jsb.sh's runs (plain Python, no packages).

    python3 experiments/jsb_table.py [RUNS_DIR] [--doc docs/JSB.md]

Prints a markdown table (one row per finished run: its training arguments, parameters, epochs, best validation
NLL, test NLL, wall time); with --doc, replaces the region between <!-- jsb-table --> and <!-- /jsb-table --> there.
"""
import json, os, re, sys

def rows(runs):
    out = []
    for name in sorted(os.listdir(runs)):
        d = os.path.join(runs, name)
        if not os.path.isfile(os.path.join(d, "done")):
            continue
        valid = json.load(open(os.path.join(d, "valid.json")))
        # Only final runs have a test score (jsb.sh with FINAL=1); a sweep run's is blank.
        test_path = os.path.join(d, "test.json")
        test = json.load(open(test_path)) if os.path.exists(test_path) else {"parameters": valid.get("parameters", 0), "nll_per_frame": float("nan")}
        log = open(os.path.join(d, "train.log")).read()
        epochs = len(re.findall(r"^epoch \d+/", log, re.M))
        best = re.search(r"best validation NLL [\d.]+ at epoch (\d+)", log)
        args = open(os.path.join(d, "args")).read().strip() if os.path.exists(os.path.join(d, "args")) else ""
        wall = int(open(os.path.join(d, "wall_s")).read())
        out.append((name, args, test["parameters"], epochs, int(best.group(1)) if best else 0, valid["nll_per_frame"], test["nll_per_frame"], wall))
    return out

def table(rs):
    lines = ["| run | `frames train` options | parameters | epochs run (best) | validation NLL | test NLL | wall time, 2 cores |",
             "|---|---|---|---|---|---|---|"]
    best = min((r[5] for r in rs), default=None)
    for name, args, params, epochs, best_epoch, v, t, wall in rs:
        mark = " **(chosen on validation)**" if v == best else ""
        lines.append(f"| {name}{mark} | `{args}` | {params:,} | {epochs} ({best_epoch}) | {v:.3f} | {t:.3f} | {wall // 60} min {wall % 60} s |")
    return "\n".join(lines)

def main():
    argv = sys.argv[1:]
    if "--doc" in argv: del argv[argv.index("--doc"):argv.index("--doc") + 2]
    args = [a for a in argv if not a.startswith("--")]
    runs = args[0] if args else ("experiments/jsb-runs" if os.path.isdir("experiments/jsb-runs") else "experiments/results/jsb")
    text = table(rows(runs))
    if "--doc" in sys.argv:
        doc = sys.argv[sys.argv.index("--doc") + 1]
        page = open(doc).read()
        page = re.sub(r"<!-- jsb-table -->.*?<!-- /jsb-table -->", lambda _: f"<!-- jsb-table -->\n{text}\n<!-- /jsb-table -->", page, flags=re.S)
        open(doc, "w").write(page)
    print(text)

if __name__ == "__main__":
    main()
