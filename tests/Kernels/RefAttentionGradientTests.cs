using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>The reference attention's backward against central differences of the reference forward.</summary>
public class RefAttentionGradientTests
{
    [Theory]
    [InlineData(5, 2, 3, 4, 3, 0)] // training: a window attends within itself; the first query has nothing to read
    [InlineData(3, 2, 3, 4, 4, 2)] // generation: two past positions come first, the span reaches before them
    [InlineData(4, 1, 2, 3, 1, 1)] // a span of one: alpha is 1, the keys get no gradient
    public void Backward_matches_finite_differences(int T, int B, int H, int A, int span, int past)
    {
        var r = new Rand(31);
        int S = past + T;
        double[] Doubles(int n, float scale = 1f) => r.Floats(n, scale).Select(x => (double)x).ToArray();
        double[] values = Doubles(S * B * H), keys = Doubles(S * B * A), queries = Doubles(T * B * A), v = Doubles(A, 2f), w = Doubles(T * B * H);
        double Loss()
        {
            var (_, ctx) = RefOps.Attention(values, keys, queries, v, T, B, H, A, span, past);
            return ctx.Select((c, i) => c * w[i]).Sum();
        }
        var (dvalues, dkeys, dqueries, dv) = RefOps.AttentionBackward(w, values, keys, queries, v, T, B, H, A, span, past);
        void Check(string name, double[] x, double[] grad) => FiniteDifference.Check(name, x.Length, i => x[i], (i, value) => x[i] = value, Loss, i => grad[i]);
        Check("values", values, dvalues);
        Check("queries", queries, dqueries);
        Check("v", v, dv);
        if (span > 1) Check("keys", keys, dkeys);
        else Assert.All(dkeys, d => Assert.Equal(0, d, 12));
    }
}
