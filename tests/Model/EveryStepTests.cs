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
        var every = new Windows(corpus, Split.Train, Config);
        var last = new Windows(corpus, Split.Train, Config with { EveryStep = false });
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
        new Windows(corpus, Split.Train, Config).Fill(a, picks);
        new Windows(corpus, Split.Train, last.Config).Fill(b, picks);
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
            var (_, nll, accuracy) = Trainer.Validate(model, new Windows(TrainerTests.TinyCorpus(), Split.Validation, Config), 8);
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
