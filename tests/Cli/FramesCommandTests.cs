using MusicGen.Tests.Corpus;
using MusicGen.Tests.Model;

namespace MusicGen.Tests.Cli;

/// <summary>`musicgen frames train|evaluate|generate|show` from the command line.</summary>
public class FramesCommandTests
{
    [Fact]
    public void Train_resume_evaluate_generate_and_show_from_the_command_line()
    {
        using var dir = new TempDir();
        var data = FrameModelTests.MakeFramesFile(dir);
        var run = dir["run"];
        var r = CliRunner.Run("frames", "train", "--data", data, "--out", run, "--hidden", "8", "--layers", "2", "--epochs", "2", "--batch", "4", "--locked-dropout", "--residual");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("epoch 2/2", r.Stdout);
        Assert.Contains("2 x LSTM 8 (residual)", r.Stdout);
        var stored = MusicGen.Model.SafeTensors.Load(Path.Combine(run, "last.safetensors")).Metadata["config"];
        Assert.Contains("\"LockedDropout\":true", stored);
        Assert.Contains("\"Residual\":true", stored);
        Assert.True(File.Exists(Path.Combine(run, "best.safetensors")) && File.Exists(Path.Combine(run, "last.safetensors")));

        r = CliRunner.Run("frames", "train", "--resume", run, "--epochs", "3");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("epoch 3/3", r.Stdout);
        Assert.DoesNotContain("epoch 1/", r.Stdout);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(run, "metrics.jsonl")).Length);

        r = CliRunner.Run("frames", "evaluate", "--checkpoint", run, "--data", data, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        var json = System.Text.Json.JsonDocument.Parse(r.Stdout).RootElement;
        Assert.Equal("valid", json.GetProperty("split").GetString());  // choices are made on validation
        Assert.InRange(json.GetProperty("nll_per_frame").GetDouble(), 0.1, 60);
        // The test split only for a final configuration, which scores both and can record its row.
        var refused = CliRunner.Run("frames", "evaluate", "--checkpoint", run, "--data", data, "--split", "test");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--final", refused.Stderr);
        r = CliRunner.Run("frames", "evaluate", "--checkpoint", run, "--data", data, "--final", "--record", dir["final.tsv"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("valid: NLL", r.Stdout);
        Assert.Contains("test: NLL", r.Stdout);
        var rows = File.ReadAllLines(dir["final.tsv"]);
        Assert.Equal("dataset\toutput\tseed\tvalid_nll\ttest_nll\tparameters\tseconds", rows[0]);
        Assert.Matches(@"^\S+\tbernoulli\t1\t[\d.]+\t[\d.]+\t\d+\t[\d.]+$", rows[1]);
        Assert.True(double.Parse(rows[1].Split('\t')[^1], System.Globalization.CultureInfo.InvariantCulture) > 0, "the training time comes from the run's metrics");

        r = CliRunner.Run("frames", "generate", "--checkpoint", run, "--out", dir["gen.mid"], "--frames", "8", "--count", "2", "--png",
            "--data", data, "--primer-piece", "1", "--primer-frames", "2");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(File.Exists(dir["gen-1.mid"]) && File.Exists(dir["gen-2.png"]));
        Assert.Contains("the first 2 frames of test piece 1", r.Stdout);

        r = CliRunner.Run("frames", "show", "--data", data, "--split", "valid", "--piece", "0", "--out", dir["real.mid"], "--png");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(File.Exists(dir["real.mid"]) && File.Exists(dir["real.png"]));
        // "validation", the note verbs' name for the split, means the same here.
        r = CliRunner.Run("frames", "show", "--data", data, "--split", "validation", "--piece", "0", "--out", dir["real2.mid"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal(File.ReadAllBytes(dir["real.mid"]), File.ReadAllBytes(dir["real2.mid"]));
    }

    [Theory]
    [InlineData("frames train --out X")]                                   // no --data
    [InlineData("frames train --data MISSING.json --out X")]                // no such file
    [InlineData("frames evaluate --checkpoint NOPE --data DATA")]           // no checkpoint
    [InlineData("frames evaluate --checkpoint RUN --data DATA --split nope")] // no such split
    [InlineData("frames evaluate --checkpoint RUN --data DATA --split test")] // the test split needs --final
    [InlineData("frames evaluate --checkpoint RUN --data DATA --protocol rru")] // 4 validation windows make no batch of 16
    [InlineData("frames evaluate --checkpoint RUN --data DATA --protocol nope")]
    [InlineData("frames generate --checkpoint RUN --primer-piece 99 --data DATA")]
    [InlineData("frames generate --checkpoint RUN --temperature 0")]
    [InlineData("frames show --data DATA --piece -1")]
    [InlineData("frames train --data BAD --out X")]                         // not a frames file
    [InlineData("frames train --data EMPTY --out X")]                       // no training pieces
    [InlineData("frames train --data DATA --out X --hidden 8192 --layers 16 --batch 4096")] // cannot fit: refused before any work
    [InlineData("frames train --data DATA --out X --optimizer sgd")]        // not an optimizer: the hint names `musicgen frames train --help`
    [InlineData("frames train --data DATA --out X --checkpoint-minutes -1")]
    [InlineData("frames train --data DATA --out X --weight-drop 1")]          // a weight drop of 1 keeps no recurrent weight
    [InlineData("frames train --resume RUN --hidden 512")]                    // a run keeps its network: not silently ignored
    [InlineData("frames train --resume RUN --locked-dropout")]
    [InlineData("frames train --resume RUN --residual")]
    [InlineData("frames train --data DATA --out X --residual --layers 1")]   // nothing for a residual connection to go round
    public void Bad_input_is_one_line_and_exit_code_2(string command)
    {
        using var dir = new TempDir();
        var data = FrameModelTests.MakeFramesFile(dir);
        var bad = dir.Write("bad.json", "{\"train\": [[[60], [999]]]}"u8.ToArray());
        var empty = dir.Write("empty.json", "{\"train\": [], \"valid\": [[[60], [62]]], \"test\": [[[60], [64]]]}"u8.ToArray());
        var run = dir["run"];
        if (command.Contains("RUN"))
        {
            var t = CliRunner.Run("frames", "train", "--data", data, "--out", run, "--hidden", "4", "--layers", "1", "--epochs", "1");
            Assert.True(t.ExitCode == 0, t.Stderr);
        }
        var args = command.Split(' ').Select(a => a switch { "DATA" => data, "BAD" => bad, "EMPTY" => empty, "RUN" => run, "X" => dir["x"], "NOPE" => dir["nope"], "MISSING.json" => dir["missing.json"], _ => a }).ToArray();
        var r = CliRunner.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.StartsWith("musicgen: error:", r.Stderr);
        if (r.Stderr.Contains("--help")) Assert.Contains($"(see `musicgen {args[0]} {args[1]} --help`)", r.Stderr);
    }
}
