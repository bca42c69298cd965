using System.Text.Json.Nodes;
using MusicGen.Kernels;
using MusicGen.Midi;
using MusicGen.Midi.Corpus;
using MusicGen.Model;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;

namespace MusicGen.Tests.Model;

public class TrainerTests
{
    /// <summary>A small in-memory corpus: files that repeat short melodic patterns (learnable), split train/validation.</summary>
    public static NoteCorpus TinyCorpus(int files = 6, int notesPerFile = 60)
    {
        var notes = new List<NoteRow>();
        var entries = new List<CorpusEntry>();
        int[][] patterns = [[60, 62, 64, 65, 67], [67, 65, 64, 62], [48, 52, 55, 60, 55, 52]];
        for (int f = 0; f < files; f++)
        {
            var pattern = patterns[f % patterns.Length];
            int first = notes.Count;
            for (int i = 0; i < notesPerFile; i++)
                notes.Add(new NoteRow(pattern[i % pattern.Length], i == 0 ? 0 : 0.25f, 0.2f + 0.05f * (i % 2), 80));
            entries.Add(new CorpusEntry($"f{f}.mid", f == files - 1 ? Split.Validation : Split.Train, 1, 1, first, notesPerFile, notesPerFile * 0.25f));
        }
        return new NoteCorpus { Root = "/tiny", Kind = "folder", Sustain = false, IncludeDrums = false, Files = entries, Skipped = [], Notes = [.. notes] };
    }

    static ModelConfig TinyConfig => new() { SeqLen = 4, Layers = 2, Hidden = 16, EmbeddingDim = 8, Dropout = 0.1f };
    static TrainOptions TinyOptions => new() { Epochs = 4, BatchSize = 8, LearningRate = 0.01f, WarmupSteps = 5, CheckpointEvery = 7, LogEvery = 1, Patience = 0, Transpose = 2 };

    static List<(int Step, float Loss)> StepLosses(string runDir) =>
        File.ReadAllLines(Path.Combine(runDir, Trainer.Metrics)).Select(l => JsonNode.Parse(l)!.AsObject())
            .Where(o => o["kind"]!.GetValue<string>() == "step").Select(o => (o["step"]!.GetValue<int>(), o["loss"]!.GetValue<float>())).ToList();

