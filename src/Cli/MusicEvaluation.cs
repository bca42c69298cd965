using System.Globalization;
using System.Text.Json;
using MusicGen.Cli.Commands;
using MusicGen.Kernels;
using MusicGen.Midi;
using MusicGen.Midi.Corpus;
using MusicGen.Model;
using MusicGen.Model.Music;
using Spectre.Console;

namespace MusicGen.Cli;

/// <summary>
/// <c>musicgen evaluate --music</c>: generated pieces (or a folder of MIDI files) against random segments of a real
/// split, feature by feature (<see cref="PieceFeatures"/>, <see cref="MusicComparison"/>), with real against real
/// (the other held-out split against the same segments) beside it for scale.
/// </summary>
public static class MusicEvaluation
{
    public sealed record Request(string? Checkpoint, string? Model, string Data, bool Sustain, string Split, string? Generated, int Count, int Notes, int Seeds, ulong Seed,
        string? Png, bool Json, string Device, SamplingOptions Sampling);

    public static int Run(Request r)
    {
        if (r.Count is < 2 or > 4096) return Cli.Error($"--count must be in 2..4096 (got {r.Count})");
        if (r.Notes is < 10 or > GenerateOptions.MaxNotes) return Cli.Error($"--notes must be in 10..{GenerateOptions.MaxNotes} (got {r.Notes})");
        if (r.Seeds is < 1 or > 100) return Cli.Error($"--seeds must be in 1..100 (got {r.Seeds})");
        var split = r.Split.ToLowerInvariant() switch
        {
            "train" => Split.Train, "validation" or "valid" => Split.Validation, "test" => Split.Test,
            var s => throw new ArgumentException($"--split '{s}': choose train, validation or test"),
        };
        if (r.Generated is not null && !Directory.Exists(r.Generated)) return Cli.Error($"--generated '{r.Generated}': no such folder");
        if (r.Png is not null && Cli.CannotWrite(r.Png, "--png") is string whyNot) return Cli.Error(whyNot); // before generating
        var started = DateTime.UtcNow;
        void Progress(string m) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{(DateTime.UtcNow - started).TotalSeconds,5:F1} s] {m}"));

        Progress($"reading {r.Data}");
        var (corpus, _) = TrainCommand.LoadCorpus(r.Data, sustain: r.Sustain, quiet: true);
        string splitName = split.ToString().ToLowerInvariant();
        var other = split == Split.Validation ? Split.Test : Split.Validation;
        Progress($"{r.Count} real segments of {r.Notes} notes from the {splitName} split, and from the {other.ToString().ToLowerInvariant()} split for the baseline");
        var realNotes = MusicComparison.RealSegments(corpus, split, r.Count, r.Notes, r.Seed);
        var real = realNotes.Select(PieceFeatures.Of).ToList();
        List<FeatureComparison>? baseline = null;
        try { baseline = MusicComparison.Compare(real, MusicComparison.RealSegments(corpus, other, r.Count, r.Notes, r.Seed + 1).Select(PieceFeatures.Of).ToList()); }
        catch (ArgumentException e) { Progress($"no real-vs-real baseline: {e.Message}"); }

