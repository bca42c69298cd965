using MusicGen.Midi;
using MusicGen.Model;
using MusicGen.Tests.Kernels;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Model;

/// <summary>The attention layer inside the model: its gradients as composed by the model, and the memory generation carries.</summary>
public class AttentionModelTests
{
    static ModelConfig Config => new()
    {
        SeqLen = 5, Layers = 2, Hidden = 4, EmbeddingDim = 3, Dropout = 0, Bidirectional = false, EveryStep = true,
        StepBins = 4, DurationBins = 3, VelocityBins = 2, AttentionSpan = 3, AttentionSize = 3,
    };

    static Batch RandomBatch(ModelConfig c, int B, int seed)
    {
        var rng = new Random(seed);
        var batch = new Batch(c, B);
        var notes = Enumerable.Range(0, (c.SeqLen + 1) * B).Select(_ => new NoteRow(40 + rng.Next(40), rng.Next(3) * 0.1f, 0.1f + rng.Next(3) * 0.2f, 30 + rng.Next(90))).ToArray();
        for (int t = 0; t < c.SeqLen; t++)
            for (int b = 0; b < B; b++)
            {
                batch.SetInput(t * B + b, notes[t * B + b], 0, c);
                batch.SetTarget(t * B + b, notes[(t + 1) * B + b], 0, c);
            }
        return batch;
    }

    /// <summary>The training loss the gradients are of: the heads' mean losses, weighted.</summary>
    static double Loss(MusicModel model, Batch batch)
    {
        model.Forward(batch, training: true, 1, 1);
        var l = model.Backward(batch);
        var c = model.Config;
        return c.PitchWeight * l[0] + c.StepWeight * l[1] + c.DurationWeight * l[2] + c.VelocityWeight * l[3];
    }

    [Fact]
    public void The_models_gradients_through_attention_match_finite_differences()
    {
        using var be = TestBackends.Create("cpu");
        var c = Config;
        using var model = new MusicModel(be, c);
        model.Initialize(5);
        // Sharper attention than at initialisation, so that its gradients stand well above float rounding.
        var r = new Rand(6);
        foreach (var p in model.Parameters.Where(p => p.Name.StartsWith("attention."))) be.CopyFromHost(r.Floats(p.Length, 1.5f), p.Value);
        model.MarkWeightsChanged();
        var batch = RandomBatch(c, 2, 9);
        Loss(model, batch);
        var grads = be.Download(model.Flat.Grads);
        var values = be.Download(model.Flat.Values);
        foreach (var p in model.Parameters.Where(p => p.Name.StartsWith("attention.") || p.Name == "heads.weight" || p.Name == "lstm.weight_hh_l1"))
        {
            // Central differences in float of the whole model's loss, a few elements per parameter: the composition
            // (the op itself is proven in double in the conformance tests).
            int stride = Math.Max(1, p.Length / 12);
            double diff2 = 0, a2 = 0;
            for (int i = 0; i < p.Length; i += stride)
            {
                int at = p.Offset + i;
                const float eps = 4e-2f; // float losses: a smaller step drowns the smallest gradients in rounding
                double Eval(float v)
                {
                    var copy = (float[])values.Clone(); copy[at] = v;
                    be.CopyFromHost(copy, model.Flat.Values); model.MarkWeightsChanged();
                    return Loss(model, batch);
                }
                double numeric = (Eval(values[at] + eps) - Eval(values[at] - eps)) / (2 * eps);
                diff2 += (numeric - grads[at]) * (numeric - grads[at]); a2 += grads[at] * grads[at];
            }
            be.CopyFromHost(values, model.Flat.Values); model.MarkWeightsChanged();
            Assert.True(a2 > 0, $"{p.Name}: no gradient at all");
            Assert.True(Math.Sqrt(diff2 / a2) < 2e-2, $"{p.Name}: relative error {Math.Sqrt(diff2 / a2):E2} (|analytic| {Math.Sqrt(a2):E2})");
        }
    }

