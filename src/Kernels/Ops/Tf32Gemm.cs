using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Util;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// The GEMM on NVIDIA tensor cores with TF32 inputs (<c>--precision tf32</c>; sm_80 and newer), the choice PyTorch
/// offers with <c>allow_tf32</c>: C = alpha * op(A) * op(B) + beta * C, where every element of A and B is first rounded
/// to TF32 (float32's 8-bit exponent, 10 of its 23 mantissa bits: round to nearest, ties away from zero, as
/// <c>cvt.rna.tf32.f32</c> does) and the products are summed in float32. The product of two TF32 numbers is exact in
/// float32, so the only new error is the rounding of the inputs, a relative 2^-11 each.
///
/// The work is split three ways, as in CUTLASS's tensor-core GEMMs:
///   - a group of 2 x <see cref="Gemm.GemmShape.Tile"/> warps owns a block tile of 128 x (32 x Tile) outputs of C and
///     steps through K in slices of <see cref="BK"/>, double-buffered in shared memory as in <see cref="BlockedGemm"/>
///     (both operands stored by k whatever their layout, so NN, NT, TN and TT share one inner loop; zeros outside the
///     matrices; each lane's fragment values side by side in pairs: <see cref="SlotOfRow"/>, <see cref="SlotOfB"/>);
///   - each warp owns a warp tile of 64 x 32 outputs: 4 x 4 tiles of 16 x 8;
///   - each 16 x 8 tile, per 8 of K, is one <c>mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32</c>: the 32 lanes of
///     the warp hold its operands and results in registers, in the layout the PTX ISA fixes (<see cref="Mma"/>).
/// Per thread that is 64 accumulators, 4 registers of A and 8 of B per k-step: 16 tensor-core instructions for 12
/// shared-memory loads.
///
/// Without a GPU, <see cref="Mma"/> is emulated: each lane puts its fragments where the PTX ISA says they belong in a
/// 16 x 8 and an 8 x 8 matrix in shared memory, and reads back its four outputs. So ILGPU's CPU simulator, made with
/// 32-lane warps, checks on any machine that the fragments the kernel loads and stores are the ones the instruction
/// multiplies; only the instruction itself is taken on NVIDIA's word.
/// </summary>
public static class Tf32Gemm
{
    /// <summary>Rows and columns of C per warp.</summary>
    public const int WarpRows = 64, WarpCols = 32;
    /// <summary>Warps down a block tile (so a block tile has 128 rows).</summary>
    public const int WarpsDown = 2;
    /// <summary>The K slice a block tile steps by: two k-steps of 8.</summary>
    public const int BK = 16;
    /// <summary>Padding of each shared-memory row, so that consecutive rows start 8 banks apart: a fragment load's half-warp
    /// (lanes g = 0..3, t = 0..3, 64 bits each) then reads 32 different banks.</summary>
    const int Pad = 8;
    /// <summary>Floats of shared memory per warp for the emulated instruction: a 16 x 8 A and an 8 x 8 B.</summary>
    const int ScratchPerWarp = 16 * 8 + 8 * 8;

    /// <summary>Whether this backend runs the kernel: CUDA of compute capability 8.0 or newer (tensor cores with TF32), or
    /// ILGPU's CPU simulator made with 32-lane warps and groups of at least 128 threads (the emulated instruction).</summary>
    public static bool Supported(IlgpuBackend gpu) => gpu.Accelerator switch
    {
        CudaAccelerator cuda => cuda.Architecture is { } arch && arch.Major >= 8,
        var acc => gpu.Kind == "ilgpu-cpu" && acc.WarpSize == 32 && acc.MaxNumThreadsPerGroup >= 128,
    };

    /// <summary>Why <see cref="Supported"/> is false, in one line.</summary>
    public static string WhyNot(Backend backend) => backend switch
    {
        IlgpuBackend { Accelerator: CudaAccelerator cuda } => $"TF32 precision needs tensor cores (an NVIDIA GPU of compute capability 8.0 or newer); {cuda.Name} is {cuda.Architecture}",
        IlgpuBackend { Kind: "ilgpu-cpu" } g => $"TF32 precision needs an NVIDIA GPU with tensor cores; ILGPU's CPU simulator emulates them only with 32-lane warps (this one has {g.Accelerator.WarpSize})",
        _ => $"TF32 precision needs an NVIDIA GPU with tensor cores (compute capability 8.0 or newer, --device cuda); device '{backend.Kind}' has none",
    };

