using MathNet.Numerics.LinearAlgebra;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels.Conformance;

/// <summary>The float LSTM layer (forward and BPTT, either direction, final-state gradients) against the double reference RefLstm, on each backend.</summary>
public abstract class LstmLayerConformance : BackendConformance
{
    [BackendTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Small_layer_matches_the_reference(bool reverse)
    {
        using var be = CreateBackend();
        if (be is MusicGen.Kernels.Backends.IlgpuBackend gpu) gpu.Recurrence = MusicGen.Kernels.Backends.RecurrenceKernel.Unfused;
        Check(be, 5, 3, 3, 7, reverse);
    }

    /// <summary>The seed network's shapes (T=10, B=64, H=128; a second layer's input of 256), where the managed backend's packed GEMM runs.</summary>
    [BackendTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Realistic_layer_matches_the_reference(bool reverse)
    {
        using var be = CreateBackend();
        if (be is MusicGen.Kernels.Backends.IlgpuBackend gpu) gpu.Recurrence = MusicGen.Kernels.Backends.RecurrenceKernel.Unfused;
        Check(be, Size(10, 4), Size(64, 2), Size(reverse ? 256 : 3, 5), Size(128, 6), reverse);
    }

    internal static void Check(Backend be, int T, int B, int I, int H, bool reverse)
    {
        var r = new Rand(T * 7 + B * 3 + I + H + (reverse ? 1 : 0));
        float scale = 1f / MathF.Sqrt(H);
        var wih = r.Floats(4 * H * I, scale); var whh = r.Floats(4 * H * H, scale); var bih = r.Floats(4 * H, scale); var bhh = r.Floats(4 * H, scale);
        var x = r.Floats(T * B * I); var h0 = r.Floats(B * H, 0.5f); var c0 = r.Floats(B * H, 0.5f);
        var dh = r.Floats(T * B * H); var dhT = r.Floats(B * H); var dcT = r.Floats(B * H);

        var reference = new RefLstm { Wih = Rand.Mat(wih, 4 * H, I), Whh = Rand.Mat(whh, 4 * H, H), Bih = Rand.Vec(bih), Bhh = Rand.Vec(bhh) };
        var xs = Rand.Seq(x, T, B, I);
        var tr = reference.Forward(xs, Rand.Mat(h0, B, H), Rand.Mat(c0, B, H), reverse);
        var g = reference.Backward(tr, xs, Rand.Seq(dh, T, B, H), Rand.Mat(dhT, B, H), Rand.Mat(dcT, B, H), reverse);

        using var w = new LstmWeights(be.Upload(wih, 4 * H, I), be.Upload(whh, 4 * H, H), be.Upload(bih, 4 * H), be.Upload(bhh, 4 * H));
        using var grads = LstmWeights.Allocate(be, I, H);
        using var ws = new LstmWorkspace(be, T, B, I, H);
        using var tx = be.Upload(x, T, B, I); using var th0 = be.Upload(h0, B, H); using var tc0 = be.Upload(c0, B, H);
        using var tdh = be.Upload(dh, T, B, H); using var tdhT = be.Upload(dhT, B, H); using var tdcT = be.Upload(dcT, B, H);
        using var dx = be.Allocate(T, B, I); using var dh0 = be.Allocate(B, H); using var dc0 = be.Allocate(B, H);

        LstmLayer.Forward(be, ws, w, reverse, tx, th0, tc0);
        var hs = be.Download(ws.H); var cs = be.Download(ws.C);
        for (int t = 0; t < T; t++)
        {
            Close.Matrix(hs, tr.H[t], $"h[{t}]", t * B * H);
            Close.Matrix(cs, tr.C[t], $"c[{t}]", t * B * H);
        }
        Assert.Equal(reverse ? 0 : T - 1, LstmLayer.FinalIndex(ws, reverse));

        LstmLayer.Backward(be, ws, grads, tdh, new LstmInputGrads(dx, dh0, dc0), new LstmFinalStateGrad(tdhT, tdcT));
        Close.Matrix(be.Download(grads.Wih), g.Wih, "dW_ih", atol: 1e-4);
        Close.Matrix(be.Download(grads.Whh), g.Whh, "dW_hh", atol: 1e-4);
        Close.All(be.Download(grads.Bih), i => g.Bih[i], "db_ih", atol: 1e-4);
        Close.All(be.Download(grads.Bhh), i => g.Bhh[i], "db_hh", atol: 1e-4);
        Close.Matrix(be.Download(dh0), g.H0, "dh0");
        Close.Matrix(be.Download(dc0), g.C0, "dc0");
        var dxs = be.Download(dx);
        for (int t = 0; t < T; t++) Close.Matrix(dxs, g.X[t], $"dx[{t}]", t * B * I);
    }
}

[Backend("cpu")] public sealed class ManagedLstmLayerConformance : LstmLayerConformance { protected override string Device => "cpu"; protected override bool Large => true; }
[Backend("ilgpu-cpu")] public sealed class IlgpuCpuLstmLayerConformance : LstmLayerConformance { protected override string Device => "ilgpu-cpu"; protected override bool Large => false; }
[Backend("cuda")] public sealed class CudaLstmLayerConformance : LstmLayerConformance { protected override string Device => "cuda"; protected override bool Large => true; }
