using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>The managed GEMM kernels: <see cref="Gemm.ManagedKernel"/>.</summary>
public enum ManagedGemmKernel { Auto, Plain, Packed }

/// <summary>The ILGPU GEMM kernels: <see cref="Gemm.IlgpuKernel"/>.</summary>
public enum IlgpuGemmKernel { Auto, Tiled, Blocked }

/// <summary>
/// What a GEMM multiplies in (<see cref="Backend.Precision"/>, <c>--precision</c>): Float32 everywhere by default; Tf32 runs
/// every ILGPU GEMM on tensor cores with inputs rounded to TF32 (<see cref="Tf32Gemm"/>), as PyTorch's <c>allow_tf32</c> does.
/// </summary>
public enum GemmPrecision { Float32, Tf32 }

/// <summary>
/// General matrix multiply, the one op honestly written twice (a register-blocked AVX2/FMA micro-kernel
/// on the managed backend, a shared-memory tiled kernel on ILGPU), because it is where the time goes.
///
///   C = alpha * op(A) * op(B) + beta * C          op(A): [m,k], op(B): [k,n], C: [m,n]
///
/// Operands are <see cref="MatrixView"/>s: a tensor, an offset, the stored rows and columns, the leading dimension
/// (row stride) and whether the product reads it transposed. Offsets address sub-matrices (a time step of a sequence
/// tensor) without copies; m, n and k come from the views, and the views must agree on them.
/// beta = 0 overwrites C (its old contents are never read, NaNs included); beta = 1 accumulates.
///
/// Argument order, as in every op: the backend, then sources, then the destination, then the scalars.
/// </summary>
public static class Gemm
{
    /// <summary>
    /// Which managed kernel runs a GEMM: Auto (the packed GEMM where it measured faster, else the plain 4x16 kernel),
    /// or one of them always. A process-wide switch for `musicgen bench gemm --kernel` and for the tests that pin the
    /// two kernels together; nothing else sets it.
    /// </summary>
    public static ManagedGemmKernel ManagedKernel { get; set; } = ManagedGemmKernel.Auto;

    /// <summary>
    /// Which ILGPU kernel runs a GEMM: Auto (the register-blocked <see cref="BlockedGemm"/> where its block tile is filled,
    /// else the 16 x 16 tiled kernel), or one of them always. Like <see cref="ManagedKernel"/>, for `bench gemm` and the tests.
    /// </summary>
    public static IlgpuGemmKernel IlgpuKernel { get; set; } = IlgpuGemmKernel.Auto;

    /// <summary>Whether Auto picks the packed GEMM for this shape: enough work per packed element to pay for the packing.</summary>
    public static bool UsesPacked(int m, int n, int k) => ManagedKernel switch
    {
        ManagedGemmKernel.Plain => false,
        ManagedGemmKernel.Packed => PackedGemm.Supported,
        _ => PackedGemm.Supported && m >= 2 * PackedGemm.MR && n >= 2 * PackedGemm.NR && k >= 16 && (long)m * n * k >= 1L << 20,
    };

    /// <summary>c = alpha * op(a) * op(b) + beta * c.</summary>
    public static void Forward(Backend backend, MatrixView a, MatrixView b, MatrixView c, float alpha = 1f, float beta = 0f)
    {
        if (c.Transposed) throw new ArgumentException($"the output C {c} cannot be transposed");
        int m = a.OpRows, k = a.OpCols, n = b.OpCols;
        if (b.OpRows != k) throw new ArgumentException($"GEMM inner sizes differ: op(A) {a} has {k} columns, op(B) {b} has {b.OpRows} rows");
        if (c.Rows != m || c.Cols != n) throw new ArgumentException($"GEMM output C {c} should be {m}x{n}");
        Backend.Check(a.Tensor, a.Offset, a.Span, "A");
        Backend.Check(b.Tensor, b.Offset, b.Span, "B");
        Backend.Check(c.Tensor, c.Offset, c.Span, "C");
        if (m == 0 || n == 0) return;
        using var lap = OpClock.Start(OpClock.Kind.Gemm, backend);
        switch (backend)
        {
            case ManagedBackend cpu:
                var (ma, mb, mc) = (ManagedBackend.Of(a.Tensor), ManagedBackend.Of(b.Tensor), ManagedBackend.Of(c.Tensor)); // views start at their Offset
                Managed(cpu, a.Transposed, b.Transposed, m, n, k, alpha, ma.Array, ma.Offset + a.Offset, a.Ld, mb.Array, mb.Offset + b.Offset, b.Ld, beta, mc.Array, mc.Offset + c.Offset, c.Ld);
                break;
            case IlgpuBackend gpu:
                Ilgpu(gpu, a.Transposed, b.Transposed, m, n, k, alpha, a.Tensor, a.Offset, a.Ld, b.Tensor, b.Offset, b.Ld, beta, c.Tensor, c.Offset, c.Ld);
                break;
            default: throw Backend.NotImplemented("Gemm.Forward", backend);
        }
    }

