using MusicGen.Model;

namespace MusicGen.Tests.Model;

public class SamplerTests
{
    static float[] Logits(params double[] probs) => probs.Select(p => (float)Math.Log(p)).ToArray();

    [Fact]
    public void Each_kind_of_model_gets_the_pitch_sampling_measured_for_it_and_the_built_in_models_get_theirs()
    {
        // Beats models (the pop recipe), seconds models that look back by notes (the classical recipe), other seconds models.
        var (pop, _) = TrainingPresets.Get("pop");
        var (classical, _) = TrainingPresets.Get("classical");
        Assert.Equal((0.8f, 0.9f), Pitch(SamplingOptions.MeasuredFor(pop)));
        Assert.Equal((0.6f, 1f), Pitch(SamplingOptions.MeasuredFor(classical)));
        Assert.Equal((0.9f, 0.95f), Pitch(SamplingOptions.MeasuredFor(classical with { Lookback = LookbackKind.None })));
        Assert.Equal(new HeadSampling(0.9f, 1f), SamplingOptions.MeasuredFor(pop).Step);          // the beats models' step setting stays
        Assert.Equal(new HeadSampling(1.1f, 1f), SamplingOptions.MeasuredFor(classical).Step);        // chosen after the pitch
        Assert.Equal(new HeadSampling(0.7f, 1f), SamplingOptions.MeasuredFor(classical).Velocity);
        Assert.Equal(new HeadSampling(1f, 1f), SamplingOptions.MeasuredFor(classical with { Lookback = LookbackKind.None }).Step);
        // The shipped files are models of those kinds.
        Assert.Equal(SamplingOptions.MeasuredFor(pop), SamplingOptions.MeasuredFor(BuiltInModels.Read("pop").Config));
        Assert.Equal(SamplingOptions.MeasuredFor(classical), SamplingOptions.MeasuredFor(BuiltInModels.Read("classical").Config));
        static (float, float) Pitch(SamplingOptions s) => (s.Temperature, s.TopP);
    }

    [Fact]
    public void Temperature_one_reproduces_the_softmax_and_scaling_is_exact()
    {
        var logits = Logits(0.5, 0.25, 0.125, 0.125);
        var p = Sampler.Distribution(logits, new SamplingOptions());
        Assert.Equal([0.5, 0.25, 0.125, 0.125], p.Select(v => Math.Round(v, 6)));
        // T = 0.5 squares the probabilities before renormalising: 0.25, 0.0625, 0.015625, 0.015625 over 0.34375.
        var sharp = Sampler.Distribution(logits, new SamplingOptions(Temperature: 0.5f));
        Assert.Equal(0.25 / 0.34375, sharp[0], 5);
        Assert.Equal(0.015625 / 0.34375, sharp[3], 5);
        var flat = Sampler.Distribution(logits, new SamplingOptions(Temperature: 1e6f));
        Assert.All(flat, v => Assert.Equal(0.25, v, 3));
    }

    [Fact]
    public void Top_k_keeps_exactly_the_k_most_likely()
    {
        var p = Sampler.Distribution(Logits(0.1, 0.4, 0.2, 0.3), new SamplingOptions(TopK: 2));
        Assert.Equal([0, 4.0 / 7, 0, 3.0 / 7], p.Select(v => Math.Round(v, 6)).ToArray(), new ToleranceComparer(1e-6));
    }

    [Fact]
    public void Top_p_keeps_the_smallest_set_reaching_p()
    {
        var logits = Logits(0.1, 0.4, 0.2, 0.3);
        var p = Sampler.Distribution(logits, new SamplingOptions(TopP: 0.7f));   // 0.4 + 0.3 = 0.7 reaches it
        Assert.Equal([0, 4.0 / 7, 0, 3.0 / 7], p, new ToleranceComparer(1e-6));
        var q = Sampler.Distribution(logits, new SamplingOptions(TopP: 0.71f));  // needs 0.2 as well
        Assert.Equal([0, 4.0 / 9, 2.0 / 9, 3.0 / 9], q, new ToleranceComparer(1e-6));
        var r = Sampler.Distribution(logits, new SamplingOptions(TopP: 0.05f));  // only the argmax
        Assert.Equal([0, 1, 0, 0], r, new ToleranceComparer(1e-9));
    }

    [Fact]
    public void Repetition_penalty_lowers_recent_pitches()
    {
        var logits = new float[] { 2f, 2f, -1f };
        var p = Sampler.Distribution(logits, new SamplingOptions(RepetitionPenalty: 2f), [0, 2]);
        // logits become 1, 2, -2
        double e1 = Math.Exp(1), e2 = Math.Exp(2), e3 = Math.Exp(-2), s = e1 + e2 + e3;
        Assert.Equal([e1 / s, e2 / s, e3 / s], p, new ToleranceComparer(1e-9));
    }

    [Fact]
    public void Draw_inverts_the_cdf_and_never_picks_excluded_pitches()
    {
        double[] p = [0, 0.5, 0, 0.5];
        Assert.Equal(1, Sampler.Draw(p, 0.0));
        Assert.Equal(1, Sampler.Draw(p, 0.4999));
        Assert.Equal(3, Sampler.Draw(p, 0.5));
        Assert.Equal(3, Sampler.Draw(p, 0.999999999));
    }

    [Theory]
    [InlineData(0f, 0, 1f)]
    [InlineData(-1f, 0, 1f)]
    [InlineData(1f, -1, 1f)]
    [InlineData(1f, 0, 0f)]
    [InlineData(1f, 0, 1.5f)]
    public void Bad_sampling_options_are_rejected(float temperature, int topK, float topP) =>
        Assert.Throws<SettingException>(() => new SamplingOptions(temperature, topK, topP).Validate());

    sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
    {
        public bool Equals(double a, double b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(double v) => 0;
    }
}
