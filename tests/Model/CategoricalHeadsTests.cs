using MusicGen.Midi;
using MusicGen.Midi.Corpus;
using MusicGen.Model;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Model;

/// <summary>Step, duration and velocity as bins: the quantisation, the targets, old checkpoints, and what generation samples.</summary>
public class CategoricalHeadsTests
{
    /// <summary>Independent heads (each drawn on its own), so the greedy checks below can read each head's argmax directly.</summary>
    static readonly ModelConfig Config = new() { SeqLen = 4, Layers = 1, Hidden = 16, EmbeddingDim = 8, Dropout = 0, Bidirectional = false, EveryStep = true, StepFirst = false };

    [Fact]
    public void Bins_cover_the_range_in_order_and_each_value_falls_in_its_own_bin()
    {
        var bins = new NoteBins(new ModelConfig());
        Assert.Equal(64, bins.StepValues.Length);
        Assert.Equal(0, bins.StepBin(0f));
        Assert.Equal(0, bins.StepBin(NoteBins.ChordSeconds * 0.99f));  // a chord
        Assert.Equal(1, bins.StepBin(NoteBins.ChordSeconds));
        Assert.Equal(63, bins.StepBin(100f));                            // beyond the end: the last bin
        Assert.Equal(0f, bins.StepValues[0]);
        for (int k = 0; k < 64; k++) Assert.Equal(k, bins.StepBin(bins.StepValues[k]));
        for (int k = 0; k < 64; k++) Assert.Equal(k, bins.DurationBin(bins.DurationValues[k]));
        for (int k = 0; k < 32; k++) Assert.Equal(k, bins.VelocityBin(bins.VelocityValues[k]));
        for (int k = 2; k < 64; k++) Assert.True(bins.StepValues[k] > bins.StepValues[k - 1]);
        Assert.Equal(0, bins.DurationBin(0.001f));
        Assert.Equal(0, bins.VelocityBin(1));
        Assert.Equal(31, bins.VelocityBin(127));
        // Log spacing: neighbouring step values differ by the same ratio, under 10 % at 64 bins.
        double ratio = bins.StepValues[10] / bins.StepValues[9];
        Assert.InRange(ratio, 1.01, 1.10);
        Assert.Equal(ratio, bins.StepValues[40] / bins.StepValues[39], 3);
        // A quarter note at 120 bpm comes back within half a bin.
        Assert.InRange(bins.StepValues[bins.StepBin(0.5f)], 0.5 / Math.Sqrt(ratio), 0.5 * Math.Sqrt(ratio));
    }

    [Fact]
    public void Targets_are_bin_indices_and_old_configs_load_as_regression()
    {
        var corpus = TrainerTests.TinyCorpus();
        var windows = new MusicGen.Model.Windows(corpus, Split.Train, Config);
        var batch = new Batch(Config, 2);
        windows.Fill(batch, [0, 3]);
        var bins = new NoteBins(Config);
        int W = 1 + Config.RegressionHeads, B = 2;
        for (int t = 0; t < Config.SeqLen; t++)
        {
            var next = corpus.Notes[windows.Starts[3] + t + 1];
            int row = t * B + 1;
            Assert.Equal(next.Pitch, batch.Targets[row * W]);
            Assert.Equal(bins.StepBin(next.Step), batch.Targets[row * W + 1]);
            Assert.Equal(bins.DurationBin(next.Duration), batch.Targets[row * W + 2]);
            Assert.Equal(bins.VelocityBin(next.Velocity), batch.Targets[row * W + 3]);
        }
        // A config stored before the Heads option existed is the original regression design.
        string old = Config.ToJson().Replace(",\"Heads\":\"categorical\"", "").Replace("\"BidirectionalHeads\":\"ends\",", "");
        Assert.DoesNotContain("Heads", old);
        Assert.Equal(HeadKind.Regression, ModelConfig.FromJson(old).Heads);
        Assert.Equal(BidirectionalReading.Last, ModelConfig.FromJson(old).BidirectionalHeads); // and, as every config before that option, reads the last step
        Assert.Equal(Config, ModelConfig.FromJson(Config.ToJson()));
        Assert.Throws<ArgumentException>(() => (Config with { Heads = (HeadKind)7 }).Validate());
        // The stored names are the strings the options were before they became enums; a config without "Time" counts seconds.
        Assert.Contains("\"Heads\":\"categorical\"", Config.ToJson());
        Assert.Contains("\"Input\":\"embedding\"", Config.ToJson());
        Assert.Equal(MusicGen.Midi.TimeUnit.Seconds, ModelConfig.FromJson(Config.ToJson().Replace(",\"Time\":\"seconds\"", "")).Time);
        Assert.Equal(MusicGen.Midi.TimeUnit.Beats, ModelConfig.FromJson(Config.ToJson().Replace("\"Time\":\"seconds\"", "\"Time\":\"Beats\"")).Time);
    }

