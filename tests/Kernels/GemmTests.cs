using MusicGen.Kernels;
using MathNet.Numerics.LinearAlgebra;
using MusicGen.Kernels.Ops;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>The packed GEMM at awkward shapes, and the GEMM's argument checks (the conformance on each backend: Conformance/GemmConformance.cs).</summary>
public class GemmTests
{
    public static IEnumerable<object[]> AwkwardShapes()
    {
        int[] sizes = [1, 3, 17, 63, 65, 129];
        var r = new Random(3);
        var seen = new HashSet<(int, int, int, bool, bool)>();
        // Every size in every dimension, each with the other two drawn from the list, and every transpose pair.
        foreach (int which in new[] { 0, 1, 2 })
            foreach (int size in sizes)
                foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
                {
                    int m = which == 0 ? size : sizes[r.Next(sizes.Length)], n = which == 1 ? size : sizes[r.Next(sizes.Length)], k = which == 2 ? size : sizes[r.Next(sizes.Length)];
                    if (seen.Add((m, n, k, ta, tb))) yield return [m, n, k, ta, tb];
                }
        yield return [300, 700, 600, false, false]; // more than one depth block (KC = 256) and several tiles each way
        yield return [300, 700, 600, true, true];
    }

    /// <summary>
    /// The packed, cache-blocked GEMM called directly (it adds alpha op(A) op(B) to C; Gemm.Forward applies beta first),
    /// at sizes that leave partial strips, tiles and depth blocks, against the double reference; nothing outside C touched.
    /// </summary>
    [Theory, MemberData(nameof(AwkwardShapes))]
    public void Packed_gemm_matches_double_reference_at_awkward_shapes(int m, int n, int k, bool transA, bool transB)
    {
        if (!PackedGemm.Supported) return; // a CPU without AVX2/FMA never runs it
        using var be = new MusicGen.Kernels.Backends.ManagedBackend(2);
        var r = new Rand(m * 7 + n * 13 + k);
        int lda = (transA ? m : k) + 1, ldb = (transB ? k : n) + 3, ldc = n + 2, off = 3;
        int aRows = transA ? k : m, bRows = transB ? n : k;
        var aHost = r.Floats(off + aRows * lda); var bHost = r.Floats(off + bRows * ldb); var cHost = r.Floats(off + m * ldc);
        var A = Matrix<double>.Build.Dense(aRows, transA ? m : k, (i, j) => aHost[off + i * lda + j]);
        var B = Matrix<double>.Build.Dense(bRows, transB ? k : n, (i, j) => bHost[off + i * ldb + j]);
        var C0 = Matrix<double>.Build.Dense(m, n, (i, j) => cHost[off + i * ldc + j]);
        const float alpha = -1.25f;
        var expected = alpha * (transA ? A.Transpose() : A) * (transB ? B.Transpose() : B) + C0;
        var got = (float[])cHost.Clone();
        PackedGemm.Run(be, transA, transB, m, n, k, alpha, aHost, off, lda, bHost, off, ldb, got, off, ldc);
        for (int i = 0; i < m; i++)
            Close.All(got.AsSpan(off + i * ldc, n), j => expected[i, j], $"C[{i}]", atol: 1e-5 * Math.Sqrt(k), rtol: 1e-4);
        Assert.Equal(cHost[..off], got[..off]);
        for (int i = 0; i < m; i++) Assert.Equal(cHost.AsSpan(off + i * ldc + n, 2).ToArray(), got.AsSpan(off + i * ldc + n, 2).ToArray());
        // The same result on one thread and on two: the sum order does not depend on the threads.
        var one = (float[])cHost.Clone();
        using var single = new MusicGen.Kernels.Backends.ManagedBackend(1);
        PackedGemm.Run(single, transA, transB, m, n, k, alpha, aHost, off, lda, bHost, off, ldb, one, off, ldc);
        Assert.Equal(one, got);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void Beta_zero_ignores_nan_in_c(string device)
    {
        using var be = TestBackends.Create(device);
        using var a = be.Upload([1, 2, 3, 4], 2, 2); using var b = be.Upload([1, 0, 0, 1], 2, 2);
        using var c = be.Upload([float.NaN, float.NaN, float.NaN, float.NaN], 2, 2);
        Gemm.Forward(be, MatrixView.Of(a, 2, 2), MatrixView.Of(b, 2, 2), MatrixView.Of(c, 2, 2), beta: 0f);
        Assert.Equal([1, 2, 3, 4], be.Download(c));
    }

    [Fact]
    public void Gemm_backward_gives_da_and_db_of_the_reference()
    {
        using var be = TestBackends.Create("cpu");
        var r = new Rand(5);
        int m = 4, n = 6, k = 5;
        var aH = r.Floats(m * k); var bH = r.Floats(k * n); var dcH = r.Floats(m * n);
        using var a = be.Upload(aH, m, k); using var b = be.Upload(bH, k, n); using var dc = be.Upload(dcH, m, n);
        using var da = be.Allocate(m, k); using var db = be.Allocate(k, n);
        Gemm.Backward(be, MatrixView.Of(a, m, k), MatrixView.Of(b, k, n), MatrixView.Of(dc, m, n), MatrixView.Of(da, m, k), MatrixView.Of(db, k, n));
        Close.Matrix(be.Download(da), Rand.Mat(dcH, m, n) * Rand.Mat(bH, k, n).Transpose(), "dA");
        Close.Matrix(be.Download(db), Rand.Mat(aH, m, k).Transpose() * Rand.Mat(dcH, m, n), "dB");
    }

    [Fact]
    public void Out_of_range_operands_are_rejected_before_any_work()
    {
        using var be = TestBackends.Create("cpu");
        using var a = be.Allocate(2, 2); using var c = be.Allocate(2, 2);
        var C = MatrixView.Of(c, 2, 2);
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Forward(be, new MatrixView(a, 0, 3, 2, 2), MatrixView.Of(a, 2, 2), new MatrixView(c, 0, 3, 2, 2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Forward(be, new MatrixView(a, 1, 2, 2, 2), MatrixView.Of(a, 2, 2), C)); // an offset that runs past the end
        Assert.Throws<ArgumentException>(() => Gemm.Forward(be, new MatrixView(a, 0, 2, 2, 1), MatrixView.Of(a, 2, 2), C));     // ld smaller than a row
        Assert.Throws<ArgumentException>(() => MatrixView.Of(a, 4, 2));                                                         // not the whole tensor
    }

    /// <summary>What the matrix views catch that the old positional arguments let through: sizes that do not fit together.</summary>
    [Fact]
    public void Operands_whose_shapes_do_not_fit_together_are_refused()
    {
        using var be = TestBackends.Create("cpu");
        using var a = be.Allocate(3, 4); using var b = be.Allocate(4, 5); using var c = be.Allocate(3, 5); using var big = be.Allocate(64);
        var (A, B, C) = (MatrixView.Of(a, 3, 4), MatrixView.Of(b, 4, 5), MatrixView.Of(c, 3, 5));
        Gemm.Forward(be, A, B, C);                                                                  // fits
        Assert.Throws<ArgumentException>(() => Gemm.Forward(be, A.T, B, C));                        // op(A) is 4x3: inner 3 vs 4
        Assert.Throws<ArgumentException>(() => Gemm.Forward(be, A, B, new MatrixView(big, 0, 5, 3, 3))); // C has the sizes swapped
        Assert.Throws<ArgumentException>(() => Gemm.Forward(be, A, B, C.T));                       // the output cannot be transposed
        // A swapped leading dimension that stays inside a big enough tensor: the product's sizes still catch it.
        Assert.Throws<ArgumentException>(() => Gemm.Forward(be, new MatrixView(big, 0, 4, 3, 4), B, C));
    }

    public static IEnumerable<object[]> BlockedShapes()
    {
        // On ILGPU's CPU simulator a block tile is 32 x 32 (4 x 4 threads, 8 x 8 each) and a K slice 8: sizes below,
        // at, and past one tile and one slice, every transpose pair.
        (int, int, int)[] shapes = [(1, 1, 1), (3, 17, 5), (32, 32, 8), (33, 31, 9), (65, 40, 17), (17, 70, 64)];
        foreach (var (m, n, k) in shapes)
            foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
                yield return [m, n, k, ta, tb];
    }

    /// <summary>
    /// The register-blocked GEMM at a GPU's own block tiles, 128 x 128 (16 x 16 threads) and 64 x 64 (8 x 8), on a CPU
    /// simulator whose groups hold 256 threads as a GPU's do, against the double reference: partial tiles, a K that is
    /// not a multiple of the slice, every transpose pair, alpha and beta.
    /// </summary>
    [Theory]
    [InlineData(64, 130, 70, 20)]
    [InlineData(128, 130, 70, 20)]
    [InlineData(64, 9, 200, 33)]
    public void Blocked_gemm_at_the_gpus_block_tiles_matches_the_double_reference(int tile, int m, int n, int k)
    {
        using var gpu = Devices.CreateSimulator(warpsPerGroup: 8);
        gpu.GemmTile = tile;
        Assert.Equal(tile / BlockedGemm.Micro, BlockedGemm.SideFor(gpu, m, n));
        foreach (var (transA, transB) in new[] { (false, false), (false, true), (true, false), (true, true) })
        {
            var r = new Rand(m + n + k + tile + (transA ? 1 : 0) + (transB ? 2 : 0));
            int lda = (transA ? m : k) + 1, ldb = (transB ? k : n) + 3, ldc = n + 2;
            var aHost = r.Floats((transA ? k : m) * lda); var bHost = r.Floats((transB ? n : k) * ldb); var cHost = r.Floats(m * ldc);
            var A = Matrix<double>.Build.Dense(transA ? k : m, transA ? m : k, (i, j) => aHost[i * lda + j]);
            var B = Matrix<double>.Build.Dense(transB ? n : k, transB ? k : n, (i, j) => bHost[i * ldb + j]);
            var expected = 0.75 * (transA ? A.Transpose() : A) * (transB ? B.Transpose() : B) + 0.5 * Matrix<double>.Build.Dense(m, n, (i, j) => cHost[i * ldc + j]);
            using var a = gpu.Upload(aHost, aHost.Length); using var b = gpu.Upload(bHost, bHost.Length); using var c = gpu.Upload(cHost, cHost.Length);
            BlockedGemm.Run(gpu, transA, transB, m, n, k, 0.75f, MusicGen.Kernels.Backends.IlgpuBackend.Of(a).View, lda,
                MusicGen.Kernels.Backends.IlgpuBackend.Of(b).View, ldb, 0.5f, MusicGen.Kernels.Backends.IlgpuBackend.Of(c).View, ldc);
            var got = gpu.Download(c);
            for (int i = 0; i < m; i++)
                Close.All(got.AsSpan(i * ldc, n), j => expected[i, j], $"{(transA ? 'T' : 'N')}{(transB ? 'T' : 'N')} C[{i}]", atol: 1e-5 * Math.Sqrt(k), rtol: 1e-4);
        }
    }

    /// <summary>
    /// The register-blocked ILGPU GEMM (the kernel large shapes run on a GPU), called directly on the CPU simulator at
    /// shapes that leave partial block tiles and K slices, with offsets, padded leading dimensions, alpha and beta,
    /// against the double reference; nothing outside C touched.
    /// </summary>
    [Theory, MemberData(nameof(BlockedShapes))]
    public void Blocked_ilgpu_gemm_matches_double_reference_at_awkward_shapes(int m, int n, int k, bool transA, bool transB)
    {
        using var be = TestBackends.Create("ilgpu-cpu");
        var gpu = (MusicGen.Kernels.Backends.IlgpuBackend)be;
        var r = new Rand(m * 7 + n * 13 + k + (transA ? 1 : 0) + (transB ? 2 : 0));
        int lda = (transA ? m : k) + 1, ldb = (transB ? k : n) + 3, ldc = n + 2, off = 3;
        int aRows = transA ? k : m, bRows = transB ? n : k;
        var aHost = r.Floats(off + aRows * lda); var bHost = r.Floats(off + bRows * ldb); var cHost = r.Floats(off + m * ldc + 2);
        var A = Matrix<double>.Build.Dense(aRows, transA ? m : k, (i, j) => aHost[off + i * lda + j]);
        var B = Matrix<double>.Build.Dense(bRows, transB ? k : n, (i, j) => bHost[off + i * ldb + j]);
        var C0 = Matrix<double>.Build.Dense(m, n, (i, j) => cHost[off + i * ldc + j]);
        const float alpha = -1.25f, beta = 0.5f;
        var expected = alpha * (transA ? A.Transpose() : A) * (transB ? B.Transpose() : B) + beta * C0;
        using var a = be.Upload(aHost, aHost.Length); using var b = be.Upload(bHost, bHost.Length); using var c = be.Upload(cHost, cHost.Length);
        MusicGen.Kernels.Ops.BlockedGemm.Run(gpu, transA, transB, m, n, k, alpha,
            MusicGen.Kernels.Backends.IlgpuBackend.Of(a).Slice(off, a.Length - off), lda,
            MusicGen.Kernels.Backends.IlgpuBackend.Of(b).Slice(off, b.Length - off), ldb, beta,
            MusicGen.Kernels.Backends.IlgpuBackend.Of(c).Slice(off, c.Length - off), ldc);
        var got = be.Download(c);
        for (int i = 0; i < m; i++)
            Close.All(got.AsSpan(off + i * ldc, n), j => expected[i, j], $"C[{i}]", atol: 1e-5 * Math.Sqrt(k), rtol: 1e-4);
        Assert.Equal(cHost[..off], got[..off]);
        for (int i = 0; i < m; i++) Assert.Equal(cHost.AsSpan(off + i * ldc + n, 2).ToArray(), got.AsSpan(off + i * ldc + n, 2).ToArray());
    }
}
