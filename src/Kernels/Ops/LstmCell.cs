using System.Numerics;
using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// The fused LSTM gate kernels for one time step (gate order i, f, g, o, as PyTorch and cuDNN).
///
/// Forward, per batch row b and hidden unit j (z = pre-activations, already holding
/// x_t W_ih^T + h_{t-1} W_hh^T; the two biases are added here):
///   i = sigmoid(z_i + b_i)   f = sigmoid(z_f + b_f)   g = tanh(z_g + b_g)   o = sigmoid(z_o + b_o)
///   c_t = f * c_{t-1} + i * g          h_t = o * tanh(c_t)
/// The activations overwrite z in place: backward needs them, not the pre-activations.
///
/// Backward, given dh_t (from the layer above plus the recurrence) and dc carried from step t+1:
///   dc  = dc_next + dh * o * (1 - tanh(c_t)^2)
///   dz_o = dh * tanh(c_t) * o(1-o)    dz_i = dc * g * i(1-i)    dz_f = dc * c_{t-1} * f(1-f)
///   dz_g = dc * i * (1-g^2)           dc_{t-1} = dc * f
/// The math is written twice, on purpose: the scalar <see cref="Forward(float, float, float, float, float)"/> and
/// <see cref="Backward"/>, which the ILGPU kernels (and the fused LstmRecurrence kernels) call per unit; and the managed
/// backend's SIMD transcription of the same formulas over whole rows (below), about 40x faster than calling the scalar
/// functions per unit. tests/Kernels/WrittenTwiceTests.cs pins the transcription to the scalar functions directly.
/// </summary>
public static class LstmCell
{
    /// <summary>Activations and new state of one unit.</summary>
    public readonly record struct State(float I, float F, float G, float O, float C, float H);

    /// <summary>Pre-activation gradients of one unit and the gradient flowing to c_{t-1}.</summary>
    public readonly record struct Grad(float Di, float Df, float Dg, float Do, float DcPrev);

    public static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    public static State Forward(float zi, float zf, float zg, float zo, float cPrev)
    {
        float i = Sigmoid(zi), f = Sigmoid(zf), g = MathF.Tanh(zg), o = Sigmoid(zo);
        float c = f * cPrev + i * g;
        return new State(i, f, g, o, c, o * MathF.Tanh(c));
    }

    public static Grad Backward(float i, float f, float g, float o, float c, float cPrev, float dh, float dcNext)
    {
        float tc = MathF.Tanh(c);
        float dc = dcNext + dh * o * (1f - tc * tc);
        return new Grad(dc * g * i * (1f - i), dc * cPrev * f * (1f - f), dc * i * (1f - g * g), dh * tc * o * (1f - o), dc * f);
    }

    // ------------------------------------------------------------------ the managed backend's SIMD transcription
    //
    // The same formulas as Forward/Backward above, applied to whole rows with TensorPrimitives (vectorised
    // sigmoid/tanh): the scalar loop spent ~40 ns per unit in MathF.Exp/Tanh. The conformance tests and
    // `musicgen selftest` pin this transcription to the scalar definition the ILGPU kernel uses.

    /// <summary>One batch row: z[4H] (pre-activations in, activations out), cPrev[H] -> c[H], h[H].</summary>
    static void ManagedForwardRow(Span<float> z, ReadOnlySpan<float> bih, ReadOnlySpan<float> bhh, ReadOnlySpan<float> cPrev, Span<float> c, Span<float> h)
    {
        int H = c.Length;
        TensorPrimitives.Add(z, bih, z);
        TensorPrimitives.Add(z, bhh, z);
        var i = z[..H]; var f = z.Slice(H, H); var g = z.Slice(2 * H, H); var o = z.Slice(3 * H, H);
        TensorPrimitives.Sigmoid(z[..(2 * H)], z[..(2 * H)]);   // i, f
        TensorPrimitives.Tanh(g, g);
        TensorPrimitives.Sigmoid(o, o);
        TensorPrimitives.Multiply(f, cPrev, c);                 // c = f * c_prev + i * g
        TensorPrimitives.FusedMultiplyAdd(i, g, c, c);
        TensorPrimitives.Tanh(c, h);                            // h = o * tanh(c)
        TensorPrimitives.Multiply(h, o, h);
    }

