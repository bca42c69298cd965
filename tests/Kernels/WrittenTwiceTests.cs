using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>
/// The math that is written twice, each pair tested against each other directly (not only each against the double
/// reference): docs/ARCHITECTURE.md lists them.
///   - LSTM cell: the scalar LstmCell.Forward/Backward (the ILGPU kernels call them) and the managed backend's SIMD
///     transcription (TensorPrimitives over rows).
///   - Layer norm: the managed row functions (spans) and the ILGPU kernels (array views): the same loops.
///   - Softmax cross-entropy: MultiHeadLoss.PitchRow over spans (managed) and over array views (both loss kernels).
/// Where the two are the same operations in the same order they must agree bit for bit on the managed backend and
/// ILGPU's CPU accelerator; where the managed side uses SIMD (vectorised sigmoid/tanh, fused multiply-adds), to a few
/// float rounding steps.
/// </summary>
public class WrittenTwiceTests
{
    const int B = 3, H = 13; // 13: one 8-wide SIMD block and a scalar tail per row

    static float[] Wide(Rand r, int n)
    {
        var x = r.Floats(n, 4f);
        x[0] = 30f; x[1] = -30f; x[2] = 0f; x[5] = 12f; x[6] = -12f; // saturated and exact cases
        return x;
    }

    [Fact]
    public void Simd_cell_forward_equals_the_scalar_definition()
    {
        using var be = TestBackends.Create("cpu");
        var r = new Rand(31);
        float[] z = Wide(r, B * 4 * H), bih = r.Floats(4 * H), bhh = r.Floats(4 * H), cPrev = r.Floats(B * H, 2f);
        using var tz = be.Upload(z, B, 4 * H); using var tbi = be.Upload(bih, 4 * H); using var tbh = be.Upload(bhh, 4 * H);
        using var tcp = be.Upload(cPrev, B, H); using var tc = be.Allocate(B, H); using var th = be.Allocate(B, H);
        LstmCell.StepForward(be, B, H, tz, 0, tbi, tbh, tcp, 0, tc, 0, th, 0);
        float[] act = be.Download(tz), c = be.Download(tc), h = be.Download(th);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
            {
                int row = b * 4 * H;
                float Z(int gate) => z[row + gate * H + j] + bih[gate * H + j] + bhh[gate * H + j];
                var s = LstmCell.Forward(Z(0), Z(1), Z(2), Z(3), cPrev[b * H + j]);
                float[] want = [s.I, s.F, s.G, s.O, s.C, s.H];
                float[] got = [act[row + j], act[row + H + j], act[row + 2 * H + j], act[row + 3 * H + j], c[b * H + j], h[b * H + j]];
                for (int k = 0; k < 6; k++) Assert.True(Math.Abs(got[k] - want[k]) <= 2e-6f + 1e-5f * Math.Abs(want[k]), $"b {b} j {j} value {k}: SIMD {got[k]} scalar {want[k]}");
            }
    }

    [Fact]
    public void Simd_cell_backward_equals_the_scalar_definition()
    {
        using var be = TestBackends.Create("cpu");
        var r = new Rand(32);
        // Activations as forward leaves them: i, f, o in (0,1), g in (-1,1).
        var act = r.Floats(B * 4 * H).Select((v, k) => (k / H) % 4 == 2 ? v * 0.99f : 0.5f + 0.49f * v).ToArray();
        float[] c = r.Floats(B * H, 3f), cPrev = r.Floats(B * H, 3f), dhOut = r.Floats(B * H), dhRec = r.Floats(B * H), dc = r.Floats(B * H);
        using var ta = be.Upload(act, B, 4 * H); using var tc = be.Upload(c, B, H); using var tcp = be.Upload(cPrev, B, H);
        using var tdh = be.Upload(dhOut, B, H); using var tdr = be.Upload(dhRec, B, H); using var tdc = be.Upload(dc, B, H); using var tdz = be.Allocate(B, 4 * H);
        LstmCell.StepBackward(be, B, H, ta, 0, tc, 0, tcp, 0, tdh, 0, tdr, tdc, tdz, 0);
        float[] dz = be.Download(tdz), dcPrev = be.Download(tdc);
        for (int b = 0; b < B; b++)
            for (int j = 0; j < H; j++)
            {
                int row = b * 4 * H, u = b * H + j;
                var d = LstmCell.Backward(act[row + j], act[row + H + j], act[row + 2 * H + j], act[row + 3 * H + j], c[u], cPrev[u], dhOut[u] + dhRec[u], dc[u]);
                float[] want = [d.Di, d.Df, d.Dg, d.Do, d.DcPrev];
                float[] got = [dz[row + j], dz[row + H + j], dz[row + 2 * H + j], dz[row + 3 * H + j], dcPrev[u]];
                for (int k = 0; k < 5; k++) Assert.True(Math.Abs(got[k] - want[k]) <= 2e-6f + 1e-5f * Math.Abs(want[k]), $"b {b} j {j} gradient {k}: SIMD {got[k]} scalar {want[k]}");
            }
    }