    [Fact]
    public void Generation_samples_every_feature_from_its_bins_and_carries_state_like_one_long_forward()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        new Trainer(be, TrainerTests.TinyCorpus(), "/tiny", dir["run"]).Train(Config, new TrainOptions { Epochs = 3, BatchSize = 8, LearningRate = 0.02f, WarmupSteps = 5, Transpose = 0, Patience = 0 });
        var (model, _) = Checkpoint.Load(dir["run/last.safetensors"], be);
        using (model)
        {
            var bins = new NoteBins(model.Config);
            var primers = Generator.RandomPrimers(model.Config, 4, seed: 9);
            var pieces = Generator.Generate(model, primers, new GenerateOptions(Notes: 40, Count: 4, Seed: 3));
            foreach (var piece in pieces)
                foreach (var n in piece[3..])
                {
                    Assert.Contains(n.Step, bins.StepValues);
                    Assert.Contains(n.Duration, bins.DurationValues.Select(v => Math.Max(v, 0.05f)));
                    Assert.Contains(n.Velocity, bins.VelocityValues.Select(v => MathF.Round(v))); // MIDI velocities are whole numbers
                }
            // Greedy (near-zero temperatures everywhere): each note is the argmax of each head. The last one, proposed from the
            // state carried note by note, must be the argmax of one forward over the whole 9-note history.
            var cold = new HeadSampling(1e-4f, 1f);
            var greedy = Generator.Generate(model, [pieces[0][..3]], new GenerateOptions(Notes: 7, Count: 1, Seed: 5,
                Sampling: new SamplingOptions(Temperature: 1e-4f) { Step = cold, Duration = cold, Velocity = cold }))[0];
            Assert.Equal(greedy, Generator.Generate(model, [pieces[0][..3]], new GenerateOptions(Notes: 7, Count: 1, Seed: 99,
                Sampling: new SamplingOptions(Temperature: 1e-4f) { Step = cold, Duration = cold, Velocity = cold }))[0]); // no randomness left
            var all = new Batch(model.Config, 1, steps: 9);
            for (int t = 0; t < 9; t++) all.SetInput(t, greedy[t], 0, model.Config);
            model.Forward(all, training: false);
            var (logits, reg) = model.Outputs(1, 9);
            Assert.Empty(reg);
            Assert.Equal(model.Config.ClassCount, logits.Length);
            int ArgMax(int from, int count) { int best = from; for (int j = from; j < from + count; j++) if (logits[j] > logits[best]) best = j; return best - from; }
            var next = greedy[9];
            Assert.Equal(ArgMax(0, 128), (int)next.Pitch);
            Assert.Equal(bins.StepValues[ArgMax(128, bins.StepBins)], next.Step);
            Assert.Equal(Math.Max(bins.DurationValues[ArgMax(128 + bins.StepBins, bins.DurationBins)], 0.05f), next.Duration);
            Assert.Equal(MathF.Round(bins.VelocityValues[ArgMax(128 + bins.StepBins + bins.DurationBins, bins.VelocityBins)]), next.Velocity);
        }
    }

    [Fact]
    public void A_step_first_model_trains_and_draws_pitch_after_the_step_with_the_step_offsets()
    {
        using var dir = new TempDir();
        using var be = TestBackends.Create("cpu");
        var config = Config with { StepFirst = true };
        new Trainer(be, TrainerTests.TinyCorpus(), "/tiny", dir["run"]).Train(config, new TrainOptions { Epochs = 3, BatchSize = 8, LearningRate = 0.02f, WarmupSteps = 5, Transpose = 0, Patience = 0 });
        var (model, _) = Checkpoint.Load(dir["run/last.safetensors"], be);
        using (model)
        {
            var table = model.StepConditionTable()!;
            int K = model.Config.ClassCount, S = model.Config.StepBins;
            Assert.Equal(S * K, table.Length);
            Assert.Contains(table, v => v != 0);                                              // trained away from zero
            for (int s = 0; s < S; s++) Assert.All(table.AsSpan(s * K + 128, S).ToArray(), v => Assert.Equal(0f, v)); // never on the step's own bins
            var cold = new HeadSampling(1e-4f, 1f);
            var primer = Generator.RandomPrimers(model.Config, 1, seed: 2);
            var piece = Generator.Generate(model, primer, new GenerateOptions(Notes: 1, Count: 1, Seed: 5,
                Sampling: new SamplingOptions(Temperature: 1e-4f) { Step = cold, Duration = cold, Velocity = cold }))[0];
            var batch = new Batch(model.Config, 1, steps: 3);
            for (int t = 0; t < 3; t++) batch.SetInput(t, primer[0][t], 0, model.Config);
            model.Forward(batch, training: false);
            var (logits, _) = model.Outputs(1, 3);
            var bins = new NoteBins(model.Config);
            int stepBin = 0;
            for (int j = 1; j < S; j++) if (logits[128 + j] > logits[128 + stepBin]) stepBin = j;
            int pitch = 0;
            for (int j = 1; j < 128; j++) if (logits[j] + table[stepBin * K + j] > logits[pitch] + table[stepBin * K + pitch]) pitch = j;
            Assert.Equal(bins.StepValues[stepBin], piece[3].Step);
            Assert.Equal(pitch, (int)piece[3].Pitch);
        }
        Assert.False((Config with { Heads = HeadKind.Regression, StepFirst = true }).ConditionsOnStep); // regression heads ignore it
        Assert.True(new ModelConfig().ConditionsOnStep);                                        // the default: step first
        Assert.False(ModelConfig.FromJson(new ModelConfig().ToJson().Replace(",\"StepFirst\":true", "")).StepFirst); // stored before the option: independent
    }

    [Fact]
    public void The_marginal_pitch_of_a_step_first_model_sums_over_the_steps()
    {
        const int S = 4, K = 128 + S + 3;
        var r = new Rand(12);
        var row = r.Floats(K, 2f);
        var zero = new float[S * K];
        // A zero table: the marginal is the pitch softmax itself.
        var (nll0, best0) = Trainer.MarginalPitch(row, zero, S, target: 60);
        double max = row.Take(128).Max(v => (double)v), logSum = Math.Log(row.Take(128).Sum(v => Math.Exp(v - max))) + max;
        Assert.Equal(logSum - row[60], nll0, 9);
        Assert.Equal(Array.IndexOf(row, row.Take(128).Max()), best0);
        // A random table: against the sum written out in double.
        var table = r.Floats(S * K, 3f);
        double Softmax(IEnumerable<double> v, int j) { var a = v.ToArray(); double m = a.Max(); return Math.Exp(a[j] - m) / a.Sum(x => Math.Exp(x - m)); }
        var step = row.Skip(128).Take(S).Select(v => (double)v).ToArray();
        double p = Enumerable.Range(0, S).Sum(s => Softmax(step, s) * Softmax(Enumerable.Range(0, 128).Select(j => (double)row[j] + table[s * K + j]), 70));
        Assert.Equal(-Math.Log(p), Trainer.MarginalPitch(row, table, S, target: 70).Nll, 6);
    }

    [Fact]
    public void Random_primers_differ_in_key_and_are_reproducible()
    {
        var a = Generator.RandomPrimers(Config, 24, seed: 1);
        Assert.Equal(a.Select(p => p.Select(n => n.Pitch).ToArray()), Generator.RandomPrimers(Config, 24, seed: 1).Select(p => p.Select(n => n.Pitch).ToArray()));
        Assert.All(a, p => Assert.Equal(3, p.Length));                              // every-step model: one triad
        Assert.All(a, p => Assert.All(p.Skip(1), n => Assert.Equal(0f, n.Step)));   // as a block chord
        Assert.True(a.Select(p => (int)p[0].Pitch % 12).Distinct().Count() >= 8, "24 primers should cover many keys");
        Assert.True(a.Select(p => p[1].Pitch - p[0].Pitch).Distinct().Count() == 2, "major and minor triads");
        var windowed = Generator.RandomPrimers(Config with { EveryStep = false, Bidirectional = true, SeqLen = 10 }, 2, seed: 1);
        Assert.All(windowed, p => Assert.Equal(10, p.Length));
    }
}