    /// <summary>The ILGPU backend composes the same gradients as the managed one (each op is proven on both; this is the wiring).</summary>
    [Fact]
    public void The_ilgpu_backend_gives_the_managed_backends_gradients()
    {
        float[] Gradients(string device)
        {
            using var be = TestBackends.Create(device);
            using var model = new MusicModel(be, Config);
            model.Initialize(5);
            Loss(model, RandomBatch(Config, 2, 9));
            return be.Download(model.Flat.Grads);
        }
        var (managed, ilgpu) = (Gradients("cpu"), Gradients("ilgpu-cpu"));
        Close.All(ilgpu, i => managed[i], "gradients", atol: 1e-5, rtol: 1e-3);
    }

    [Fact]
    public void Generation_with_a_carried_memory_sees_what_one_window_sees()
    {
        using var be = TestBackends.Create("cpu");
        var c = Config;
        using var model = new MusicModel(be, c);
        model.Initialize(3);
        var rng = new Random(4);
        var notes = Enumerable.Range(0, 7).Select(_ => new NoteRow(50 + rng.Next(30), rng.Next(3) * 0.1f, 0.3f, 80)).ToArray();

        var whole = new Batch(c, 1, steps: 7);
        for (int t = 0; t < 7; t++) whole.SetInput(t, notes[t], 0, c);
        model.Forward(whole, training: false);
        var (expected, _) = model.Outputs(1, 7);

        // 4 notes as a window, then 3 one at a time from the carried state and memory (span 3: the memory wraps).
        using var state = model.NewState(1);
        var first = new Batch(c, 1, steps: 4);
        for (int t = 0; t < 4; t++) first.SetInput(t, notes[t], 0, c);
        model.Forward(first, training: false, state: state);
        var one = new Batch(c, 1, steps: 1);
        float[] actual = [];
        for (int t = 4; t < 7; t++)
        {
            one.SetInput(0, notes[t], 0, c);
            model.Forward(one, training: false, state: state);
            actual = model.Outputs(1, 1).Logits;
        }
        Assert.Equal(3, state.Attention!.Count);
        for (int k = 0; k < expected.Length; k++) Assert.Equal(expected[k], actual[k], 4);
    }

    [Fact]
    public void A_tiny_attention_model_trains_and_generates()
    {
        using var dir = new MusicGen.Tests.Corpus.TempDir();
        using var be = TestBackends.Create("cpu");
        var c = Config with { Hidden = 16, EmbeddingDim = 8, SeqLen = 8, AttentionSpan = 6, AttentionSize = 8 };
        var outcome = new Trainer(be, TrainerTests.TinyCorpus(), "/tiny", dir["run"]).Train(c,
            new TrainOptions { Epochs = 12, BatchSize = 8, LearningRate = 0.02f, WarmupSteps = 5, Transpose = 0, Patience = 0 });
        Assert.Equal(TrainOutcome.Completed, outcome);
        var (model, _) = Checkpoint.Load(dir["run/last.safetensors"], be);
        using (model)
        {
            Assert.True(model.Config.Attends);
            var (_, nll, accuracy) = Trainer.Validate(model, new MusicGen.Model.Windows(TrainerTests.TinyCorpus(), MusicGen.Midi.Corpus.Split.Validation, c), 8);
            Assert.True(accuracy > 0.9, $"validation accuracy {accuracy:P1}, NLL {nll:F3}: the tiny patterns should be learnt");
            var piece = Generator.Generate(model, Generator.DefaultPrimer(c), new GenerateOptions(Notes: 20, Count: 2, Seed: 1))[0];
            Assert.Equal(Generator.DefaultPrimer(c).Length + 20, piece.Length);
        }
    }

    [Fact]
    public void Attention_settings_it_cannot_use_are_refused()
    {
        var refused = Assert.Throws<SettingException>(() => new ModelConfig { AttentionSpan = 4 }.Validate());
        Assert.Equal("attention", refused.Setting);
        Assert.Contains("unidirectional model trained on every step", refused.Message);
        Assert.Contains("1..1024", Assert.Throws<ArgumentException>(() => (Config with { AttentionSpan = -1 }).Validate()).Message);
        Assert.Contains("1..4096", Assert.Throws<ArgumentException>(() => (Config with { AttentionSize = 0 }).Validate()).Message);
        Assert.Equal(Config.ParameterCount(), new MusicModel(TestBackends.Create("cpu"), Config).ParameterCount);
    }
}
