using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>The reference NADE: its backward against central differences of its forward, and its likelihood a true distribution.</summary>
public class RefNadeGradientTests
{
    [Theory]
    [InlineData(3, 5, 4)]
    [InlineData(2, 1, 3)] // one key: nothing feeds forward, W gets no gradient
    public void Backward_matches_finite_differences(int R, int K, int N)
    {
        var r = new Rand(57);
        double[] Doubles(int n, float scale = 1f) => r.Floats(n, scale).Select(x => (double)x).ToArray();
        double[] d = Doubles(R * K), c = Doubles(R * N), W = Doubles(N * K, 2f), V = Doubles(K * N, 2f), w = Doubles(R * K);
        double[] v = r.Floats(R * K).Select(x => x > 0 ? 1.0 : 0.0).ToArray();
        v[0] = 1; // at least one key on, so W is used
        double Loss() => RefOps.Nade(d, c, v, W, V, R, K, N).Select((z, i) => z * w[i]).Sum();
        var (dd, dc, dW, dV) = RefOps.NadeBackward(w, c, v, W, V, R, K, N);
        void Check(string name, double[] x, double[] grad) => FiniteDifference.Check(name, x.Length, i => x[i], (i, value) => x[i] = value, Loss, i => grad[i]);
        Check("d", d, dd);
        Check("c", c, dc);
        Check("V", V, dV);
        Check("W", W, dW);
        if (K == 1) Assert.All(dW, g => Assert.Equal(0, g, 12));
    }

    [Fact]
    public void The_probabilities_of_every_frame_sum_to_one()
    {
        // NADE's NLL is exact: the product of its K conditionals is a distribution over all 2^K frames.
        const int K = 6, N = 3;
        var r = new Rand(58);
        double[] d = r.Floats(K, 2f).Select(x => (double)x).ToArray(), c = r.Floats(N).Select(x => (double)x).ToArray();
        double[] W = r.Floats(N * K, 3f).Select(x => (double)x).ToArray(), V = r.Floats(K * N, 3f).Select(x => (double)x).ToArray();
        double total = 0;
        for (int frame = 0; frame < 1 << K; frame++)
        {
            var v = Enumerable.Range(0, K).Select(k => (double)((frame >> k) & 1)).ToArray();
            var z = RefOps.Nade(d, c, v, W, V, 1, K, N);
            double logp = 0;
            for (int k = 0; k < K; k++) logp += v[k] == 1 ? -Math.Log(1 + Math.Exp(-z[k])) : -Math.Log(1 + Math.Exp(z[k]));
            total += Math.Exp(logp);
        }
        Assert.Equal(1.0, total, 12);
    }
}
