using MusicGen.Midi;

namespace MusicGen.Tests.Midi;

public class BeatFeaturesTests
{
    /// <summary>A 480-PPQ file whose notes sit <paramref name="offset"/> ticks after the grid (as POP909's do), with a
    /// placeholder 1/4 time signature: eighths on C4/E4 and a half-note bass G2 at the start of every 4/4 bar.</summary>
    internal static byte[] ShiftedFile(int offset, int bars = 4) => new SmfBuilder().AddTrack(t =>
    {
        t.Meta(0, 0x58, [1, 2, 24, 8]);  // 1/4: no bar information
        t.Tempo(0, 666_667);               // 90 bpm
        int now = 0;
        void At(int tick, Action<int> write) { write(tick - now); now = tick; }
        var events = new List<(int Tick, bool On, int Pitch)>();
        for (int bar = 0; bar < bars; bar++)
        {
            int b0 = offset + bar * 4 * 480;
            events.Add((b0, true, 43)); events.Add((b0 + 2 * 480, false, 43));
            for (int e = 0; e < 8; e++) { int on = b0 + e * 240; events.Add((on, true, e % 2 == 0 ? 60 : 64)); events.Add((on + 200, false, e % 2 == 0 ? 60 : 64)); }
        }
        foreach (var (tick, on, pitch) in events.OrderBy(e => e.Tick).ThenBy(e => e.On))
            At(tick, d => { if (on) t.On(d, pitch); else t.Off(d, pitch); });
    }).Build();

    [Fact]
    public void A_grid_shifted_by_a_constant_offset_is_found_and_every_onset_lands_on_it()
    {
        var score = MidiReader.ReadScore(ShiftedFile(offset: 13 + 480)); // 13 ticks off the grid, and the first bar a beat late
        Assert.Equal(0.0, BeatFeatures.OnGridFraction(score, new BeatGrid(0, []))); // as written: 13 ticks off the 40-tick grid
        var grid = BeatFeatures.EstimateGrid(score);
        Assert.Equal(1.0, BeatFeatures.OnGridFraction(score, grid));
        Assert.Equal(13 / 480.0, grid.Offset - Math.Floor(grid.Offset), 6);
        Assert.Equal(4.0, grid.Meters[0].BarBeats); // the 1/4 placeholder is replaced by 4/4
        var (rows, places) = BeatFeatures.FromScore(score, grid);
        // Chords first bottom up, steps of exactly 0 or an eighth, durations of 200 ticks rounded to 5/12 beat.
        Assert.Equal([43f, 60f], rows.Take(2).Select(r => r.Pitch));
        Assert.All(rows.Skip(1), r => Assert.Contains(r.Step, new[] { 0f, 0.5f }));
        Assert.Equal(5 / 12f, rows[1].Duration, 6);
        Assert.Equal(2f, rows[0].Duration, 6);
        // The bass notes (long, on the beat) mark the downbeats: every G2 starts a bar.
        for (int i = 0; i < rows.Length; i++)
            if (rows[i].Pitch == 43) Assert.Equal(new BarPlace(0, 4), places[i]);
        Assert.Equal((64f, new BarPlace(0.5f, 4)), (rows[2].Pitch, places[2])); // the first E4: the second eighth of the bar
    }

    [Fact]
    public void Bar_places_walk_on_the_grid_and_wrap_at_the_bar_line()
    {
        var p = new BarPlace(3.5f, 4).After(0.5f);
        Assert.Equal(new BarPlace(0, 4), p);
        Assert.Equal(new BarPlace(1f / 3, 3), new BarPlace(2f + 2f / 3, 3).After(2f / 3));
    }

