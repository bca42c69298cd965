using MusicGen.Midi.Corpus;
using MusicGen.Model;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;

namespace MusicGen.Tests.Model;

/// <summary>
/// Every-step targets (ModelConfig.EveryStep): a unidirectional model whose every time step predicts the next
/// note. Its gradients are proven against the reference in ModelGradientTests; here, its data layout, its
/// agreement with the last-step model where they must agree, training and generation.
/// </summary>
public class EveryStepTests
{
    static readonly ModelConfig Config = new() { SeqLen = 4, Layers = 2, Hidden = 8, EmbeddingDim = 4, Dropout = 0, Bidirectional = false, EveryStep = true, Heads = HeadKind.Regression, Velocity = false };

    [Fact]
    public void A_bidirectional_every_step_model_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => (Config with { Bidirectional = true }).Validate());
        Assert.Contains("unidirectional", e.Message);
    }

    [Fact]
    public void Windows_give_every_step_its_next_note_and_the_last_rows_match_the_last_step_layout()
    {
        var corpus = TrainerTests.TinyCorpus();
        var every = new MusicGen.Model.Windows(corpus, Split.Train, Config);
        var last = new MusicGen.Model.Windows(corpus, Split.Train, Config with { EveryStep = false });
        int[] picks = [0, 7, 30];
        var a = new Batch(Config, picks.Length);
        var b = new Batch(Config with { EveryStep = false }, picks.Length);
        every.Fill(a, picks, _ => 2);
        last.Fill(b, picks, _ => 2);
        int B = picks.Length, T = Config.SeqLen, W = 1 + Config.RegressionHeads;
        Assert.Equal(T * B * W, a.Targets.Length);
        Assert.Equal(B * W, b.Targets.Length);
        for (int i = 0; i < B; i++)
            for (int t = 0; t < T; t++)
            {
                var next = corpus.Notes[every.Starts[picks[i]] + t + 1];
                Assert.Equal(next.Pitch + 2, a.Targets[(t * B + i) * W]);
                Assert.Equal(Config.ClipSeconds(next.Step), a.Targets[(t * B + i) * W + 1]);
                Assert.Equal(Config.ClipSeconds(next.Duration), a.Targets[(t * B + i) * W + 2]);
            }
        Assert.Equal(b.Targets, a.Targets[((T - 1) * B * W)..]);
        for (int i = 0; i < B; i++) Assert.Equal(b.TargetPitch(i, Config with { EveryStep = false }), a.TargetPitch(i, Config));
        Assert.Equal(b.Ids, a.Ids);
    }

    [Fact]
    public void Outputs_and_validation_loss_are_the_prediction_after_the_window_like_a_last_step_model()
    {
        using var be = TestBackends.Create("cpu");
        using var every = new MusicModel(be, Config);
        using var last = new MusicModel(be, Config with { EveryStep = false });
        every.Initialize(3);
        last.Initialize(3); // same names, same shapes, same seed: the same weights
        var corpus = TrainerTests.TinyCorpus();
        int[] picks = [1, 2, 40, 41, 5];
        var a = new Batch(Config, picks.Length);
        var b = new Batch(last.Config, picks.Length);
        new MusicGen.Model.Windows(corpus, Split.Train, Config).Fill(a, picks);
        new MusicGen.Model.Windows(corpus, Split.Train, last.Config).Fill(b, picks);
        every.Forward(a, training: false);
        last.Forward(b, training: false);
        var (la, ra) = every.Outputs(picks.Length);
        var (lb, rb) = last.Outputs(picks.Length);
        // Equal up to float rounding: the heads' GEMM has T*B rows instead of B, so it may block differently.
        for (int i = 0; i < lb.Length; i++) Assert.Equal(lb[i], la[i], 5);
        for (int i = 0; i < rb.Length; i++) Assert.Equal(rb[i], ra[i], 5);
        var (lossA, lossB) = (every.Loss(a), last.Loss(b));
        for (int k = 0; k < lossA.Length; k++) Assert.Equal(lossB[k], lossA[k], 5);
        // The training loss is the mean over all T*B predictions: the earlier steps (less context) are different.
        Assert.NotEqual(last.Backward(b)[0], every.Backward(a)[0]); // (after an inference forward: no dropout, as recorded)
    }

    [Fact]
    public void A_tiny_every_step_run_learns_and_generates_from_a_one_note_primer_carrying_its_state()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var outcome = new Trainer(be, TrainerTests.TinyCorpus(), "/tiny", dir["run"]).Train(Config,
            new TrainOptions { Epochs = 15, BatchSize = 8, LearningRate = 0.02f, WarmupSteps = 5, Transpose = 0, Patience = 0 });
        Assert.Equal(TrainOutcome.Completed, outcome);
        var (model, _) = Checkpoint.Load(dir["run/last.safetensors"], be);
        using (model)
        {
            var (_, nll, accuracy) = Trainer.Validate(model, new MusicGen.Model.Windows(TrainerTests.TinyCorpus(), Split.Validation, Config), 8);
            Assert.True(accuracy > 0.9, $"validation accuracy {accuracy:P1}, NLL {nll:F3}: the tiny patterns should be learnt");

            Assert.Equal(1, Generator.MinPrimer(Config));
            var primer = Generator.DefaultPrimer(1);
            var piece = Generator.Generate(model, primer, new GenerateOptions(Notes: 6, Count: 2, Seed: 4))[0];
            Assert.Equal(7, piece.Length);
            // The carried state after the 1-note primer and 5 generated notes equals one 6-step forward.
            var all = new Batch(model.Config, 1, steps: 6);
            for (int t = 0; t < 6; t++) all.SetInput(t, piece[t], 0, model.Config);
            model.Forward(all, training: false);
            var (_, reg) = model.Outputs(1, 6);
            Assert.Equal(Math.Clamp(reg[0], 0f, Config.MaxSeconds), piece[6].Step, 4);
            Assert.Equal(Math.Clamp(reg[1], 0.05f, Config.MaxSeconds), piece[6].Duration, 4);
            Assert.Throws<ArgumentException>(() => Generator.Generate(model, ReadOnlySpan<MusicGen.Midi.NoteRow>.Empty, new GenerateOptions()));
        }
    }
}

