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
/// Measured (H200, docs/BENCHMARKS.md): slower than the GEMM + cell pair at both shapes tried, so it is off by default
/// (IlgpuBackend.FusedRecurrence): one thread per (b, j) gives 64 warps at B=64, H=128, under one per SM, and each
/// thread's dot product is a chain of dependent memory waits. Splitting the dot product over a warp (or keeping W_hh
/// in shared memory in a persistent kernel) is the next step.
///
/// Forward, one thread per (b, j):
///   z_k = gates[b, kH+j]  +  sum_m hPrev[b, m] WhhT[m, kH+j]      for the gate blocks k = i, f, g, o
///   (gates holds x_t W_ih^T, computed for all steps at once), then the cell of <see cref="LstmCell.Forward"/>.
///   Threads of a warp share b and take neighbouring j: hPrev[b, m] is one broadcast read, WhhT[m, kH+j] a coalesced one.
///
/// Backward, one thread per (b, j), for the step t processed now (steps go in the reverse of forward's order):
///   dhRec[b, j] = sum_k dgatesNext[b, k] Whh[k, j]                (k over 4H: the recurrence from the step processed before)
///   then the cell gradient of <see cref="LstmCell.Backward"/> with dh = dhOut[t] + dhRec, writing dgates[t] and dc.
///   The recurrent product of a step is thus done at the start of the next launch, so each step is one launch; the
///   first processed step takes its dhRec from the caller (the final state's gradient, or zero).
/// The math of the cell is LstmCell's, called from both kernels, so the fused and unfused paths cannot drift.
/// </summary>
public static class LstmRecurrence
{
    /// <summary>
    /// gates[B,4H] (x_t W_ih^T in, activations out), hPrev[B,H], WhhT[H,4H], bih[4H], bhh[4H], cPrev[B,H] -> c[B,H], h[B,H].
    /// </summary>
    public static void StepForward(IlgpuBackend gpu, int batch, int hidden, Tensor gates, int gOff, Tensor hPrev, int hPrevOff, Tensor whhT,
        Tensor bih, Tensor bhh, Tensor cPrev, int cPrevOff, Tensor c, int cOff, Tensor h, int hOff)
    {
        int n = batch * hidden;
        var kernel = gpu.Kernel("lstm.fused.forward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ForwardKernel));
        kernel(n, IlgpuBackend.Of(gates).Slice(gOff, 4 * n), IlgpuBackend.Of(hPrev).Slice(hPrevOff, n), IlgpuBackend.Of(whhT).Slice(0, 4 * hidden * hidden),
            IlgpuBackend.Of(bih).Slice(0, 4 * hidden), IlgpuBackend.Of(bhh).Slice(0, 4 * hidden), IlgpuBackend.Of(cPrev).Slice(cPrevOff, n),
            IlgpuBackend.Of(c).Slice(cOff, n), IlgpuBackend.Of(h).Slice(hOff, n), hidden);
    }

    // gates[B,4H] hPrev[B,H] whhT[H,4H] bih[4H] bhh[4H] cPrev[B,H] -> gates (activations), c[B,H], h[B,H]; one thread per (b, j).
    static void ForwardKernel(Index1D idx, ArrayView<float> gates, ArrayView<float> hPrev, ArrayView<float> whhT, ArrayView<float> bih, ArrayView<float> bhh,
        ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h, int hidden)
    {
        int b = idx / hidden, j = idx - b * hidden, row = b * 4 * hidden, H4 = 4 * hidden;
        float zi = gates[row + j] + bih[j] + bhh[j];
        float zf = gates[row + hidden + j] + bih[hidden + j] + bhh[hidden + j];
        float zg = gates[row + 2 * hidden + j] + bih[2 * hidden + j] + bhh[2 * hidden + j];
        float zo = gates[row + 3 * hidden + j] + bih[3 * hidden + j] + bhh[3 * hidden + j];
        for (int m = 0; m < hidden; m++)
        {
            float hm = hPrev[b * hidden + m];
            int w = m * H4 + j;
            zi += hm * whhT[w]; zf += hm * whhT[w + hidden]; zg += hm * whhT[w + 2 * hidden]; zo += hm * whhT[w + 3 * hidden];
        }
        var s = LstmCell.Forward(zi, zf, zg, zo, cPrev[idx]);
        gates[row + j] = s.I; gates[row + hidden + j] = s.F; gates[row + 2 * hidden + j] = s.G; gates[row + 3 * hidden + j] = s.O;
        c[idx] = s.C;
        h[idx] = s.H;
    }

    /// <summary>
    /// gates[B,4H] (activations of step t), c[B,H], cPrev[B,H], dhOut[B,H], and either dgatesNext[B,4H] with Whh[4H,H]
    /// (the step processed before: its recurrence is computed here) or, for the first processed step, dhFirst[B,H];
    /// dcCarry[B,H] (dc_next in, dc_{t-1} out) -> dGates[B,4H] (overwritten).
    /// </summary>
    public static void StepBackward(IlgpuBackend gpu, int batch, int hidden, Tensor gates, int gOff, Tensor c, int cOff, Tensor cPrev, int cPrevOff,
        Tensor dhOut, int dhOff, Tensor? dgatesNext, int dgNextOff, Tensor whh, Tensor dhFirst, Tensor dcCarry, Tensor dGates, int dgOff)
    {
        int n = batch * hidden;
        var kernel = gpu.Kernel("lstm.fused.backward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(BackwardKernel));
        var next = dgatesNext is null ? IlgpuBackend.Of(dGates).Slice(dgOff, 4 * n) : IlgpuBackend.Of(dgatesNext).Slice(dgNextOff, 4 * n); // unread when first
        kernel(n, IlgpuBackend.Of(gates).Slice(gOff, 4 * n), IlgpuBackend.Of(c).Slice(cOff, n), IlgpuBackend.Of(cPrev).Slice(cPrevOff, n),
            IlgpuBackend.Of(dhOut).Slice(dhOff, n), next, IlgpuBackend.Of(whh).Slice(0, 4 * hidden * hidden), IlgpuBackend.Of(dhFirst).Slice(0, n),
            IlgpuBackend.Of(dcCarry).Slice(0, n), IlgpuBackend.Of(dGates).Slice(dgOff, 4 * n), hidden, dgatesNext is null ? 1 : 0);
    }

    // gates[B,4H] c[B,H] cPrev[B,H] dhOut[B,H] dgatesNext[B,4H] whh[4H,H] dhFirst[B,H] dcCarry[B,H] -> dGates[B,4H], dcCarry;
    // one thread per (b, j). first = 1: dhRec is dhFirst (dgatesNext is not read).
    static void BackwardKernel(Index1D idx, ArrayView<float> gates, ArrayView<float> c, ArrayView<float> cPrev, ArrayView<float> dhOut, ArrayView<float> dgatesNext,
        ArrayView<float> whh, ArrayView<float> dhFirst, ArrayView<float> dcCarry, ArrayView<float> dGates, int hidden, int first)
    {
        int b = idx / hidden, j = idx - b * hidden, row = b * 4 * hidden;
        float dhRec = 0;
        if (first != 0) dhRec = dhFirst[idx];
        else
            for (int k = 0; k < 4 * hidden; k++) dhRec += dgatesNext[row + k] * whh[k * hidden + j];
        var d = LstmCell.Backward(gates[row + j], gates[row + hidden + j], gates[row + 2 * hidden + j], gates[row + 3 * hidden + j],
                                  c[idx], cPrev[idx], dhOut[idx] + dhRec, dcCarry[idx]);
        dGates[row + j] = d.Di; dGates[row + hidden + j] = d.Df; dGates[row + 2 * hidden + j] = d.Dg; dGates[row + 3 * hidden + j] = d.Do;
        dcCarry[idx] = d.DcPrev;
    }
}
