using MathNet.Numerics.LinearAlgebra;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Model;
using MusicGen.Tests.Kernels;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Model;

/// <summary>
/// The float model's composed forward/backward (MusicModel) against the double reference network
/// (RefStack, itself proven by finite differences), with the same weights, inputs and dropout mask.
/// </summary>
public class ModelGradientTests
{
    [Theory]
    [InlineData("cpu", false, false, false, "regression")]
    [InlineData("cpu", true, true, false, "regression")]
    [InlineData("ilgpu-cpu", true, false, false, "regression")]
    [InlineData("cpu", false, false, true, "regression")]       // unidirectional, every step predicts
    [InlineData("ilgpu-cpu", true, false, true, "regression")]
    [InlineData("cpu", true, false, false, "categorical")]
    [InlineData("cpu", false, false, true, "categorical")]
    [InlineData("ilgpu-cpu", true, false, true, "categorical")]
    [InlineData("cpu", true, false, true, "step-first")]
    [InlineData("ilgpu-cpu", true, false, true, "step-first")]
    [InlineData("cpu", false, false, false, "regression-last")]   // bidirectional, the old reading: both halves at T-1
    [InlineData("ilgpu-cpu", true, false, false, "categorical-last")]
    [InlineData("cpu", true, false, false, "categorical", 0.3f)]        // weight drop, both directions
    [InlineData("ilgpu-cpu", true, false, true, "categorical", 0.3f)]
    [InlineData("cpu", true, false, false, "categorical", 0f, true)]    // locked dropout, bidirectional (D = 2H)
    [InlineData("ilgpu-cpu", true, false, true, "categorical", 0.3f, true)]
    [InlineData("cpu", true, false, false, "categorical", 0f, false, true)]     // residual, bidirectional
    [InlineData("ilgpu-cpu", true, false, true, "categorical", 0.3f, false, true)]
    public void Model_gradients_match_the_reference_network(string device, bool velocity, bool huber, bool everyStep, string heads, float weightDrop = 0, bool lockedDropout = false, bool residual = false)
    {
        bool stepFirst = heads == "step-first";
        if (stepFirst) heads = "categorical";
        string read = heads.EndsWith("-last") ? "last" : "ends";
        heads = heads.Replace("-last", "");
        var cfg = new ModelConfig
        {
            SeqLen = 4, Layers = 2, Hidden = 5, Dropout = 0.25f, WeightDrop = weightDrop, LockedDropout = lockedDropout, Residual = residual, Velocity = velocity, Huber = huber, Input = InputKind.Scalar,
            Bidirectional = !everyStep, EveryStep = everyStep, Heads = Enum.Parse<HeadKind>(heads, ignoreCase: true), StepBins = 5, DurationBins = 4, VelocityBins = 3, StepFirst = stepFirst,
            BidirectionalHeads = Enum.Parse<BidirectionalReading>(read, ignoreCase: true),
        };
        bool categorical = heads == "categorical";
        int K = cfg.ClassCount;
        int T = cfg.SeqLen, B = 3, I = cfg.InputSize, H = cfg.Hidden, D = cfg.LayerOutput, R = cfg.RegressionHeads, rows = cfg.HeadRows(B, T);
        using var be = TestBackends.Create(device);
        using var model = new MusicModel(be, cfg);
        model.Initialize(7);
        // Perturb layer-norm parameters away from (1, 0) so their gradients are exercised generically.
        var r = new Rand(3);
        foreach (var p in model.Parameters.Where(p => p.Name.StartsWith("norm.")))
            be.CopyFromHost(r.Floats(p.Length, 0.5f).Select(v => (p.Name.EndsWith("weight") ? 1 : 0) + v).ToArray(), p.Value);
        // ... and the step-first table away from its zero start.
        foreach (var p in model.Parameters.Where(p => p.Name == "heads.step_condition")) be.CopyFromHost(r.Floats(p.Length, 0.5f), p.Value);

        var batch = new Batch(cfg, B);
        r.Floats(batch.Inputs.Length).CopyTo(batch.Inputs, 0);
        for (int b = 0; b < rows; b++)
        {
            batch.Targets[b * (1 + R)] = 10 + 40 * (b % 3) + b;
            for (int k = 1; k <= R; k++) batch.Targets[b * (1 + R) + k] = categorical ? (b + k) % cfg.Groups.Size(k) : 0.2f * k;
        }
        const uint seed = 11, counter = 5;
        model.Forward(batch, training: true, seed, counter);
        var headLosses = model.Backward(batch);

        var P = model.Parameters.ToDictionary(p => p.Name, p => be.Download(p.Value));
        var G = model.Parameters.ToDictionary(p => p.Name, p => be.Download(p.Grad));
        // Weight drop: the reference runs on W_hh' = W_hh * mask (one mask per layer and direction for the whole forward),
        // so dL/dW_hh = dL/dW_hh' * mask. At 0 the mask is all ones.
        Matrix<double> WhhMask(int l, int d) => Matrix<double>.Build.Dense(4 * H, H, (i, j) =>
            weightDrop > 0 ? Dropout.Scale(seed, LstmStack.WeightDropCall(counter, l, d), (uint)(i * H + j), weightDrop) : 1.0);
        RefLstm Lstm(string s, int input)
        {
            int l = s[1] - '0', d = s.EndsWith("_reverse") ? 1 : 0;
            return new()
            {
            Wih = Rand.Mat(P[$"lstm.weight_ih_{s}"], 4 * H, input), Whh = Rand.Mat(P[$"lstm.weight_hh_{s}"], 4 * H, H).PointwiseMultiply(WhhMask(l, d)),
            Bih = Rand.Vec(P[$"lstm.bias_ih_{s}"]), Bhh = Rand.Vec(P[$"lstm.bias_hh_{s}"]),
            };
        }
        // Element (t, b, j) of a layer's output draws index (t*B + b)*D + j; locked, every t draws step 0's (b*D + j).
        Matrix<double> Mask(int layer, int t) => Matrix<double>.Build.Dense(B, D, (b, j) =>
            Dropout.Scale(seed, counter * 64 + (uint)layer, (uint)(((lockedDropout ? 0 : t) * B + b) * D + j), cfg.Dropout));
        RefLstm[] Layer(int l, int input) => cfg.Bidirectional ? [Lstm($"l{l}", input), Lstm($"l{l}_reverse", input)] : [Lstm($"l{l}", input)];
        var net = new RefStack
        {
            Residual = residual,
            EveryStep = everyStep,
            ReadEnds = cfg.ReadsEnds,
            Layers = [Layer(0, I), Layer(1, D)],
            Gain = [Rand.Vec(P["norm.0.weight"]), Rand.Vec(P["norm.1.weight"])], Bias = [Rand.Vec(P["norm.0.bias"]), Rand.Vec(P["norm.1.bias"])],
            Masks = [Enumerable.Range(0, T).Select(t => Mask(0, t)).ToArray(), Enumerable.Range(0, T).Select(t => Mask(1, t)).ToArray()],
            Wp = categorical ? Rand.Mat(P["heads.weight"], K, D) : Rand.Mat(P["pitch_head.weight"], 128, D),
            Bp = Rand.Vec(categorical ? P["heads.bias"] : P["pitch_head.bias"]),
            // A categorical model has no regression head: the reference gets a zero one that the loss ignores.
            Wr = categorical ? Matrix<double>.Build.Dense(1, D) : Rand.Mat(P["regression_head.weight"], R, D),
            Br = categorical ? Vector<double>.Build.Dense(1) : Rand.Vec(P["regression_head.bias"]),
            Groups = categorical ? new[] { 128, cfg.StepBins, cfg.DurationBins, cfg.VelocityBins }[..(1 + R)] : null,
            StepCondition = stepFirst ? Rand.Mat(P["heads.step_condition"], cfg.StepBins, K) : null,
            Weights = new RefOps.LossWeights(cfg.PitchWeight, cfg.StepWeight, cfg.DurationWeight, cfg.VelocityWeight, cfg.PositivePressure, huber),
        };
        var x = Rand.Seq(batch.Inputs, T, B, I);
        var targets = Enumerable.Range(0, rows).Select(b => batch.Targets.Skip(b * (1 + R)).Take(1 + R).Select(v => (double)v).ToArray()).ToArray();
        var g = net.Backward(x, targets);

        Assert.Equal(net.Loss(x, targets), MultiHeadLoss.Total(cfg.Loss, headLosses), 4);
        for (int l = 0; l < 2; l++)
        {
            foreach (var (d, s) in new[] { (0, $"l{l}"), (1, $"l{l}_reverse") }.Take(cfg.Directions))
            {
                Close.Matrix(G[$"lstm.weight_ih_{s}"], g.Wih[l][d], $"dW_ih {s}", atol: 1e-4);
                Close.Matrix(G[$"lstm.weight_hh_{s}"], g.Whh[l][d].PointwiseMultiply(WhhMask(l, d)), $"dW_hh {s}", atol: 1e-4);
                Close.All(G[$"lstm.bias_ih_{s}"], i => g.Bih[l][d][i], $"db_ih {s}", atol: 1e-4);
                Close.All(G[$"lstm.bias_hh_{s}"], i => g.Bhh[l][d][i], $"db_hh {s}", atol: 1e-4);
            }
            Close.All(G[$"norm.{l}.weight"], i => g.Gain[l][i], $"dgain {l}", atol: 1e-4);
            Close.All(G[$"norm.{l}.bias"], i => g.Bias[l][i], $"dbias {l}", atol: 1e-4);
        }
        if (categorical)
        {
            Close.Matrix(G["heads.weight"], g.Wp, "dW heads", atol: 1e-4);
            Close.All(G["heads.bias"], i => g.Bp[i], "db heads", atol: 1e-4);
            if (stepFirst) Close.Matrix(G["heads.step_condition"], g.StepCondition!, "d step condition", atol: 1e-4);
            Assert.DoesNotContain(model.Parameters, p => p.Name.StartsWith("regression_head") || p.Name.StartsWith("pitch_head"));
            return;
        }
        Close.Matrix(G["pitch_head.weight"], g.Wp, "dWp", atol: 1e-4);
        Close.All(G["pitch_head.bias"], i => g.Bp[i], "dbp", atol: 1e-4);
        Close.Matrix(G["regression_head.weight"], g.Wr, "dWr", atol: 1e-4);
        Close.All(G["regression_head.bias"], i => g.Br[i], "dbr", atol: 1e-4);
    }