    /// <summary>
    /// Backward of C = A B (no transposes, alpha 1): dA += dC B^T and dB += A^T dC. Either gradient may be null
    /// when it is not wanted. The views give the shapes: A [m,k], B [k,n], dC [m,n], dA like A, dB like B.
    /// </summary>
    public static void Backward(Backend backend, MatrixView a, MatrixView b, MatrixView dC, MatrixView? dA, MatrixView? dB)
    {
        if (dA is { } da) Forward(backend, dC, b.T, da, beta: 1f);
        if (dB is { } db) Forward(backend, a.T, dC, db, beta: 1f);
    }

    // ---------------------------------------------------------------- managed: SIMD rows, threads over rows of C
    // (the plain kernel; PackedGemm.cs holds the packed, cache-blocked one that Auto picks for larger shapes)

    static void Managed(ManagedBackend cpu, bool transA, bool transB, int m, int n, int k, float alpha,
        float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc)
    {
        // op(B) as rows of length n: transposing B once is cheaper than strided dots for wide outputs.
        float[]? bT = null;
        if (transB && n >= 16 && !UsesPacked(m, n, k))
        {
            bT = System.Buffers.ArrayPool<float>.Shared.Rent(k * n); // pooled: no allocation per training step
            for (int j = 0; j < n; j++)
                for (int p = 0; p < k; p++) bT[p * n + j] = b[bOff + j * ldb + p];
        }

        if (beta != 1)
            cpu.For(m, n, i =>
            {
                var row = c.AsSpan(cOff + i * ldc, n);
                if (beta == 0) row.Clear(); else TensorPrimitives.Multiply(row, beta, row);
            });

        if (UsesPacked(m, n, k))
        {
            PackedGemm.Run(cpu, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        }
        else if (n < 16)
        {
            Narrow(cpu, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
        }
        else
        {
            // op(B) as rows of length n with stride ldbRows.
            float[] bRows = bT ?? b;
            int bRowsOff = bT is null ? bOff : 0, ldbRows = bT is null ? ldb : n;
            int nBlocked = Fma.IsSupported ? n / 16 * 16 : 0;   // columns covered by the 4x16 register-blocked kernel
            int rowBlocks = (m + 3) / 4;
            cpu.For(rowBlocks, 4L * n * k, block =>
            {
                int i0 = block * 4, rows = Math.Min(4, m - i0);
                if (rows == 4 && nBlocked > 0)
                    for (int j0 = 0; j0 < nBlocked; j0 += 16)
                        MicroKernel4x16(a, aOff, lda, transA, i0, bRows, bRowsOff, ldbRows, j0, c, cOff, ldc, k, alpha);
                int jFrom = rows == 4 ? nBlocked : 0;
                if (jFrom < n)
                    for (int i = i0; i < i0 + rows; i++) RowTail(a, aOff, lda, transA, i, bRows, bRowsOff, ldbRows, jFrom, n - jFrom, c, cOff + i * ldc, k, alpha);
            });
        }
        if (bT is not null) System.Buffers.ArrayPool<float>.Shared.Return(bT);
    }

    static float A(float[] a, int off, int lda, bool trans, int i, int p) => trans ? a[off + p * lda + i] : a[off + i * lda + p];

    /// <summary>
    /// Narrow outputs (n &lt; 16, e.g. the gradients of a 3-feature input layer), where the micro-kernel has no
    /// full 16-column block. A's rows contiguous: one SIMD dot product per element against op(B)'s columns made
    /// contiguous. A transposed (A stored [k,m]): accumulate C^T[n,m] row by row with SIMD axpys over A's rows,
    /// then add it into C.
    /// </summary>
    static void Narrow(ManagedBackend cpu, bool transA, bool transB, int m, int n, int k, float alpha,
        float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc)
    {
        var pool = System.Buffers.ArrayPool<float>.Shared;
        float Bv(int p, int j) => transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
        if (!transA)
        {
            var cols = pool.Rent(n * k); // op(B)^T: column j of op(B) as a contiguous row
            for (int j = 0; j < n; j++) for (int p = 0; p < k; p++) cols[j * k + p] = Bv(p, j);
            cpu.For(m, (long)n * k, i =>
            {
                var arow = a.AsSpan(aOff + i * lda, k);
                for (int j = 0; j < n; j++) c[cOff + i * ldc + j] += alpha * TensorPrimitives.Dot(arow, cols.AsSpan(j * k, k));
            });
            pool.Return(cols);
            return;
        }
        var ct = pool.Rent(n * m);
        Array.Clear(ct, 0, n * m);
        const int chunk = 256; // columns of C^T per task
        cpu.For((m + chunk - 1) / chunk, (long)chunk * n * k, ch =>
        {
            int c0 = ch * chunk, w = Math.Min(chunk, m - c0);
            for (int p = 0; p < k; p++)
            {
                var arow = a.AsSpan(aOff + p * lda + c0, w);
                for (int j = 0; j < n; j++)
                {
                    var dst = ct.AsSpan(j * m + c0, w);
                    TensorPrimitives.MultiplyAdd(arow, alpha * Bv(p, j), dst, dst);
                }
            }
        });
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) c[cOff + i * ldc + j] += ct[j * m + i];
        pool.Return(ct);
    }

    /// <summary>
    /// C[i0..i0+4, j0..j0+16] += alpha * sum_p A[i,p] B[p, j0..j0+16]: the 4x16 block of C lives in eight
    /// 256-bit registers for the whole k loop; each step loads two vectors of B, broadcasts four values of A
    /// and issues eight fused multiply-adds. This is where the managed GEMM gets most of its speed.
    /// </summary>
    static unsafe void MicroKernel4x16(float[] a, int aOff, int lda, bool transA, int i0, float[] b, int bOff, int ldb, int j0, float[] c, int cOff, int ldc, int k, float alpha)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        fixed (float* pa = a, pb = b)
        {
            float* bp = pb + bOff + j0;
            // Address of A[i0+r, p] is aBase + r*rowStep + p*colStep.
            int rowStep = transA ? 1 : lda, colStep = transA ? lda : 1;
            float* a0 = pa + aOff + i0 * rowStep;
            for (int p = 0; p < k; p++, bp += ldb, a0 += colStep)
            {
                var b0 = Avx.LoadVector256(bp);
                var b1 = Avx.LoadVector256(bp + 8);
                var x0 = Vector256.Create(a0[0]);
                var x1 = Vector256.Create(a0[rowStep]);
                var x2 = Vector256.Create(a0[2 * rowStep]);
                var x3 = Vector256.Create(a0[3 * rowStep]);
                c00 = Fma.MultiplyAdd(x0, b0, c00); c01 = Fma.MultiplyAdd(x0, b1, c01);
                c10 = Fma.MultiplyAdd(x1, b0, c10); c11 = Fma.MultiplyAdd(x1, b1, c11);
                c20 = Fma.MultiplyAdd(x2, b0, c20); c21 = Fma.MultiplyAdd(x2, b1, c21);
                c30 = Fma.MultiplyAdd(x3, b0, c30); c31 = Fma.MultiplyAdd(x3, b1, c31);
            }
        }
        var va = Vector256.Create(alpha);
        fixed (float* pc = c)
        {
            float* r0 = pc + cOff + i0 * ldc + j0;
            Store(r0, c00, c01, va); Store(r0 + ldc, c10, c11, va); Store(r0 + 2 * ldc, c20, c21, va); Store(r0 + 3 * ldc, c30, c31, va);
        }

        static void Store(float* row, Vector256<float> lo, Vector256<float> hi, Vector256<float> alpha)
        {
            Avx.Store(row, Fma.MultiplyAdd(alpha, lo, Avx.LoadVector256(row)));
            Avx.Store(row + 8, Fma.MultiplyAdd(alpha, hi, Avx.LoadVector256(row + 8)));
        }
    }

