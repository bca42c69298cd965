using MathNet.Numerics.LinearAlgebra;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>The float LSTM layer (forward and BPTT) on each backend against the double reference.</summary>
public class LstmLayerTests
{
    [Theory]
    [InlineData("cpu", 5, 3, 3, 7, false)]
    [InlineData("cpu", 5, 3, 3, 7, true)]
    [InlineData("cpu", 10, 64, 3, 128, false)]
    [InlineData("cpu", 10, 64, 256, 128, true)]
    [InlineData("ilgpu-cpu", 5, 3, 3, 7, false)]
    [InlineData("ilgpu-cpu", 5, 3, 3, 7, true)]
    [InlineData("ilgpu-cpu", 1, 2, 3, 4, true, true)]          // one step: the fused backward's first step is its last
    [InlineData("ilgpu-cpu", 5, 3, 3, 7, false, true)]         // the fused GPU path: one kernel per step (LstmRecurrence)
    [InlineData("ilgpu-cpu", 5, 3, 3, 7, true, true)]
    public void Lstm_layer_forward_and_backward_match_the_reference(string device, int T, int B, int I, int H, bool reverse, bool fused = false)
    {
        using var be = TestBackends.Create(device);
        if (be is MusicGen.Kernels.Backends.IlgpuBackend gpu) gpu.FusedRecurrence = fused;
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

    [Fact]
    public void The_fused_recurrence_launches_one_kernel_per_step_where_the_unfused_launches_two()
    {
        const int T = 6, B = 2, I = 3, H = 4;
        long Launches(bool fused)
        {
            using var be = (MusicGen.Kernels.Backends.IlgpuBackend)TestBackends.Create("ilgpu-cpu");
            be.FusedRecurrence = fused;
            var r = new Rand(9);
            using var w = new LstmWeights(be.Upload(r.Floats(4 * H * I), 4 * H, I), be.Upload(r.Floats(4 * H * H), 4 * H, H), be.Upload(r.Floats(4 * H), 4 * H), be.Upload(r.Floats(4 * H), 4 * H));
            using var grads = LstmWeights.Allocate(be, I, H);
            using var ws = new LstmWorkspace(be, T, B, I, H);
            using var x = be.Upload(r.Floats(T * B * I), T, B, I); using var z = be.Allocate(B, H); using var dh = be.Upload(r.Floats(T * B * H), T, B, H);
            long before = be.Launches;
            LstmLayer.Forward(be, ws, w, false, x, z, z);
            LstmLayer.Backward(be, ws, grads, dh);
            return be.Launches - before;
        }
        // Per step, forward and backward: 2 launches unfused (GEMM + cell), 1 fused.
        Assert.Equal(2 * T, Launches(false) - Launches(true));
    }

    [Fact]
    public void Gradients_accumulate_across_calls()
    {
        using var be = TestBackends.Create("cpu");
        const int T = 3, B = 2, I = 2, H = 3;
        var r = new Rand(3);
        using var w = new LstmWeights(be.Upload(r.Floats(4 * H * I), 4 * H, I), be.Upload(r.Floats(4 * H * H), 4 * H, H), be.Upload(r.Floats(4 * H), 4 * H), be.Upload(r.Floats(4 * H), 4 * H));
        using var grads = LstmWeights.Allocate(be, I, H);
        using var ws = new LstmWorkspace(be, T, B, I, H);
        using var x = be.Upload(r.Floats(T * B * I), T, B, I); using var z = be.Allocate(B, H); using var dh = be.Upload(r.Floats(T * B * H), T, B, H);
        LstmLayer.Forward(be, ws, w, false, x, z, z);
        LstmLayer.Backward(be, ws, grads, dh);
        var once = be.Download(grads.Whh);
        LstmLayer.Backward(be, ws, grads, dh);
        var twice = be.Download(grads.Whh);
        for (int i = 0; i < once.Length; i++) Assert.Equal(2 * once[i], twice[i], 5);
    }

    [Fact]
    public void Managed_backend_is_bitwise_deterministic()
    {
        float[] Run()
        {
            using var be = TestBackends.Create("cpu");
            const int T = 10, B = 64, I = 3, H = 128;
            var r = new Rand(99);
            using var w = new LstmWeights(be.Upload(r.Floats(4 * H * I, 0.1f), 4 * H, I), be.Upload(r.Floats(4 * H * H, 0.1f), 4 * H, H), be.Upload(r.Floats(4 * H, 0.1f), 4 * H), be.Upload(r.Floats(4 * H, 0.1f), 4 * H));
            using var grads = LstmWeights.Allocate(be, I, H);
            using var ws = new LstmWorkspace(be, T, B, I, H);
            using var x = be.Upload(r.Floats(T * B * I), T, B, I); using var z = be.Allocate(B, H); using var dh = be.Upload(r.Floats(T * B * H), T, B, H);
            LstmLayer.Forward(be, ws, w, true, x, z, z);
            LstmLayer.Backward(be, ws, grads, dh);
            return [.. be.Download(ws.H), .. be.Download(grads.Whh), .. be.Download(grads.Wih)];
        }
        Assert.Equal(Run(), Run());
    }

    /// <summary>Backward replays the record Forward left in the workspace: with no record, or a partial one, it refuses.</summary>
    [Fact]
    public void Backward_without_a_full_forward_is_refused()
    {
        using var be = TestBackends.Create("cpu");
        const int T = 3, B = 2, I = 2, H = 3;
        var r = new Rand(4);
        using var w = new LstmWeights(be.Upload(r.Floats(4 * H * I), 4 * H, I), be.Upload(r.Floats(4 * H * H), 4 * H, H), be.Upload(r.Floats(4 * H), 4 * H), be.Upload(r.Floats(4 * H), 4 * H));
        using var grads = LstmWeights.Allocate(be, I, H);
        using var ws = new LstmWorkspace(be, T, B, I, H);
        using var x = be.Upload(r.Floats(T * B * I), T, B, I); using var z = be.Allocate(B, H); using var dh = be.Upload(r.Floats(T * B * H), T, B, H);
        Assert.Contains("before any forward", Assert.Throws<InvalidOperationException>(() => LstmLayer.Backward(be, ws, grads, dh)).Message);
        LstmLayer.Forward(be, ws, w, reverse: true, x, z, z, steps: 1);
        Assert.Contains("only the first steps", Assert.Throws<InvalidOperationException>(() => LstmLayer.Backward(be, ws, grads, dh)).Message);
        LstmLayer.Forward(be, ws, w, reverse: true, x, z, z);
        Assert.True(ws.Reverse);
        LstmLayer.Backward(be, ws, grads, dh); // now it runs, in the recorded (reverse) direction
    }
}
