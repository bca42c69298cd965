#!/usr/bin/env python3
"""Issue 26's sampling sweep: the table of experiments/sampling.sh's result files, and the choice it makes.

    python3 experiments/sampling.py pop                              # prints the table and the choice
    python3 experiments/sampling.py pop --doc docs/EXPERIMENTS.md    # writes them between the sampling-pop markers
    python3 experiments/sampling.py classical-dyn                    # the second stage: step and velocity temperatures

The rule, fixed before the sweep ran: issue 26 has three music targets, the overlap of repeated interval 4-grams
(>= 0.7), the overlap of the longest exact repeat (>= 0.7) and the mean overlap of all features (>= 0.9 of
real-vs-real). Each point of the grid scores the smallest of its three fractions of target (1 or more: all met),
averaged over the model's training seeds. Points within TIE of the highest score are tied (the score of one point
moves by up to 0.018 from one training seed to the other, at 15 draws), and among the tied the highest mean overlap
wins: the yardstick's overall number decides what the repetition targets cannot. Validation split only.
"""
import glob, json, os, re, statistics, sys

R = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
TIE = 0.02


def feature(d, name, key):
    return next(f[key] for f in d["features"] if f["name"] == name)


def measures(d):
    return {
        "mean": d["mean_overlap_all"] / d["real_vs_real_all"],
        "rate4": feature(d, "repeated interval 4-grams", "candidate_mean"),
        "over4": feature(d, "repeated interval 4-grams", "overlap"),
        "longest": feature(d, "longest exact repeat", "candidate_mean"),
        "overlong": feature(d, "longest exact repeat", "overlap"),
    }


def score(m):
    return min(m["over4"] / 0.7, m["overlong"] / 0.7, m["mean"] / 0.9)


def fmt(values, f):
    return format(statistics.mean(values), f) + (f" ± {format(statistics.stdev(values), f)}" if len(values) > 1 else "")


# The first stage's points are (pitch temperature, nucleus); the second's (MODEL-dyn: experiments/sampling.sh with
# STAGE=dynamics, at the first stage's pitch setting) are (step temperature, velocity temperature).
STAGES = {
    "pitch": (r"-s(\d+)-t([\d.]+)-p([\d.]+)-validation", "-s*-t*-p*-validation.json", ("pitch temperature", "nucleus"),
              "temperature {0:g}, nucleus {1:g}"),
    "dynamics": (r"-s(\d+)-st([\d.]+)-vt([\d.]+)-validation", "-s*-st*-vt*-validation.json", ("step temperature", "velocity temperature"),
                 "step temperature {0:g}, velocity temperature {1:g}"),
}


def stage(model):
    return STAGES["dynamics" if re.search(r"-dyn(\d+)?$", model) else "pitch"]


def table(model):
    pattern, files, names, _ = stage(model)
    points = {}
    for path in glob.glob(os.path.join(R, f"sampling-{model}{files}")):
        seed, t, p = re.search(pattern, path).groups()
        points.setdefault((float(t), float(p)), {})[int(seed)] = measures(json.load(open(path)))
    if not points:
        return "", None
    seeds = sorted({s for v in points.values() for s in v})
    rows = [f"| {names[0]} | {names[1]} | seeds | mean overlap / real vs real | repeated 4-grams: rate, overlap | longest repeat: share, overlap | score (smallest fraction of a target) |",
            "|---:|---:|---:|---:|---:|---:|---:|"]
    complete = {k: [v[s] for s in seeds] for k, v in points.items() if all(s in v for s in seeds)}
    top = max((statistics.mean(score(m) for m in ms) for ms in complete.values()), default=None)
    tied = [(statistics.mean(m["mean"] for m in ms), k, statistics.mean(score(m) for m in ms)) for k, ms in complete.items()
            if statistics.mean(score(m) for m in ms) >= top - TIE]
    best = max(tied)[1] + (max(tied)[2],) if tied else None
    for (t, p), by_seed in sorted(points.items()):
        ms = [by_seed[s] for s in seeds if s in by_seed]
        sc = statistics.mean(score(m) for m in ms)
        rows.append(f"| {t:g} | {p:g} | {len(ms)} | {fmt([m['mean'] for m in ms], '.3f')} | {fmt([m['rate4'] for m in ms], '.3f')}, {fmt([m['over4'] for m in ms], '.3f')} "
                    f"| {fmt([m['longest'] for m in ms], '.3f')}, {fmt([m['overlong'] for m in ms], '.3f')} | {sc:.4f} |")
    for i, row in enumerate(rows):
        if best and row.startswith(f"| {best[0]:g} | {best[1]:g} |"):
            rows[i] = row.replace(f"| {best[0]:g} | {best[1]:g} |", f"| **{best[0]:g}** | **{best[1]:g}** |", 1)
    return "\n".join(rows) + "\n", best


def main():
    args = sys.argv[1:]
    model = args[0] if args and not args[0].startswith("--") else "pop"
    text, best = table(model)
    if best:
        text += (f"\nChosen on validation: {stage(model)[3].format(best[0], best[1])} (score {best[2]:.4f}; the highest mean overlap "
                 f"of the points within {TIE} of the best score).\n")
    if "--doc" in args:
        doc = args[args.index("--doc") + 1]
        body = open(doc).read()
        start, end = f"<!-- sampling-{model} -->", f"<!-- /sampling-{model} -->"
        if start not in body:
            sys.exit(f"{doc} has no {start} marker")
        head, rest = body.split(start, 1)
        _, tail = rest.split(end, 1)
        open(doc, "w").write(head + start + "\n" + text + end + tail)
    else:
        print(text)


if __name__ == "__main__":
    main()
