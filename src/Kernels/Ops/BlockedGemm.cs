using ILGPU;
using ILGPU.Runtime;
using ILGPU.Util;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// The ILGPU GEMM for large shapes, written the way fast SIMT GEMMs are (siboehm's SGEMM worklog, CUTLASS's SIMT
/// kernels): C = alpha * op(A) * op(B) + beta * C with
///   - a block tile of BM x BN outputs per group (BM = 8 x group rows, BN = 8 x group columns: 128 x 128 for 16 x 16
///     threads on a GPU, or 64 x 64 for 8 x 8 where the big tiles would leave multiprocessors idle: <see cref="SideFor"/>),
///     stepping through K in slices of <see cref="BK"/>;
///   - a register micro-tile of 8 x 8 outputs per thread (<see cref="Row8"/>: 64 accumulators, 8 values of A and 8 of B
///     per step, each read as two 128-bit loads: 64 fused multiply-adds for 4 shared-memory loads);
///   - double-buffered shared memory: the next K slice is loaded while this one is multiplied, one barrier per slice;
///   - transposes absorbed into the loads (A is stored k-major in shared memory whatever its layout, so the inner loop
///     is the same for NN, NT, TN and TT), zero-filled edges, guarded stores.
/// A thread's outputs are two 4 x 4 quadrants half a block tile apart: rows 4ty + {0..3} and BM/2 + 4ty + {0..3},
/// columns 4tx + {0..3} and BN/2 + 4tx + {0..3}. So its 8 values of A and of B per k are two aligned groups of four
/// (`ld.shared.v4.f32`), and a quarter-warp's reads of B are 128 consecutive bytes (no bank conflicts).
/// Gemm.cs keeps the simple 16 x 16 tiled kernel as the readable reference and for small shapes.
/// </summary>
public static class BlockedGemm
{
    /// <summary>Outputs per thread along each side of its micro-tile.</summary>
    public const int Micro = 8;
    /// <summary>The K slice a block tile steps by.</summary>
    public const int BK = 8;
    /// <summary>Padding of each shared-memory row (a k of the slice), so that the loads of A in its stored layout do not
    /// all land in one bank; 4 floats keep every row 16-byte aligned for the 128-bit loads.</summary>
    const int Pad = 4;

    /// <summary>
    /// Threads per group side for an [m, n] output, so the block tile is 8 times that: on a GPU 16 (128 x 128 tiles) where
    /// they give every multiprocessor a group, else 8 (64 x 64 tiles, four times as many groups: the recurrent product of a
    /// step, [256, 2048] at H=512, has 32 tiles of 128 for an H200's 132 multiprocessors, and 128 of 64), unless
    /// <see cref="IlgpuBackend.GemmTile"/> names one; 4 on ILGPU's CPU simulator (its groups hold 16 threads). The rule
    /// is the usual wave-filling one, not yet checked against a GPU's timings (`gpu-run.sh` times both at each shape).
    /// </summary>
    public static int SideFor(IlgpuBackend gpu, int m, int n)
    {
        var accelerator = gpu.Accelerator;
        if (accelerator.MaxNumThreadsPerGroup < 256) return 4;
        if (gpu.GemmTile is int tile) return tile / Micro;
        long bigTiles = (long)((m + 127) / 128) * ((n + 127) / 128);
        return bigTiles >= accelerator.NumMultiprocessors ? 16 : 8;
    }

    /// <summary>Whether the blocked kernel pays for its block tile here: both output sides at least half a block tile on a GPU.</summary>
    public static bool Suits(int m, int n, int k, int threadsPerSide) => m >= 4 * threadsPerSide && n >= 4 * threadsPerSide && k >= BK;

    public static void Run(IlgpuBackend gpu, bool transA, bool transB, int m, int n, int k, float alpha,
        ArrayView<float> a, int lda, ArrayView<float> b, int ldb, float beta, ArrayView<float> c, int ldc)
    {
        var kernel = gpu.Kernel("gemm.blocked", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Gemm.GemmShape>(Kernel));
        int side = SideFor(gpu, m, n), tile = side * Micro;
        var shape = new Gemm.GemmShape(m, n, k, lda, ldb, ldc, transA ? 1 : 0, transB ? 1 : 0, alpha, beta, side);
        var grid = new Index2D((n + tile - 1) / tile, (m + tile - 1) / tile);
        var group = new Index2D(side, side);
        kernel(new KernelConfig(grid, group, SharedMemoryConfig.RequestDynamic<float>(SharedFloats(side))), a, b, c, shape);
    }

