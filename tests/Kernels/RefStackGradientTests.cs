using MathNet.Numerics.LinearAlgebra;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>Finite-difference proof of the composed reference: 2-layer Bi-LSTM + layer norm + dropout + heads + loss.</summary>
public class RefStackGradientTests
{
    static RefStack Build(Rand r, int I, int H, int T, int B, int R, bool huber, int dirs = 2, bool everyStep = false, int[]? groups = null, bool readEnds = false, bool residual = false)
    {
        int K = groups?.Sum() ?? 128;
        int D = dirs * H;
        RefLstm Lstm(int inp) => new()
        {
            Wih = Rand.Mat(r.Floats(4 * H * inp, 0.6f), 4 * H, inp), Whh = Rand.Mat(r.Floats(4 * H * H, 0.6f), 4 * H, H),
            Bih = Rand.Vec(r.Floats(4 * H, 0.3f)), Bhh = Rand.Vec(r.Floats(4 * H, 0.3f)),
        };
        const double p = 0.25;
        Matrix<double> Mask() => Rand.Mat(r.Floats(B * D), B, D).Map(u => (u + 1) / 2 >= p ? 1 / (1 - p) : 0);
        RefLstm[] Layer(int inp) => Enumerable.Range(0, dirs).Select(_ => Lstm(inp)).ToArray();
        return new RefStack
        {
            Layers = [Layer(I), Layer(D)],
            Gain = [Rand.Vec(r.Floats(D)).Map(v => 1 + 0.5 * v), Rand.Vec(r.Floats(D)).Map(v => 1 + 0.5 * v)],
            Bias = [Rand.Vec(r.Floats(D, 0.2f)), Rand.Vec(r.Floats(D, 0.2f))],
            Masks = [Enumerable.Range(0, T).Select(_ => Mask()).ToArray(), Enumerable.Range(0, T).Select(_ => Mask()).ToArray()],
            Wp = Rand.Mat(r.Floats(K * D, 0.5f), K, D), Bp = Rand.Vec(r.Floats(K, 0.1f)),
            Wr = Rand.Mat(r.Floats(R * D, 0.5f), R, D), Br = Rand.Vec(r.Floats(R, 0.1f)),
            Weights = new RefOps.LossWeights(1.0, 0.7, 0.9, 0.3, Huber: huber),
            EveryStep = everyStep,
            ReadEnds = readEnds,
            Residual = residual,
            Groups = groups,
        };
    }

    [Theory]
    [InlineData(2, false, false)]
    [InlineData(1, true, false)]   // unidirectional, every step
    [InlineData(1, true, true)]    // step first: the other heads conditioned on the true step bin
    public void Two_layer_stack_with_categorical_heads(int dirs, bool everyStep, bool stepFirst)
    {
        const int T = 3, B = 2, I = 3, H = 3;
        int[] groups = [128, 5, 4, 3];
        var r = new Rand(91 + dirs);
        var net = Build(r, I, H, T, B, 3, false, dirs, everyStep, groups);
        if (stepFirst) net.StepCondition = Rand.Mat(r.Floats(5 * 140, 0.8f), 5, 140);
        var x = Rand.Seq(r.Floats(T * B * I), T, B, I);
        int rows = everyStep ? T * B : B;
        var targets = Enumerable.Range(0, rows).Select(b => new double[] { 5 + 60 * (b % 2) + b, b % 5, (b + 1) % 4, b % 3 }).ToArray();
        double Loss() => net.Loss(x, targets);
        var g = net.Backward(x, targets);
        for (int l = 0; l < 2; l++)
            for (int d = 0; d < dirs; d++)
            {
                Mat($"L{l}D{d} W_ih", net.Layers[l][d].Wih, g.Wih[l][d], Loss);
                Mat($"L{l}D{d} W_hh", net.Layers[l][d].Whh, g.Whh[l][d], Loss);
            }
        Mat("head W", net.Wp, g.Wp, Loss);
        Vec("head b", net.Bp, g.Bp, Loss);
        if (stepFirst)
        {
            Mat("step condition", net.StepCondition!, g.StepCondition!, Loss);
            Assert.All(Enumerable.Range(0, 5), s => Assert.Equal(0, g.StepCondition!.SubMatrix(0, 5, 128, 5).Column(s).AbsoluteMaximum())); // the step's own columns: no gradient
        }
        for (int t = 0; t < T; t++) Mat($"x[{t}]", x[t], g.X[t], Loss);
    }

