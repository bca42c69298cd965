using System.Text.Json;
using MusicGen.Model.Frames;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Model;

/// <summary>The frame model with the NADE output: its composed gradients, its exact likelihood, training and sampling.</summary>
public class NadeFrameModelTests
{
    static readonly int[][][] Pieces = [[[60, 64, 67], [62, 65], [], [21, 108]], [[48], [50, 53, 57], [52]]];

    /// <summary>The mean NLL per frame of one training forward, leaving the gradients.</summary>
    static double Loss(FrameModel model, FrameBatch batch)
    {
        model.Forward(batch.Size, batch.Steps, batch.Inputs, batch.Targets, batch.Weights, training: true, seed: 3, counter: 1);
        var (nll, frames) = model.Loss(batch.Size, batch.Steps, batch.Frames);
        model.Backward(batch.Size, batch.Steps);
        return nll / frames;
    }

    static FrameModel NewModel(MusicGen.Kernels.Backend be)
    {
        var model = new FrameModel(be, new FrameConfig { Layers = 1, Hidden = 4, Dropout = 0.2f, Output = FrameOutput.Nade, NadeHidden = 3 });
        model.Initialize(5);
        // Larger NADE weights than at initialisation, so their gradients stand well above float rounding.
        var r = new Rand(6);
        foreach (var p in model.Parameters.Where(p => p.Name.StartsWith("nade."))) be.CopyFromHost(r.Floats(p.Length, 1.5f), p.Value);
        model.MarkWeightsChanged();
        return model;
    }

    [Fact]
    public void The_models_gradients_through_nade_match_finite_differences()
    {
        using var be = TestBackends.Create("cpu");
        using var model = NewModel(be);
        var batch = FrameBatch.From(Pieces);
        Loss(model, batch);
        var grads = be.Download(model.Flat.Grads);
        var values = be.Download(model.Flat.Values);
        Assert.Equal(model.Config.ParameterCount(), model.ParameterCount);
        foreach (var p in model.Parameters.Where(p => p.Name.StartsWith("nade.") || p.Name.StartsWith("head.") || p.Name == "lstm.weight_hh_l0"))
        {
            // Central differences in float of the whole model's loss, a few elements per parameter: the composition
            // (the op itself is proven in double: RefNadeGradientTests, OpsConformance).
            int stride = Math.Max(1, p.Length / 16);
            double diff2 = 0, a2 = 0;
            for (int i = 0; i < p.Length; i += stride)
            {
                int at = p.Offset + i;
                const float eps = 2e-2f;
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

    [Fact]
    public void The_ilgpu_backend_gives_the_managed_backends_loss_and_gradients()
    {
        (double Loss, float[] Grads) Run(string device)
        {
            using var be = TestBackends.Create(device);
            using var model = NewModel(be);
            double loss = Loss(model, FrameBatch.From(Pieces));
            return (loss, be.Download(model.Flat.Grads));
        }
        var (lm, gm) = Run("cpu");
        var (li, gi) = Run("ilgpu-cpu");
        Assert.Equal(lm, li, 4);
        Close.All(gi, i => gm[i], "gradients", atol: 1e-4);
    }

    [Fact]
    public void The_models_nll_is_the_product_of_the_conditionals_generation_draws_from()
    {
        // The NLL of a frame under teacher forcing equals -log of the probability Nade.Sample reports for the same
        // frame drawn from the same state: training, evaluation and generation share one distribution.
        using var be = TestBackends.Create("cpu");
        using var model = NewModel(be);
        int[][][] one = [[[60, 64, 67], [62, 65, 69]]];
        var batch = FrameBatch.From(one);
        model.Forward(1, batch.Steps, batch.Inputs, batch.Targets, batch.Weights, training: false);
        double nll = model.Loss(1, batch.Steps, 1).Nll;
        // The same first step alone: its biases, then the target frame's probability key by key.
        var x = batch.Inputs.AsSpan(0, FrameCorpus.Keys).ToArray();
        model.Forward(1, 1, x, default, default, training: false);
        var (d, c) = model.NadeBiases(1, 1);
        var (W, V) = model.NadeWeights();
        var target = batch.Targets.AsSpan(0, FrameCorpus.Keys).ToArray();
        var z = RefOps.Nade(d.Select(f => (double)f).ToArray(), c.Select(f => (double)f).ToArray(), target.Select(f => (double)f).ToArray(),
            W.Select(f => (double)f).ToArray(), V.Select(f => (double)f).ToArray(), 1, FrameCorpus.Keys, 3);
        double logp = 0;
        for (int k = 0; k < FrameCorpus.Keys; k++) logp += target[k] == 1 ? -Math.Log(1 + Math.Exp(-z[k])) : -Math.Log(1 + Math.Exp(z[k]));
        Assert.Equal(-logp, nll, 3);
    }

    [Fact]
    public void A_nade_model_trains_saves_loads_and_samples()
    {
        using var dir = new TempDir();
        var corpus = FrameCorpus.Load(FrameModelTests.MakeFramesFile(dir));
        var cfg = new FrameConfig { Layers = 1, Hidden = 16, Dropout = 0.1f, Output = FrameOutput.Nade, NadeHidden = 16 };
        var options = new FrameTrainOptions { Epochs = 4, BatchSize = 4, LearningRate = 1e-2f, Transpose = 2, Patience = 0 };
        using var be = new MusicGen.Kernels.Backends.ManagedBackend(1);
        var state = new FrameTrainer(be, corpus, dir["nade"]).Train(cfg, options);
        Assert.True(state.Finished);
        var epochs = File.ReadAllLines(Path.Combine(dir["nade"], FrameTrainer.Metrics)).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("ValidationNll").GetDouble()).ToArray();
        Assert.True(epochs[^1] < epochs[0] - 1, $"validation NLL should fall: {string.Join(", ", epochs)}");

        var (model, _) = FrameTrainer.Load(dir["nade"], be);
        using (model)
        {
            Assert.Equal(FrameOutput.Nade, model.Config.Output);
            var (loaded, _, _) = FrameTrainer.Evaluate(model, corpus.Split("valid"));
            Assert.Equal(state.BestValidationLoss, loaded, 3); // the checkpoint holds the NADE weights
            var s1 = FrameGenerator.Sample(model, [[60, 64, 67]], frames: 10, count: 3, temperature: 1f, seed: 7);
            var s2 = FrameGenerator.Sample(model, [[60, 64, 67]], frames: 10, count: 3, temperature: 1f, seed: 7);
            Assert.All(s1, p => Assert.Equal(11, p.Length));
            Assert.Equal(s1.SelectMany(p => p.SelectMany(f => f)), s2.SelectMany(p => p.SelectMany(f => f)));
            Assert.InRange(s1.Average(p => p.Skip(1).Average(f => f.Length)), 0.5, 12);
            // Every frame and every piece draws new numbers: the pieces differ, and a piece is not one frame repeated.
            Assert.NotEqual(string.Join("|", s1[0].Select(f => string.Join(",", f))), string.Join("|", s1[1].Select(f => string.Join(",", f))));
            Assert.All(s1, p => Assert.True(p.Skip(1).Zip(p.Skip(2)).Count(f => f.First.SequenceEqual(f.Second)) < 9, "a piece froze on one frame"));
        }
    }
}
