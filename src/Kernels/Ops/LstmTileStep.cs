using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// One LSTM time step as one launch for large hidden sizes (ILGPU backends; <see cref="RecurrenceKernel.Tiled"/>): the
/// recurrent product runs as <see cref="BlockedGemm"/>'s register-blocked tiles, and each thread runs the cell on its
/// outputs while they are still in registers, instead of storing them for a second launch (the unfused path's GEMM +
/// <see cref="LstmCell"/>). It halves the launches of the recurrence, as <see cref="LstmRecurrence"/> does, but reads
/// W_hh as a GEMM does, through shared-memory tiles, where LstmRecurrence's warp per unit reads it whole for every unit
/// (which lost to the unfused pair at H=512 on an H200: docs/BENCHMARKS.md, section 6).
///
/// Forward, step t: z[B,4H] = hPrev[B,H] W_hh^T + gates[t] + b_ih + b_hh, then the cell of <see cref="LstmCell.Forward"/>.
///   The columns of the product are ordered unit by unit (column 4j + k is gate k of unit j: GemmShape.GateRows), so a
///   thread's four adjacent columns are one unit's four gates, and the cell needs nothing from another thread.
/// Backward, step t (processed in the reverse of forward's order):
///   dhRec[B,H] = dgatesNext[B,4H] W_hh[4H,H] (the step processed just before), then the cell gradient of
///   <see cref="LstmCell.Backward"/> for each (b, j) with dh = dhOut[t] + dhRec, writing dgates[t] and dc.
///   The first processed step has no dgatesNext: LstmLayer runs the plain cell kernel for it.
/// </summary>
public static class LstmTileStep
{
    /// <summary>
    /// gates[B,4H] (x_t W_ih^T in, activations out), hPrev[B,H], Whh[4H,H], bih[4H], bhh[4H], cPrev[B,H] -> c[B,H], h[B,H].
    /// </summary>
    public static void StepForward(IlgpuBackend gpu, int batch, int hidden, Tensor gates, int gOff, Tensor hPrev, int hPrevOff, Tensor whh,
        Tensor bih, Tensor bhh, Tensor cPrev, int cPrevOff, Tensor c, int cOff, Tensor h, int hOff)
    {
        int n = batch * hidden;
        using var lap = OpClock.Start(OpClock.Kind.Cell, gpu);
        var kernel = gpu.Kernel("lstm.tile.forward", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Gemm.GemmShape>(ForwardKernel));
        int side = BlockedGemm.SideFor(gpu, batch, 4 * hidden);
        // hPrev [B,H] times W_hh^T (W_hh stored [4H,H]: op(B) transposed, its columns in unit order).
        var shape = new Gemm.GemmShape(batch, 4 * hidden, hidden, hidden, hidden, 0, 0, 1, 1f, 0f, side, GateRows: hidden);
        kernel(Config(side, batch, 4 * hidden), IlgpuBackend.Of(hPrev).Slice(hPrevOff, n), IlgpuBackend.Of(whh).Slice(0, 4 * hidden * hidden),
            IlgpuBackend.Of(gates).Slice(gOff, 4 * n), IlgpuBackend.Of(bih).Slice(0, 4 * hidden), IlgpuBackend.Of(bhh).Slice(0, 4 * hidden),
            IlgpuBackend.Of(cPrev).Slice(cPrevOff, n), IlgpuBackend.Of(c).Slice(cOff, n), IlgpuBackend.Of(h).Slice(hOff, n), shape);
    }

    /// <summary>The blocked GEMM's launch for an [m, n] output: groups of side x side threads, one per block tile.</summary>
    static KernelConfig Config(int side, int m, int n)
    {
        int tile = side * BlockedGemm.Micro;
        return new KernelConfig(new Index2D((n + tile - 1) / tile, (m + tile - 1) / tile), new Index2D(side, side),
            SharedMemoryConfig.RequestDynamic<float>(BlockedGemm.SharedFloats(side)));
    }

