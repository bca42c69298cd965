using System.Buffers;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// Class indices held as floats (loss targets, embedding ids, conditioning classes) are checked here before an op
/// reads them, the same way on every backend: the values are read to the host (one copy of the rows' values, a
/// download on a device) and the first one outside 0..count-1 is reported with its row. A kernel that indexed a
/// table with a bad value would read or write outside it, silently on a device; this turns that into a one-line error.
/// Shapes: values [rows, stride]; the checked column of group g holds classes 0..counts[g]-1.
/// </summary>
public static class IndexCheck
{
    /// <summary>Checks column <paramref name="column"/> of values[rows, stride]: every value an integer class in 0..count-1.</summary>
    public static void Column(Backend backend, Tensor values, int rows, int stride, int column, int count, string what) =>
        Columns(backend, values, rows, stride, column, [count], what);

    /// <summary>Checks columns first .. first + counts.Length - 1 of values[rows, stride]; column first + g holds classes 0..counts[g]-1.</summary>
    public static void Columns(Backend backend, Tensor values, int rows, int stride, int first, ReadOnlySpan<int> counts, string what)
    {
        if (rows == 0) return;
        if (first < 0 || first + counts.Length > stride) throw new ArgumentException($"{what}: columns {first}..{first + counts.Length - 1} outside a row of {stride}");
        int n = rows * stride;
        Backend.Check(values, 0, n, what);
        var host = ArrayPool<float>.Shared.Rent(n);
        try
        {
            backend.CopyToHost(values, host.AsSpan(0, n));
            for (int r = 0; r < rows; r++)
                for (int g = 0; g < counts.Length; g++)
                {
                    float v = host[r * stride + first + g];
                    if (!(v >= 0 && v < counts[g]) || v != MathF.Floor(v))
                        throw new ArgumentException(counts.Length == 1
                            ? $"{what} {v} outside 0..{counts[g] - 1} in row {r}"
                            : $"{what} {v} of group {g} outside 0..{counts[g] - 1} in row {r}");
                }
        }
        finally { ArrayPool<float>.Shared.Return(host); }
    }
}
