using MusicGen.Midi;
using MusicGen.Midi.Corpus;
using MusicGen.Model;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;

namespace MusicGen.Tests.Model;

public class LookbackTests
{
    // Three 4/4 bars, steps in beats (a bar is 48 grid units):
    //   bar 1: chord 60-64-67 on beat 0 (notes 0-2), 72 on beat 2 (3)
    //   bar 2: chord 62-65 on beat 0 (4-5), 69 on beat 1 (6), 70 on beat 2 (7)
    //   bar 3: chord 60-64-67-71 on beat 0 (8-11)
    static readonly NoteRow[] Bars =
    [
        new(60, 0, 1, 80), new(64, 0, 1, 80), new(67, 0, 1, 80), new(72, 2, 1, 80),
        new(62, 2, 1, 80), new(65, 0, 1, 80), new(69, 1, 1, 80), new(70, 1, 1, 80),
        new(60, 2, 1, 80), new(64, 0, 1, 80), new(67, 0, 1, 80), new(71, 0, 1, 80),
    ];

    [Theory]
    [InlineData(4, 1, 0)]   // the chord one bar before, at the same place in the chord
    [InlineData(5, 1, 1)]
    [InlineData(6, 1, -1)]  // nothing started on beat 1 of bar 1
    [InlineData(7, 1, 3)]
    [InlineData(7, 2, -1)]  // two bars before bar 2 is before the piece
    [InlineData(8, 1, 4)]
    [InlineData(9, 1, 5)]
    [InlineData(10, 1, 5)]  // a chord of two has no third note: its highest
    [InlineData(11, 1, 5)]
    [InlineData(8, 2, 0)]
    [InlineData(11, 2, 2)]
    [InlineData(3, 1, -1)]
    public void Bars_align_a_note_with_the_note_that_started_exactly_that_many_bars_before(int i, int bars, int expected) =>
        Assert.Equal(expected, Lookback.Aligned(Bars, 0, i, LookbackKind.Bars, bars, 4));

    [Fact]
    public void A_lookback_never_reads_before_the_first_note_of_its_piece()
    {
        Assert.Equal(4, Lookback.Aligned(Bars, 4, 8, LookbackKind.Bars, 1, 4));
        Assert.Equal(-1, Lookback.Aligned(Bars, 4, 8, LookbackKind.Bars, 2, 4));
        Assert.Equal(6, Lookback.Aligned(Bars, 0, 8, LookbackKind.Bars, 1, 3));    // 3 beats before beat 8 is beat 5: note 6
        Assert.Equal(-1, Lookback.Aligned(Bars, 0, 8, LookbackKind.Bars, 1, 1.5f)); // beat 6.5: no onset
    }

    [Fact]
    public void Notes_align_with_the_note_k_notes_before()
    {
        Assert.Equal(6, Lookback.Aligned(Bars, 0, 10, LookbackKind.Notes, 4, 4));
        Assert.Equal(-1, Lookback.Aligned(Bars, 0, 3, LookbackKind.Notes, 4, 4));
        Assert.Equal(-1, Lookback.Aligned(Bars, 2, 5, LookbackKind.Notes, 4, 4));
    }

    [Fact]
    public void An_echo_says_the_interval_to_what_followed_whether_this_note_repeats_and_the_step()
    {
        var c = new ModelConfig { Time = TimeUnit.Beats, StepBins = 97, DurationBins = 96, Lookback = LookbackKind.Bars };
        var f = new float[Lookback.InputsPerEcho];
        Lookback.SetInputs(f, new Echo(true, new NoteRow(62, 2, 1, 80), new NoteRow(65, 0, 1, 80)), 62, 0, c);
        var expected = new float[Lookback.InputsPerEcho];
        expected[0] = 1; expected[1 + 65] = 1; expected[129] = 1; expected[130] = 0;
        Assert.Equal(131, Lookback.InputsPerEcho);
        Assert.Equal(expected, f);

        Lookback.SetInputs(f, new Echo(true, new NoteRow(40, 2, 1, 80), new NoteRow(100, 3, 1, 80)), 62, -5, c);
        Assert.Equal(1, f[1 + 95]);            // the next note's pitch, transposed with the window
        Assert.Equal(0, f[129]);               // 62 does not repeat 40
        Assert.Equal(0.75f, f[130]);           // a step of 3 beats, scaled as every beats input (/4)
        Assert.Equal(2.75f, f.Sum());

        Lookback.SetInputs(f, default, 62, 0, c);
        Assert.All(f, v => Assert.Equal(0, v));
    }