    /// <summary>One batch row of the backward step; see <see cref="Backward"/> for the formulas.</summary>
    static void ManagedBackwardRow(ReadOnlySpan<float> act, ReadOnlySpan<float> c, ReadOnlySpan<float> cPrev, ReadOnlySpan<float> dhOut, ReadOnlySpan<float> dhRec,
        Span<float> dcCarry, Span<float> dz)
    {
        int H = c.Length;
        var i = act[..H]; var f = act.Slice(H, H); var g = act.Slice(2 * H, H); var o = act.Slice(3 * H, H);
        var dzi = dz[..H]; var dzf = dz.Slice(H, H); var dzg = dz.Slice(2 * H, H); var dzo = dz.Slice(3 * H, H);
        var tc = dzg;                                           // scratch until dz_g is written last
        TensorPrimitives.Tanh(c, tc);
        int w = Vector<float>.Count, j = 0;
        for (; j + w <= H; j += w)
        {
            var vi = new Vector<float>(i[j..]); var vf = new Vector<float>(f[j..]); var vg = new Vector<float>(g[j..]); var vo = new Vector<float>(o[j..]);
            var vtc = new Vector<float>(tc[j..]);
            var dh = new Vector<float>(dhOut[j..]) + new Vector<float>(dhRec[j..]);
            var dc = new Vector<float>(dcCarry[j..]) + dh * vo * (Vector<float>.One - vtc * vtc);
            (dh * vtc * vo * (Vector<float>.One - vo)).CopyTo(dzo[j..]);
            (dc * vg * vi * (Vector<float>.One - vi)).CopyTo(dzi[j..]);
            (dc * new Vector<float>(cPrev[j..]) * vf * (Vector<float>.One - vf)).CopyTo(dzf[j..]);
            (dc * vi * (Vector<float>.One - vg * vg)).CopyTo(dzg[j..]);
            (dc * vf).CopyTo(dcCarry[j..]);
        }
        for (; j < H; j++)
        {
            var d = Backward(i[j], f[j], g[j], o[j], c[j], cPrev[j], dhOut[j] + dhRec[j], dcCarry[j]);
            dzi[j] = d.Di; dzf[j] = d.Df; dzg[j] = d.Dg; dzo[j] = d.Do; dcCarry[j] = d.DcPrev;
        }
    }

    // ------------------------------------------------------------------ one time step, both backends