    /// <summary>Shared memory per group: two buffers, each a K slice of A (BK x (BM + Pad)) and of B (BK x (BN + Pad)).</summary>
    public static int SharedFloats(int threadsPerSide) => 2 * 2 * BK * (threadsPerSide * Micro + Pad);

    // op(A)[m,k] x op(B)[k,n] -> C[m,n]; group (TX, TY) = (s.Tile, s.Tile) threads per BM x BN block tile,
    // grid (ceil(n / BN), ceil(m / BM)); thread (tx, ty) owns C[row0 + 4ty + {0..3} and + BM/2, col0 + 4tx + {0..3} and + BN/2].
    static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, Gemm.GemmShape s)
    {
        var p = Multiply(a, b, s);
        int h = s.Tile * Micro / 2;
        p.C0.Store(c, p.Row, p.Col, h, s); p.C1.Store(c, p.Row + 1, p.Col, h, s); p.C2.Store(c, p.Row + 2, p.Col, h, s); p.C3.Store(c, p.Row + 3, p.Col, h, s);
        p.C4.Store(c, p.Row + h, p.Col, h, s); p.C5.Store(c, p.Row + h + 1, p.Col, h, s); p.C6.Store(c, p.Row + h + 2, p.Col, h, s); p.C7.Store(c, p.Row + h + 3, p.Col, h, s);
    }

    /// <summary>
    /// The block-tiled product itself, for kernels that do more with it than store it (<see cref="Kernel"/>, and the
    /// LSTM step of <see cref="LstmTileStep"/>, which runs the cell on it): this thread's 8 x 8 outputs of op(A) op(B),
    /// unscaled. Every thread of the group must call it (it has barriers).
    /// </summary>
    public static ThreadTile Multiply(ArrayView<float> a, ArrayView<float> b, Gemm.GemmShape s)
    {
        int side = s.Tile, tile = side * Micro, stride = tile + Pad, slice = BK * stride;
        var shared = SharedMemory.GetDynamic<float>();
        int tx = Group.IdxX, ty = Group.IdxY, thread = ty * side + tx, threads = side * side;
        int row0 = Grid.IdxY * tile, col0 = Grid.IdxX * tile;

        Row8 c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        int slices = (s.K + BK - 1) / BK;
        var quads = shared.Cast<Float4>(); // the same memory as groups of four floats, for 128-bit loads
        int half = tile / 2;
        LoadSlice(a, b, shared, 0, s, row0, col0, 0, thread, threads, tile, stride);
        Group.Barrier();
        for (int t = 0; t < slices; t++)
        {
            int current = (t & 1) * 2 * slice;
            // The next slice goes to the other buffer, which every thread finished reading before the last barrier.
            if (t + 1 < slices) LoadSlice(a, b, shared, ((t + 1) & 1) * 2 * slice, s, row0, col0, (t + 1) * BK, thread, threads, tile, stride);
            for (int kk = 0; kk < BK; kk++)
            {
                var x = Row8.Load(quads, (current + kk * stride + ty * 4) / 4, half / 4);          // A[row0 + 4ty + {0..3}, half + 4ty + {0..3}; k]
                var y = Row8.Load(quads, (current + slice + kk * stride + tx * 4) / 4, half / 4);  // B[k; col0 + 4tx + {0..3}, half + ...]
                c0.MultiplyAdd(x.V0, y); c1.MultiplyAdd(x.V1, y); c2.MultiplyAdd(x.V2, y); c3.MultiplyAdd(x.V3, y);
                c4.MultiplyAdd(x.V4, y); c5.MultiplyAdd(x.V5, y); c6.MultiplyAdd(x.V6, y); c7.MultiplyAdd(x.V7, y);
            }
            Group.Barrier();
        }
        return new ThreadTile { Row = row0 + ty * 4, Col = col0 + tx * 4, C0 = c0, C1 = c1, C2 = c2, C3 = c3, C4 = c4, C5 = c5, C6 = c6, C7 = c7 };
    }

    /// <summary>
    /// A thread's 8 x 8 outputs: rows Row + {0..3} (C0..C3) and Row + BM/2 + {0..3} (C4..C7); in each, columns
    /// Col + {0..3} (V0..V3) and Col + BN/2 + {0..3} (V4..V7).
    /// </summary>
    public struct ThreadTile
    {
        public int Row, Col;
        public Row8 C0, C1, C2, C3, C4, C5, C6, C7;
    }

    /// <summary>
    /// Copies the K slice [k0, k0 + BK) of op(A)'s block rows and op(B)'s block columns into shared memory at
    /// <paramref name="at"/>: A as [BK][BM + Pad] (k-major), then B as [BK][BN + Pad]; zeros outside the matrices.
    /// Consecutive threads read consecutive addresses of each operand in its stored layout (coalesced).
    /// </summary>
    static void LoadSlice(ArrayView<float> a, ArrayView<float> b, ArrayView<float> shared, int at, Gemm.GemmShape s,
        int row0, int col0, int k0, int thread, int threads, int tile, int stride)
    {
        int count = BK * tile;
        for (int e = thread; e < count; e += threads)
        {
            // A stored [m,k]: k fastest; stored [k,m] (transposed): m fastest.
            int mi = s.TransA != 0 ? e % tile : e / BK, ki = s.TransA != 0 ? e / tile : e % BK;
            int row = row0 + mi, kA = k0 + ki;
            shared[at + ki * stride + mi] = row < s.M && kA < s.K ? (s.TransA != 0 ? a[kA * s.Lda + row] : a[row * s.Lda + kA]) : 0f;
            // B stored [k,n]: n fastest; stored [n,k] (transposed): k fastest.
            int ni = s.TransB != 0 ? e / BK : e % tile, kj = s.TransB != 0 ? e % BK : e / tile;
            int col = col0 + ni, kB = k0 + kj;
            int stored = s.GateRows > 0 ? (col & 3) * s.GateRows + (col >> 2) : col; // the row of B^T that holds column col
            shared[at + BK * stride + kj * stride + ni] = col < s.N && kB < s.K ? (s.TransB != 0 ? b[stored * s.Ldb + kB] : b[kB * s.Ldb + col]) : 0f;
        }
    }

    /// <summary>Eight floats in registers: a row of a thread's micro-tile, or the eight values of A or B it reads per k.</summary>
    public struct Row8
    {
        public float V0, V1, V2, V3, V4, V5, V6, V7;

        /// <summary>Two 128-bit loads: the four floats at quad <paramref name="at"/> and the four at quad at + <paramref name="apart"/>.</summary>
        public static Row8 Load(ArrayView<Float4> v, int at, int apart)
        {
            Float4 lo = v[at], hi = v[at + apart];
            return new() { V0 = lo.X, V1 = lo.Y, V2 = lo.Z, V3 = lo.W, V4 = hi.X, V5 = hi.Y, V6 = hi.Z, V7 = hi.W };
        }

        /// <summary>this += x * y, element by element (eight fused multiply-adds).</summary>
        public void MultiplyAdd(float x, Row8 y)
        {
            V0 += x * y.V0; V1 += x * y.V1; V2 += x * y.V2; V3 += x * y.V3;
            V4 += x * y.V4; V5 += x * y.V5; V6 += x * y.V6; V7 += x * y.V7;
        }

        /// <summary>C[row, col + {0..3}] and C[row, col + apart + {0..3}] = alpha * this + beta * C, for the elements inside C.</summary>
        public readonly void Store(ArrayView<float> c, int row, int col, int apart, Gemm.GemmShape s)
        {
            if (row >= s.M) return;
            Put(c, row, col, V0, s); Put(c, row, col + 1, V1, s); Put(c, row, col + 2, V2, s); Put(c, row, col + 3, V3, s);
            Put(c, row, col + apart, V4, s); Put(c, row, col + apart + 1, V5, s); Put(c, row, col + apart + 2, V6, s); Put(c, row, col + apart + 3, V7, s);
        }

        static void Put(ArrayView<float> c, int row, int col, float sum, Gemm.GemmShape s)
        {
            if (col >= s.N) return;
            int at = row * s.Ldc + col;
            c[at] = s.Beta == 0f ? s.Alpha * sum : s.Alpha * sum + s.Beta * c[at];
        }
    }
}