    [Fact]
    public void Rows_in_beats_become_notes_on_the_grid_at_the_tempo()
    {
        NoteRow[] rows = [new(60, 0, 1, 80), new(64, 0, 0.5f, 80), new(67, 1f / 3, 1f / 12, 90)];
        var notes = BeatFeatures.ToNotes(rows, bpm: 90, startBeat: 0.5);
        double beat = 60 / 90.0;
        Assert.Equal(0.5 * beat, notes[0].Start, 12);
        Assert.Equal(notes[0].Start, notes[1].Start);
        Assert.Equal((0.5 + 1 / 3.0) * beat, notes[2].Start, 12);
        Assert.Equal(beat / 12, notes[2].Duration, 12);
    }

    [Theory]
    [InlineData("4/4", 4, 4, 4.0)]
    [InlineData("3/4", 3, 4, 3.0)]
    [InlineData("6/8", 6, 8, 3.0)]
    [InlineData(" 2/2 ", 2, 2, 4.0)]
    public void Meters_parse(string text, int n, int d, double barBeats)
    {
        var m = Meter.Parse(text);
        Assert.Equal((n, d, barBeats), (m.Numerator, m.Denominator, m.BarBeats));
    }

    [Theory]
    [InlineData("")]
    [InlineData("4")]
    [InlineData("4/3")]
    [InlineData("0/4")]
    [InlineData("x/y")]
    public void Bad_meters_are_refused(string text) => Assert.Throws<FormatException>(() => Meter.Parse(text));
}

public class MusicKeyTests
{
    [Theory]
    [InlineData("C", 0, false, "C major", 0)]
    [InlineData("F#", 6, false, "F# major", 6)]
    [InlineData("Bb", 10, false, "Bb major", -2)]
    [InlineData("Am", 9, true, "A minor", 0)]
    [InlineData("c#m", 1, true, "C# minor", 4)]
    [InlineData("D minor", 2, true, "D minor", -1)]
    [InlineData("Eb major", 3, false, "Eb major", -3)]
    [InlineData("Cb", 11, false, "B major", 5)]
    [InlineData("G min", 7, true, "G minor", -2)]
    public void Keys_parse_in_the_forms_musicians_write(string text, int tonic, bool minor, string name, int sharpsFlats)
    {
        var k = MusicKey.Parse(text);
        Assert.Equal((tonic, minor), (k.Tonic, k.Minor));
        Assert.Equal(name, k.ToString());
        Assert.Equal(sharpsFlats, k.SharpsFlats);
    }

    [Theory]
    [InlineData("X")]
    [InlineData("H")]
    [InlineData("C dorian")]
    [InlineData("")]
    [InlineData("Cmm")]
    public void Other_text_is_not_a_key(string text)
    {
        Assert.False(MusicKey.TryParse(text, out _));
        Assert.Contains("for example", Assert.Throws<FormatException>(() => MusicKey.Parse(text)).Message);
    }

    [Fact]
    public void Scales_and_their_tonic_triads_are_estimated_as_their_keys()
    {
        int[] major = [0, 2, 4, 5, 7, 9, 11], minor = [0, 2, 3, 5, 7, 8, 11];
        for (int tonic = 0; tonic < 12; tonic++)
        {
            // The scale once, the tonic triad three times: what a piece in the key leans on.
            var inMajor = major.Select(d => 60 + tonic + d).Concat(Enumerable.Repeat(new[] { 0, 4, 7 }, 3).SelectMany(x => x).Select(d => 48 + tonic + d));
            var inMinor = minor.Select(d => 60 + tonic + d).Concat(Enumerable.Repeat(new[] { 0, 3, 7 }, 3).SelectMany(x => x).Select(d => 48 + tonic + d));
            Assert.Equal(new MusicKey(tonic, false), MusicKey.Estimate(inMajor));
            Assert.Equal(new MusicKey(tonic, true), MusicKey.Estimate(inMinor));
        }
        Assert.Equal(new MusicKey(9, true), new MusicKey(0, false).Relative);
        Assert.Equal(new MusicKey(0, false), new MusicKey(9, true).Relative);
    }
}