    // hPrev[B,H] whh[4H,H] gates[B,4H] bih[4H] bhh[4H] cPrev[B,H] -> gates (activations), c[B,H], h[B,H];
    // groups and tiles of BlockedGemm over the [B, 4H] product, columns in unit order: a thread's column quads are units Col/4 and (Col + BN/2)/4.
    static void ForwardKernel(ArrayView<float> hPrev, ArrayView<float> whh, ArrayView<float> gates, ArrayView<float> bih, ArrayView<float> bhh,
        ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h, Gemm.GemmShape s)
    {
        var p = BlockedGemm.Multiply(hPrev, whh, s);
        int half = s.Tile * BlockedGemm.Micro / 2, j0 = p.Col / 4, j1 = (p.Col + half) / 4;
        var v = new CellViews(gates, bih, bhh, cPrev, c, h, s.M, s.GateRows);
        CellRow(p.C0, p.Row, j0, j1, v); CellRow(p.C1, p.Row + 1, j0, j1, v); CellRow(p.C2, p.Row + 2, j0, j1, v); CellRow(p.C3, p.Row + 3, j0, j1, v);
        CellRow(p.C4, p.Row + half, j0, j1, v); CellRow(p.C5, p.Row + half + 1, j0, j1, v); CellRow(p.C6, p.Row + half + 2, j0, j1, v); CellRow(p.C7, p.Row + half + 3, j0, j1, v);
    }

    /// <summary>What the forward cell reads and writes, and the sizes (B and H).</summary>
    readonly record struct CellViews(ArrayView<float> Gates, ArrayView<float> Bih, ArrayView<float> Bhh, ArrayView<float> CPrev,
        ArrayView<float> C, ArrayView<float> H, int Batch, int Hidden);

    /// <summary>Row b of a thread's outputs: the recurrent sums of units j0 (V0..V3) and j1 (V4..V7), gates i, f, g, o each.</summary>
    static void CellRow(BlockedGemm.Row8 z, int b, int j0, int j1, CellViews v)
    {
        if (b >= v.Batch) return;
        if (j0 < v.Hidden) Cell(z.V0, z.V1, z.V2, z.V3, b, j0, v);
        if (j1 < v.Hidden) Cell(z.V4, z.V5, z.V6, z.V7, b, j1, v);
    }

    static void Cell(float si, float sf, float sg, float so, int b, int j, CellViews v)
    {
        int hidden = v.Hidden, row = b * 4 * hidden, unit = b * hidden + j;
        var st = LstmCell.Forward(v.Gates[row + j] + v.Bih[j] + v.Bhh[j] + si,
                                  v.Gates[row + hidden + j] + v.Bih[hidden + j] + v.Bhh[hidden + j] + sf,
                                  v.Gates[row + 2 * hidden + j] + v.Bih[2 * hidden + j] + v.Bhh[2 * hidden + j] + sg,
                                  v.Gates[row + 3 * hidden + j] + v.Bih[3 * hidden + j] + v.Bhh[3 * hidden + j] + so, v.CPrev[unit]);
        v.Gates[row + j] = st.I; v.Gates[row + hidden + j] = st.F; v.Gates[row + 2 * hidden + j] = st.G; v.Gates[row + 3 * hidden + j] = st.O;
        v.C[unit] = st.C;
        v.H[unit] = st.H;
    }

    /// <summary>
    /// gates[B,4H] (activations of step t), c[B,H], cPrev[B,H], dhOut[B,H], dgatesNext[B,4H] (the step processed just
    /// before), Whh[4H,H], dcCarry[B,H] (dc_next in, dc_{t-1} out) -> dGates[B,4H] (overwritten).
    /// </summary>
    public static void StepBackward(IlgpuBackend gpu, int batch, int hidden, Tensor gates, int gOff, Tensor c, int cOff, Tensor cPrev, int cPrevOff,
        Tensor dhOut, int dhOff, Tensor dgatesNext, int dgNextOff, Tensor whh, Tensor dcCarry, Tensor dGates, int dgOff)
    {
        int n = batch * hidden;
        using var lap = OpClock.Start(OpClock.Kind.Cell, gpu);
        var kernel = gpu.Kernel("lstm.tile.backward", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Gemm.GemmShape>(BackwardKernel));
        int side = BlockedGemm.SideFor(gpu, batch, hidden);
        // dgatesNext [B,4H] times W_hh [4H,H].
        var shape = new Gemm.GemmShape(batch, hidden, 4 * hidden, 4 * hidden, hidden, 0, 0, 0, 1f, 0f, side);
        kernel(Config(side, batch, hidden), IlgpuBackend.Of(dgatesNext).Slice(dgNextOff, 4 * n), IlgpuBackend.Of(whh).Slice(0, 4 * hidden * hidden),
            IlgpuBackend.Of(gates).Slice(gOff, 4 * n), IlgpuBackend.Of(c).Slice(cOff, n), IlgpuBackend.Of(cPrev).Slice(cPrevOff, n),
            IlgpuBackend.Of(dhOut).Slice(dhOff, n), IlgpuBackend.Of(dcCarry).Slice(0, n), IlgpuBackend.Of(dGates).Slice(dgOff, 4 * n), shape);
    }