    /// <summary>
    /// gates[B,4H] (pre-activations in, activations out), bih[4H], bhh[4H], cPrev[B,H] -> c[B,H], h[B,H].
    /// Offsets select the time step inside sequence tensors.
    /// </summary>
    public static void StepForward(Backend backend, int batch, int hidden,
        Tensor gates, int gOff, Tensor bih, Tensor bhh, Tensor cPrev, int cPrevOff, Tensor c, int cOff, Tensor h, int hOff)
    {
        int n = batch * hidden;
        using var lap = OpClock.Start(OpClock.Kind.Cell, backend);
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor G = ManagedBackend.Of(gates), Bi = ManagedBackend.Of(bih), Bh = ManagedBackend.Of(bhh);
                ManagedTensor Cp = ManagedBackend.Of(cPrev), C = ManagedBackend.Of(c), Hs = ManagedBackend.Of(h);
                cpu.For(batch, hidden * 40L, b => ManagedForwardRow(G.Span(gOff + b * 4 * hidden, 4 * hidden), Bi.Span(0, 4 * hidden), Bh.Span(0, 4 * hidden),
                    Cp.Span(cPrevOff + b * hidden, hidden), C.Span(cOff + b * hidden, hidden), Hs.Span(hOff + b * hidden, hidden)));
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel("lstm.step.forward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ForwardKernel));
                kernel(n, IlgpuBackend.Of(gates).Slice(gOff, 4 * n), IlgpuBackend.Of(bih).Slice(0, 4 * hidden), IlgpuBackend.Of(bhh).Slice(0, 4 * hidden),
                    IlgpuBackend.Of(cPrev).Slice(cPrevOff, n), IlgpuBackend.Of(c).Slice(cOff, n), IlgpuBackend.Of(h).Slice(hOff, n), hidden);
                return;
            }
            default: throw Backend.NotImplemented("LstmCell.StepForward", backend);
        }
    }

    // gates[B,4H] bih[4H] bhh[4H] cPrev[B,H] -> gates (activations), c[B,H], h[B,H]; one thread per (b, j).
    static void ForwardKernel(Index1D idx, ArrayView<float> gates, ArrayView<float> bih, ArrayView<float> bhh, ArrayView<float> cPrev, ArrayView<float> c, ArrayView<float> h, int hidden)
    {
        int b = idx / hidden, j = idx - b * hidden, row = b * 4 * hidden;
        var s = Forward(gates[row + j] + bih[j] + bhh[j], gates[row + hidden + j] + bih[hidden + j] + bhh[hidden + j],
                        gates[row + 2 * hidden + j] + bih[2 * hidden + j] + bhh[2 * hidden + j], gates[row + 3 * hidden + j] + bih[3 * hidden + j] + bhh[3 * hidden + j],
                        cPrev[idx]);
        gates[row + j] = s.I; gates[row + hidden + j] = s.F; gates[row + 2 * hidden + j] = s.G; gates[row + 3 * hidden + j] = s.O;
        c[idx] = s.C;
        h[idx] = s.H;
    }

    /// <summary>
    /// gates[B,4H] (activations), c[B,H], cPrev[B,H], dhOut[B,H] + dhRec[B,H], dcCarry[B,H] (dc_next in, dc_{t-1} out)
    /// -> dGates[B,4H] (pre-activation gradients, overwritten).
    /// </summary>
    public static void StepBackward(Backend backend, int batch, int hidden,
        Tensor gates, int gOff, Tensor c, int cOff, Tensor cPrev, int cPrevOff, Tensor dhOut, int dhOff, Tensor dhRec, Tensor dcCarry, Tensor dGates, int dgOff)
    {
        int n = batch * hidden;
        using var lap = OpClock.Start(OpClock.Kind.Cell, backend);
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor G = ManagedBackend.Of(gates), C = ManagedBackend.Of(c), Cp = ManagedBackend.Of(cPrev);
                ManagedTensor Dh = ManagedBackend.Of(dhOut), Dr = ManagedBackend.Of(dhRec), Dc = ManagedBackend.Of(dcCarry), Dg = ManagedBackend.Of(dGates);
                cpu.For(batch, hidden * 40L, b => ManagedBackwardRow(G.Span(gOff + b * 4 * hidden, 4 * hidden), C.Span(cOff + b * hidden, hidden),
                    Cp.Span(cPrevOff + b * hidden, hidden), Dh.Span(dhOff + b * hidden, hidden), Dr.Span(b * hidden, hidden),
                    Dc.Span(b * hidden, hidden), Dg.Span(dgOff + b * 4 * hidden, 4 * hidden)));
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel("lstm.step.backward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(BackwardKernel));
                kernel(n, IlgpuBackend.Of(gates).Slice(gOff, 4 * n), IlgpuBackend.Of(c).Slice(cOff, n), IlgpuBackend.Of(cPrev).Slice(cPrevOff, n),
                    IlgpuBackend.Of(dhOut).Slice(dhOff, n), IlgpuBackend.Of(dhRec).Slice(0, n), IlgpuBackend.Of(dcCarry).Slice(0, n), IlgpuBackend.Of(dGates).Slice(dgOff, 4 * n), hidden);
                return;
            }
            default: throw Backend.NotImplemented("LstmCell.StepBackward", backend);
        }
    }

    // gates[B,4H] c[B,H] cPrev[B,H] dhOut[B,H] dhRec[B,H] dcCarry[B,H] -> dGates[B,4H], dcCarry; one thread per (b, j).
    static void BackwardKernel(Index1D idx, ArrayView<float> gates, ArrayView<float> c, ArrayView<float> cPrev, ArrayView<float> dhOut, ArrayView<float> dhRec, ArrayView<float> dcCarry, ArrayView<float> dGates, int hidden)
    {
        int b = idx / hidden, j = idx - b * hidden, row = b * 4 * hidden;
        var d = Backward(gates[row + j], gates[row + hidden + j], gates[row + 2 * hidden + j], gates[row + 3 * hidden + j],
                         c[idx], cPrev[idx], dhOut[idx] + dhRec[idx], dcCarry[idx]);
        dGates[row + j] = d.Di; dGates[row + hidden + j] = d.Df; dGates[row + 2 * hidden + j] = d.Dg; dGates[row + 3 * hidden + j] = d.Do;
        dcCarry[idx] = d.DcPrev;
    }
}
