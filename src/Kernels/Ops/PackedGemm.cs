using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// The managed backend's fast GEMM, in the GotoBLAS/BLIS style: C[m,n] += alpha * op(A)[m,k] * op(B)[k,n]
/// (the caller has already applied beta). Three loops around a register-blocked micro-kernel:
///
///   for each block of KC rows of op(B) (and KC columns of op(A)):              depth block, p0 .. p0+kc
///     pack op(B)[p0.., all n] into strips of NR=16 columns: kc x 16 floats each, contiguous, zero-padded
///     pack op(A)[all m, p0..] into strips of MR=4 rows:     kc x 4  floats each, contiguous, zero-padded
///     in parallel over tiles of (MC rows x NC columns) of C:
///       for each 16-column strip of B in the tile:                            (kc x 16 x 4 B = 16 KB: stays in L1/L2)
///         for each 4-row strip of A in the tile:                              (kc x 4 x 4 B = 4 KB: streams from L2)
///           micro-kernel: the 4x16 block of C in 8 AVX2 registers, kc steps of 2 loads, 4 broadcasts, 8 FMAs
///
/// (6x16 and 5x16 micro-kernels, which keep more accumulators, were written and measured 3x slower: RyuJIT spills
/// their registers. docs/BENCHMARKS.md, section 7.)
///
/// Packing makes every load of the micro-kernel contiguous and reads each element of A and B from memory once per
/// depth block; the transposes (op) are absorbed by the packing, so NN, NT, TN and TT run the same kernel. The sum
/// for each element of C runs over p in order within each depth block and over the blocks in order, whatever the
/// thread count: results are deterministic. <see cref="Gemm"/> keeps the plain 4x16 kernel for shapes too small to
/// pay for packing; the tests compare both against the double-precision reference.
/// </summary>
public static class PackedGemm
{
    /// <summary>Rows of C per micro-kernel call (4 rows x 2 vectors = 8 accumulators of the 16 AVX2 registers).</summary>
    public const int MR = 4;
    /// <summary>Columns of C per micro-kernel call (two 8-float vectors).</summary>
    public const int NR = 16;
    /// <summary>Depth per block: a 4 x KC strip of A (4 KB) and a KC x 16 strip of B (16 KB) fit in a 32 KB L1 together.</summary>
    public const int KC = 256;
    /// <summary>Rows of C per parallel tile: MC x KC of packed A (72 KB) stays in a core's L2.</summary>
    public const int MC = 72;
    /// <summary>Columns of C per parallel tile.</summary>
    public const int NC = 256;

    /// <summary>
    /// Where the packing buffers come from. ArrayPool.Shared keeps arrays of up to 2^20 floats only; a packed W_ih of a
    /// second layer at H=512 is 2^21 (8 MB), and a fresh 8 MB array per product (four per training step) is a large-object
    /// allocation that the GC must clear and collect. This pool keeps up to 2^26 floats, a few arrays per size.
    /// </summary>
    static readonly ArrayPool<float> s_pool = ArrayPool<float>.Create(maxArrayLength: 1 << 26, maxArraysPerBucket: 8);

    /// <summary>Whether this CPU has the instructions the micro-kernel uses (AVX2 with FMA).</summary>
    public static bool Supported => Fma.IsSupported && Avx2.IsSupported;

    /// <summary>C[i,j] (row stride ldc, from cOff) += alpha * sum_p opA[i,p] opB[p,j].</summary>
    public static void Run(ManagedBackend cpu, bool transA, bool transB, int m, int n, int k, float alpha,
        float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc)
    {
        if (!Supported) throw new PlatformNotSupportedException("the packed GEMM needs AVX2 and FMA");
        var packed = PackB(cpu, transB, k, n, b, bOff, ldb);
        try { RunPacked(cpu, transA, m, alpha, a, aOff, lda, packed, c, cOff, ldc); }
        finally { packed.Dispose(); }
    }

