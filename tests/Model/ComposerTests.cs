using MusicGen.Midi;
using MusicGen.Model;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;
using MusicGen.Tests.Midi;

namespace MusicGen.Tests.Model;

/// <summary>Composition in bars, keys and tempi, on tiny untrained models (what is tested is the bookkeeping, not the music).</summary>
public class ComposerTests
{
    static readonly ModelConfig Beats = new()
    {
        Time = TimeUnit.Beats, StepBins = 25, DurationBins = 24, Bpm = 90, Bidirectional = false, EveryStep = true,
        SeqLen = 4, Hidden = 8, Layers = 1, EmbeddingDim = 4, Dropout = 0,
    };

    static MusicModel Model(ModelConfig c, ulong seed = 5)
    {
        var model = new MusicModel(TestBackends.Create("cpu"), c);
        model.Initialize(seed);
        return model;
    }

    [Theory]
    [InlineData(4, 90.0, "4/4")]
    [InlineData(16, 120.0, "4/4")]
    [InlineData(5, 70.0, "3/4")]
    public void Asked_bars_are_given_with_every_onset_on_the_grid(int bars, double bpm, string meter)
    {
        using var model = Model(Beats);
        var m = Meter.Parse(meter);
        var pieces = Composer.Compose(model, new ComposeRequest { Bars = bars, Bpm = bpm, Meter = m, Count = 4, Seed = 2 });
        double bar = m.BarBeats * 60 / bpm;
        foreach (var piece in pieces)
        {
            Assert.All(piece.Notes, n => Assert.Equal(n.Start * bpm / 60 * 12, Math.Round(n.Start * bpm / 60 * 12), 6));
            Assert.InRange(piece.Notes.Max(n => n.Start), (bars - 1) * bar, bars * bar - 1e-9); // the last bar has notes, none after it
            Assert.Equal((bpm, m), (piece.File.BeatsPerMinute, piece.File.Meter));
        }
    }

    [Fact]
    public void A_composed_piece_reads_back_from_its_file_as_the_same_notes()
    {
        using var model = Model(Beats);
        var piece = Composer.Compose(model, new ComposeRequest { Notes = 300, Bpm = 97, Seed = 4 })[0];
        var ms = new MemoryStream();
        MidiWriter.Write(ms, piece.Notes, piece.File);
        var back = MidiReader.ReadScore(ms.ToArray());
        Assert.Equal(piece.Notes.Count, back.Notes.Count);
        for (int i = 0; i < piece.Notes.Count; i++)
        {
            // Exactly, in beats (the file's tempo is whole microseconds, so its seconds differ in the 7th digit).
            Assert.Equal((piece.Notes[i].Pitch, piece.Notes[i].Velocity), (back.Notes[i].Pitch, back.Notes[i].Velocity));
            Assert.Equal(piece.Notes[i].Start * 97 / 60, back.StartBeats[i], 9);
            Assert.Equal(piece.Notes[i].End * 97 / 60, back.EndBeats[i], 9);
        }
    }

    [Fact]
    public void A_key_steers_the_pieces_into_it_and_is_written_in_the_file()
    {
        using var model = Model(Beats);
        var d = MusicKey.Parse("Dm");
        var pieces = Composer.Compose(model, new ComposeRequest { Notes = 150, Key = d, KeyStrength = 6, Count = 8, Seed = 9 });
        int hits = pieces.Count(p => MusicKey.Estimate(p.Notes.Select(n => n.Pitch)) == d);
        Assert.True(hits >= 7, $"{hits} of 8 pieces in D minor");
        Assert.All(pieces, p => Assert.Equal(d, p.File.Key));
        // Unsteered, an untrained model's pieces are in many keys.
        var free = Composer.Compose(model, new ComposeRequest { Notes = 150, Count = 8, Seed = 9 });
        Assert.True(free.Count(p => MusicKey.Estimate(p.Notes.Select(n => n.Pitch)) == d) < 4);
    }

    [Fact]
    public void A_primer_is_read_by_bars_kept_in_tempo_and_written_before_the_continuation()
    {
        using var dir = new TempDir();
        var path = dir["primer.mid"];
        File.WriteAllBytes(path, BeatFeaturesTests.ShiftedFile(offset: 13, bars: 6));
        using var model = Model(Beats);
        var primer = Primer.FromFile(path, model.Config, bars: 2);
        Assert.Equal((2, 6), (primer.Bars, primer.FileBars));
        Assert.Equal(2 * 9, primer.Rows.Length); // a bass note and 8 eighths a bar
        Assert.Equal(90, primer.Bpm, 1);
        var tooMany = Assert.Throws<SettingException>(() => Primer.FromFile(path, model.Config, bars: 7));
        Assert.Equal("primer-bars", tooMany.Setting);
        Assert.Contains("has 6 bar(s)", tooMany.Message);
        Assert.Equal(5, Primer.FromFile(path, model.Config, notes: 5).Rows.Length);

        var piece = Composer.Compose(model, new ComposeRequest { Primer = primer, IncludePrimer = true, Bars = 2, Seed = 1 })[0];
        Assert.Equal(90, piece.File.BeatsPerMinute, 1);
        Assert.Equal(18, piece.PrimerNotes);
        double bar = 4 * 60 / piece.File.BeatsPerMinute;
        Assert.InRange(piece.TakeoverSeconds, 2 * bar - 1e-9, 3 * bar);           // the model starts after the primer's two bars
        Assert.True(piece.Notes.Max(n => n.Start) < 4 * bar);                     // and fills two more
        Assert.Equal(piece.TakeoverSeconds, piece.File.Markers.Single().Seconds);
        Assert.Equal(primer.Rows.Select(r => (int)r.Pitch), piece.Notes.Take(18).OrderBy(n => n.Start).ThenBy(n => n.Pitch).Select(n => n.Pitch));
    }

    [Fact]
    public void The_bar_places_generation_walks_are_the_ones_training_reads()
    {
        var score = MidiReader.ReadScore(BeatFeaturesTests.ShiftedFile(offset: 40, bars: 3));
        var (rows, places) = BeatFeatures.FromScore(score);
        Assert.Equal(places, Generator.Places(rows, places[0]));
    }

    [Fact]
    public void A_seconds_model_in_bars_fills_them_at_the_tempo()
    {
        using var model = Model(Beats with { Time = TimeUnit.Seconds, StepBins = 16, DurationBins = 16 });
        var piece = Composer.Compose(model, new ComposeRequest { Bars = 3, Bpm = 120, Seed = 3 })[0];
        Assert.True(piece.Notes.Max(n => n.Start) < 3 * 2.0);
        Assert.Equal("meter", Assert.Throws<SettingException>(() => Composer.Compose(model, new ComposeRequest { Bars = 3, Meter = new Meter(0, 3, 4) })).Setting);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-5.0)]
    [InlineData(400.5)]
    public void Tempo_outside_0_to_400_is_refused(double bpm)
        => Assert.Equal("bpm", Assert.Throws<SettingException>(() => new ComposeRequest { Bpm = bpm }.Validate()).Setting); // the CLI says --bpm

    [Fact]
    public void Bars_with_seconds_is_refused()
        => Assert.Throws<ArgumentException>(() => new ComposeRequest { Bars = 4, Seconds = 3 }.Validate());
}
