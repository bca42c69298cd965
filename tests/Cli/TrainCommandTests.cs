using System.Diagnostics;
using System.Text.Json.Nodes;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Midi;

namespace MusicGen.Tests.Cli;

public class TrainCommandTests
{
    /// <summary>A folder of small generated MIDI files (scales and arpeggios) to train on.</summary>
    internal static string MakeFolder(TempDir dir, int files = 16)
    {
        for (int f = 0; f < files; f++)
            dir.Write($"data/song{f}.mid", new SmfBuilder().AddTrack(t =>
            {
                for (int i = 0; i < 40; i++) { int p = 48 + (f % 5) + (i * (2 + f % 3)) % 24; t.On(0, p, 60 + i % 40).Off(120, p); }
            }).Build());
        return dir["data"];
    }

    static readonly string[] Tiny = ["--seq", "4", "--layers", "1", "--hidden", "8", "--batch", "4", "--quiet", "--device", "cpu"];

    static List<string> StepLines(string run) => File.ReadAllLines(Path.Combine(run, "metrics.jsonl"))
        .Where(l => l.Contains("\"kind\":\"step\"")).Select(l => { var o = JsonNode.Parse(l)!.AsObject(); o.Remove("notes_per_s"); return o.ToJsonString(); }).ToList();

    [Fact]
    public void Train_info_and_resume_from_the_command_line()
    {
        using var dir = new TempDir();
        var data = MakeFolder(dir);
        var r = CliRunner.Run(["train", "--data", data, "--out", dir["run"], "--epochs", "2", .. Tiny]);
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        Assert.Contains("epoch 2:", r.Stdout);
        Assert.Contains("bigram", r.Stdout);
        Assert.True(File.Exists(dir["run/best.safetensors"]));

        var info = CliRunner.Run("info", dir["run"]);
        Assert.Equal(0, info.ExitCode);
        Assert.Contains("\"Hidden\":8", info.Stdout);
        Assert.Contains("corpus_fingerprint", info.Stdout);

        var more = CliRunner.Run("train", "--resume", dir["run"], "--epochs", "3", "--quiet");
        Assert.True(more.ExitCode == 0, more.Stderr);
        Assert.Contains("epoch 3:", more.Stdout);
    }

