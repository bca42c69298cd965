using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Model;
using MusicGen.Tests.Kernels;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Model;

/// <summary>The flat parameter buffer: every parameter a named view, whole-model operations one call each.</summary>
public class ParameterBufferTests
{
    static ModelConfig Config() => new()
    {
        SeqLen = 4, Layers = 2, Hidden = 5, Dropout = 0.25f, Input = InputKind.Embedding, EmbeddingDim = 3, Bidirectional = true,
        Heads = HeadKind.Categorical, StepBins = 5, DurationBins = 4, VelocityBins = 3, Velocity = true, StepFirst = true,
    };

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void Parameters_are_disjoint_aligned_views_in_declaration_order(string device)
    {
        using var be = TestBackends.Create(device);
        var cfg = Config();
        using var model = new MusicModel(be, cfg);
        var ps = model.Parameters;
        Assert.Equal(cfg.ParameterCount(), model.ParameterCount);
        Assert.Equal(ps.Sum(p => (long)p.Length), model.ParameterCount);
        for (int i = 0; i < ps.Count; i++)
        {
            Assert.Equal(0, ps[i].Offset % ParameterBuffer.Align);
            if (i > 0) Assert.True(ps[i].Offset >= ps[i - 1].Offset + ps[i - 1].Length, $"{ps[i].Name} overlaps {ps[i - 1].Name}");
        }
        Assert.True(ps[^1].Offset + ps[^1].Length <= model.Flat.Count);
        Assert.Equal("embedding.weight", ps[0].Name);

        // Writing through a parameter's views lands at its offset in each flat buffer.
        var p = ps[3];
        var ones = Enumerable.Repeat(1f, p.Length).ToArray();
        foreach (var (view, flat) in new[] { (p.Value, model.Flat.Values), (p.Grad, model.Flat.Grads), (p.M, model.Flat.M), (p.V, model.Flat.V) })
        {
            Elementwise.Fill(be, flat, 0f);
            be.CopyFromHost(ones, view);
            var all = be.Download(flat);
            Assert.Equal(p.Length, all.Count(v => v == 1f));
            Assert.All(all.AsSpan(p.Offset, p.Length).ToArray(), v => Assert.Equal(1f, v));
        }
    }

    [Fact]
    public void One_flat_adam_step_is_the_same_as_one_step_per_parameter_and_padding_stays_zero()
    {
        using var be = TestBackends.Create("cpu");
        var cfg = Config();
        using var model = new MusicModel(be, cfg);
        model.Initialize(7);
        var r = new Rand(8);
        foreach (var q in model.Parameters) be.CopyFromHost(r.Floats(q.Length), q.Grad);
        var adam = new AdamConfig(LearningRate: 0.01f, WeightDecay: 0.01f, MaxGradNorm: 0.3f);

        // The same step done the old way, a tensor at a time, on copies.
        float norm2 = model.Parameters.Sum(q => be.Download(q.Grad).Sum(g => g * g));
        using var n2 = be.Upload([norm2], 1);
        var expected = model.Parameters.Select(q =>
        {
            using var v = be.Upload(be.Download(q.Value), q.Length); using var g = be.Upload(be.Download(q.Grad), q.Length);
            using var m = be.Upload(be.Download(q.M), q.Length); using var s = be.Upload(be.Download(q.V), q.Length);
            Adam.Step(be, v, g, m, s, q.Length, adam, 1, n2);
            return be.Download(v);
        }).ToArray();

        Assert.Equal(norm2, model.GradNorm2(), 3);
        model.OptimizerStep(adam, 1);
        for (int i = 0; i < expected.Length; i++)
            Close.All(be.Download(model.Parameters[i].Value), j => expected[i][j], model.Parameters[i].Name, atol: 1e-7, rtol: 1e-5);

        // Padding between parameters: never written, still 0 in every buffer.
        var used = new bool[model.Flat.Count];
        foreach (var q in model.Parameters) Array.Fill(used, true, q.Offset, q.Length);
        foreach (var flat in new[] { model.Flat.Values, model.Flat.Grads, model.Flat.M, model.Flat.V })
        {
            var all = be.Download(flat);
            for (int j = 0; j < all.Length; j++) if (!used[j]) Assert.Equal(0f, all[j]);
        }
    }

    [Fact]
    public void Declaring_a_name_twice_is_refused()
    {
        var layout = new ParameterBuffer.Layout();
        layout.Add("a", 2);
        Assert.Throws<ArgumentException>(() => layout.Add("a", 3));
    }
}
