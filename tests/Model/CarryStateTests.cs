using System.Text.Json.Nodes;
using MusicGen.Midi.Corpus;
using MusicGen.Model;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;
using Xunit;

namespace MusicGen.Tests.Model;

/// <summary>Truncated backpropagation through time over whole pieces: the stream plan, and training that carries the state.</summary>
public class CarryStateTests
{
    static ModelConfig Config => new() { SeqLen = 4, Layers = 2, Hidden = 16, EmbeddingDim = 8, Dropout = 0.1f, Bidirectional = false, EveryStep = true };
    static TrainOptions Options => new() { Epochs = 3, BatchSize = 3, LearningRate = 0.01f, WarmupSteps = 5, CheckpointEvery = 7, LogEvery = 1, Patience = 0, Transpose = 2, CarryState = true };

    [Fact]
    public void Each_row_reads_a_piece_window_after_window_and_starts_each_piece_afresh()
    {
        var corpus = TrainerTests.TinyCorpus(files: 8, notesPerFile: 45); // 7 training pieces of 45 notes
        var windows = new MusicGen.Model.Windows(corpus, Split.Train, Config);
        var streams = new WindowStreams(windows);
        Assert.Equal(7, streams.Pieces);
        Assert.Equal(7 * 11, streams.Windows); // starts 0, 4, ..., 40: each with the 5 notes a window of 4 and its labels need
        var plan = streams.Plan(3, seed: 1, epoch: 0, transpose: 2);
        Assert.Equal(77 / 3, plan.Length);
        var seen = new HashSet<int>();
        for (int row = 0; row < 3; row++)
        {
            Assert.True(plan[0][row].StartsPiece);
            for (int k = 0; k < plan.Length; k++)
            {
                var step = plan[k][row];
                seen.Add(step.Window);
                Assert.InRange(step.Shift, -2, 2);
                if (k == 0 || step.StartsPiece) continue;
                var before = plan[k - 1][row];
                // Within a piece: the next window begins where the last one's inputs ended, in the same file, transposed alike.
                Assert.Equal(windows.Starts[before.Window] + 4, windows.Starts[step.Window]);
                Assert.Equal(windows.FileStarts[before.Window], windows.FileStarts[step.Window]);
                Assert.Equal(before.Shift, step.Shift);
            }
        }
        Assert.True(seen.Count >= 3 * plan.Length - 11, $"{seen.Count} distinct windows in {3 * plan.Length} reads"); // a short stream repeats at most one piece
        // The plan is the seed's and the epoch's: the same again, another the next epoch.
        Assert.Equal(plan.SelectMany(r => r), streams.Plan(3, 1, 0, 2).SelectMany(r => r));
        Assert.NotEqual(plan.SelectMany(r => r), streams.Plan(3, 1, 1, 2).SelectMany(r => r));
    }

    [Fact]
    public void A_carrying_run_killed_mid_epoch_resumes_from_its_carried_state_to_the_same_losses()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var corpus = TrainerTests.TinyCorpus(files: 8, notesPerFile: 45);
        new Trainer(be, corpus, "/tiny.mgcache", dir["a"]).Train(Config, Options);
        var uninterrupted = StepLosses(dir["a"]);
        Assert.Equal(3 * (77 / 3), uninterrupted.Count);
        // Killed at step 10: the last checkpoint is step 7's, within the first epoch, with the rows' states in the middle of their pieces.
        var dying = new Trainer(be, corpus, "/tiny.mgcache", dir["b"]) { OnStep = p => { if (p.Step == 10) throw new OperationCanceledException("killed"); } };
        Assert.Throws<OperationCanceledException>(() => dying.Train(Config, Options));
        var optimizer = Checkpoint.ReadOptimizer(dir["b/last.safetensors"], Checkpoint.Read(dir["b/last.safetensors"]).File);
        Assert.Contains(optimizer.Tensors, t => t.Key == "carry.h.1" && t.Value.Data.Any(v => v != 0));
        Assert.Equal(TrainOutcome.Completed, new Trainer(be, corpus, "/tiny.mgcache", dir["b"]).Resume(epochs: null));
        Assert.Equal(uninterrupted, StepLosses(dir["b"]));
        // Without the carried state (the same run, each window from zeros) the losses differ: the state is what is carried.
        new Trainer(be, corpus, "/tiny.mgcache", dir["c"]).Train(Config, Options with { CarryState = false, Stride = 4 });
        Assert.NotEqual(uninterrupted.Select(l => l.Loss), StepLosses(dir["c"]).Select(l => l.Loss));
    }

    [Fact]
    public void Carrying_the_state_refuses_what_cannot_carry_it()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var corpus = TrainerTests.TinyCorpus(files: 8, notesPerFile: 45);
        Assert.Equal("carry-state", Assert.Throws<SettingException>(() => { new Trainer(be, corpus, "/t", dir["bi"]).Train(Config with { Bidirectional = true, EveryStep = false }, Options); }).Setting);
        Assert.Equal("carry-state", Assert.Throws<SettingException>(() => { new Trainer(be, corpus, "/t", dir["last"]).Train(Config with { EveryStep = false }, Options); }).Setting);
        Assert.Equal("stride", Assert.Throws<SettingException>(() => (Options with { Stride = 32 }).Validate()).Setting);
        var batch = Assert.Throws<SettingException>(() => { new Trainer(be, corpus, "/t", dir["wide"]).Train(Config, Options with { BatchSize = 100 }); });
        Assert.Contains("77 consecutive windows", batch.Message);
    }

    static List<(int Step, float Loss)> StepLosses(string runDir) =>
        File.ReadAllLines(Path.Combine(runDir, Trainer.Metrics)).Select(l => JsonNode.Parse(l)!.AsObject())
            .Where(o => o["kind"]!.GetValue<string>() == "step").Select(o => (o["step"]!.GetValue<int>(), o["loss"]!.GetValue<float>())).ToList();
}
