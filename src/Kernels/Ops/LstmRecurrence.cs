using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// One LSTM time step as a single GPU kernel: the recurrent matrix product and the cell together (ILGPU backends only;
/// the managed backend keeps its GEMM + <see cref="LstmCell"/> rows, which are already one pass over the data).
///
/// Why: at the seed network's shapes a step is a 64x512x128 product plus an elementwise cell, microseconds of work
/// each, so the launches themselves cost as much as the arithmetic. Fusing halves the launches of the recurrence.
///
/// One warp per (b, j): its lanes split the dot products (lane l takes m = l, l + 32, ...), add them up with warp
/// shuffles, and lane 0 runs the cell. A first version with one thread per (b, j) measured slower than the GEMM + cell
/// pair on an H200 (8,192 threads at the seed shapes: 64 warps for 132 SMs, each thread waiting on a 128-long chain of
/// loads); a warp per unit gives 32 times the threads and reads each weight row in coalesced 128-byte pieces, and
/// measured 13-17 % faster than the pair up to H=256 (slower at 512): IlgpuBackend.Recurrence. LstmTileStep is the other one-launch step, for large H.
///
/// Forward, unit (b, j):
///   z_k = gates[b, kH+j]  +  sum_m hPrev[b, m] W_hh[kH+j, m]      for the gate blocks k = i, f, g, o
///   (gates holds x_t W_ih^T, computed for all steps at once), then the cell of <see cref="LstmCell.Forward"/>.
///   Lanes read hPrev[b, m] and the W_hh row kH+j at consecutive m: both coalesced.
///
/// Backward, unit (b, j), for the step t processed now (steps go in the reverse of forward's order):
///   dhRec[b, j] = sum_k dgatesNext[b, k] W_hh^T[j, k]               (k over 4H: the recurrence from the step processed before)
///   then the cell gradient of <see cref="LstmCell.Backward"/> with dh = dhOut[t] + dhRec, writing dgates[t] and dc.
///   W_hh^T is the workspace's transposed copy (made by the forward pass), so lanes read it at consecutive k.
///   The recurrent product of a step is thus done at the start of the next launch, so each step is one launch; the
///   first processed step takes its dhRec from the caller (the final state's gradient, or zero).
/// The math of the cell is LstmCell's, called from both kernels, so the fused and unfused paths cannot drift.
/// </summary>
public static class LstmRecurrence
{
    /// <summary>Threads per group: whole warps, as many units as the device allows up to 8.</summary>
    static (KernelConfig Config, int Units) Launch(IlgpuBackend gpu, int units)
    {
        int warp = gpu.Accelerator.WarpSize, perGroup = Math.Clamp(gpu.Accelerator.MaxNumThreadsPerGroup / warp, 1, 8);
        int groups = (units + perGroup - 1) / perGroup;
        return (new KernelConfig(groups, perGroup * warp), units);
    }

