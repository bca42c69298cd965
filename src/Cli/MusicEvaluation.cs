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
/// <c>musicgen evaluate --music</c>: binds the options to <see cref="MusicYardstick"/> (generated pieces, or a folder of
/// MIDI files, against real segments of a split, with real against real measured the same way) and prints its table.
/// </summary>
public static class MusicEvaluation
{
    public sealed record Request(string? Checkpoint, string? Model, string Data, bool Sustain, string Split, string? Generated, int Count, int Notes, int Seeds, ulong Seed,
        string? Png, bool Json, string Device, Func<ModelConfig, SamplingOptions> Sampling);

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
        if (split == Split.Train) return Cli.Error("--split train: the yardstick compares with held-out music; choose validation or test");
        if (r.Generated is not null && !Directory.Exists(r.Generated)) return Cli.Error($"--generated '{r.Generated}': no such folder");
        if (r.Png is not null && Cli.CannotWrite(r.Png, "--png") is string whyNot) return Cli.Error(whyNot); // before generating
        var started = DateTime.UtcNow;
        void Progress(string m) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{(DateTime.UtcNow - started).TotalSeconds,5:F1} s] {m}"));

        using var backend = r.Generated is null ? Devices.Create(r.Device) : null;
        var (model, source) = r.Generated is null ? GenerateCommand.LoadModel(r.Checkpoint, backend!, r.Model) : (null, $"MIDI files in {r.Generated}");
        using var owned = model;
        var time = model?.Config.Time ?? TimeUnit.Seconds;
        Progress($"reading {r.Data}{(time == TimeUnit.Beats ? " in beats" : "")}");
        var (corpus, _) = TrainCommand.LoadCorpus(r.Data, sustain: r.Sustain, quiet: true, time);
        if (corpus.Time != time) return Cli.Error($"the model counts time in {time.ToString().ToLowerInvariant()} and '{r.Data}' in {corpus.Time.ToString().ToLowerInvariant()}: give the corpus prepared with --time {time.ToString().ToLowerInvariant()}");

        double generationSeconds = 0;
        Func<int, ulong, IReadOnlyList<ScoredPiece>> candidates;
        if (r.Generated is not null)
        {
            var pieces = MusicYardstick.FromFolder(r.Generated, r.Notes, Progress);
            if (pieces.Count < 2) return Cli.Error($"--generated '{r.Generated}' holds fewer than 2 readable MIDI files with notes");
            source = $"{pieces.Count} MIDI files in {r.Generated}";
            candidates = (n, _) => pieces.Take(n).ToList();
        }
        else candidates = MusicYardstick.FromModel(model!, corpus, r.Notes, r.Sampling(model!.Config), s => generationSeconds += s);

        var result = MusicYardstick.Run(corpus, split, r.Count, r.Notes, r.Seeds, r.Seed, candidates, Progress);
        foreach (var w in result.Warnings) Console.Error.WriteLine($"musicgen: warning: {w}");
        string splitName = split.ToString().ToLowerInvariant(), baseName = result.Baseline.ToString().ToLowerInvariant();

        if (r.Png is string png)
        {
            PianoRoll.SaveComparisonPng(png, result.FirstReal.Notes, $"real: a {r.Notes}-note segment of the {splitName} split",
                result.FirstModel.Notes, $"generated: {source}" + (r.Generated is null ? $", seed {r.Seed}" : ""));
            Progress($"{png}: piano rolls, real above, generated below");
        }

        double R(double v) => Math.Round(v, 4);
        if (r.Json)
        {
            var doc = new Dictionary<string, object?>
            {
                ["candidate"] = source, ["split"] = splitName, ["baseline"] = $"{baseName} vs {splitName}",
                ["count"] = result.PiecesPerDraw, ["notes"] = r.Notes, ["draws"] = result.Draws, ["time"] = time.ToString().ToLowerInvariant(),
                ["features"] = result.Rows.Select(x => new Dictionary<string, object?>
                {
                    ["name"] = x.Name, ["histogram"] = x.IsHistogram, ["headline"] = x.IsHeadline,
                    ["real_mean"] = x.IsHistogram ? null : R(x.RealMean), ["candidate_mean"] = x.IsHistogram ? null : R(x.ModelMean),
                    ["overlap"] = R(x.ModelOverlap), ["overlap_sd"] = R(x.ModelOverlapSd),
                    ["real_vs_real"] = R(x.RealOverlap), ["real_vs_real_sd"] = R(x.RealOverlapSd),
                }).ToList(),
                ["mean_overlap_headline"] = R(result.ModelHeadline.Mean), ["mean_overlap_headline_sd"] = R(result.ModelHeadline.Sd),
                ["mean_overlap_all"] = R(result.ModelAll.Mean), ["mean_overlap_all_sd"] = R(result.ModelAll.Sd),
                ["real_vs_real_headline"] = R(result.RealHeadline.Mean), ["real_vs_real_headline_sd"] = R(result.RealHeadline.Sd),
                ["real_vs_real_all"] = R(result.RealAll.Mean), ["real_vs_real_all_sd"] = R(result.RealAll.Sd),
                ["diversity_real"] = R(result.RealDiversity), ["diversity_candidate"] = R(result.ModelDiversity),
                ["warnings"] = result.Warnings,
                ["generation_seconds"] = Math.Round(generationSeconds, 2), ["seconds"] = Math.Round((DateTime.UtcNow - started).TotalSeconds, 2),
            };
            Console.WriteLine(JsonSerializer.Serialize(doc));
            return Cli.Ok;
        }

        string F(double v) => double.IsNaN(v) ? "" : v.ToString(Math.Abs(v) >= 10 ? "F1" : "F3", CultureInfo.InvariantCulture);
        string Pm((double Mean, double Sd) v) => $"{F(v.Mean)} ± {v.Sd.ToString("F3", CultureInfo.InvariantCulture)}";
        var table = new Table().AddColumns("feature", $"real ({splitName})", "model", "overlap", "real vs real");
        foreach (var x in result.Rows)
            table.AddRow(Markup.Escape(x.IsHeadline ? x.Name + " *" : x.Name), x.IsHistogram ? "" : F(x.RealMean), x.IsHistogram ? "" : F(x.ModelMean),
                Pm((x.ModelOverlap, x.ModelOverlapSd)), Pm((x.RealOverlap, x.RealOverlapSd)));
        table.AddRow("mean overlap, * features", "", "", Pm(result.ModelHeadline), Pm(result.RealHeadline));
        table.AddRow("mean overlap, all features", "", "", Pm(result.ModelAll), Pm(result.RealAll));
        table.AddRow("between-piece distance (diversity)", F(result.RealDiversity), F(result.ModelDiversity), "", "");
        Console.WriteLine($"candidate: {source}; {result.Draws} draw(s) from seed {r.Seed}, {result.PiecesPerDraw} pieces x {r.Notes} notes each");
        Console.WriteLine($"real: {result.PiecesPerDraw} segments of {r.Notes} notes from as many {splitName} files per draw; real vs real: {baseName} segments drawn the same way, against the same {splitName} segments");
        AnsiConsole.Write(table);
        Console.WriteLine("overlap after Yang & Lerch (2018): 1 = the same distribution, 0 = disjoint (kernel-density overlap for numbers, intersection for histograms); mean ± sd over draws");
        return Cli.Ok;
    }
}