    /// <summary>C[i, jFrom..jFrom+w) += alpha * sum_p A[i,p] B[p, jFrom..): the columns the micro-kernel does not cover, four B rows per pass.</summary>
    static void RowTail(float[] a, int aOff, int lda, bool transA, int i, float[] b, int bOff, int ldb, int jFrom, int w, float[] c, int cRow, int k, float alpha)
    {
        var row = c.AsSpan(cRow + jFrom, w);
        int p = 0;
        for (; p + 4 <= k; p += 4)
            AxpyFour(row, alpha * A(a, aOff, lda, transA, i, p), b.AsSpan(bOff + p * ldb + jFrom, w), alpha * A(a, aOff, lda, transA, i, p + 1), b.AsSpan(bOff + (p + 1) * ldb + jFrom, w),
                alpha * A(a, aOff, lda, transA, i, p + 2), b.AsSpan(bOff + (p + 2) * ldb + jFrom, w), alpha * A(a, aOff, lda, transA, i, p + 3), b.AsSpan(bOff + (p + 3) * ldb + jFrom, w));
        for (; p < k; p++)
            TensorPrimitives.MultiplyAdd(b.AsSpan(bOff + p * ldb + jFrom, w), alpha * A(a, aOff, lda, transA, i, p), row, row);
    }