    [Fact]
    public void Categorical_loss_gradient_alone_matches_finite_differences()
    {
        var r = new Rand(8);
        int[] sizes = [128, 7, 5, 4];
        var logits = Rand.Mat(r.Floats(3 * 144, 2f), 3, 144);
        double[][] targets = [[0, 0, 4, 3], [127, 6, 0, 1], [64, 3, 2, 0]];
        double[] w = [1, 0.5, 0.7, 0.25];
        var (heads, total, dl) = RefOps.CategoricalLoss(logits, targets, sizes, w);
        Assert.Equal(total, heads.Zip(w, (h, k) => h * k).Sum(), 12);
        Mat("logits", logits, dl, () => RefOps.CategoricalLoss(logits, targets, sizes, w).Total);
    }

    [Fact]
    public void Two_layer_frame_model_stack_with_binary_cross_entropy_and_padding()
    {
        const int T = 3, B = 2, I = 6, H = 3, K = 6;
        var r = new Rand(23);
        var net0 = Build(r, I, H, T, B, 1, false, dirs: 1, everyStep: true, groups: [K]);
        var targets = Rand.Mat(r.Floats(T * B * K).Select(v => v > 0.3f ? 1f : 0f).ToArray(), T * B, K);
        double[] weights = [1, 1, 1, 1, 1, 0]; // the second piece is a step shorter: its last row is padding
        var net = new RefStack
        {
            Layers = net0.Layers, Gain = net0.Gain, Bias = net0.Bias, Masks = net0.Masks, Wp = net0.Wp, Bp = net0.Bp,
            Wr = Matrix<double>.Build.Dense(1, H), Br = Vector<double>.Build.Dense(1), Weights = net0.Weights, EveryStep = true,
            Bce = (targets, weights, 1 / 5.0),
        };
        var x = Rand.Seq(r.Floats(T * B * I).Select(v => v > 0 ? 1f : 0f).ToArray(), T, B, I);
        double Loss() => net.Loss(x, []);
        var g = net.Backward(x, []);
        for (int l = 0; l < 2; l++)
        {
            Mat($"L{l} W_ih", net.Layers[l][0].Wih, g.Wih[l][0], Loss);
            Mat($"L{l} W_hh", net.Layers[l][0].Whh, g.Whh[l][0], Loss);
            Vec($"L{l} b_ih", net.Layers[l][0].Bih, g.Bih[l][0], Loss);
            Vec($"L{l} gain", net.Gain[l], g.Gain[l], Loss);
            Vec($"L{l} bias", net.Bias[l], g.Bias[l], Loss);
        }
        Mat("head W", net.Wp, g.Wp, Loss);
        Vec("head b", net.Bp, g.Bp, Loss);
    }

    [Fact]
    public void Binary_cross_entropy_gradient_alone_matches_finite_differences()
    {
        var r = new Rand(18);
        var logits = Rand.Mat(r.Floats(4 * 9, 5f), 4, 9);
        var targets = Rand.Mat(r.Floats(4 * 9).Select(v => v > 0 ? 1f : 0f).ToArray(), 4, 9);
        targets[1, 2] = 0.3; // soft targets too
        double[] w = [1, 0, 0.5, 1];
        var (rows, total, dl) = RefOps.BinaryCrossEntropy(logits, targets, w, 1 / 2.5);
        Assert.Equal(0, rows[1]);
        Assert.Equal(total, rows.Sum() / 2.5, 12);
        Mat("logits", logits, dl, () => RefOps.BinaryCrossEntropy(logits, targets, w, 1 / 2.5).Total);
    }

