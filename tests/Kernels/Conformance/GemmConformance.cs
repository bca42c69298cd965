using MathNet.Numerics.LinearAlgebra;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels.Conformance;

/// <summary>C = alpha op(A) op(B) + beta C against MathNet's double product, with offsets and padded rows, on each backend.</summary>
public abstract class GemmConformance : BackendConformance
{
    [BackendTheory]
    [InlineData(3, 5, 7, false, false)]
    [InlineData(3, 5, 7, false, true)]
    [InlineData(3, 5, 7, true, false)]
    [InlineData(3, 5, 7, true, true)]
    [InlineData(64, 512, 128, false, true)]
    [InlineData(512, 40, 640, true, false)]
    [InlineData(33, 17, 65, false, false)]
    [InlineData(512, 3, 640, true, false)]
    [InlineData(640, 3, 512, false, false)]
    [InlineData(300, 7, 33, true, true)]
    [InlineData(301, 15, 40, false, true)]
    [InlineData(64, 1024, 256, false, false)]   // generation's recurrent GEMM (B=64, H=256)
    [InlineData(7, 70, 9, false, false)]        // tail rows (7 = 4 + 3) and tail columns (70 = 64 + 6)
    [InlineData(126, 100, 33, true, true)]
    [InlineData(129, 64, 16, true, false)]
    [InlineData(17, 18, 19, false, true)]
    [InlineData(17, 18, 19, true, false)]
    [InlineData(5, 3, 33, true, true)]
    public void Gemm_matches_double_reference_with_alpha_beta_offsets_and_strides(int m, int n, int k, bool transA, bool transB)
    {
        if (!Large) (m, n, k) = (Math.Min(m, 33), Math.Min(n, 33), Math.Min(k, 33)); // the simulator: every dimension capped, tails kept
        using var be = CreateBackend();
        var r = new Rand(m * 1000 + n * 10 + k);
        // Pad every matrix: an offset before it and a leading dimension wider than its rows.
        int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 2, ldc = n + 1, off = 5;
        int aRows = transA ? k : m, bRows = transB ? n : k;
        var aHost = r.Floats(off + aRows * lda); var bHost = r.Floats(off + bRows * ldb); var cHost = r.Floats(off + m * ldc);
        var A = Matrix<double>.Build.Dense(aRows, transA ? m : k, (i, j) => aHost[off + i * lda + j]);
        var B = Matrix<double>.Build.Dense(bRows, transB ? k : n, (i, j) => bHost[off + i * ldb + j]);
        var C0 = Matrix<double>.Build.Dense(m, n, (i, j) => cHost[off + i * ldc + j]);
        const float alpha = 0.75f, beta = -0.5f;
        var expected = alpha * (transA ? A.Transpose() : A) * (transB ? B.Transpose() : B) + beta * C0;

        using var a = be.Upload(aHost, aHost.Length); using var b = be.Upload(bHost, bHost.Length); using var c = be.Upload(cHost, cHost.Length);
        var va = new MatrixView(a, off, aRows, transA ? m : k, lda, transA); var vb = new MatrixView(b, off, bRows, transB ? k : n, ldb, transB);
        Gemm.Forward(be, va, vb, new MatrixView(c, off, m, n, ldc), alpha, beta);
        var got = be.Download(c);
        for (int i = 0; i < m; i++)
            Close.All(got.AsSpan(off + i * ldc, n), j => expected[i, j], $"C[{i}]", atol: 1e-5 * Math.Sqrt(k), rtol: 1e-4);
        Assert.Equal(cHost[..off], got[..off]); // nothing outside C touched
        for (int i = 0; i < m; i++) Assert.Equal(cHost[off + i * ldc + n], got[off + i * ldc + n]); // nor the padding column
    }
}

[Backend("cpu")] public sealed class ManagedGemmConformance : GemmConformance { protected override string Device => "cpu"; protected override bool Large => true; }
[Backend("ilgpu-cpu")] public sealed class IlgpuCpuGemmConformance : GemmConformance { protected override string Device => "ilgpu-cpu"; protected override bool Large => false; }
[Backend("cuda")] public sealed class CudaGemmConformance : GemmConformance { protected override string Device => "cuda"; protected override bool Large => true; }