    /// <summary>
    /// op(B)[k,n] packed for the micro-kernel, all depth blocks: block d holds rows d*KC .. of op(B) as strips of 16
    /// columns (kc x 16 floats each). Made once, it serves every product with the same B: an LSTM's recurrent weights
    /// over all the steps of a sequence, where packing them again for each step would cost as much as a step's product.
    /// </summary>
    public sealed class PackedMatrix : IDisposable
    {
        internal PackedMatrix(int k, int n, float[] data) { K = k; N = n; Data = data; }
        public int K { get; }
        public int N { get; }
        internal float[] Data { get; private set; }
        internal int Strips => (N + NR - 1) / NR;
        /// <summary>Where depth block starting at row p0 begins.</summary>
        internal int BlockOffset(int p0) => p0 * Strips * NR;
        public void Dispose() { if (Data.Length > 0) s_pool.Return(Data); Data = []; }
    }

    /// <summary>Packs op(B)[k,n] (B stored [k,n], or [n,k] when transB, row stride ldb, from bOff).</summary>
    public static PackedMatrix PackB(ManagedBackend cpu, bool transB, int k, int n, float[] b, int bOff, int ldb)
    {
        int strips = (n + NR - 1) / NR;
        var data = s_pool.Rent(Math.Max(1, strips * NR * k));
        for (int p0 = 0; p0 < k; p0 += KC)
        {
            int kc = Math.Min(KC, k - p0), at = p0 * strips * NR;
            cpu.For(strips, (long)kc * NR, s => PackB(b, bOff, ldb, transB, p0, kc, s * NR, Math.Min(NR, n - s * NR), data.AsSpan(at + s * NR * kc, NR * kc)));
        }
        return new PackedMatrix(k, n, data);
    }

    /// <summary>
    /// The micro-kernel's own ceiling, for `musicgen bench fma`: runs it <paramref name="calls"/> times on one pair of
    /// strips of depth KC that stay in L1 (no packing, no blocking, no memory traffic) and returns the seconds taken.
    /// Each call is 2 x MR x NR x KC flops.
    /// </summary>
    public static double TimeMicroKernel(int calls)
    {
        if (!Supported) throw new PlatformNotSupportedException("the packed GEMM needs AVX2 and FMA");
        var a = new float[MR * KC]; var b = new float[NR * KC]; var c = new float[MR * NR];
        for (int i = 0; i < a.Length; i++) a[i] = 1f / (i + 1);
        for (int i = 0; i < b.Length; i++) b[i] = 1f / (i + 2);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++) MicroKernel(a, 0, b, 0, KC, c, 0, NR, MR, NR, 1e-6f);
        return System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>Packs op(B) of a view, for <see cref="RunPacked(ManagedBackend, MatrixView, PackedMatrix, MatrixView, float)"/>.</summary>
    public static PackedMatrix PackB(ManagedBackend cpu, MatrixView b)
    {
        Backend.Check(b.Tensor, b.Offset, b.Span, "B");
        var t = ManagedBackend.Of(b.Tensor);
        using var lap = OpClock.Start(OpClock.Kind.Gemm, cpu);
        return PackB(cpu, b.Transposed, b.OpRows, b.OpCols, t.Array, t.Offset + b.Offset, b.Ld);
    }

    /// <summary>c += alpha * op(a) * B, with B packed by <see cref="PackB(ManagedBackend, MatrixView)"/>: the shapes are checked as <see cref="Gemm.Forward"/> checks them.</summary>
    public static void RunPacked(ManagedBackend cpu, MatrixView a, PackedMatrix b, MatrixView c, float alpha = 1f)
    {
        if (c.Transposed) throw new ArgumentException($"the output C {c} cannot be transposed");
        if (a.OpCols != b.K) throw new ArgumentException($"GEMM inner sizes differ: op(A) {a} has {a.OpCols} columns, packed B has {b.K} rows");
        if (c.Rows != a.OpRows || c.Cols != b.N) throw new ArgumentException($"GEMM output C {c} should be {a.OpRows}x{b.N}");
        Backend.Check(a.Tensor, a.Offset, a.Span, "A"); Backend.Check(c.Tensor, c.Offset, c.Span, "C");
        var (ta, tc) = (ManagedBackend.Of(a.Tensor), ManagedBackend.Of(c.Tensor));
        using var lap = OpClock.Start(OpClock.Kind.Gemm, cpu);
        RunPacked(cpu, a.Transposed, a.OpRows, alpha, ta.Array, ta.Offset + a.Offset, a.Ld, b, tc.Array, tc.Offset + c.Offset, c.Ld);
    }