    [Fact]
    public void A_tiny_run_overfits_a_tiny_corpus()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var corpus = TinyCorpus();
        var trainer = new Trainer(be, corpus, "/tiny.mgcache", dir["run"]);
        var outcome = trainer.Train(TinyConfig with { Dropout = 0 }, TinyOptions with { Epochs = 40, Transpose = 0, LearningRate = 0.02f });
        Assert.Equal(TrainOutcome.Completed, outcome);
        var losses = StepLosses(dir["run"]);
        float first = losses[0].Loss, last = losses.TakeLast(5).Average(l => l.Loss);
        Assert.True(last < 0.1f * first, $"loss fell from {first} to {last} (< 90% drop)");
        Assert.True(File.Exists(dir["run/best.safetensors"]));
    }

    [Fact]
    public void A_run_killed_mid_epoch_and_resumed_gives_the_same_later_losses()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var corpus = TinyCorpus();
        new Trainer(be, corpus, "/tiny.mgcache", dir["a"]).Train(TinyConfig, TinyOptions);
        var uninterrupted = StepLosses(dir["a"]);

        // Run b "dies" at step 17 without any clean-up save (like SIGKILL): the last checkpoint is from step 14.
        var dying = new Trainer(be, corpus, "/tiny.mgcache", dir["b"]) { OnStep = p => { if (p.Step == 17) throw new OperationCanceledException("killed"); } };
        Assert.Throws<OperationCanceledException>(() => dying.Train(TinyConfig, TinyOptions));
        Assert.Contains(StepLosses(dir["b"]), l => l.Step == 16); // metrics past the checkpoint exist until resume trims them
        var outcome = new Trainer(be, corpus, "/tiny.mgcache", dir["b"]).Resume(epochs: null);
        Assert.Equal(TrainOutcome.Completed, outcome);
        Assert.Equal(uninterrupted, StepLosses(dir["b"]));
        Assert.Equal(File.ReadAllLines(dir["a/metrics.jsonl"]).Where(l => l.Contains("\"epoch\"") && l.Contains("val_loss")).Select(l => l[..l.IndexOf("\"notes_per_s\"")]),
                     File.ReadAllLines(dir["b/metrics.jsonl"]).Where(l => l.Contains("\"epoch\"") && l.Contains("val_loss")).Select(l => l[..l.IndexOf("\"notes_per_s\"")]));
    }

    [Theory]
    [InlineData(0.0, false)]     // by steps alone (--checkpoint-every far away): nothing saved by step 3
    [InlineData(1e-9, true)]     // by time: every step is past the interval
    public void Checkpoints_are_saved_by_time_as_well_as_by_steps(double minutes, bool saved)
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        bool? seenAtStep3 = null;
        var trainer = new Trainer(be, TinyCorpus(), "/tiny.mgcache", dir["run"])
        {
            OnStep = p => { if (p.Step == 3) seenAtStep3 = File.Exists(dir["run/last.safetensors"]); },
        };
        trainer.Train(TinyConfig, TinyOptions with { Epochs = 1, CheckpointEvery = 100_000, CheckpointMinutes = minutes });
        Assert.Equal(saved, seenAtStep3);
        Assert.Throws<ArgumentException>(() => (TinyOptions with { CheckpointMinutes = -1 }).Validate());
    }

    [Fact]
    public void A_window_longer_than_the_pieces_says_how_many_pieces_are_long_enough()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var e = Assert.Throws<ArgumentException>(() => { new Trainer(be, TinyCorpus(), "/tiny.mgcache", dir["run"]).Train(TinyConfig with { SeqLen = 80 }, TinyOptions); });
        Assert.Contains("0 of its 5 pieces have 81 notes or more; the longest has 60", e.Message);
    }

    [Fact]
    public void A_run_that_died_before_its_first_checkpoint_says_so_on_resume()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var dying = new Trainer(be, TinyCorpus(), "/tiny.mgcache", dir["run"]) { OnStep = p => { if (p.Step == 6) throw new OperationCanceledException("killed"); } };
        Assert.Throws<OperationCanceledException>(() => dying.Train(TinyConfig, TinyOptions with { CheckpointEvery = 100_000, CheckpointMinutes = 0, LogEvery = 1 }));
        var e = Assert.Throws<FileNotFoundException>(() => new Trainer(be, TinyCorpus(), "/tiny.mgcache", dir["run"]).Resume(null));
        Assert.Contains("stopped before its first checkpoint", e.Message);
    }

    [Fact]
    public void Cancellation_saves_and_resume_with_more_epochs_continues()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var corpus = TinyCorpus();
        using var cts = new CancellationTokenSource();
        var t = new Trainer(be, corpus, "/tiny.mgcache", dir["run"]) { OnStep = p => { if (p.Step == 10) cts.Cancel(); } };
        Assert.Equal(TrainOutcome.Interrupted, t.Train(TinyConfig, TinyOptions with { Epochs = 2 }, cts.Token));
        var (_, file) = Checkpoint.Read(dir["run/last.safetensors"]);
        Assert.Contains("\"Step\":10", file.Metadata["state"]);
        Assert.Equal(TrainOutcome.Completed, new Trainer(be, corpus, "/tiny.mgcache", dir["run"]).Resume(epochs: 3));
        Assert.Contains("\"Epoch\":3", Checkpoint.Read(dir["run/last.safetensors"]).File.Metadata["state"]);
        // A second new run into the same directory is refused (it would overwrite the first).
        Assert.Throws<ArgumentException>(() => new Trainer(be, corpus, "/tiny.mgcache", dir["run"]).Train(TinyConfig, TinyOptions));
    }

    /// <summary>A copy of <paramref name="c"/> whose files carry other modification times and sizes on disk (a re-provisioned data folder).</summary>
    static NoteCorpus Retimed(NoteCorpus c) => new()
    {
        Root = c.Root, Kind = c.Kind, Sustain = c.Sustain, IncludeDrums = c.IncludeDrums, Skipped = c.Skipped, Notes = c.Notes,
        Files = c.Files.Select(f => f with { ModifiedTicks = f.ModifiedTicks + 12345, Size = f.Size + 7 }).ToList(),
    };

    [Fact]
    public void A_run_resumes_on_the_same_notes_whatever_the_files_times_and_not_on_other_notes()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var corpus = TinyCorpus();
        new Trainer(be, corpus, "/tiny.mgcache", dir["run"]).Train(TinyConfig, TinyOptions with { Epochs = 1 });
        Assert.Equal("content", Checkpoint.Read(dir["run/last.safetensors"]).File.Metadata["corpus_fingerprint_kind"]);

        // The same notes read from files with new times (a copied data folder): the fingerprint is the same, the run resumes.
        Assert.Equal(Trainer.Fingerprint(corpus), Trainer.Fingerprint(Retimed(corpus)));
        Assert.Equal(TrainOutcome.Completed, new Trainer(be, Retimed(corpus), "/tiny.mgcache", dir["run"]).Resume(epochs: 2));

        // One note's velocity changed, everything else alike: refused.
        var notes = (NoteRow[])corpus.Notes.Clone();
        notes[17] = notes[17] with { Velocity = notes[17].Velocity + 1 };
        var edited = new NoteCorpus { Root = corpus.Root, Kind = corpus.Kind, Sustain = false, IncludeDrums = false, Files = corpus.Files, Skipped = [], Notes = notes };
        Assert.NotEqual(Trainer.Fingerprint(corpus), Trainer.Fingerprint(edited));
        Assert.Contains("corpus differs", Assert.Throws<InvalidDataException>(() => new Trainer(be, edited, "/tiny.mgcache", dir["run"]).Resume(epochs: 3)).Message);

        // A checkpoint written before content fingerprints carries the file-time one: it resumes while the times hold.
        var (_, file) = Checkpoint.Read(dir["run/last.safetensors"]);
        var legacy = new Dictionary<string, string>(file.Metadata) { ["corpus_fingerprint"] = Trainer.FileTimeFingerprint(corpus) };
        legacy.Remove("corpus_fingerprint_kind");
        Assert.True(Trainer.SameCorpus(legacy, corpus));
        Assert.False(Trainer.SameCorpus(legacy, Retimed(corpus)));
    }

    [Fact]
    public void Corrupted_truncated_or_mismatched_checkpoints_are_refused_with_a_reason()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var corpus = TinyCorpus();
        new Trainer(be, corpus, "/tiny.mgcache", dir["run"]).Train(TinyConfig, TinyOptions with { Epochs = 1 });
        string last = dir["run/last.safetensors"];
        var good = File.ReadAllBytes(last);

        var flipped = (byte[])good.Clone();
        flipped[^100] ^= 0xFF;
        File.WriteAllBytes(last, flipped);
        Assert.Contains("corrupted", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(last, be)).Message);

        File.WriteAllBytes(last, good[..(good.Length / 2)]);
        Assert.Throws<InvalidDataException>(() => Checkpoint.Load(last, be));

        File.WriteAllBytes(last, "not a checkpoint at all"u8.ToArray());
        Assert.Throws<InvalidDataException>(() => Checkpoint.Load(last, be));

        // The optimizer file of another save: resume must refuse to mix them.
        File.WriteAllBytes(last, good);
        var other = dir["other"];
        new Trainer(be, corpus, "/tiny.mgcache", other).Train(TinyConfig, TinyOptions with { Epochs = 1, Seed = 2 });
        string ours = Checkpoint.Read(last).File.Metadata["optimizer"], theirs = Checkpoint.Read(Path.Combine(other, "last.safetensors")).File.Metadata["optimizer"];
        File.Copy(Path.Combine(other, theirs), dir[$"run/{ours}"], overwrite: true);
        Assert.Contains("different saves", Assert.Throws<InvalidDataException>(() => new Trainer(be, corpus, "/tiny.mgcache", dir["run"]).Resume(2)).Message);

        // A different corpus than the run was trained on.
        var otherCorpus = TinyCorpus(files: 7);
        Assert.Contains("corpus", Assert.Throws<InvalidDataException>(() => new Trainer(be, otherCorpus, "/x", other).Resume(2)).Message);

        // Tensor shapes that do not match the stored config.
        var (config, file) = Checkpoint.Read(Path.Combine(other, "last.safetensors"));
        var meta = new Dictionary<string, string>(file.Metadata) { ["config"] = (config with { Hidden = 17 }).ToJson() };
        meta.Remove(SafeTensors.ChecksumKey);
        SafeTensors.Save(dir["bad.safetensors"], file.Tensors.Select(kv => (kv.Key, kv.Value.Shape, kv.Value.Data)).ToList(), meta);
        Assert.Contains("shape", Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir["bad.safetensors"], be)).Message);
    }

    [Fact]
    public void The_nan_guard_stops_training_naming_the_step_and_keeps_the_last_good_checkpoint()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var corpus = TinyCorpus();
        var t = new Trainer(be, corpus, "/tiny.mgcache", dir["run"]);
        var e = Assert.Throws<TrainingDivergedException>(() => t.Train(TinyConfig with { Dropout = 0 }, TinyOptions with { LearningRate = 1e30f, WarmupSteps = 1, MaxGradNorm = 0, CheckpointEvery = 1, Epochs = 20 }));
        Assert.Matches(@"at step \d+", e.Message);
        int divergedAt = int.Parse(System.Text.RegularExpressions.Regex.Match(e.Message, @"at step (\d+)").Groups[1].Value);
        Assert.True(divergedAt > 1, "diverged before any checkpoint existed");
        {
            var (model, file) = Checkpoint.Load(dir["run/last.safetensors"], be);
            using (model)
            {
                Assert.Contains($"\"Step\":{divergedAt - 1},", file.Metadata["state"]);
                Assert.All(file.Tensors.Values, tensor => Assert.All(tensor.Data, v => Assert.True(float.IsFinite(v))));
            }
        }
    }

    [Fact]
    public void A_checkpoint_trained_on_one_backend_predicts_the_same_on_the_other()
    {
        using var dir = new TempDir();
        using var cpu = TestBackends.Create("cpu");
        var corpus = TinyCorpus();
        var config = TinyConfig with { Hidden = 6, EmbeddingDim = 4 };
        new Trainer(cpu, corpus, "/tiny.mgcache", dir["run"]).Train(config, TinyOptions with { Epochs = 1 });
        using var gpu = TestBackends.Create("ilgpu-cpu");
        var (a, _) = Checkpoint.Load(dir["run/last.safetensors"], cpu);
        var (b, _) = Checkpoint.Load(dir["run/last.safetensors"], gpu);
        using (a) using (b)
        {
            var windows = new MusicGen.Model.Windows(corpus, Split.Validation, config);
            var batch = new Batch(config, 3);
            windows.Fill(batch, new[] { 0, 5, 9 });
            a.Forward(batch, training: false);
            b.Forward(batch, training: false);
            var (la, ra) = a.Outputs(3);
            var (lb, rb) = b.Outputs(3);
            Reference.Close.All(lb, i => la[i], "logits");
            Reference.Close.All(rb, i => ra[i], "regression");
        }
    }
}