    [Fact]
    public void Resume_refuses_flags_it_would_ignore_and_says_how_to_train_a_finished_run_further()
    {
        using var dir = new TempDir();
        var data = MakeFolder(dir);
        Assert.Equal(0, CliRunner.Run(["train", "--data", data, "--out", dir["run"], "--epochs", "1", .. Tiny]).ExitCode);
        var changed = CliRunner.Run("train", "--resume", dir["run"], "--hidden", "16", "--epochs", "2", "--quiet");
        Assert.Equal(2, changed.ExitCode);
        Assert.Contains("--hidden cannot change on --resume", changed.Stderr);
        var finished = CliRunner.Run("train", "--resume", dir["run"], "--quiet");
        Assert.Equal(2, finished.ExitCode);
        Assert.Contains("finished its 1 epoch(s); give --epochs", finished.Stderr);
        Assert.Single(finished.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void A_preset_is_the_shipped_models_recipe_and_flags_given_beside_it_override_it()
    {
        using var dir = new TempDir();
        var data = MakeFolder(dir);
        // --preset pop with a smaller network: the preset's other choices (unidirectional, every step, stride 32) stay.
        var r = CliRunner.Run("train", "--preset", "pop", "--data", data, "--out", dir["run"], "--epochs", "1", "--hidden", "8", "--seq", "4", "--batch", "4", "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
        var info = CliRunner.Run("info", dir["run"]);
        Assert.Contains("\"Hidden\":8", info.Stdout);
        Assert.Contains("\"Bidirectional\":false", info.Stdout);
        Assert.Contains("\"EveryStep\":true", info.Stdout);
        Assert.Contains("\"Stride\":32", info.Stdout);
        Assert.Equal(2, CliRunner.Run("train", "--preset", "jazz", "--data", data, "--out", dir["run2"]).ExitCode);
    }

    [Fact]
    public void Bad_train_invocations_are_one_line_errors()
    {
        using var dir = new TempDir();
        var none = CliRunner.Run("train", "--quiet");
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("--data and --out", none.Stderr);
        var missing = CliRunner.Run("train", "--resume", dir["nothing"]);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no checkpoint", missing.Stderr);
        var notCheckpoint = dir.Write("x.safetensors", "garbage!garbage!"u8.ToArray());
        var info = CliRunner.Run("info", notCheckpoint);
        Assert.Equal(2, info.ExitCode);
        Assert.Single(info.Stderr.Trim().Split('\n'));
        var badDevice = CliRunner.Run(["train", "--data", MakeFolder(dir, 4), "--out", dir["r"], "--device", "tpu"]);
        Assert.Equal(2, badDevice.ExitCode);
        var badDropout = CliRunner.Run(["train", "--data", dir["data"], "--out", dir["r2"], "--dropout", "1.5"]);
        Assert.Equal(2, badDropout.ExitCode);
        Assert.Contains("dropout", badDropout.Stderr);
        var badWeightDrop = CliRunner.Run(["train", "--data", dir["data"], "--out", dir["r2"], "--weight-drop", "-0.1"]);
        Assert.Equal(2, badWeightDrop.ExitCode);
        Assert.Contains("weight drop", badWeightDrop.Stderr);
        var residualAlone = CliRunner.Run(["train", "--data", dir["data"], "--out", dir["r2"], "--residual", "--layers", "1"]);
        Assert.Equal(2, residualAlone.ExitCode);
        Assert.Single(residualAlone.Stderr.Trim().Split('\n'));
        Assert.Contains("2 layers or more", residualAlone.Stderr);
        var barsInSeconds = CliRunner.Run(["train", "--data", dir["data"], "--out", dir["r3"], "--lookback", "bars"]);
        Assert.Equal(2, barsInSeconds.ExitCode);
        Assert.Contains("needs time in beats", barsInSeconds.Stderr);
        var distanceAlone = CliRunner.Run(["train", "--data", dir["data"], "--out", dir["r4"], "--lookback-notes", "8"]);
        Assert.Equal(2, distanceAlone.ExitCode);
        Assert.Contains("--lookback notes", distanceAlone.Stderr);
        var zero = CliRunner.Run(["train", "--data", dir["data"], "--out", dir["r5"], "--lookback", "notes", "--lookback-notes", "0"]);
        Assert.Equal(2, zero.ExitCode);
        Assert.Single(zero.Stderr.Trim().Split('\n'));
        var noSpan = CliRunner.Run(["train", "--data", dir["data"], "--out", dir["r6"], "--unidirectional", "--every-step", "--attention", "0"]);
        Assert.Equal(2, noSpan.ExitCode);
        Assert.Contains("--attention must be 1..1024", noSpan.Stderr);
        var bidirectional = CliRunner.Run(["train", "--data", dir["data"], "--out", dir["r7"], "--attention", "8"]);
        Assert.Equal(2, bidirectional.ExitCode);
        Assert.Contains("--attention needs a unidirectional model trained on every step", bidirectional.Stderr);
    }

    [Fact]
    public void A_process_killed_with_sigkill_and_resumed_matches_an_uninterrupted_run()
    {
        using var dir = new TempDir();
        var data = MakeFolder(dir);
        string[] run(string outDir) => ["train", "--data", data, "--out", outDir, "--epochs", "12", "--checkpoint-every", "5", "--log-every", "1", .. Tiny];
        Assert.Equal(0, CliRunner.Run(run(dir["a"])).ExitCode);

        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "musicgen.dll"));
        foreach (var a in run(dir["b"])) psi.ArgumentList.Add(a);
        using (var p = Process.Start(psi)!)
        {
            var clock = Stopwatch.StartNew();
            while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
            {
                if (File.Exists(dir["b/last.safetensors"]) && File.Exists(dir["b/metrics.jsonl"]) && File.ReadAllLines(dir["b/metrics.jsonl"]).Length >= 12) break;
                Thread.Sleep(20);
            }
            if (!p.HasExited) p.Kill(); // SIGKILL: no handler runs, nothing is saved on the way out
            p.WaitForExit();
        }
        var resumed = CliRunner.Run("train", "--resume", dir["b"], "--quiet");
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Equal(StepLines(dir["a"]), StepLines(dir["b"]));
        Assert.Empty(Directory.GetFiles(dir["b"], "*.tmp-*")); // whatever the kill left half-written is gone
    }

    [Fact]
    public void A_run_whose_cache_was_deleted_resumes_by_reading_its_folder_again()
    {
        using var dir = new TempDir();
        var data = MakeFolder(dir);
        Assert.Equal(0, CliRunner.Run(["train", "--data", data, "--out", dir["run"], "--epochs", "1", .. Tiny]).ExitCode);
        var file = MusicGen.Model.Checkpoint.Read(dir["run/last.safetensors"]).File;
        string cache = file.Metadata["corpus_path"];
        Assert.Equal(Path.GetFullPath(data), file.Metadata["corpus_root"]);
        File.Delete(cache);
        var resumed = CliRunner.Run("train", "--resume", dir["run"], "--epochs", "2", "--quiet");
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("reading", resumed.Stderr);
        Assert.True(File.Exists(cache)); // rebuilt where it was
        // With the folder gone too, the error says what to give.
        File.Delete(cache);
        Directory.Delete(data, recursive: true);
        var lost = CliRunner.Run("train", "--resume", dir["run"], "--epochs", "3", "--quiet");
        Assert.Equal(2, lost.ExitCode);
        Assert.Contains("give --data", lost.Stderr);
    }

    [Fact]
    public async Task Sigterm_saves_like_ctrl_c_and_exits_130_and_the_run_resumes()
    {
        using var dir = new TempDir();
        var data = MakeFolder(dir);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "musicgen.dll"));
        foreach (var a in (string[])["train", "--data", data, "--out", dir["r"], "--epochs", "400", "--checkpoint-every", "100000", "--log-every", "1", .. Tiny]) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        // Wait until it is training (step lines appear), then send SIGTERM, as a scheduler or `docker stop` does.
        while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2) && !(File.Exists(dir["r/metrics.jsonl"]) && File.ReadAllLines(dir["r/metrics.jsonl"]).Length >= 3))
            Thread.Sleep(20);
        Assert.False(p.HasExited, "training ended before the signal could be sent");
        using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!) kill.WaitForExit();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)), "musicgen did not stop after SIGTERM");
        Assert.Equal(130, p.ExitCode);
        Assert.Contains("SIGTERM", await stderr);
        Assert.Contains("saved at step", await stdout);
        Assert.True(File.Exists(dir["r/last.safetensors"])); // saved on the way out (no step-count checkpoint was due)
        var resumed = CliRunner.Run("train", "--resume", dir["r"], "--epochs", "1", "--quiet");
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
    }
}