    [Theory]
    [InlineData(2, false, 2, false)]
    [InlineData(3, true, 2, false)]
    [InlineData(2, false, 1, true)]  // unidirectional, heads and loss on every step
    [InlineData(3, true, 1, false)]  // unidirectional, last step only
    [InlineData(2, false, 2, false, true)] // bidirectional, the heads read forward at T-1 and reverse at 0
    [InlineData(3, true, 2, false, true)]
    [InlineData(2, false, 2, false, true, true)]  // residual: layer 1 adds its input to its output
    [InlineData(2, false, 1, true, false, true)]
    public void Two_layer_stack_with_layer_norm_dropout_heads_and_loss(int R, bool huber, int dirs, bool everyStep, bool readEnds = false, bool residual = false)
    {
        const int T = 4, B = 2, I = 3, H = 3;
        var r = new Rand(17 + R + 10 * dirs);
        var net = Build(r, I, H, T, B, R, huber, dirs, everyStep, readEnds: readEnds, residual: residual);
        var x = Rand.Seq(r.Floats(T * B * I), T, B, I);
        // Targets: pitches, and regression targets around the predictions (some predictions negative, to exercise positive pressure).
        int rows = everyStep ? T * B : B;
        var targets = Enumerable.Range(0, rows).Select(b => new[] { 5.0 + 60 * (b % 2) + b, 0.3, -0.2, 0.5 }.Take(1 + R).ToArray()).ToArray();
        double Loss() => net.Loss(x, targets);
        var g = net.Backward(x, targets);

        for (int l = 0; l < 2; l++)
        {
            for (int d = 0; d < dirs; d++)
            {
                var lstm = net.Layers[l][d];
                Mat($"L{l}D{d} W_ih", lstm.Wih, g.Wih[l][d], Loss);
                Mat($"L{l}D{d} W_hh", lstm.Whh, g.Whh[l][d], Loss);
                Vec($"L{l}D{d} b_ih", lstm.Bih, g.Bih[l][d], Loss);
                Vec($"L{l}D{d} b_hh", lstm.Bhh, g.Bhh[l][d], Loss);
            }
            Vec($"L{l} gain", net.Gain[l], g.Gain[l], Loss);
            Vec($"L{l} bias", net.Bias[l], g.Bias[l], Loss);
        }
        Mat("pitch W", net.Wp, g.Wp, Loss);
        Vec("pitch b", net.Bp, g.Bp, Loss);
        Mat("reg W", net.Wr, g.Wr, Loss);
        Vec("reg b", net.Br, g.Br, Loss);
        for (int t = 0; t < T; t++) Mat($"x[{t}]", x[t], g.X[t], Loss);
    }

    [Fact]
    public void Loss_gradient_alone_matches_finite_differences_including_positive_pressure_and_huber()
    {
        var r = new Rand(4);
        var logits = Rand.Mat(r.Floats(3 * 128, 2f), 3, 128);
        var reg = Rand.Mat(r.Floats(3 * 3, 1.5f), 3, 3); // about half negative
        double[][] targets = [[0, 0.1, 0.2, 0.3], [127, 0.5, -0.5, 1.2], [64, 2.0, 0.0, -1.0]];
        foreach (bool huber in new[] { false, true })
        {
            var w = new RefOps.LossWeights(0.5, 1, 2, 0.25, Huber: huber);
            var (_, _, dl, dr) = RefOps.Loss(logits, reg, targets, w);
            Mat("logits", logits, dl, () => RefOps.Loss(logits, reg, targets, w).Total);
            Mat("reg", reg, dr, () => RefOps.Loss(logits, reg, targets, w).Total);
        }
    }

    static void Mat(string name, Matrix<double> m, Matrix<double> grad, Func<double> loss)
    {
        int cols = m.ColumnCount;
        FiniteDifference.Check(name, m.RowCount * cols, i => m[i / cols, i % cols], (i, v) => m[i / cols, i % cols] = v, loss, i => grad[i / cols, i % cols]);
    }

    static void Vec(string name, Vector<double> v, Vector<double> grad, Func<double> loss) =>
        FiniteDifference.Check(name, v.Count, i => v[i], (i, x) => v[i] = x, loss, i => grad[i]);
}