    /// <summary>row += s0*r0 + s1*r1 + s2*r2 + s3*r3, vectorised; the sum order is fixed, so results are deterministic.</summary>
    static void AxpyFour(Span<float> row, float s0, ReadOnlySpan<float> r0, float s1, ReadOnlySpan<float> r1, float s2, ReadOnlySpan<float> r2, float s3, ReadOnlySpan<float> r3)
    {
        int n = row.Length, j = 0;
        int w = System.Numerics.Vector<float>.Count;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var v0 = new System.Numerics.Vector<float>(s0); var v1 = new System.Numerics.Vector<float>(s1);
            var v2 = new System.Numerics.Vector<float>(s2); var v3 = new System.Numerics.Vector<float>(s3);
            for (; j + w <= n; j += w)
            {
                var acc = new System.Numerics.Vector<float>(row[j..]);
                acc += v0 * new System.Numerics.Vector<float>(r0[j..]) + v1 * new System.Numerics.Vector<float>(r1[j..])
                     + v2 * new System.Numerics.Vector<float>(r2[j..]) + v3 * new System.Numerics.Vector<float>(r3[j..]);
                acc.CopyTo(row[j..]);
            }
        }
        for (; j < n; j++) row[j] += s0 * r0[j] + s1 * r1[j] + s2 * r2[j] + s3 * r3[j];
    }

    // ---------------------------------------------------------------- ILGPU: shared-memory tiles

    /// <summary>Whether an ILGPU GEMM of this shape runs the register-blocked kernel (<see cref="IlgpuKernel"/>).</summary>
    public static bool UsesBlocked(IlgpuBackend gpu, int m, int n, int k) => IlgpuKernel switch
    {
        IlgpuGemmKernel.Tiled => false,
        IlgpuGemmKernel.Blocked => true,
        _ => BlockedGemm.Suits(m, n, k, BlockedGemm.SideFor(gpu, m, n)),
    };

    /// <summary>16x16 tiles on a GPU; smaller where the device caps a group lower (ILGPU's CPU simulator: 16 threads).</summary>
    static int TileFor(Accelerator accelerator) => accelerator.MaxNumThreadsPerGroup >= 256 ? 16 : 4;

    static void Ilgpu(IlgpuBackend gpu, bool transA, bool transB, int m, int n, int k, float alpha,
        Tensor a, int aOffset, int lda, Tensor b, int bOffset, int ldb, float beta, Tensor c, int cOffset, int ldc)
    {
        var av = IlgpuBackend.Of(a).Slice(aOffset, a.Length - aOffset);
        var bv = IlgpuBackend.Of(b).Slice(bOffset, b.Length - bOffset);
        var cv = IlgpuBackend.Of(c).Slice(cOffset, c.Length - cOffset);
        if (gpu.Precision == GemmPrecision.Tf32)
        {
            Tf32Gemm.Run(gpu, transA, transB, m, n, k, alpha, av, lda, bv, ldb, beta, cv, ldc);
            return;
        }
        if (UsesBlocked(gpu, m, n, k))
        {
            BlockedGemm.Run(gpu, transA, transB, m, n, k, alpha, av, lda, bv, ldb, beta, cv, ldc);
            return;
        }
        var kernel = gpu.Kernel("gemm.tiled", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmShape>(TiledKernel));
        int tile = TileFor(gpu.Accelerator);
        var shape = new GemmShape(m, n, k, lda, ldb, ldc, transA ? 1 : 0, transB ? 1 : 0, alpha, beta, tile);
        var grid = new Index2D((n + tile - 1) / tile, (m + tile - 1) / tile);
        var group = new Index2D(tile, tile);
        kernel(new KernelConfig(grid, group, SharedMemoryConfig.RequestDynamic<float>(2 * tile * tile)), av, bv, cv, shape);
    }

    /// <summary>
    /// The GEMM's scalars, passed to the kernel as one struct. <paramref name="GateRows"/> (the blocked kernel, with
    /// TransB: <see cref="LstmTileStep"/>) reads op(B)'s column n from stored row (n % 4) GateRows + n / 4, so that the
    /// four gates of an LSTM unit (rows j, H + j, 2H + j, 3H + j of W_hh) are four adjacent columns; 0: row n.
    /// </summary>
    public readonly record struct GemmShape(int M, int N, int K, int Lda, int Ldb, int Ldc, int TransA, int TransB, float Alpha, float Beta, int Tile, int GateRows = 0);

    // A[m,k]|A^T B[k,n]|B^T -> C[m,n]; one Tile x Tile group per output tile, threads (x = column, y = row).
    static void TiledKernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, GemmShape s)
    {
        int Tile = s.Tile;
        var shared = SharedMemory.GetDynamic<float>();
        var tileA = shared.SubView(0, Tile * Tile);
        var tileB = shared.SubView(Tile * Tile, Tile * Tile);
        int tx = Group.IdxX, ty = Group.IdxY;
        int row = Grid.IdxY * Tile + ty, col = Grid.IdxX * Tile + tx;
        float sum = 0;
        for (int t = 0; t < s.K; t += Tile)
        {
            int ak = t + tx, bk = t + ty;
            tileA[ty * Tile + tx] = row < s.M && ak < s.K ? (s.TransA != 0 ? a[ak * s.Lda + row] : a[row * s.Lda + ak]) : 0f;
            tileB[ty * Tile + tx] = bk < s.K && col < s.N ? (s.TransB != 0 ? b[col * s.Ldb + bk] : b[bk * s.Ldb + col]) : 0f;
            Group.Barrier();
            for (int p = 0; p < Tile; p++) sum += tileA[ty * Tile + p] * tileB[p * Tile + tx];
            Group.Barrier();
        }
        if (row < s.M && col < s.N)
        {
            int at = row * s.Ldc + col;
            c[at] = s.Beta == 0f ? s.Alpha * sum : s.Alpha * sum + s.Beta * c[at];
        }
    }
}
