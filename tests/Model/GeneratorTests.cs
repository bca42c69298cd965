using MusicGen.Midi;
using MusicGen.Model;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;

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
    public void A_primer_shorter_than_the_window_is_rejected()
    {
        using var dir = new TempDir();
        using var model = Trained(dir);
        Assert.Contains("primer", Assert.Throws<ArgumentException>(() => Generator.Generate(model, Generator.DefaultPrimer(2), new GenerateOptions())).Message);
        Assert.Throws<ArgumentException>(() => Generator.Generate(model, Generator.DefaultPrimer(4), new GenerateOptions(Count: 0)));
    }
}