    /// <summary>Warps across a block tile: 4 on a GPU (256 threads, 128 x 128 outputs), 2 on the CPU simulator (groups of 128).</summary>
    public static int WarpsAcross(Accelerator accelerator) => accelerator.MaxNumThreadsPerGroup >= 256 ? 4 : 2;

    public static void Run(IlgpuBackend gpu, bool transA, bool transB, int m, int n, int k, float alpha,
        ArrayView<float> a, int lda, ArrayView<float> b, int ldb, float beta, ArrayView<float> c, int ldc)
    {
        if (!Supported(gpu)) throw new ArgumentException(WhyNot(gpu));
        var kernel = gpu.Kernel("gemm.tf32", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, Gemm.GemmShape>(Kernel));
        int across = WarpsAcross(gpu.Accelerator), rows = WarpsDown * WarpRows, cols = across * WarpCols;
        var shape = new Gemm.GemmShape(m, n, k, lda, ldb, ldc, transA ? 1 : 0, transB ? 1 : 0, alpha, beta, across);
        var grid = new Index1D((n + cols - 1) / cols * ((m + rows - 1) / rows));
        int floats = SharedFloats(across) + (gpu.Accelerator is CudaAccelerator ? 0 : WarpsDown * across * ScratchPerWarp);
        kernel(new KernelConfig(grid, new Index1D(WarpsDown * across * 32), SharedMemoryConfig.RequestDynamic<float>(floats)), a, b, c, shape);
    }

    /// <summary>Shared memory per group for the operands: two buffers, each a K slice of A (BK rows of 128 + Pad) and of B
    /// (BK / 2 rows of pairs: 2 x 32 across + Pad).</summary>
    public static int SharedFloats(int across) => 2 * SliceFloats(across);

    static int SliceFloats(int across) => BK * (WarpsDown * WarpRows + Pad) + BK / 2 * (2 * across * WarpCols + Pad);

    /// <summary>
    /// Where A's row m (of a block tile) sits in a shared-memory row: within each 16 rows, row r and row r + 8 side by side
    /// (0, 8, 1, 9, ..., 7, 15), so a lane's A0 and A1 (rows g and g + 8) are one 64-bit load, as are A2 and A3.
    /// </summary>
    public static int SlotOfRow(int m) => (m & ~15) | ((m & 7) << 1) | ((m >> 3) & 1);

    /// <summary>
    /// Where B's element (k, n) of a K slice sits: k and k + 4 (of each 8) side by side in row (k / 8) 4 + k % 4, so a
    /// lane's B0 and B1 (k = t and t + 4, column g) are one 64-bit load.
    /// </summary>
    public static int SlotOfB(int k, int n, int strideB) => ((k >> 3) * 4 + (k & 3)) * strideB + 2 * n + ((k >> 2) & 1);

