using MusicGen.Midi;
using MusicGen.Model;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Model;

public class GeneratorTests
{
    static MusicModel Trained(TempDir dir)
    {
        var be = TestBackends.Create("cpu");
        var corpus = TrainerTests.TinyCorpus();
        var config = new ModelConfig { SeqLen = 4, Layers = 1, Hidden = 16, EmbeddingDim = 8, Dropout = 0 };
        new Trainer(be, corpus, "/tiny", dir["run"]).Train(config, new TrainOptions { Epochs = 10, BatchSize = 8, LearningRate = 0.02f, WarmupSteps = 5, Transpose = 0, Patience = 0 });
        return Checkpoint.Load(dir["run/last.safetensors"], be).Model;
    }

    [Fact]
    public void Seeded_generation_is_reproducible_batched_and_valid_midi()
    {
        using var dir = new TempDir();
        using var model = Trained(dir);
        var primer = Generator.DefaultPrimer(4);
        var o = new GenerateOptions(Notes: 30, Count: 3, Seed: 5, Sampling: new SamplingOptions(Temperature: 0.9f, TopK: 10));
        var a = Generator.Generate(model, primer, o);
        var b = Generator.Generate(model, primer, o);
        Assert.Equal(3, a.Count);
        Assert.All(a, piece => Assert.Equal(4 + 30, piece.Length));
        Assert.Equal(a.Select(p => p.ToArray()), b.Select(p => p.ToArray()));
        Assert.NotEqual(a, Generator.Generate(model, primer, o with { Seed = 6 }));
        Assert.All(a.SelectMany(p => p), n => Assert.True(n.Step >= 0 && n.Duration >= 0.05f && n.Pitch is >= 0 and <= 127));

        var notes = NoteFeatures.ToNotes(a[0]);
        var ms = new MemoryStream();
        MidiWriter.Write(ms, notes);
        Assert.Equal(notes.Count, MidiReader.Read(ms.ToArray()).Count);
    }

    [Fact]
    public void A_unidirectional_model_carries_its_state_exactly_like_one_long_sequence()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var config = new ModelConfig { SeqLen = 4, Layers = 2, Hidden = 8, EmbeddingDim = 4, Dropout = 0, Bidirectional = false, Heads = HeadKind.Regression, Velocity = false };
        new Trainer(be, TrainerTests.TinyCorpus(), "/tiny", dir["run"]).Train(config, new TrainOptions { Epochs = 2, BatchSize = 8, Transpose = 0, Patience = 0 });
        var (model, _) = Checkpoint.Load(dir["run/last.safetensors"], be);
        using (model)
        {
            var primer = Generator.DefaultPrimer(4);
            var piece = Generator.Generate(model, primer, new GenerateOptions(Notes: 6, Count: 1, Seed: 2))[0];
            Assert.Equal(10, piece.Length);
            // Feed primer + the first 5 generated notes as one 9-step sequence: the state-carrying generator saw exactly
            // this history before proposing the 6th note, so the regression outputs must agree.
            var all = new Batch(config, 1, steps: 9);
            for (int t = 0; t < 9; t++) all.SetInput(t, piece[t], 0, config);
            model.Forward(all, training: false);
            var (_, reg) = model.Outputs(1, 9);
            Assert.Equal(Math.Clamp(reg[0], 0f, config.MaxSeconds), piece[9].Step, 4);
            Assert.Equal(Math.Clamp(reg[1], 0.05f, config.MaxSeconds), piece[9].Duration, 4);
            Assert.Throws<ArgumentException>(() => new MusicModel(be, config with { Bidirectional = true }).NewState(1));
        }
    }

    [Theory]
    [InlineData("cpu", "last")]
    [InlineData("ilgpu-cpu", "last")]
    [InlineData("cpu", "ends")]
    public void A_bidirectional_inference_forward_predicts_like_the_full_forward_with_the_shortcut_only_for_the_last_step_reading(string device, string read)
    {
        using var be = TestBackends.Create(device);
        var config = new ModelConfig { SeqLen = 5, Layers = 2, Hidden = 6, EmbeddingDim = 4, Dropout = 0, BidirectionalHeads = Enum.Parse<BidirectionalReading>(read, ignoreCase: true) };
        using var model = new MusicModel(be, config);
        model.Initialize(9);
        var windows = new MusicGen.Model.Windows(TrainerTests.TinyCorpus(), MusicGen.Midi.Corpus.Split.Train, config);
        var batch = new Batch(config, 3);
        var other = new Batch(config, 3);
        windows.Fill(batch, [0, 11, 47]);
        windows.Fill(other, [5, 30, 2]);
        model.Forward(other, training: true);           // leaves another batch's activations in every buffer
        model.Forward(batch, training: false);          // "last": the shortcut, one step of the top layer's reverse half; "ends": all of it
        var (logits, reg) = model.Outputs(3);
        model.Forward(batch, training: true);           // dropout 0: the full computation, every step of every half
        var (fullLogits, fullReg) = model.Outputs(3);
        Close.All(logits, j => fullLogits[j], "logits", atol: 1e-5);
        Close.All(reg, j => fullReg[j], "regression", atol: 1e-5);
        model.Backward(batch);                          // after a training forward: fine
        model.Forward(batch, training: false);
        if (read == "last") Assert.Throws<InvalidOperationException>(() => model.Backward(batch)); // after the shortcut: refused
        else model.Backward(batch);                     // no shortcut with the ends reading: nothing was skipped
    }

    [Fact]
    public void A_primer_shorter_than_the_window_is_rejected()
    {
        using var dir = new TempDir();
        using var model = Trained(dir);
        Assert.Contains("primer", Assert.Throws<ArgumentException>(() => Generator.Generate(model, Generator.DefaultPrimer(2), new GenerateOptions())).Message);
        Assert.Throws<ArgumentException>(() => Generator.Generate(model, Generator.DefaultPrimer(4), new GenerateOptions(Count: 0)));
    }
}