    /// <summary>C[m,n] += alpha * op(A)[m,k] * B with B already packed (<see cref="PackB(ManagedBackend, bool, int, int, float[], int, int)"/>).</summary>
    public static void RunPacked(ManagedBackend cpu, bool transA, int m, float alpha, float[] a, int aOff, int lda, PackedMatrix b, float[] c, int cOff, int ldc)
    {
        if (!Supported) throw new PlatformNotSupportedException("the packed GEMM needs AVX2 and FMA");
        int n = b.N, k = b.K, mStrips = (m + MR - 1) / MR;
        float[] packedA = s_pool.Rent(Math.Max(1, mStrips * MR * Math.Min(k, KC)));
        try
        {
            int mTiles = (m + MC - 1) / MC, nTiles = (n + NC - 1) / NC;
            for (int p0 = 0; p0 < k; p0 += KC)
            {
                int kc = Math.Min(KC, k - p0), bAt = b.BlockOffset(p0);
                float[] packedB = b.Data;
                cpu.For(mStrips, (long)kc * MR, s => PackA(a, aOff, lda, transA, p0, kc, s * MR, Math.Min(MR, m - s * MR), packedA.AsSpan(s * MR * kc, MR * kc)));
                cpu.For(mTiles * nTiles, (long)MC * NC * kc, tile =>
                {
                    int i0 = tile / nTiles * MC, j0 = tile % nTiles * NC;
                    int iEnd = Math.Min(m, i0 + MC), jEnd = Math.Min(n, j0 + NC);
                    for (int j = j0; j < jEnd; j += NR)
                        for (int i = i0; i < iEnd; i += MR)
                            MicroKernel(packedA, i / MR * MR * kc, packedB, bAt + j / NR * NR * kc, kc, c, cOff + i * ldc + j, ldc, Math.Min(MR, m - i), Math.Min(NR, n - j), alpha);
                });
            }
        }
        finally { s_pool.Return(packedA); }
    }

    /// <summary>op(A)[i0..i0+rows, p0..p0+kc] -> dst[p * MR + r] (row r of the strip at depth p), rows past the edge zero.</summary>
    static void PackA(float[] a, int aOff, int lda, bool transA, int p0, int kc, int i0, int rows, Span<float> dst)
    {
        if (rows < MR) dst.Clear();
        for (int r = 0; r < rows; r++)
            if (transA) // A stored [k, m]: op(A)[i, p] = A[p, i]
                for (int p = 0; p < kc; p++) dst[p * MR + r] = a[aOff + (p0 + p) * lda + i0 + r];
            else
            {
                var row = a.AsSpan(aOff + (i0 + r) * lda + p0, kc);
                for (int p = 0; p < kc; p++) dst[p * MR + r] = row[p];
            }
    }