    // op(A)[m,k] x op(B)[k,n] -> C[m,n]; a group of 2 x s.Tile warps (64 x s.Tile threads) per 128 x (32 s.Tile) block tile,
    // groups numbered across the columns of C first; warp (down, across) owns C[row0 + 64 down + {0..63}, col0 + 32 across + {0..31}].
    static void Kernel(ArrayView<float> a, ArrayView<float> b, ArrayView<float> c, Gemm.GemmShape s)
    {
        int across = s.Tile, rows = WarpsDown * WarpRows, cols = across * WarpCols;
        int strideA = rows + Pad, strideB = 2 * cols + Pad, slice = SliceFloats(across);
        var shared = SharedMemory.GetDynamic<float>();
        int thread = Group.IdxX, threads = Group.DimX;
        int warp = thread / 32, lane = thread % 32;
        int warpRow = warp / across * WarpRows, warpCol = warp % across * WarpCols;
        int groupsAcross = (s.N + cols - 1) / cols;
        int row0 = Grid.IdxX / groupsAcross * rows, col0 = Grid.IdxX % groupsAcross * cols;
        var pairs = shared.Cast<Float2>(); // the same memory as pairs of floats, for 64-bit fragment loads
        // Where Mma is emulated, each warp's scratch after the two buffers (a GPU allocates none: Run).
        var scratch = CudaAsm.IsSupported ? shared : shared.SubView(2 * slice + warp * ScratchPerWarp, ScratchPerWarp);

        TileRow r0 = default, r1 = default, r2 = default, r3 = default;
        int slices = (s.K + BK - 1) / BK;
        LoadSlice(a, b, shared, 0, s, row0, col0, 0, thread, threads, rows, cols, strideA, strideB);
        Group.Barrier();
        for (int t = 0; t < slices; t++)
        {
            int current = (t & 1) * slice;
            if (t + 1 < slices) LoadSlice(a, b, shared, ((t + 1) & 1) * slice, s, row0, col0, (t + 1) * BK, thread, threads, rows, cols, strideA, strideB);
            for (int ks = 0; ks < BK; ks += 8)
            {
                int atA = current + ks * strideA + warpRow, atB = current + BK * strideA + ks / 2 * strideB + 2 * warpCol;
                var b0 = FragmentB.Load(pairs, atB, strideB, lane); var b1 = FragmentB.Load(pairs, atB + 16, strideB, lane);
                var b2 = FragmentB.Load(pairs, atB + 32, strideB, lane); var b3 = FragmentB.Load(pairs, atB + 48, strideB, lane);
                r0 = r0.Plus(FragmentA.Load(pairs, atA, strideA, lane), b0, b1, b2, b3, scratch, lane);
                r1 = r1.Plus(FragmentA.Load(pairs, atA + 16, strideA, lane), b0, b1, b2, b3, scratch, lane);
                r2 = r2.Plus(FragmentA.Load(pairs, atA + 32, strideA, lane), b0, b1, b2, b3, scratch, lane);
                r3 = r3.Plus(FragmentA.Load(pairs, atA + 48, strideA, lane), b0, b1, b2, b3, scratch, lane);
            }
            Group.Barrier();
        }
        int row = row0 + warpRow, col = col0 + warpCol;
        r0.Store(c, row, col, lane, s); r1.Store(c, row + 16, col, lane, s); r2.Store(c, row + 32, col, lane, s); r3.Store(c, row + 48, col, lane, s);
    }

    /// <summary>
    /// Copies the K slice [k0, k0 + BK) of op(A)'s block rows and op(B)'s block columns into shared memory at
    /// <paramref name="at"/>, rounded to TF32: A as [BK][rows + Pad] (k-major, rows placed by <see cref="SlotOfRow"/>), then
    /// B as [BK / 2][2 cols + Pad] (pairs placed by <see cref="SlotOfB"/>); zeros outside the matrices. Consecutive threads
    /// read consecutive addresses of each operand in its stored layout.
    /// </summary>
    static void LoadSlice(ArrayView<float> a, ArrayView<float> b, ArrayView<float> shared, int at, Gemm.GemmShape s,
        int row0, int col0, int k0, int thread, int threads, int rows, int cols, int strideA, int strideB)
    {
        for (int e = thread; e < BK * rows; e += threads)
        {
            // A stored [m,k]: k fastest; stored [k,m] (transposed): m fastest.
            int mi = s.TransA != 0 ? e % rows : e / BK, ki = s.TransA != 0 ? e / rows : e % BK;
            int row = row0 + mi, kA = k0 + ki;
            shared[at + ki * strideA + SlotOfRow(mi)] = row < s.M && kA < s.K ? RoundToTf32(s.TransA != 0 ? a[kA * s.Lda + row] : a[row * s.Lda + kA]) : 0f;
        }
        int atB = at + BK * strideA;
        for (int e = thread; e < BK * cols; e += threads)
        {
            // B stored [k,n]: n fastest; stored [n,k] (transposed): k fastest.
            int ni = s.TransB != 0 ? e / BK : e % cols, kj = s.TransB != 0 ? e % BK : e / cols;
            int col = col0 + ni, kB = k0 + kj;
            shared[atB + SlotOfB(kj, ni, strideB)] = col < s.N && kB < s.K ? RoundToTf32(s.TransB != 0 ? b[col * s.Ldb + kB] : b[kB * s.Ldb + col]) : 0f;
        }
    }