    /// <summary>Sum of v over the lanes of the warp, in lane 0.</summary>
    static float WarpSum(float v)
    {
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2) v += Warp.ShuffleDown(v, offset);
        return v;
    }

    /// <summary>
    /// gates[B,4H] (x_t W_ih^T in, activations out), hPrev[B,H], Whh[4H,H], bih[4H], bhh[4H], cPrev[B,H] -> c[B,H], h[B,H].
    /// </summary>
    public static void StepForward(IlgpuBackend gpu, int batch, int hidden, Tensor gates, int gOff, Tensor hPrev, int hPrevOff, Tensor whh,
        Tensor bih, Tensor bhh, Tensor cPrev, int cPrevOff, Tensor c, int cOff, Tensor h, int hOff)
    {
        int n = batch * hidden;
        using var lap = OpClock.Start(OpClock.Kind.Cell, gpu);
        var kernel = gpu.Kernel("lstm.fused.forward", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(ForwardKernel));
        var (config, units) = Launch(gpu, n);
        kernel(config, IlgpuBackend.Of(gates).Slice(gOff, 4 * n), IlgpuBackend.Of(hPrev).Slice(hPrevOff, n), IlgpuBackend.Of(whh).Slice(0, 4 * hidden * hidden),
            IlgpuBackend.Of(bih).Slice(0, 4 * hidden), IlgpuBackend.Of(bhh).Slice(0, 4 * hidden), IlgpuBackend.Of(cPrev).Slice(cPrevOff, n),
            IlgpuBackend.Of(c).Slice(cOff, n), IlgpuBackend.Of(h).Slice(hOff, n), hidden, units);
    }

    // gates[B,4H] hPrev[B,H] whh[4H,H] bih[4H] bhh[4H] cPrev[B,H] -> gates (activations), c[B,H], h[B,H]; one warp per (b, j).
    static void ForwardKernel(ArrayView<float> gates, ArrayView<float> hPrev, ArrayView<float> whh, ArrayView<float> bih, ArrayView<float> bhh,
        ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h, int hidden, int units)
    {
        int unit = Grid.GlobalIndex.X / Warp.WarpSize, lane = Warp.LaneIdx;
        if (unit >= units) return; // a whole warp past the end: no lane of it takes part in a shuffle
        int b = unit / hidden, j = unit - b * hidden, row = b * 4 * hidden;
        float si = 0, sf = 0, sg = 0, so = 0;
        for (int m = lane; m < hidden; m += Warp.WarpSize)
        {
            float hm = hPrev[b * hidden + m];
            si += hm * whh[j * hidden + m];
            sf += hm * whh[(hidden + j) * hidden + m];
            sg += hm * whh[(2 * hidden + j) * hidden + m];
            so += hm * whh[(3 * hidden + j) * hidden + m];
        }
        si = WarpSum(si); sf = WarpSum(sf); sg = WarpSum(sg); so = WarpSum(so);
        if (lane != 0) return;
        var s = LstmCell.Forward(gates[row + j] + bih[j] + bhh[j] + si, gates[row + hidden + j] + bih[hidden + j] + bhh[hidden + j] + sf,
                                 gates[row + 2 * hidden + j] + bih[2 * hidden + j] + bhh[2 * hidden + j] + sg,
                                 gates[row + 3 * hidden + j] + bih[3 * hidden + j] + bhh[3 * hidden + j] + so, cPrev[unit]);
        gates[row + j] = s.I; gates[row + hidden + j] = s.F; gates[row + 2 * hidden + j] = s.G; gates[row + 3 * hidden + j] = s.O;
        c[unit] = s.C;
        h[unit] = s.H;
    }

    /// <summary>
    /// gates[B,4H] (activations of step t), c[B,H], cPrev[B,H], dhOut[B,H], and either dgatesNext[B,4H] with WhhT[H,4H]
    /// (the step processed before: its recurrence is computed here) or, for the first processed step, dhFirst[B,H];
    /// dcCarry[B,H] (dc_next in, dc_{t-1} out) -> dGates[B,4H] (overwritten).
    /// </summary>
    public static void StepBackward(IlgpuBackend gpu, int batch, int hidden, Tensor gates, int gOff, Tensor c, int cOff, Tensor cPrev, int cPrevOff,
        Tensor dhOut, int dhOff, Tensor? dgatesNext, int dgNextOff, Tensor whhT, Tensor dhFirst, Tensor dcCarry, Tensor dGates, int dgOff)
    {
        int n = batch * hidden;
        using var lap = OpClock.Start(OpClock.Kind.Cell, gpu);
        var kernel = gpu.Kernel("lstm.fused.backward", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(BackwardKernel));
        var next = dgatesNext is null ? IlgpuBackend.Of(dGates).Slice(dgOff, 4 * n) : IlgpuBackend.Of(dgatesNext).Slice(dgNextOff, 4 * n); // unread when first
        var (config, units) = Launch(gpu, n);
        kernel(config, IlgpuBackend.Of(gates).Slice(gOff, 4 * n), IlgpuBackend.Of(c).Slice(cOff, n), IlgpuBackend.Of(cPrev).Slice(cPrevOff, n),
            IlgpuBackend.Of(dhOut).Slice(dhOff, n), next, IlgpuBackend.Of(whhT).Slice(0, 4 * hidden * hidden), IlgpuBackend.Of(dhFirst).Slice(0, n),
            IlgpuBackend.Of(dcCarry).Slice(0, n), IlgpuBackend.Of(dGates).Slice(dgOff, 4 * n), hidden, dgatesNext is null ? 1 : 0, units);
    }

    // gates[B,4H] c[B,H] cPrev[B,H] dhOut[B,H] dgatesNext[B,4H] whhT[H,4H] dhFirst[B,H] dcCarry[B,H] -> dGates[B,4H], dcCarry;
    // one warp per (b, j). first = 1: dhRec is dhFirst (dgatesNext is not read).
    static void BackwardKernel(ArrayView<float> gates, ArrayView<float> c, ArrayView<float> cPrev, ArrayView<float> dhOut, ArrayView<float> dgatesNext,
        ArrayView<float> whhT, ArrayView<float> dhFirst, ArrayView<float> dcCarry, ArrayView<float> dGates, int hidden, int first, int units)
    {
        int unit = Grid.GlobalIndex.X / Warp.WarpSize, lane = Warp.LaneIdx;
        if (unit >= units) return;
        int b = unit / hidden, j = unit - b * hidden, row = b * 4 * hidden, H4 = 4 * hidden;
        float dhRec = 0;
        if (first == 0)
            for (int k = lane; k < H4; k += Warp.WarpSize) dhRec += dgatesNext[row + k] * whhT[j * H4 + k];
        dhRec = WarpSum(dhRec);
        if (lane != 0) return;
        if (first != 0) dhRec = dhFirst[unit];
        var d = LstmCell.Backward(gates[row + j], gates[row + hidden + j], gates[row + 2 * hidden + j], gates[row + 3 * hidden + j],
                                  c[unit], cPrev[unit], dhOut[unit] + dhRec, dcCarry[unit]);
        dGates[row + j] = d.Di; dGates[row + hidden + j] = d.Df; dGates[row + 2 * hidden + j] = d.Dg; dGates[row + 3 * hidden + j] = d.Do;
        dcCarry[unit] = d.DcPrev;
    }
}
