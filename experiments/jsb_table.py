#!/usr/bin/env python3
"""The polyphonic tables of docs/POLYPHONIC.md from experiments/jsb.sh's runs and final rows (plain Python, no packages).

    python3 experiments/jsb_table.py [RUNS_DIR] [--prefix nade-] [--marker nade-table] [--doc docs/POLYPHONIC.md]
    python3 experiments/jsb_table.py --final experiments/results/polyphonic-final.tsv [--doc docs/POLYPHONIC.md]
    python3 experiments/jsb_table.py --voices RUN[,RUN...] [--doc docs/POLYPHONIC.md]   # the <!-- nade-voices --> table
    python3 experiments/jsb_table.py --rru experiments/results/rru-protocol.jsonl [--doc docs/POLYPHONIC.md]  # <!-- rru-protocol -->

The first prints a markdown table (one row per finished run whose name starts with --prefix: its training arguments,
parameters, epochs, best validation NLL, test NLL where the run was a final one, wall time); with --doc, replaces the
region between <!-- MARKER --> and <!-- /MARKER --> there (default marker jsb-table). The second makes the table of
final runs (mean +- sd over seeds per dataset and output) into the region <!-- polyphonic-final -->.
"""
import json, os, re, sys

def rows(runs, prefix=""):
    out = []
    for name in sorted(os.listdir(runs)):
        if not name.startswith(prefix):
            continue
        d = os.path.join(runs, name)
        if not os.path.isfile(os.path.join(d, "done")):
            continue
        valid = json.load(open(os.path.join(d, "valid.json")))
        # Only final runs have a test score (jsb.sh with FINAL=1); a sweep run's is blank.
        test_path = os.path.join(d, "test.json")
        test = json.load(open(test_path)) if os.path.exists(test_path) else {"parameters": valid.get("parameters", 0), "nll_per_frame": float("nan")}
        log = open(os.path.join(d, "train.log")).read()
        epochs = len(re.findall(r"^epoch \d+/\d+: train NLL", log, re.M))  # epoch ends (not the progress lines within one)
        # A resumed run has one summary line per session; the last one is the run's.
        best = ([None] + list(re.finditer(r"best validation NLL [\d.]+ at epoch (\d+)", log)))[-1]
        args = open(os.path.join(d, "args")).read().strip() if os.path.exists(os.path.join(d, "args")) else ""
        wall = int(open(os.path.join(d, "wall_s")).read())
        out.append((name, args, test["parameters"], epochs, int(best.group(1)) if best else 0, valid["nll_per_frame"], test["nll_per_frame"], wall))
    return out

def table(rs):
    lines = ["| run | `frames train` options | parameters | epochs run (best) | validation NLL | test NLL | wall time, 2 cores |",
             "|---|---|---|---|---|---|---|"]
    # The mark goes on the best validation run where the table holds more than one configuration (seeds aside).
    configs = {re.sub(r"\s*--seed \d+", "", r[1]) for r in rs}
    best = min((r[5] for r in rs), default=None) if len(configs) > 1 else None
    for name, args, params, epochs, best_epoch, v, t, wall in rs:
        mark = " **(chosen on validation)**" if v == best else ""
        test = "–" if t != t else f"{t:.3f}"  # a sweep run's test split is not scored
        lines.append(f"| {name}{mark} | `{args}` | {params:,} | {epochs} ({best_epoch}) | {v:.3f} | {test} | {wall // 60} min {wall % 60} s |")
    return "\n".join(lines)

def final_table(path):
    """One row per (dataset, output): the final runs' seeds, mean +- sd of validation and test NLL, parameters, time."""
    import statistics
    lines = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    head, body = lines[0], lines[1:]
    groups = {}
    for r in body:
        row = dict(zip(head, r))
        groups.setdefault((row["dataset"], row["output"]), []).append(row)
    def ms(xs):
        xs = [float(x) for x in xs]
        return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"
    out = ["| dataset | output | seeds | validation NLL | **test NLL** | parameters | training time, 2 cores |", "|---|---|---|---|---|---|---|"]
    for (dataset, output), rs in sorted(groups.items()):
        secs = [float(r["seconds"]) for r in rs if r["seconds"]]
        time = f"{statistics.mean(secs) / 60:.0f} min per run" if secs else "–"
        out.append(f"| {dataset} | {output} | {', '.join(r['seed'] for r in rs)} | {ms(r['valid_nll'] for r in rs)} | **{ms(r['test_nll'] for r in rs)}** | {int(rs[0]['parameters']):,} | {time} |")
    return "\n".join(out)