    [Theory]
    [InlineData("last", true)]
    [InlineData("ends", false)]
    public void Reading_the_last_step_leaves_the_top_reverse_recurrence_untrained_and_reading_the_ends_trains_it(string read, bool zero)
    {
        var cfg = new ModelConfig { SeqLen = 5, Layers = 2, Hidden = 4, Dropout = 0, Input = InputKind.Scalar, Velocity = false, BidirectionalHeads = Enum.Parse<BidirectionalReading>(read, ignoreCase: true) };
        using var be = new MusicGen.Kernels.Backends.ManagedBackend();
        using var model = new MusicModel(be, cfg);
        model.Initialize(3);
        var batch = new Batch(cfg, 2);
        new Rand(5).Floats(batch.Inputs.Length).CopyTo(batch.Inputs, 0);
        for (int b = 0; b < 2; b++) batch.SetTarget(b, new MusicGen.Midi.NoteRow(60 + b, 0.25f, 0.5f, 80), 0, cfg);
        model.Forward(batch, training: true);
        model.Backward(batch);
        var g = be.Download(model.Parameters.Single(p => p.Name == "lstm.weight_hh_l1_reverse").Grad);
        // With "last", the reverse half's output at T-1 is its first step from a zero state: W_hh multiplies zero.
        Assert.Equal(zero, g.All(v => v == 0));
        Assert.Contains(be.Download(model.Parameters.Single(p => p.Name == "lstm.weight_hh_l1").Grad), v => v != 0);
    }

    [Fact]
    public void Embedding_input_model_trains_its_embedding()
    {
        var cfg = new ModelConfig { SeqLen = 3, Layers = 1, Hidden = 4, Input = InputKind.Embedding, EmbeddingDim = 3, Dropout = 0 };
        using var be = TestBackends.Create("cpu");
        using var model = new MusicModel(be, cfg);
        model.Initialize(1);
        var batch = new Batch(cfg, 2);
        for (int i = 0; i < batch.Ids.Length; i++) batch.Ids[i] = 60 + i;
        batch.Targets[0] = 62; batch.Targets[1 + cfg.RegressionHeads] = 64;
        model.Forward(batch, training: true);
        model.Backward(batch);
        var grad = be.Download(model.Parameters.Single(p => p.Name == "embedding.weight").Grad);
        Assert.Contains(grad.Skip(60 * 3).Take(6 * 3), v => v != 0); // rows of the ids used
        Assert.All(grad.Take(60 * 3), v => Assert.Equal(0f, v));    // no other rows
    }
}
