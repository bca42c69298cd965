using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>
/// Tensor views (<see cref="Backend.View"/>): the flat parameter buffer hands every parameter's value, gradient and Adam
/// moments to the ops as views at an offset into one big tensor. Every op that can receive one is run twice here, once
/// on tensors of its own and once on views placed at odd offsets inside larger tensors filled with a sentinel, and the two
/// runs must agree bit for bit while the sentinel around each view stays untouched.
/// </summary>
public class TensorViewTests
{
    public static TheoryData<string> Backends => new() { "cpu", "ilgpu-cpu" };
    const float Sentinel = -12345.5f;

    [Theory, MemberData(nameof(Backends))]
    public void A_view_is_a_window_onto_its_owner_in_both_directions(string device)
    {
        using var be = TestBackends.Create(device);
        using var owner = be.Upload(Enumerable.Range(0, 20).Select(i => (float)i).ToArray(), 20);
        var view = be.View(owner, 5, 3, 2);
        Assert.Equal([3, 2], view.Shape);
        Assert.Equal(new float[] { 5, 6, 7, 8, 9, 10 }, be.Download(view));
        be.CopyFromHost(new float[] { -1, -2 }, view, offset: 4);
        Assert.Equal(-1f, be.Download(owner)[9]);
        Assert.Equal(-2f, be.Download(owner)[10]);
        var nested = be.View(view, 1, 2);                      // a view of a view starts at the sum of the offsets
        Assert.Equal(new float[] { 6, 7 }, be.Download(nested));
        view.Dispose();                                        // frees nothing: the owner still reads
        Assert.Equal(20, be.Download(owner).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => be.View(owner, 15, 6));
        Assert.Throws<ArgumentOutOfRangeException>(() => be.View(owner, -1, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Elementwise.Fill(be, nested, 0f, 0, 3)); // ops check against the view's length
    }

    [Fact]
    public void A_view_of_another_backends_tensor_is_refused()
    {
        using var cpu = TestBackends.Create("cpu");
        using var sim = TestBackends.Create("ilgpu-cpu");
        using var t = cpu.Allocate(4);
        Assert.Throws<ArgumentException>(() => sim.View(t, 0, 2));
    }

    /// <summary>Runs <paramref name="op"/> on plain tensors and on views, from the same values; compares everything afterwards.</summary>
    static void Same(string device, (float[] Values, int[] Shape)[] inputs, Action<Backend, Tensor[]> op)
    {
        using var be = TestBackends.Create(device);
        var plain = inputs.Select(i => be.Upload(i.Values, i.Shape)).ToArray();
        var owners = new List<Tensor>();
        var views = new Tensor[inputs.Length];
        for (int i = 0; i < inputs.Length; i++)
        {
            int before = 3 + 7 * i, after = 5;                  // odd offsets: no alignment is assumed
            var host = Enumerable.Repeat(Sentinel, before + inputs[i].Values.Length + after).ToArray();
            inputs[i].Values.CopyTo(host, before);
            var owner = be.Upload(host, host.Length);
            owners.Add(owner);
            views[i] = be.View(owner, before, inputs[i].Shape);
        }
        op(be, plain);
        op(be, views);
        for (int i = 0; i < inputs.Length; i++)
        {
            Assert.Equal(be.Download(plain[i]), be.Download(views[i]));
            var all = be.Download(owners[i]);
            int before = 3 + 7 * i;
            Assert.All(all.Take(before).Concat(all.Skip(before + inputs[i].Values.Length)), v => Assert.Equal(Sentinel, v));
        }
        foreach (var t in plain.Concat(owners)) t.Dispose();
    }

    static (float[], int[]) T(Rand r, params int[] shape) => (r.Floats(shape.Aggregate(1, (a, d) => a * d)), shape);

    [Theory, MemberData(nameof(Backends))]
    public void Gemm_reads_and_writes_views(string device)
    {
        var r = new Rand(1);
        Same(device, [T(r, 5, 7), T(r, 9, 7), T(r, 5, 9)], (be, t) => Gemm.Forward(be, MatrixView.Of(t[0], 5, 7), MatrixView.Of(t[1], 9, 7).T, MatrixView.Of(t[2], 5, 9), beta: 0.5f));
        if (device == "cpu") // large enough for the packed GEMM, and for a packed W_hh: the LSTM's weights are views
            Same(device, [T(r, 64, 96), T(r, 96, 80), T(r, 64, 80)], (be, t) => Gemm.Forward(be, MatrixView.Of(t[0], 64, 96), MatrixView.Of(t[1], 96, 80), MatrixView.Of(t[2], 64, 80), beta: 1f));
    }

    [Theory, MemberData(nameof(Backends))]
    public void Lstm_layer_forward_and_backward_take_weight_and_gradient_views(string device)
    {
        var r = new Rand(2);
        int T_ = 3, B = 2, I = 3, H = 4;
        Same(device, [T(r, 4 * H, I), T(r, 4 * H, H), T(r, 4 * H), T(r, 4 * H), T(r, 4 * H, I), T(r, 4 * H, H), T(r, 4 * H), T(r, 4 * H)], (be, t) =>
        {
            var w = new LstmWeights(t[0], t[1], t[2], t[3]);
            var g = new LstmWeights(t[4], t[5], t[6], t[7]);
            var rr = new Rand(3);
            using var ws = new LstmWorkspace(be, T_, B, I, H);
            using var x = be.Upload(rr.Floats(T_ * B * I), T_, B, I); using var h0 = be.Upload(rr.Floats(B * H), B, H); using var c0 = be.Upload(rr.Floats(B * H), B, H);
            using var dh = be.Upload(rr.Floats(T_ * B * H), T_, B, H);
            LstmLayer.Forward(be, ws, w, reverse: false, x, h0, c0);
            LstmLayer.Backward(be, ws, g, dh);
            Glue.Axpy(be, 1f, ws.H, 0, g.Bih, 0, 4 * H); // fold the output into a compared tensor as well
        });
    }

    [Theory, MemberData(nameof(Backends))]
    public void Layer_norm_bias_add_and_row_sums_take_parameter_views(string device)
    {
        var r = new Rand(4);
        int R = 6, N = 5;
        Same(device, [T(r, R, N), T(r, N), T(r, N), T(r, R, N), T(r, R), T(r, R), T(r, R, N), T(r, R, N), T(r, N), T(r, N)], (be, t) =>
        {
            LayerNorm.Forward(be, R, N, t[0], t[1], t[2], t[3], t[4], t[5]);
            LayerNorm.Backward(be, R, N, t[6], t[0], t[1], t[4], t[5], t[7], t[8], t[9]);
            Glue.AddBias(be, t[3], t[2], R, N);
            Elementwise.SumRowsForward(be, t[6], R, N, t[9]);
            Glue.Transpose(be, t[0], t[7], R, N);
        });
    }

    [Theory, MemberData(nameof(Backends))]
    public void Embedding_conditioning_and_adam_take_parameter_views(string device)
    {
        var r = new Rand(5);
        float[] ids = [3, 0, 2, 3], targets = [1, 0, 2, 1];
        Same(device, [(ids, [4]), T(r, 4, 3), T(r, 4, 6), T(r, 4, 6), (targets, [4]), T(r, 3, 6), T(r, 3, 6), T(r, 4, 3)], (be, t) =>
        {
            Glue.EmbeddingForward(be, t[0], t[1], t[7], 4, 4, 3);
            Glue.EmbeddingBackward(be, t[0], t[7], t[1], 4, 4, 3);
            ClassConditioning.Forward(be, t[2], t[4], t[5], 4, 6, 1, 0, 0, 3);
            ClassConditioning.Backward(be, t[3], t[4], t[6], 4, 6, 1, 0, 0, 3);
        });
        Same(device, [T(r, 40), T(r, 40), T(r, 40), (r.Floats(40).Select(Math.Abs).ToArray(), [40]), ([0f], [1]), (new float[1], [1])], (be, t) =>
        {
            Adam.SumSquares(be, t[1], 40, t[5], t[4]);
            Adam.Step(be, t[0], t[1], t[2], t[3], 40, new AdamConfig(MaxGradNorm: 0.5f, WeightDecay: 0.01f), 3, t[4]);
            Elementwise.Fill(be, t[1], 0f);
        });
    }
}
