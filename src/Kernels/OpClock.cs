using System.Diagnostics;

namespace MusicGen.Kernels;

/// <summary>
/// Where a piece of real code spends its time, by kind of op, for `musicgen bench lstm`: the GEMMs (plain, packed
/// and ILGPU) and the LSTM cell kernels add the time they take while <see cref="Enabled"/>. Off (the default) it costs
/// one branch per op. A measurement switch only: nothing reads it but the benchmark, and on an ILGPU device it counts
/// launch time unless the caller synchronises (the benchmark does, per op, while it measures).
/// </summary>
public static class OpClock
{
    public enum Kind { Gemm, Cell }

    /// <summary>Whether ops record their time (set by the benchmark around what it measures).</summary>
    public static bool Enabled { get; set; }
    static readonly long[] s_ticks = new long[2];

    /// <summary>Starts timing one op; dispose the result when it ends.</summary>
    public static Lap Start(Kind kind, Backend backend) => Enabled ? new Lap(kind, backend, Stopwatch.GetTimestamp()) : default;

    /// <summary>Seconds recorded for <paramref name="kind"/> since the last <see cref="Reset"/>.</summary>
    public static double Seconds(Kind kind) => Interlocked.Read(ref s_ticks[(int)kind]) / (double)Stopwatch.Frequency;

    public static void Reset() { Interlocked.Exchange(ref s_ticks[0], 0); Interlocked.Exchange(ref s_ticks[1], 0); }

    public readonly struct Lap(Kind kind, Backend? backend, long start) : IDisposable
    {
        public void Dispose()
        {
            if (start == 0 || backend is null) return;
            backend.Synchronize();
            Interlocked.Add(ref s_ticks[(int)kind], Stopwatch.GetTimestamp() - start);
        }
    }
}