    /// <summary>
    /// x rounded to TF32 (10 mantissa bits; nearest, ties away from zero), as a float whose low 13 bits are zero:
    /// <c>cvt.rna.tf32.f32</c> on a GPU, the same rounding on the bits elsewhere (infinities and NaNs pass unchanged).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float RoundToTf32(float x)
    {
        if (CudaAsm.IsSupported)
        {
            CudaAsm.Emit("cvt.rna.tf32.f32 %0, %1;", out uint rounded, x);
            return Interop.IntAsFloat(rounded);
        }
        uint bits = Interop.FloatAsInt(x);
        if ((bits & 0x7F80_0000u) == 0x7F80_0000u) return x;
        return Interop.IntAsFloat((bits + 0x1000u) & 0xFFFF_E000u); // adding half of the dropped part to the magnitude rounds half away from zero
    }

    /// <summary>
    /// One m16n8k8 tensor-core product on the warp: returns c + A (16 x 8) * B (8 x 8), where lane = 4 g + t (g = lane / 4,
    /// t = lane % 4) holds, as the PTX ISA lays out <c>mma.m16n8k8</c> for .tf32:
    ///   A: a.A0 = A[g, t], a.A1 = A[g + 8, t], a.A2 = A[g, t + 4], a.A3 = A[g + 8, t + 4];
    ///   B: b.B0 = B[t, g], b.B1 = B[t + 4, g];
    ///   C and the result: D0 = D[g, 2t], D1 = D[g, 2t + 1], D2 = D[g + 8, 2t], D3 = D[g + 8, 2t + 1].
    /// Every lane of the warp must call it together (it is a warp-wide instruction; emulated, a group-wide barrier).
    /// Values in, values out: an accumulator passed by reference would have its address taken, and ILGPU would keep it in
    /// local memory (ptxas then loads and stores it around every instruction).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Accumulators Mma(Accumulators c, FragmentA a, FragmentB b, ArrayView<float> scratch, int lane)
    {
        if (CudaAsm.IsSupported)
        {
            Ref<float> d0 = c.D0, d1 = c.D1, d2 = c.D2, d3 = c.D3;
            Input<uint> a0 = a.A0, a1 = a.A1, a2 = a.A2, a3 = a.A3, b0 = b.B0, b1 = b.B1;
            CudaAsm.EmitRef("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};",
                ref d0, ref d1, ref d2, ref d3, ref a0, ref a1, ref a2, ref a3, ref b0, ref b1);
            return new Accumulators { D0 = d0.Value, D1 = d1.Value, D2 = d2.Value, D3 = d3.Value };
        }
        // Emulated: the lanes put their fragments where the layout above says (A as [16][8], B as [8][8] k-major), then
        // each lane sums its four outputs' dot products of length 8.
        int g = lane / 4, t = lane % 4;
        scratch[g * 8 + t] = Interop.IntAsFloat(a.A0); scratch[(g + 8) * 8 + t] = Interop.IntAsFloat(a.A1);
        scratch[g * 8 + t + 4] = Interop.IntAsFloat(a.A2); scratch[(g + 8) * 8 + t + 4] = Interop.IntAsFloat(a.A3);
        scratch[128 + t * 8 + g] = Interop.IntAsFloat(b.B0); scratch[128 + (t + 4) * 8 + g] = Interop.IntAsFloat(b.B1);
        Group.Barrier();
        var d = new Accumulators
        {
            D0 = c.D0 + Dot8(scratch, g, 2 * t), D1 = c.D1 + Dot8(scratch, g, 2 * t + 1),
            D2 = c.D2 + Dot8(scratch, g + 8, 2 * t), D3 = c.D3 + Dot8(scratch, g + 8, 2 * t + 1),
        };
        Group.Barrier();
        return d;
    }

    /// <summary>Row <paramref name="row"/> of the emulated A times column <paramref name="col"/> of the emulated B.</summary>
    static float Dot8(ArrayView<float> scratch, int row, int col)
    {
        float sum = 0f;
        for (int k = 0; k < 8; k++) sum += scratch[row * 8 + k] * scratch[128 + k * 8 + col];
        return sum;
    }