        // The candidate sets: one per sampling seed, or the folder's files.
        var sets = new List<List<List<Note>>>();
        string source;
        double generationSeconds = 0;
        if (r.Generated is not null)
        {
            var files = Directory.EnumerateFiles(r.Generated, "*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".mid", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".midi", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal).ToList();
            var pieces = new List<List<Note>>();
            foreach (var f in files)
            {
                try
                {
                    var notes = MidiReader.ReadFile(f).OrderBy(n => n.Start).ThenBy(n => n.Pitch).Take(r.Notes).ToList();
                    if (notes.Count >= 2) pieces.Add(notes); else Progress($"skipped {f}: fewer than 2 notes");
                }
                catch (MidiFormatException e) { Progress($"skipped {f}: {e.Message}"); }
            }
            if (pieces.Count < 2) return Cli.Error($"--generated '{r.Generated}' holds fewer than 2 readable MIDI files with notes");
            sets.Add(pieces);
            source = $"{pieces.Count} MIDI files in {r.Generated}";
        }
        else
        {
            using var backend = Devices.Create(r.Device);
            var (model, modelSource) = GenerateCommand.LoadModel(r.Checkpoint, backend, r.Model);
            using (model)
            {
                source = modelSource;
                for (int s = 0; s < r.Seeds; s++)
                {
                    ulong seed = r.Seed + (ulong)s;
                    Progress($"generating {r.Count} pieces x {r.Notes} notes, seed {seed}");
                    var clock = DateTime.UtcNow;
                    var primers = Generator.RandomPrimers(model.Config, r.Count, seed);
                    var pieces = Generator.Generate(model, primers, new GenerateOptions(r.Notes, r.Count, seed, r.Sampling));
                    generationSeconds += (DateTime.UtcNow - clock).TotalSeconds;
                    sets.Add(pieces.Select((p, i) => NoteFeatures.ToNotes(p.AsSpan(primers[i].Length))).ToList());
                }
            }
        }
        Progress("computing features");
        var perSet = sets.Select(set => MusicComparison.Compare(real, set.Select(PieceFeatures.Of).ToList())).ToList();
        var rows = perSet[0].Select((row, k) => row with
        {
            CandidateMean = perSet.Average(s => s[k].CandidateMean),
            Overlap = perSet.Average(s => s[k].Overlap),
        }).ToList();
        var (headline, all) = MusicComparison.Means(rows);
        var (baseHeadline, baseAll) = baseline is null ? (double.NaN, double.NaN) : MusicComparison.Means(baseline);
        double? Round(double v) => double.IsNaN(v) ? null : Math.Round(v, 4);
        var perSeedHeadline = perSet.Select(s => MusicComparison.Means(s).Headline).ToArray();
        // How much the pieces differ from each other (mean pairwise distance), per candidate set, against the real segments'.
        double realDiversity = MusicComparison.Diversity(real);
        double diversity = sets.Average(set => MusicComparison.Diversity(set.Select(PieceFeatures.Of).ToList()));

        if (r.Png is string png)
        {
            PianoRoll.SaveComparisonPng(png, realNotes[0], $"real: a {r.Notes}-note segment of the {splitName} split",
                sets[0][0], $"generated: {source}" + (r.Generated is null ? $", seed {r.Seed}" : ""));
            Progress($"{png}: piano rolls, real above, generated below");
        }

        if (r.Json)
        {
            var doc = new Dictionary<string, object?>
            {
                ["candidate"] = source, ["split"] = splitName, ["baseline"] = $"{other.ToString().ToLowerInvariant()} vs {splitName}",
                ["count"] = r.Count, ["notes"] = r.Notes, ["seeds"] = r.Generated is null ? r.Seeds : null,
                ["features"] = rows.Select((x, k) => new Dictionary<string, object?>
                {
                    ["name"] = x.Name, ["histogram"] = x.IsHistogram,
                    ["real_mean"] = x.IsHistogram ? null : Math.Round(x.ReferenceMean, 4), ["candidate_mean"] = x.IsHistogram ? null : Math.Round(x.CandidateMean, 4),
                    ["overlap"] = Math.Round(x.Overlap, 4), ["real_vs_real"] = baseline is null ? null : Math.Round(baseline[k].Overlap, 4),
                    ["headline"] = MusicComparison.Headline.Contains(x.Name),
                }).ToList(),
                ["mean_overlap_headline"] = Math.Round(headline, 4), ["mean_overlap_all"] = Math.Round(all, 4),
                ["real_vs_real_headline"] = Round(baseHeadline), ["real_vs_real_all"] = Round(baseAll),
                ["headline_per_seed"] = perSeedHeadline.Select(v => Math.Round(v, 4)).ToArray(),
                ["diversity_real"] = Round(realDiversity), ["diversity_candidate"] = Round(diversity),
                ["generation_seconds"] = Math.Round(generationSeconds, 2), ["seconds"] = Math.Round((DateTime.UtcNow - started).TotalSeconds, 2),
            };
            Console.WriteLine(JsonSerializer.Serialize(doc));
            return Cli.Ok;
        }

        string F(double v) => double.IsNaN(v) ? "" : v.ToString(Math.Abs(v) >= 10 ? "F1" : "F3", CultureInfo.InvariantCulture);
        var table = new Table().AddColumns("feature", $"real ({splitName})", "model", "overlap", "real vs real");
        for (int k = 0; k < rows.Count; k++)
        {
            var x = rows[k];
            string name = MusicComparison.Headline.Contains(x.Name) ? x.Name + " *" : x.Name;
            table.AddRow(Markup.Escape(name), F(x.ReferenceMean), F(x.CandidateMean), F(x.Overlap), F(baseline?[k].Overlap ?? double.NaN));
        }
        table.AddRow("mean overlap, * features", "", "", F(headline), F(baseHeadline));
        table.AddRow("mean overlap, all features", "", "", F(all), F(baseAll));
        table.AddRow("between-piece distance (diversity)", F(realDiversity), F(diversity), "", "");
        Console.WriteLine($"candidate: {source}" + (r.Generated is null ? $"; {r.Seeds} seed(s) from {r.Seed}, {r.Count} x {r.Notes} notes each" : ""));
        Console.WriteLine($"real: {r.Count} random {r.Notes}-note segments of the {splitName} split; real vs real: {other.ToString().ToLowerInvariant()} segments against them");
        AnsiConsole.Write(table);
        Console.WriteLine("overlap: 1 = the same distribution, 0 = disjoint (kernel-density overlap for numbers, intersection for histograms)");
        if (r.Seeds > 1 && r.Generated is null)
            Console.WriteLine("mean overlap (*) per seed: " + string.Join(", ", perSeedHeadline.Select(v => v.ToString("F3", CultureInfo.InvariantCulture))));
        return Cli.Ok;
    }
}