    // dgatesNext[B,4H] whh[4H,H] gates[B,4H] c[B,H] cPrev[B,H] dhOut[B,H] dcCarry[B,H] -> dGates[B,4H], dcCarry;
    // groups and tiles of BlockedGemm over the [B, H] product dhRec: one cell gradient per output (b, j).
    static void BackwardKernel(ArrayView<float> dgatesNext, ArrayView<float> whh, ArrayView<float> gates, ArrayView<float> c, ArrayView<float> cPrev,
        ArrayView<float> dhOut, ArrayView<float> dcCarry, ArrayView<float> dGates, Gemm.GemmShape s)
    {
        var p = BlockedGemm.Multiply(dgatesNext, whh, s);
        int half = s.Tile * BlockedGemm.Micro / 2;
        var v = new GradViews(gates, c, cPrev, dhOut, dcCarry, dGates, s.M, s.N);
        GradRow(p.C0, p.Row, p.Col, half, v); GradRow(p.C1, p.Row + 1, p.Col, half, v); GradRow(p.C2, p.Row + 2, p.Col, half, v); GradRow(p.C3, p.Row + 3, p.Col, half, v);
        GradRow(p.C4, p.Row + half, p.Col, half, v); GradRow(p.C5, p.Row + half + 1, p.Col, half, v); GradRow(p.C6, p.Row + half + 2, p.Col, half, v); GradRow(p.C7, p.Row + half + 3, p.Col, half, v);
    }

    /// <summary>What the backward cell reads and writes, and the sizes (B and H).</summary>
    readonly record struct GradViews(ArrayView<float> Gates, ArrayView<float> C, ArrayView<float> CPrev, ArrayView<float> DhOut,
        ArrayView<float> DcCarry, ArrayView<float> DGates, int Batch, int Hidden);

    /// <summary>Row b of a thread's outputs: dhRec of units col + {0..3} (V0..V3) and col + half + {0..3} (V4..V7).</summary>
    static void GradRow(BlockedGemm.Row8 d, int b, int col, int half, GradViews v)
    {
        if (b >= v.Batch) return;
        Grad(d.V0, b, col, v); Grad(d.V1, b, col + 1, v); Grad(d.V2, b, col + 2, v); Grad(d.V3, b, col + 3, v);
        Grad(d.V4, b, col + half, v); Grad(d.V5, b, col + half + 1, v); Grad(d.V6, b, col + half + 2, v); Grad(d.V7, b, col + half + 3, v);
    }

    static void Grad(float dhRec, int b, int j, GradViews v)
    {
        if (j >= v.Hidden) return;
        int hidden = v.Hidden, row = b * 4 * hidden, unit = b * hidden + j;
        var d = LstmCell.Backward(v.Gates[row + j], v.Gates[row + hidden + j], v.Gates[row + 2 * hidden + j], v.Gates[row + 3 * hidden + j],
                                  v.C[unit], v.CPrev[unit], v.DhOut[unit] + dhRec, v.DcCarry[unit]);
        v.DGates[row + j] = d.Di; v.DGates[row + hidden + j] = d.Df; v.DGates[row + 2 * hidden + j] = d.Dg; v.DGates[row + 3 * hidden + j] = d.Do;
        v.DcCarry[unit] = d.DcPrev;
    }
}
