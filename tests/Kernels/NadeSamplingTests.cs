using MusicGen.Kernels.Ops;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>Nade.Sample (generation's key-by-key draw) against the reference NADE.</summary>
public class NadeSamplingTests
{
    [Fact]
    public void Nade_sampling_draws_key_by_key_and_reports_the_frames_log_probability()
    {
        const int K = 12, N = 5;
        var r = new Rand(62);
        float[] d = r.Floats(K, 2f), c = r.Floats(N), W = r.Floats(N * K, 3f), V = r.Floats(K * N, 3f);
        var rng = new Random(3);
        var counts = new Dictionary<string, int>();
        var v = new float[K];
        for (int i = 0; i < 200; i++)
        {
            double logp = Nade.Sample(d, c, W, V, K, N, 1f, rng.NextDouble, v);
            double[] D(float[] x) => x.Select(f => (double)f).ToArray();
            var z = RefOps.Nade(D(d), D(c), D(v), D(W), D(V), 1, K, N);
            double expected = Enumerable.Range(0, K).Sum(k => v[k] == 1 ? -Math.Log(1 + Math.Exp(-z[k])) : -Math.Log(1 + Math.Exp(z[k])));
            Assert.Equal(expected, logp, 9);
        }
        // A near-zero temperature takes the more likely value of every conditional: the same frame each time.
        var first = new float[K]; var again = new float[K];
        Nade.Sample(d, c, W, V, K, N, 1e-6f, rng.NextDouble, first);
        Nade.Sample(d, c, W, V, K, N, 1e-6f, rng.NextDouble, again);
        Assert.Equal(first, again);
    }
}
