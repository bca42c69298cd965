using MathNet.Numerics.LinearAlgebra;
using MusicGen.Kernels;
using MusicGen.Kernels.Backends;
using MusicGen.Kernels.Ops;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>
/// The TF32 tensor-core GEMM (<c>--precision tf32</c>) on ILGPU's CPU simulator made with 32-lane warps, where the
/// warp-wide <c>mma</c> is emulated from the PTX ISA's fragment layout: the rounding against its definition in double
/// precision, and the GEMM at every transpose and at shapes that leave partial block tiles and K slices, against the
/// double reference twice (on TF32-rounded inputs: float32 summation error only; on the inputs as given: TF32's error,
/// which must be there and within its bound).
/// </summary>
public class Tf32GemmTests
{
    /// <summary>x rounded to 10 mantissa bits, nearest, ties away from zero, computed in double (float32's subnormals share the exponent -126).</summary>
    public static double Tf32Reference(float x)
    {
        if (x == 0 || !float.IsFinite(x)) return x;
        double magnitude = Math.Abs((double)x);
        int exponent = Math.Max((int)Math.Floor(Math.Log2(magnitude)), -126);
        double ulp = Math.Pow(2, exponent - 10);
        double rounded = Math.Floor(magnitude / ulp + 0.5) * ulp;
        return Math.Sign(x) * (rounded > float.MaxValue ? double.PositiveInfinity : rounded);
    }

    [Fact]
    public void Rounding_to_tf32_keeps_ten_mantissa_bits_to_nearest_with_ties_away_from_zero()
    {
        float one = 1f, half = 1f / 2048, quarter = 1f / 4096; // 2^-11 is half of TF32's last place at 1, 2^-12 a quarter
        Assert.Equal(1f + 1f / 1024, Tf32Gemm.RoundToTf32(one + half));       // a tie: away from zero
        Assert.Equal(-(1f + 1f / 1024), Tf32Gemm.RoundToTf32(-(one + half)));
        Assert.Equal(1f, Tf32Gemm.RoundToTf32(one + quarter));                // below the tie: down
        Assert.Equal(float.PositiveInfinity, Tf32Gemm.RoundToTf32(float.MaxValue)); // rounds past the largest finite TF32
        Assert.True(float.IsNaN(Tf32Gemm.RoundToTf32(float.NaN)));
        Assert.Equal(float.NegativeInfinity, Tf32Gemm.RoundToTf32(float.NegativeInfinity));
        var r = new Random(5);
        for (int i = 0; i < 20000; i++)
        {
            // Every binade, subnormals included: random bits.
            float x = BitConverter.Int32BitsToSingle(r.Next() ^ (r.Next(2) << 31));
            if (!float.IsFinite(x)) continue;
            float got = Tf32Gemm.RoundToTf32(x);
            Assert.True(Tf32Reference(x) == got, $"{x:R} (0x{BitConverter.SingleToInt32Bits(x):X8}): {got:R}, reference {Tf32Reference(x):R}");
            Assert.Equal(0, BitConverter.SingleToInt32Bits(got) & 0x1FFF); // the low 13 bits are gone
        }
    }

    public static IEnumerable<object[]> Shapes()
    {
        // One mma tile, a single element, partial warp and block tiles (the simulator's block tile is 128 x 64), K past one
        // slice of 16 and not a multiple of 8; every transpose pair.
        (int, int, int)[] shapes = [(16, 8, 8), (1, 1, 1), (3, 17, 5), (130, 70, 20), (65, 33, 40)];
        foreach (var (m, n, k) in shapes)
            foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
                yield return [m, n, k, ta, tb];
    }

