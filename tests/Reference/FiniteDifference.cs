namespace MusicGen.Tests.Reference;

/// <summary>Central differences in double: the independent check of every hand-written backward pass.</summary>
public static class FiniteDifference
{
    /// <summary>
    /// Numerical gradient of <paramref name="loss"/> with respect to each element of <paramref name="parameter"/>
    /// (read and written through get/set), compared with <paramref name="analytic"/> by the norm-wise relative
    /// error ||a - n|| / max(||a||, ||n||), which must be below <paramref name="tolerance"/>.
    /// </summary>
    public static void Check(string name, int count, Func<int, double> get, Action<int, double> set, Func<double> loss, Func<int, double> analytic, double tolerance = 1e-6, double eps = 1e-5)
    {
        double diff2 = 0, a2 = 0, n2 = 0;
        for (int i = 0; i < count; i++)
        {
            double v = get(i);
            set(i, v + eps); double up = loss();
            set(i, v - eps); double down = loss();
            set(i, v);
            double numeric = (up - down) / (2 * eps), a = analytic(i);
            diff2 += (a - numeric) * (a - numeric); a2 += a * a; n2 += numeric * numeric;
        }
        double rel = Math.Sqrt(diff2) / Math.Max(Math.Sqrt(Math.Max(a2, n2)), 1e-300);
        Assert.True(rel < tolerance, $"{name}: relative error {rel:E2} (|analytic| {Math.Sqrt(a2):E3}, |numeric| {Math.Sqrt(n2):E3})");
    }
}