/// <summary>Training from a carried state (what truncated backpropagation through time needs): the gradient is of the
/// loss as a function of the weights with that initial state, although the forward replaces the state with the final one.</summary>
public class CarriedStateGradientTests
{
    [Fact]
    public void Backward_after_a_forward_from_a_carried_state_matches_finite_differences()
    {
        var cfg = new ModelConfig
        {
            SeqLen = 3, Layers = 2, Hidden = 5, EmbeddingDim = 3, Dropout = 0, LayerNorm = false, Bidirectional = false, EveryStep = true,
            StepBins = 4, DurationBins = 3, VelocityBins = 2, StepFirst = false,
        };
        using var be = MusicGen.Tests.Kernels.TestBackends.Create("cpu");
        using var model = new MusicModel(be, cfg);
        model.Initialize(7);
        var batch = new Batch(cfg, 2);
        var r = new Random(3);
        for (int row = 0; row < 3 * 2; row++)
        {
            batch.SetInput(row, new MusicGen.Midi.NoteRow(50 + r.Next(20), r.Next(3) * 0.25f, 0.3f, 70), 0, cfg);
            batch.SetTarget(row, new MusicGen.Midi.NoteRow(50 + r.Next(20), r.Next(3) * 0.25f, 0.3f, 70), 0, cfg);
        }
        // A state far from zero, as one window's end leaves it for the next.
        var h0 = Enumerable.Range(0, cfg.Layers).Select(_ => Enumerable.Range(0, 2 * cfg.Hidden).Select(_ => (float)(r.NextDouble() * 1.6 - 0.8)).ToArray()).ToArray();
        var c0 = Enumerable.Range(0, cfg.Layers).Select(_ => Enumerable.Range(0, 2 * cfg.Hidden).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray()).ToArray();
        double[] weights = [cfg.PitchWeight, cfg.StepWeight, cfg.DurationWeight, cfg.VelocityWeight];
        double Objective()
        {
            using var state = model.NewState(2);
            for (int l = 0; l < cfg.Layers; l++) { be.CopyFromHost(h0[l], state.H[l]); be.CopyFromHost(c0[l], state.C[l]); }
            model.Forward(batch, training: true, state: state);
            var heads = model.Backward(batch);
            return heads.Select((v, k) => weights[k] * v).Sum();
        }
        Objective();
        var whh = model.Parameters.Single(p => p.Name == "lstm.weight_hh_l0");
        var analytic = be.Download(whh.Grad);
        var values = be.Download(whh.Value);
        const float eps = 1e-2f;
        foreach (int i in new[] { 0, 7, 31, 60, 99 })
        {
            float v = values[i];
            values[i] = v + eps; be.CopyFromHost(values, whh.Value); model.MarkWeightsChanged();
            double up = Objective();
            values[i] = v - eps; be.CopyFromHost(values, whh.Value); model.MarkWeightsChanged();
            double down = Objective();
            values[i] = v; be.CopyFromHost(values, whh.Value); model.MarkWeightsChanged();
            double numeric = (up - down) / (2 * eps);
            Assert.True(Math.Abs(numeric - analytic[i]) <= 2e-3 + 0.02 * Math.Abs(numeric), $"W_hh[{i}]: finite differences {numeric}, backward {analytic[i]}");
        }
    }
}
