#!/usr/bin/env python3
"""Markdown tables for docs/DEFAULT_MODEL.md from the result files experiments/beats.sh writes (the previous default's
files are the *-beats-plain-* ones).

    python3 experiments/tables.py            # prints every table whose result files exist
"""
import json, os, statistics

R = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def load(name):
    path = os.path.join(R, name)
    return json.load(open(path)) if os.path.exists(path) else None


def key_control():
    path = os.path.join(R, "key-control.jsonl")
    if not os.path.exists(path):
        return
    rows = [json.loads(l) for l in open(path) if l.strip()]
    print("| --key-strength | asked key (seeds) | mean | relative key | scale fit |")
    print("|---:|---|---:|---:|---:|")
    for s in sorted({r["key_strength"] for r in rows}):
        rs = [r for r in rows if r["key_strength"] == s]
        hits = " / ".join(f'{r["hits"]}/{r["pieces"]}' for r in rs)
        mean = statistics.mean(r["hit_rate"] for r in rs)
        rel = statistics.mean(r["relative_rate"] for r in rs)
        fit = statistics.mean(r["scale_fit"] for r in rs)
        print(f"| {s:g} | {hits} | {mean:.1%} | {rel:.1%} | {fit:.3f} |")
    print()


def nll():
    pairs = [("seconds (two defaults ago)", load("nll-pop-seconds-validation.json")), ("beats (the previous default)", load("nll-pop-beats-plain-validation.json")),
             ("beats + lookback (this model)", load("nll-pop-beats-validation.json"))]
    pairs = [(n, d) for n, d in pairs if d]
    if not pairs:
        return
    print("| model | windows | pitch NLL | pitch accuracy | step NLL | duration NLL | velocity NLL | bigram pitch NLL |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for n, d in pairs:
        print(f'| {n} | {d["windows"]:,} | {d["pitch_nll"]:.4f} | {d["pitch_accuracy"]:.1%} | {d["step_nll"]:.4f} | {d["duration_nll"]:.4f} | {d.get("velocity_nll", float("nan")):.4f} | {d["bigram_pitch_nll"]:.4f} |')
    print()


def music(split):
    new, old = load(f"music-pop-beats-{split}.json"), load(f"music-pop-beats-plain-{split}.json")
    if not new:
        return
    print(f"Against the POP909 {split} split: {new['count']} pieces x {new['notes']} notes per draw, {new['draws']} draws; overlap mean ± sd over the draws.")
    print()
    head = "| feature | real | this model | overlap |" + (" previous (no lookback) | overlap |" if old else "") + " real vs real |"
    print(head)
    print("|" + "---|" + "---:|" * (head.count("|") - 2))
    oldf = {f["name"]: f for f in old["features"]} if old else {}
    def num(v):
        return "" if v is None else (f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}")
    for f in new["features"]:
        o = oldf.get(f["name"])
        name = f["name"] + (" *" if f["headline"] else "")
        line = f'| {name} | {num(f["real_mean"])} | {num(f["candidate_mean"])} | {f["overlap"]:.3f} ± {f["overlap_sd"]:.3f} |'
        if old:
            overlap = f"{o['overlap']:.3f}" if o else "n/a"
            line += f' {num(o["candidate_mean"]) if o else ""} | {overlap} |'
        line += f' {f["real_vs_real"]:.3f} ± {f["real_vs_real_sd"]:.3f} |'
        print(line)
    for key, label in [("headline", "mean, * features"), ("all", "mean, all features")]:
        line = f'| **{label}** | | | **{new[f"mean_overlap_{key}"]:.3f} ± {new[f"mean_overlap_{key}_sd"]:.3f}** |'
        if old:
            line += f' | {old[f"mean_overlap_{key}"]:.3f} ± {old[f"mean_overlap_{key}_sd"]:.3f} |'
        line += f' {new[f"real_vs_real_{key}"]:.3f} ± {new[f"real_vs_real_{key}_sd"]:.3f} |'
        print(line)
    ratio = new["mean_overlap_all"] / new["real_vs_real_all"]
    worst = min(new["features"], key=lambda f: f["overlap"])
    print()
    print(f"This model / real vs real, all features: {ratio:.3f}; lowest feature: {worst['name']} ({worst['overlap']:.3f}).")
    if old:
        print(f"Previous model / real vs real: {old['mean_overlap_all'] / old['real_vs_real_all']:.3f}.")
    print()


if __name__ == "__main__":
    key_control()
    nll()
    music("validation")
    music("test")