    [Theory, MemberData(nameof(Shapes))]
    public void Tf32_gemm_matches_the_double_reference_on_rounded_inputs_and_stays_within_tf32s_error(int m, int n, int k, bool transA, bool transB)
    {
        using var gpu = TestBackends.CreateWarp32Simulator();
        var r = new Rand(m * 7 + n * 13 + k + (transA ? 1 : 0) + (transB ? 2 : 0));
        int lda = (transA ? m : k) + 1, ldb = (transB ? k : n) + 3, ldc = n + 2, off = 3;
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        var aHost = r.Floats(off + aRows * lda); var bHost = r.Floats(off + bRows * ldb); var cHost = r.Floats(off + m * ldc + 2);
        Matrix<double> Read(float[] data, int rows, int cols, int ld, Func<float, double> f) => Matrix<double>.Build.Dense(rows, cols, (i, j) => f(data[off + i * ld + j]));
        var C0 = Matrix<double>.Build.Dense(m, n, (i, j) => cHost[off + i * ldc + j]);
        const float alpha = -1.25f, beta = 0.5f;
        Matrix<double> Product(Func<float, double> f)
        {
            var A = Read(aHost, aRows, aCols, lda, f); var B = Read(bHost, bRows, bCols, ldb, f);
            return alpha * (transA ? A.Transpose() : A) * (transB ? B.Transpose() : B) + beta * C0;
        }
        var onRounded = Product(Tf32Reference);
        var exact = Product(x => x);
        // |op(A)| |op(B)|: the scale of each output's TF32 error (each input off by at most 2^-11 of itself).
        var absA = Read(aHost, aRows, aCols, lda, x => Math.Abs(x)); var absB = Read(bHost, bRows, bCols, ldb, x => Math.Abs(x));
        var magnitude = (transA ? absA.Transpose() : absA) * (transB ? absB.Transpose() : absB);

        using var a = gpu.Upload(aHost, aHost.Length); using var b = gpu.Upload(bHost, bHost.Length); using var c = gpu.Upload(cHost, cHost.Length);
        Tf32Gemm.Run(gpu, transA, transB, m, n, k, alpha,
            IlgpuBackend.Of(a).Slice(off, a.Length - off), lda, IlgpuBackend.Of(b).Slice(off, b.Length - off), ldb, beta,
            IlgpuBackend.Of(c).Slice(off, c.Length - off), ldc);
        var got = gpu.Download(c);

        double worstTf32 = 0;
        for (int i = 0; i < m; i++)
        {
            Close.All(got.AsSpan(off + i * ldc, n), j => onRounded[i, j], $"C[{i}]", atol: 1e-5 * Math.Sqrt(k), rtol: 1e-4);
            for (int j = 0; j < n; j++)
            {
                double error = Math.Abs(got[off + i * ldc + j] - exact[i, j]), bound = Math.Abs(alpha) * magnitude[i, j] * 2.0 * Math.Pow(2, -11) + 1e-5 * Math.Sqrt(k);
                Assert.True(error <= bound, $"C[{i},{j}] = {got[off + i * ldc + j]}, exact {exact[i, j]}: off by {error:E2}, more than TF32's {bound:E2}");
                worstTf32 = Math.Max(worstTf32, error);
            }
        }
        if (m * n * k >= 64) Assert.True(worstTf32 > 1e-5, $"worst error {worstTf32:E2}: float32's, so the inputs were not rounded to TF32");
        Assert.Equal(cHost[..off], got[..off]); // nothing outside C touched
        for (int i = 0; i < m; i++) Assert.Equal(cHost.AsSpan(off + i * ldc + n, 2).ToArray(), got.AsSpan(off + i * ldc + n, 2).ToArray());
    }

    [Fact]
    public void Gemm_forward_runs_on_tensor_cores_only_where_tf32_is_asked_for()
    {
        using var gpu = TestBackends.CreateWarp32Simulator();
        var r = new Rand(11);
        var aHost = r.Floats(20 * 24); var bHost = r.Floats(24 * 12);
        using var a = gpu.Upload(aHost, 20, 24); using var b = gpu.Upload(bHost, 24, 12); using var c = gpu.Allocate(20, 12);
        var exact = Rand.Mat(aHost, 20, 24) * Rand.Mat(bHost, 24, 12);
        double Worst()
        {
            Gemm.Forward(gpu, MatrixView.Of(a, 20, 24), MatrixView.Of(b, 24, 12), MatrixView.Of(c, 20, 12));
            var got = gpu.Download(c);
            return Enumerable.Range(0, got.Length).Max(i => Math.Abs(got[i] - exact[i / 12, i % 12]));
        }
        Assert.Equal(GemmPrecision.Float32, gpu.Precision);
        Assert.InRange(Worst(), 0, 2e-6); // float32
        long before = gpu.LaunchesByKernel.GetValueOrDefault("gemm.tf32");
        gpu.UsePrecision(GemmPrecision.Tf32);
        Assert.InRange(Worst(), 2e-5, 2e-2); // TF32: inputs rounded to 10 bits
        Assert.Equal(before + 1, gpu.LaunchesByKernel["gemm.tf32"]);
    }

    /// <summary>
    /// What `bench precision` reports: one training step in both precisions on the tensor-core simulator. TF32 must move
    /// the gradients (or the step never ran on it) by about its unit roundoff (2^-11), not by float32's or by a bug's.
    /// </summary>
    [Fact]
    public void A_training_step_in_tf32_moves_the_gradients_by_about_tf32s_roundoff()
    {
        using var gpu = TestBackends.CreateWarp32Simulator();
        var config = new MusicGen.Model.ModelConfig { Layers = 1, Hidden = 8, SeqLen = 4 };
        var r = MusicGen.Model.PrecisionComparison.Run(gpu, config, batchSize: 2, seed: 3);
        Assert.InRange(r.GradientRelativeError, 1e-5, 5e-3);
        Assert.InRange(r.WorstRelativeError, r.GradientRelativeError, 2e-2);
        Assert.InRange(Math.Abs(r.PitchLossTf32 - r.PitchLossFloat32), 0, 1e-2);
        Assert.Equal(GemmPrecision.Float32, gpu.Precision); // as it was
    }

    [Fact]
    public void Tf32_is_refused_in_one_line_where_there_are_no_tensor_cores()
    {
        using var cpu = TestBackends.Create("cpu");
        var e = Assert.Throws<ArgumentException>(() => cpu.UsePrecision(GemmPrecision.Tf32));
        Assert.Contains("tensor cores", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        using var simulator = TestBackends.Create("ilgpu-cpu"); // 4-lane warps: the emulation needs 32 (Devices.Create("ilgpu-cpu", Tf32) makes a simulator with 32)
        e = Assert.Throws<ArgumentException>(() => simulator.UsePrecision(GemmPrecision.Tf32));
        Assert.Contains("32-lane warps", e.Message);
        Assert.Equal(GemmPrecision.Float32, simulator.Precision);
        cpu.UsePrecision(GemmPrecision.Float32); // float32 is always there
    }
}
