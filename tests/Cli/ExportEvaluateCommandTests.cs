using System.Text.Json.Nodes;
using MusicGen.Tests.Corpus;

namespace MusicGen.Tests.Cli;

/// <summary><c>musicgen export</c> (float16 models) and <c>musicgen evaluate</c>, end to end through the executable.</summary>
public class ExportEvaluateCommandTests
{
    static string MakeFolder(TempDir dir) => TrainCommandTests.MakeFolder(dir, 12);

    static JsonObject Json(CliRunner.Result r) => JsonNode.Parse(r.Stdout.Trim().Split('\n')[^1])!.AsObject();

    [Fact]
    public void An_every_step_model_exports_to_float16_evaluates_alike_and_generates()
    {
        using var dir = new TempDir();
        var data = MakeFolder(dir);
        var train = CliRunner.Run("train", "--data", data, "--out", dir["run"], "--epochs", "3", "--unidirectional", "--every-step",
            "--seq", "6", "--hidden", "8", "--layers", "1", "--batch", "4", "--quiet");
        Assert.True(train.ExitCode == 0, train.Stderr + train.Stdout);

        var export = CliRunner.Run("export", dir["run"], "--out", dir["small.safetensors"], "--f16");
        Assert.True(export.ExitCode == 0, export.Stderr);
        Assert.True(new FileInfo(dir["small.safetensors"]).Length < 0.6 * new FileInfo(dir["run/best.safetensors"]).Length);
        var info = CliRunner.Run("info", dir["small.safetensors"]);
        Assert.Contains("stored as F16", info.Stdout);
        Assert.Contains("\"EveryStep\":true", info.Stdout);

        var full = CliRunner.Run("evaluate", "-c", dir["run/best.safetensors"], "--data", data, "--json");
        var half = CliRunner.Run("evaluate", "-c", dir["small.safetensors"], "--data", data, "--json");
        Assert.True(full.ExitCode == 0, full.Stderr);
        Assert.True(half.ExitCode == 0, half.Stderr);
        var (a, b) = (Json(full), Json(half));
        Assert.Equal(6, a["window"]!.GetValue<int>());
        Assert.Equal(a["windows"]!.GetValue<int>(), b["windows"]!.GetValue<int>());
        Assert.Equal(a["pitch_nll"]!.GetValue<double>(), b["pitch_nll"]!.GetValue<double>(), 0.01);
        Assert.True(a["pitch_nll"]!.GetValue<double>() > 0);
        Assert.True(a["bigram_pitch_nll"]!.GetValue<double>() > 0);

        // An every-step model predicts from any context length: a 2-note window has more windows than a 6-note one.
        var shortWindow = CliRunner.Run("evaluate", "-c", dir["run"], "--data", data, "--window", "2", "--json");
        Assert.True(shortWindow.ExitCode == 0, shortWindow.Stderr);
        Assert.True(Json(shortWindow)["windows"]!.GetValue<int>() > a["windows"]!.GetValue<int>());

        // Whole pieces: every note of the split's pieces from its piece's start, by context band.
        var whole = CliRunner.Run("evaluate", "-c", dir["run"], "--data", data, "--whole-pieces", "--json");
        Assert.True(whole.ExitCode == 0, whole.Stderr);
        var w = Json(whole);
        Assert.Equal("whole pieces", w["context"]!.GetValue<string>());
        var bands = w["pitch_nll_by_context"]!.AsObject();
        Assert.Equal(w["notes"]!.GetValue<long>(), bands.Sum(b => b.Value!["notes"]!.GetValue<long>()));
        Assert.True(bands.ContainsKey("1-31"));
        var both = CliRunner.Run("evaluate", "-c", dir["run"], "--data", data, "--whole-pieces", "--window", "4");
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("give no --window", both.Stderr);

        var gen = CliRunner.Run("generate", "-c", dir["small.safetensors"], "--notes", "20", "--seed", "3", "--out", dir["g.mid"]);
        Assert.True(gen.ExitCode == 0, gen.Stderr);
        Assert.Contains("20 notes", gen.Stdout);
    }

