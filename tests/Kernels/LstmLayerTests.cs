using MathNet.Numerics.LinearAlgebra;
using MusicGen.Kernels;
using MusicGen.Kernels.Backends;
using MusicGen.Kernels.Ops;
using MusicGen.Tests.Kernels.Conformance;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>The LSTM layer's fused GPU path, launch counts, accumulation, determinism and the Forward record Backward replays.</summary>
public class LstmLayerTests
{
    /// <summary>ILGPU's one-launch recurrences against the reference: the fused warp-per-unit kernel and the tiled GEMM with
    /// the cell on its outputs; the unfused path on every backend: Conformance/LstmLayerConformance.cs.</summary>
    [Theory]
    [InlineData(1, 2, 3, 4, true, RecurrenceKernel.Fused)]     // one step: the backward's first step is its last
    [InlineData(5, 3, 3, 7, false, RecurrenceKernel.Fused)]
    [InlineData(5, 3, 3, 7, true, RecurrenceKernel.Fused)]
    [InlineData(1, 2, 3, 4, true, RecurrenceKernel.Tiled)]
    [InlineData(5, 3, 3, 7, false, RecurrenceKernel.Tiled)]
    [InlineData(5, 3, 3, 7, true, RecurrenceKernel.Tiled)]
    [InlineData(3, 37, 2, 21, false, RecurrenceKernel.Tiled)]   // past one block tile each way (the simulator's tile is 32): B = 37 rows, 4H = 84 gate columns
    [InlineData(3, 37, 2, 21, true, RecurrenceKernel.Tiled)]
    public void One_launch_lstm_steps_match_the_reference(int T, int B, int I, int H, bool reverse, RecurrenceKernel recurrence)
    {
        using var be = TestBackends.Create("ilgpu-cpu");
        ((IlgpuBackend)be).Recurrence = recurrence;
        LstmLayerConformance.Check(be, T, B, I, H, reverse);
    }

    /// <summary>The tiled step at a GPU's block tiles (64 and 128), on a CPU simulator with 256-thread groups.</summary>
    [Theory]
    [InlineData(64, false)]
    [InlineData(64, true)]
    [InlineData(128, true)]
    public void The_tiled_lstm_step_matches_the_reference_at_the_gpus_block_tiles(int tile, bool reverse)
    {
        using var be = Devices.CreateSimulator(warpsPerGroup: 8);
        be.Recurrence = RecurrenceKernel.Tiled;
        be.GemmTile = tile;
        LstmLayerConformance.Check(be, 3, 37, 2, 21, reverse);
    }

    [Theory]
    [InlineData(RecurrenceKernel.Fused)]
    [InlineData(RecurrenceKernel.Tiled)]
    public void A_one_launch_recurrence_launches_one_kernel_per_step_where_the_unfused_launches_two(RecurrenceKernel oneLaunch)
    {
        const int T = 6, B = 2, I = 3, H = 4;
        long Launches(RecurrenceKernel recurrence)
        {
            using var be = (IlgpuBackend)TestBackends.Create("ilgpu-cpu");
            be.Recurrence = recurrence;
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
        // Per step, forward and backward: 2 launches unfused (GEMM + cell), 1 with either one-launch kernel.
        Assert.Equal(2 * T, Launches(RecurrenceKernel.Unfused) - Launches(oneLaunch));
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
