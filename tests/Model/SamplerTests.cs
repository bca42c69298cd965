using MusicGen.Model;

namespace MusicGen.Tests.Model;

public class SamplerTests
{
    static float[] Logits(params double[] probs) => probs.Select(p => (float)Math.Log(p)).ToArray();

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