    [Fact]
    public void Layer_norm_row_functions_and_kernels_agree_bit_for_bit()
    {
        const int R = 7, N = 19;
        var r = new Rand(33);
        float[] x = r.Floats(R * N, 3f), gain = r.Floats(N), bias = r.Floats(N), dy = r.Floats(R * N), dx0 = r.Floats(R * N);
        var results = new List<float[][]>();
        foreach (var device in new[] { "cpu", "ilgpu-cpu" })
        {
            using var be = TestBackends.Create(device);
            using var tx = be.Upload(x, R, N); using var tg = be.Upload(gain, N); using var tb = be.Upload(bias, N);
            using var ty = be.Allocate(R, N); using var mean = be.Allocate(R); using var rstd = be.Allocate(R);
            using var tdy = be.Upload(dy, R, N); using var tdx = be.Upload(dx0, R, N); using var tdg = be.Allocate(N); using var tdb = be.Allocate(N);
            LayerNorm.Forward(be, R, N, tx, tg, tb, ty, mean, rstd);
            LayerNorm.Backward(be, R, N, tdy, tx, tg, mean, rstd, tdx, tdg, tdb);
            results.Add([be.Download(ty), be.Download(mean), be.Download(rstd), be.Download(tdx), be.Download(tdg), be.Download(tdb)]);
        }
        var (cpu, sim) = (results[0], results[1]);
        Assert.Equal(cpu[0], sim[0]); // y
        Assert.Equal(cpu[1], sim[1]); // mean
        Assert.Equal(cpu[2], sim[2]); // rstd
        Assert.Equal(cpu[3], sim[3]); // dx: the same loop in both
        // dgain, dbias: the managed side sums rows with SIMD fused multiply-adds, the kernel one product at a time.
        Close.All(cpu[4], i => sim[4][i], "dgain", atol: 1e-6, rtol: 1e-5);
        Close.All(cpu[5], i => sim[5][i], "dbias", atol: 1e-6, rtol: 1e-5);
    }

    [Fact]
    public void Softmax_cross_entropy_over_spans_and_over_array_views_agree_bit_for_bit()
    {
        const int rows = 5;
        var groups = new CategoricalGroups(3, 128, 17, 9, 0, 1f, 0.5f, 0.25f, 0f);
        int W = groups.Width;
        var r = new Rand(34);
        var logits = Wide(r, rows * W);
        float[] targets = [5, 3, 8, 127, 0, 0, 64, 16, 1, 0, 2, 3, 100, 9, 7];
        var results = new List<float[][]>();
        foreach (var device in new[] { "cpu", "ilgpu-cpu" })
        {
            using var be = TestBackends.Create(device);
            using var tl = be.Upload(logits, rows, W); using var tt = be.Upload(targets, rows, 3); using var td = be.Allocate(rows, W); using var tr = be.Allocate(rows, 3);
            CategoricalLoss.ForwardBackward(be, rows, groups, tl, tt, td, tr);
            results.Add([be.Download(td), be.Download(tr)]);
        }
        Assert.Equal(results[0][0], results[1][0]);
        Assert.Equal(results[0][1], results[1][1]);
    }
}