def voices_table(names, results="experiments/results/jsb"):
    """Real chorales against each run's samples (experiments/chorales.sh's samples-valid.json)."""
    cols = [("keys_per_frame", "keys per frame", "{:.2f}"), ("four_keys_share", "frames with exactly 4 keys", "{:.0%}"),
            ("held_share", "frames that repeat the one before", "{:.1%}"), ("longest_held_run", "longest repeat (frames)", "{}"),
            ("outer_voices_step_share", "4-key frames whose top and bottom keys move by at most 4 semitones", "{:.0%}")]
    out = ["| | " + " | ".join(c[1] for c in cols) + " |", "|---|" + "---|" * len(cols)]
    real = None
    for name in names:
        d = json.load(open(os.path.join(results, name, "samples-valid.json")))
        real = d["real"]
        out.append(f"| samples of `{name}` ({d['sampled']['pieces']} pieces) | " + " | ".join(f.format(d["sampled"][k]) for k, _, f in cols) + " |")
    out.insert(2, f"| real validation chorales ({real['pieces']}) | " + " | ".join(f.format(real[k]) for k, _, f in cols) + " |")
    return "\n".join(out)

def rru_table(path):
    """Final Bernoulli runs under both averagings (experiments/rru_protocol.sh), mean +- sd over the seeds of each
    configuration (a run name without its -sN), beside RRU's rows."""
    import statistics
    rs = [json.loads(l) for l in open(path) if l.strip()]
    published = {"jsb": ("JSB", 8.33, 7.72), "nottingham": ("Nottingham", 3.25, 2.92), "musedata": ("MuseData", 7.24, 7.03)}
    def ms(xs):
        return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"
    out = ["| dataset | runs | validation: benchmark's averaging | validation: RRU's averaging | test: benchmark's averaging | test: RRU's averaging | RRU's windows (test) | published LSTM, RRU |",
           "|---|---|---|---|---|---|---|---|"]
    for key, (label, lstm, rru) in published.items():
        configs = {}
        for r in rs:
            if r["dataset"] == key: configs.setdefault(re.sub(r"-s\d+$", "", r["run"]), []).append(r)
        for stem, mine in configs.items():
            v = [r for r in mine if r["split"] == "valid"]; t = [r for r in mine if r["split"] == "test"]
            runs = ", ".join(sorted({r["run"] for r in mine}))
            out.append(f"| {label} | {runs} | {ms([r['nll_per_frame'] for r in v])} | {ms([r['rru_nll'] for r in v])} | "
                       f"{ms([r['nll_per_frame'] for r in t])} | **{ms([r['rru_nll'] for r in t])}** | {t[0]['rru_windows']} | {lstm}, {rru} |")
    return "\n".join(out)

def replace(doc, marker, text):
    page = open(doc).read()
    page = re.sub(rf"<!-- {marker} -->.*?<!-- /{marker} -->", lambda _: f"<!-- {marker} -->\n{text}\n<!-- /{marker} -->", page, flags=re.S)
    open(doc, "w").write(page)

def main():
    argv = sys.argv[1:]
    opts = {}
    for flag in ("--doc", "--prefix", "--marker", "--final", "--rru"):
        if flag in argv:
            i = argv.index(flag); opts[flag] = argv[i + 1]; del argv[i:i + 2]
    if "--voices" in argv:
        i = argv.index("--voices"); names = argv[i + 1].split(","); del argv[i:i + 2]
        text = voices_table(names)
        if "--doc" in opts: replace(opts["--doc"], "nade-voices", text)
        print(text)
        return
    if "--rru" in opts:
        text = rru_table(opts["--rru"])
        if "--doc" in opts: replace(opts["--doc"], "rru-protocol", text)
        print(text)
        return
    if "--final" in opts:
        text = final_table(opts["--final"])
        if "--doc" in opts: replace(opts["--doc"], "polyphonic-final", text)
        print(text)
        return
    runs = argv[0] if argv else ("experiments/jsb-runs" if os.path.isdir("experiments/jsb-runs") else "experiments/results/jsb")
    text = table(rows(runs, opts.get("--prefix", "")))
    if "--doc" in opts: replace(opts["--doc"], opts.get("--marker", "jsb-table"), text)
    print(text)

if __name__ == "__main__":
    main()