    [Fact]
    public void Bad_export_and_evaluate_inputs_are_one_line_errors()
    {
        using var dir = new TempDir();
        var garbage = dir.Write("x.safetensors", "garbage!garbage!"u8.ToArray());
        foreach (var args in new[]
        {
            new[] { "export", garbage, "--out", dir["y.safetensors"] },
            ["export", dir["missing.safetensors"], "--out", dir["y.safetensors"]],
            ["export", garbage, "--out", dir["y.txt"]],
            ["export", garbage],
            ["evaluate", "--data", dir["nowhere"]],
            ["evaluate", "--data", dir["nowhere"], "--split", "holdout"],
            ["evaluate"],
        })
        {
            var r = CliRunner.Run(args);
            Assert.True(r.ExitCode == 2, $"{string.Join(' ', args)}: exit {r.ExitCode}, {r.Stderr}");
            Assert.Single(r.Stderr.Trim().Split('\n'));
            Assert.StartsWith("musicgen: error:", r.Stderr);
        }
        Assert.False(File.Exists(dir["y.safetensors"]));

        var bidirectional = CliRunner.Run("train", "--data", MakeFolder(dir), "--out", dir["r"], "--every-step", "--quiet");
        Assert.Equal(2, bidirectional.ExitCode);
        Assert.Contains("unidirectional", bidirectional.Stderr);
        Assert.False(File.Exists(dir["r/last.safetensors"]));
    }
}

/// <summary><c>musicgen evaluate --music</c> through the executable, on POP909 (skipped where ../shared/data is absent).</summary>
public class MusicEvaluateCommandTests
{
    [SharedDataFact]
    public void Evaluate_music_compares_the_default_model_and_a_folder_of_midi_files_with_real_pop909()
    {
        using var dir = new TempDir();
        var gen = CliRunner.Run("generate", "--notes", "40", "--count", "4", "--seed", "2", "--out", dir["gen/piece.mid"]);
        Assert.True(gen.ExitCode == 0, gen.Stderr);

        var model = CliRunner.Run("evaluate", "--music", "--data", SharedData.Pop909, "--count", "6", "--notes", "40", "--seeds", "2", "--json", "--png", dir["cmp.png"]);
        Assert.True(model.ExitCode == 0, model.Stderr);
        var a = JsonNode.Parse(model.Stdout.Trim().Split('\n')[^1])!.AsObject();
        Assert.Equal("test", a["split"]!.GetValue<string>());
        Assert.Equal(19, a["features"]!.AsArray().Count); // 17, and the embedded model counts beats: onsets on the grid, notes on downbeats
        Assert.Equal(2, a["draws"]!.GetValue<int>());
        Assert.Equal(6, a["count"]!.GetValue<int>());
        Assert.True(a["real_vs_real_all_sd"]!.GetValue<double>() >= 0);
        Assert.Contains(a["warnings"]!.AsArray(), w => w!.GetValue<string>().Contains("too few to judge"));
        // The embedded model's music resembles real POP909: its histograms overlap the real ones by more than half (measured
        // 0.73-0.89 at this size; a generator of random pitches or steps falls far below), and so does the headline mean
        // (measured 0.68; 0.78 at the published 3 x 64 x 200).
        var overlaps = a["features"]!.AsArray().ToDictionary(f => f!["name"]!.GetValue<string>(), f => f!["overlap"]!.GetValue<double>());
        foreach (var h in new[] { "step histogram", "duration histogram", "interval histogram", "key-relative pitch classes" })
            Assert.True(overlaps[h] > 0.5, $"{h}: overlap {overlaps[h]}");
        Assert.True(a["mean_overlap_headline"]!.GetValue<double>() > 0.45, a.ToJsonString());
        Assert.True(new FileInfo(dir["cmp.png"]).Length > 10_000);
        Assert.Contains("draw 1 of 2", model.Stderr); // progress

        var folder = CliRunner.Run("evaluate", "--music", "--data", SharedData.Pop909, "--generated", dir["gen"], "--count", "6", "--notes", "40");
        Assert.True(folder.ExitCode == 0, folder.Stderr);
        Assert.Contains("4 MIDI files in", folder.Stdout);
        Assert.Contains("chord fraction", folder.Stdout);
        Assert.Contains("mean overlap", folder.Stdout);

        foreach (var args in new[]
        {
            new[] { "evaluate", "--music", "--data", SharedData.Pop909, "--generated", dir["nowhere"] },
            ["evaluate", "--music", "--data", SharedData.Pop909, "--count", "1"],
            ["evaluate", "--music", "--data", SharedData.Pop909, "--step-temperature", "0"],
            ["evaluate", "--data", SharedData.Pop909, "--generated", dir["gen"]],
        })
        {
            var r = CliRunner.Run(args);
            Assert.True(r.ExitCode == 2, $"{string.Join(' ', args)}: exit {r.ExitCode}, {r.Stderr}");
            Assert.StartsWith("musicgen: error:", r.Stderr.Trim().Split('\n')[^1]);
        }
    }
}