    /// <summary>op(B)[p0..p0+kc, j0..j0+cols] -> dst[p * NR + j] (the strip's row at depth p), columns past the edge zero.</summary>
    static unsafe void PackB(float[] b, int bOff, int ldb, bool transB, int p0, int kc, int j0, int cols, Span<float> dst)
    {
        if (!transB && cols == NR)
        {
            // A full strip of a row-major B: 16 contiguous floats per depth step, two 256-bit loads and stores.
            if (bOff + p0 * ldb + j0 < 0 || bOff + (long)(p0 + kc - 1) * ldb + j0 + NR > b.Length) throw new ArgumentOutOfRangeException(nameof(b), "B strip outside its array");
            if (dst.Length < kc * NR) throw new ArgumentException("packing buffer too small");
            fixed (float* src0 = &b[bOff + p0 * ldb + j0], d0 = dst)
                for (int p = 0; p < kc; p++)
                {
                    float* src = src0 + (long)p * ldb;
                    Avx.Store(d0 + p * NR, Avx.LoadVector256(src));
                    Avx.Store(d0 + p * NR + 8, Avx.LoadVector256(src + 8));
                }
            return;
        }
        if (cols < NR) dst.Clear();
        if (transB) // B stored [n, k]: op(B)[p, j] = B[j, p]
            for (int j = 0; j < cols; j++)
            {
                var row = b.AsSpan(bOff + (j0 + j) * ldb + p0, kc);
                for (int p = 0; p < kc; p++) dst[p * NR + j] = row[p];
            }
        else
            for (int p = 0; p < kc; p++) b.AsSpan(bOff + (p0 + p) * ldb + j0, cols).CopyTo(dst.Slice(p * NR, cols));
    }

    /// <summary>
    /// C[0..rows, 0..cols] (at cOff, stride ldc) += alpha * (packed A strip) x (packed B strip): the 4x16 product in
    /// eight 256-bit accumulators over kc steps; a full block is added to C directly, an edge block through a
    /// 4x16 buffer on the stack so that nothing outside C is touched.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void MicroKernel(float[] packedA, int aAt, float[] packedB, int bAt, int kc, float[] c, int cOff, int ldc, int rows, int cols, float alpha)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default,
                         c30 = default, c31 = default;
        fixed (float* pa0 = &packedA[aAt], pb0 = &packedB[bAt])
        {
            float* pa = pa0, pb = pb0;
            for (int p = 0; p < kc; p++, pa += MR, pb += NR)
            {
                // The A strip streams from L2 (the B strip stays in L1): ask for it 16 steps ahead. Eight accumulators
                // leave the loop no slack for a late load; measured +13-22 % on the real shapes while the machine was
                // busy, within 3 % either way while it was idle (docs/BENCHMARKS.md, section 7).
                Sse.Prefetch0(pa + 16 * MR);
                var b0 = Avx.LoadVector256(pb);
                var b1 = Avx.LoadVector256(pb + 8);
                var x = Vector256.Create(pa[0]); c00 = Fma.MultiplyAdd(x, b0, c00); c01 = Fma.MultiplyAdd(x, b1, c01);
                x = Vector256.Create(pa[1]); c10 = Fma.MultiplyAdd(x, b0, c10); c11 = Fma.MultiplyAdd(x, b1, c11);
                x = Vector256.Create(pa[2]); c20 = Fma.MultiplyAdd(x, b0, c20); c21 = Fma.MultiplyAdd(x, b1, c21);
                x = Vector256.Create(pa[3]); c30 = Fma.MultiplyAdd(x, b0, c30); c31 = Fma.MultiplyAdd(x, b1, c31);
            }
        }
        var va = Vector256.Create(alpha);
        if (rows == MR && cols == NR)
        {
            fixed (float* pc = &c[cOff])
            {
                Add(pc, c00, c01, va); Add(pc + ldc, c10, c11, va); Add(pc + 2 * ldc, c20, c21, va);
                Add(pc + 3 * ldc, c30, c31, va);
            }
            return;
        }
        float* block = stackalloc float[MR * NR];
        Set(block, c00, c01); Set(block + 16, c10, c11); Set(block + 32, c20, c21);
        Set(block + 48, c30, c31);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) c[cOff + r * ldc + j] += alpha * block[r * NR + j];

        static void Add(float* row, Vector256<float> lo, Vector256<float> hi, Vector256<float> alpha)
        {
            Avx.Store(row, Fma.MultiplyAdd(alpha, lo, Avx.LoadVector256(row)));
            Avx.Store(row + 8, Fma.MultiplyAdd(alpha, hi, Avx.LoadVector256(row + 8)));
        }

        static void Set(float* row, Vector256<float> lo, Vector256<float> hi)
        {
            Avx.Store(row, lo);
            Avx.Store(row + 8, hi);
        }
    }
}