    /// <summary>Two pieces in beats: windows of the second must not see the first's notes, and read as generation reads them.</summary>
    [Fact]
    public void Training_windows_get_the_features_generation_computes_from_the_piece_alone()
    {
        var notes = Bars.Concat(Bars).ToArray();
        var places = Generator.Places(Bars, new BarPlace(0, 4)).Concat(Generator.Places(Bars, new BarPlace(0, 4))).ToArray();
        var corpus = new NoteCorpus
        {
            Root = "/bars", Kind = "folder", Sustain = false, IncludeDrums = false, Notes = notes, Places = places, Time = TimeUnit.Beats, Skipped = [],
            Files = [new CorpusEntry("a.mid", Split.Train, 1, 1, 0, 12, 12), new CorpusEntry("b.mid", Split.Train, 1, 1, 12, 12, 12)],
        };
        var c = new ModelConfig { SeqLen = 5, Bidirectional = false, EveryStep = true, Time = TimeUnit.Beats, StepBins = 97, DurationBins = 96, Lookback = LookbackKind.Bars };
        var windows = new MusicGen.Model.Windows(corpus, Split.Train, c);
        int w = Array.IndexOf(windows.Starts, 12 + 4); // notes 4..8 of the second piece
        var fromCorpus = new Batch(c, 1);
        windows.Fill(fromCorpus, [w]);

        var alone = new Batch(c, 1);
        for (int t = 0; t < 5; t++) alone.SetInput(t, Bars, 0, 4 + t, 0, c, places[4 + t]);
        Assert.Equal(alone.Continuous, fromCorpus.Continuous);

        // The window's first note (4) is aligned with note 0 one bar back, and nothing two bars back.
        int C = c.Continuous, lookbackAt = 3 + ModelConfig.BarInputs;
        Assert.Equal(1, fromCorpus.Continuous[lookbackAt]);
        Assert.Equal(1, fromCorpus.Continuous[lookbackAt + 1 + 64]); // what followed note 0 was 64
        Assert.Equal(0, fromCorpus.Continuous[lookbackAt + Lookback.InputsPerEcho]);
        Assert.Equal(3 + ModelConfig.BarInputs + Lookback.Inputs, C);

        // The second piece's first window reads nothing of the first piece.
        var first = new Batch(c, 1);
        windows.Fill(first, [Array.IndexOf(windows.Starts, 12)]);
        for (int t = 0; t < 4; t++) Assert.Equal(0, first.Continuous[t * C + lookbackAt]);
    }

    /// <summary>
    /// Each piece repeats its own random 4-note pattern, so a model that sees only 2 notes cannot know what comes next,
    /// unless it looks 4 notes back: there the interval to the next note is one of its inputs.
    /// </summary>
    [Fact]
    public void Looking_back_lets_a_short_window_learn_a_repeating_pattern_it_cannot_see()
    {
        var notes = new List<NoteRow>();
        var files = new List<CorpusEntry>();
        var rng = new Random(7);
        for (int f = 0; f < 200; f++)
        {
            int[] pattern = [.. Enumerable.Range(0, 4).Select(_ => 48 + rng.Next(24))];
            int first = notes.Count;
            for (int i = 0; i < 24; i++) notes.Add(new NoteRow(pattern[i % 4], i == 0 ? 0 : 0.25f, 0.2f, 80));
            files.Add(new CorpusEntry($"f{f}.mid", f >= 160 ? Split.Validation : Split.Train, 1, 1, first, 24, 6));
        }
        var corpus = new NoteCorpus { Root = "/loops", Kind = "folder", Sustain = false, IncludeDrums = false, Files = files, Skipped = [], Notes = [.. notes] };
        var plain = new ModelConfig { SeqLen = 2, Layers = 1, Hidden = 64, EmbeddingDim = 8, Dropout = 0, Bidirectional = false, Velocity = false };
        var options = new TrainOptions { Epochs = 8, BatchSize = 32, LearningRate = 0.01f, WarmupSteps = 10, Transpose = 0, Patience = 0 };

        float Nll(ModelConfig c)
        {
            using var dir = new TempDir();
            using var be = TestBackends.Create("cpu");
            Assert.Equal(TrainOutcome.Completed, new Trainer(be, corpus, "/loops", dir["run"]).Train(c, options));
            var (model, _) = Checkpoint.Load(dir["run/best.safetensors"], be);
            using (model) return (float)Trainer.Validate(model, new MusicGen.Model.Windows(corpus, Split.Validation, c), 32).PitchNll;
        }
        float without = Nll(plain), with = Nll(plain with { Lookback = LookbackKind.Notes, LookbackNotes = 4 });
        Assert.True(without > 2.0, $"without lookback the next pitch should stay a guess (NLL {without:F3})");
        Assert.True(with < 0.5 * without, $"looking back 4 notes: NLL {with:F3} against {without:F3} without");
    }

    [Fact]
    public void A_model_that_looks_back_by_bars_composes_exact_bars()
    {
        using var be = TestBackends.Create("cpu");
        var c = new ModelConfig { SeqLen = 8, Layers = 1, Hidden = 16, EmbeddingDim = 8, Bidirectional = false, EveryStep = true, Time = TimeUnit.Beats, StepBins = 97, DurationBins = 96, Lookback = LookbackKind.Bars };
        using var model = new MusicModel(be, c);
        var primers = Generator.RandomPrimers(c, 2, seed: 3);
        var pieces = Generator.Generate(model, primers, new GenerateOptions(Count: 2, Seed: 3, Length: 16));
        foreach (var piece in pieces)
        {
            Assert.True(piece.Length > primers[0].Length);
            // Every step of a beats model lies on the grid, so the lookback's walk by steps lands on exact bar lines.
            Assert.All(piece, n => Assert.Equal(n.Step * BeatFeatures.GridPerBeat, MathF.Round(n.Step * BeatFeatures.GridPerBeat), 3));
        }
    }

    [Fact]
    public void Bad_lookback_settings_are_refused_in_a_line()
    {
        Assert.Contains("needs time in beats", Assert.Throws<ArgumentException>(() => new ModelConfig { Lookback = LookbackKind.Bars }.Validate()).Message);
        Assert.Contains("1..1024", Assert.Throws<ArgumentException>(() => new ModelConfig { Lookback = LookbackKind.Notes, LookbackNotes = 0 }.Validate()).Message);
        var c = new ModelConfig { Lookback = LookbackKind.Notes, LookbackNotes = 8 };
        Assert.Equal(c, ModelConfig.FromJson(c.ToJson()));
        Assert.Equal(LookbackKind.None, ModelConfig.FromJson(new ModelConfig().ToJson().Replace(",\"Lookback\":\"none\"", "")).Lookback);
    }
}
