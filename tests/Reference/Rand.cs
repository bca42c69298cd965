using MathNet.Numerics.LinearAlgebra;

namespace MusicGen.Tests.Reference;

/// <summary>Seeded random test data, made as float (what the kernels get) and widened to double for the reference.</summary>
public sealed class Rand(int seed)
{
    readonly Random _rng = new(seed);

    public float[] Floats(int n, float scale = 1f)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((_rng.NextDouble() * 2 - 1) * scale);
        return a;
    }

    public static Matrix<double> Mat(float[] data, int rows, int cols, int offset = 0) =>
        Matrix<double>.Build.Dense(rows, cols, (r, c) => data[offset + r * cols + c]);

    public static Vector<double> Vec(float[] data) => Vector<double>.Build.Dense(data.Length, i => data[i]);

    public static Matrix<double>[] Seq(float[] data, int steps, int rows, int cols) =>
        Enumerable.Range(0, steps).Select(t => Mat(data, rows, cols, t * rows * cols)).ToArray();
}

public static class Close
{
    /// <summary>|a - r| &lt;= atol + rtol*|r| for every element, with the worst offender in the message.</summary>
    public static void All(ReadOnlySpan<float> actual, Func<int, double> reference, string what, double atol = 1e-5, double rtol = 1e-3)
    {
        for (int i = 0; i < actual.Length; i++)
        {
            double r = reference(i);
            if (!(Math.Abs(actual[i] - r) <= atol + rtol * Math.Abs(r)))
                Assert.Fail($"{what}[{i}] = {actual[i]}, reference {r} (|diff| {Math.Abs(actual[i] - r):E2})");
        }
    }

    public static void Matrix(ReadOnlySpan<float> actual, Matrix<double> reference, string what, int offset = 0, double atol = 1e-5, double rtol = 1e-3)
    {
        int cols = reference.ColumnCount;
        All(actual.Slice(offset, reference.RowCount * cols), i => reference[i / cols, i % cols], what, atol, rtol);
    }
}