    /// <summary>A lane's four results of one 16 x 8 tile (layout: <see cref="Mma"/>).</summary>
    public struct Accumulators
    {
        public float D0, D1, D2, D3;
    }

    /// <summary>A lane's four TF32 values of a 16 x 8 slab of A (layout: <see cref="Mma"/>).</summary>
    public struct FragmentA
    {
        public uint A0, A1, A2, A3;

        /// <summary>
        /// From shared memory stored k-major ([k][slot], rows <paramref name="stride"/> floats apart), the 16 rows whose slots
        /// start at float <paramref name="at"/> (rows placed by <see cref="SlotOfRow"/>: g and g + 8 are the pair at 2g).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static FragmentA Load(ArrayView<Float2> pairs, int at, int stride, int lane)
        {
            int g = lane / 4, t = lane % 4, p = at + t * stride + 2 * g;
            Float2 k0 = pairs[p / 2], k4 = pairs[(p + 4 * stride) / 2]; // column t: rows g, g + 8; column t + 4: the same rows
            return new FragmentA { A0 = Interop.FloatAsInt(k0.X), A1 = Interop.FloatAsInt(k0.Y), A2 = Interop.FloatAsInt(k4.X), A3 = Interop.FloatAsInt(k4.Y) };
        }
    }

    /// <summary>A lane's two TF32 values of an 8 x 8 slab of B (layout: <see cref="Mma"/>).</summary>
    public struct FragmentB
    {
        public uint B0, B1;

        /// <summary>
        /// From shared memory in pairs (<see cref="SlotOfB"/>: rows of <paramref name="stride"/> floats, k and k + 4 side by
        /// side), the 8 x 8 slab whose first k-row and column start at float <paramref name="at"/>.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static FragmentB Load(ArrayView<Float2> pairs, int at, int stride, int lane)
        {
            Float2 pair = pairs[(at + lane % 4 * stride + 2 * (lane / 4)) / 2]; // k = t and t + 4, column g
            return new FragmentB { B0 = Interop.FloatAsInt(pair.X), B1 = Interop.FloatAsInt(pair.Y) };
        }
    }

    /// <summary>A lane's share of a 16 x 32 strip of its warp tile: four 16 x 8 tiles side by side.</summary>
    public struct TileRow
    {
        public Accumulators N0, N1, N2, N3;

        /// <summary>this + A (16 x 8) times each of four 8 x 8 slabs of B.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly TileRow Plus(FragmentA a, FragmentB b0, FragmentB b1, FragmentB b2, FragmentB b3, ArrayView<float> scratch, int lane) => new()
        {
            N0 = Mma(N0, a, b0, scratch, lane), N1 = Mma(N1, a, b1, scratch, lane),
            N2 = Mma(N2, a, b2, scratch, lane), N3 = Mma(N3, a, b3, scratch, lane),
        };

        /// <summary>C[row + {g, g + 8}, col + 8j + 2t + {0, 1}] = alpha * this + beta * C, for the elements inside C.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public readonly void Store(ArrayView<float> c, int row, int col, int lane, Gemm.GemmShape s)
        {
            int r = row + lane / 4, x = col + 2 * (lane % 4);
            Put(c, r, x, N0.D0, N0.D1, s); Put(c, r + 8, x, N0.D2, N0.D3, s);
            Put(c, r, x + 8, N1.D0, N1.D1, s); Put(c, r + 8, x + 8, N1.D2, N1.D3, s);
            Put(c, r, x + 16, N2.D0, N2.D1, s); Put(c, r + 8, x + 16, N2.D2, N2.D3, s);
            Put(c, r, x + 24, N3.D0, N3.D1, s); Put(c, r + 8, x + 24, N3.D2, N3.D3, s);
        }

        static void Put(ArrayView<float> c, int row, int col, float first, float second, Gemm.GemmShape s)
        {
            if (row >= s.M) return;
            if (col < s.N) Put(c, row * s.Ldc + col, first, s);
            if (col + 1 < s.N) Put(c, row * s.Ldc + col + 1, second, s);
        }

        static void Put(ArrayView<float> c, int at, float sum, Gemm.GemmShape s) =>
            c[at] = s.Beta == 0f ? s.Alpha * sum : s.Alpha * sum + s.Beta * c[at];
    }
}
