using MusicGen.Midi;

namespace MusicGen.Model;

/// <summary>
/// The start of a continuation, read from a MIDI file in the model's time unit: the notes the model reads first, where
/// the first sits in its bar, and the file's tempo and meter (which the continuation keeps).
/// </summary>
/// <param name="Rows">The primer's notes as the model's features (beats mode: in beats on the grid).</param>
/// <param name="FirstPlace">The first note's place in its bar (beats mode; seconds mode: the file's beat grid as written).</param>
/// <param name="Bpm">The file's tempo (the median at its onsets).</param>
/// <param name="Bars">Bars the primer spans, from the bar line before its first note.</param>
/// <param name="FileBars">Bars the whole file spans.</param>
/// <param name="Key">The primer's estimated key (Krumhansl-Kessler).</param>
public sealed record Primer(NoteRow[] Rows, BarPlace FirstPlace, double Bpm, Meter Meter, int Bars, int FileBars, MusicKey Key)
{
    /// <summary>
    /// Reads <paramref name="path"/> for <paramref name="config"/>'s model: the first <paramref name="bars"/> bars, or the
    /// first <paramref name="notes"/> notes, or the whole file. Throws <see cref="MidiFormatException"/> for an unreadable
    /// file and <see cref="ArgumentException"/> for a selection the file cannot give.
    /// </summary>
    public static Primer FromFile(string path, ModelConfig config, int? bars = null, int? notes = null)
    {
        Check(bars, notes);
        return FromScore(MidiReader.ReadScoreFile(path), config, bars, notes);
    }

    /// <summary>As <see cref="FromFile"/>, from a MIDI file's bytes (an upload).</summary>
    public static Primer FromBytes(byte[] midi, ModelConfig config, int? bars = null, int? notes = null)
    {
        Check(bars, notes);
        return FromScore(MidiReader.ReadScore(midi), config, bars, notes);
    }

    static void Check(int? bars, int? notes)
    {
        if (bars is not null && notes is not null) throw new SettingException("primer-notes", "cannot be given with primer bars");
        if (bars is < 1) throw new SettingException("primer-bars", $"must be at least 1 (got {bars})");
        if (notes is < 1) throw new SettingException("primer-notes", $"must be at least 1 (got {notes})");
    }

    static Primer FromScore(MidiScore score, ModelConfig config, int? bars, int? notes)
    {
        if (score.Notes.Count == 0) throw new MidiFormatException("no notes");
        var grid = BeatFeatures.EstimateGrid(score);
        var (beatRows, places) = BeatFeatures.FromScore(score, grid);
        // Bars, in grid units from the bar line before the first note (one meter: the first note's).
        int bar = Math.Max(1, BeatFeatures.ToGrid(places[0].BarBeats));
        var onsets = new int[beatRows.Length];
        for (int i = 0; i < onsets.Length; i++) onsets[i] = (i == 0 ? BeatFeatures.ToGrid(places[0].Position) : onsets[i - 1]) + BeatFeatures.ToGrid(beatRows[i].Step);
        int fileBars = onsets[^1] / bar + 1;
        int take = onsets.Length;
        if (bars is int b)
        {
            if (b > fileBars) throw new SettingException("primer-bars", $"{b}: the file has {fileBars} bar(s)");
            take = onsets.Count(o => o < b * bar);
        }
        else if (notes is int n)
        {
            if (n > onsets.Length) throw new SettingException("primer-notes", $"{n}: the file has {onsets.Length} note(s)");
            take = n;
        }
        double firstBeat = score.StartBeats.Min() - grid.Offset;
        var meter = grid.Meters.Where(m => m.Beat <= firstBeat + 1e-9).DefaultIfEmpty(grid.Meters[0]).Last();
        NoteRow[] rows;
        if (config.Beats) rows = beatRows[..take];
        else
        {
            // Seconds: the file's own timing; the same first notes in onset order.
            var secondsRows = NoteFeatures.FromNotes(score.Notes);
            rows = secondsRows[..take];
        }
        int primerBars = (onsets[take - 1]) / bar + 1;
        return new Primer(rows, places[0], score.MedianBpm(), meter with { Beat = 0 }, primerBars, fileBars, MusicKey.Estimate(rows.Select(r => (int)r.Pitch)));
    }

    /// <summary>The primer moved into the scale of <paramref name="key"/> (to the key itself when the modes agree, else to
    /// its relative), by the smaller shift up or down that keeps every note on the keyboard.</summary>
    public Primer TransposedTo(MusicKey key)
    {
        int target = Key.Minor == key.Minor ? key.Tonic : key.Relative.Tonic;
        int shift = ((target - Key.Tonic) % 12 + 12) % 12;
        if (shift > 6) shift -= 12;
        int lo = (int)Rows.Min(r => r.Pitch), hi = (int)Rows.Max(r => r.Pitch);
        if (lo + shift < 0) shift += 12;
        if (hi + shift > 127) shift -= 12;
        return this with { Rows = Rows.Select(r => r with { Pitch = r.Pitch + shift }).ToArray(), Key = new MusicKey(target, Key.Minor) };
    }
}

/// <summary>What to compose (the library form of <c>musicgen generate</c>'s options).</summary>
public sealed record ComposeRequest
{
    /// <summary>Notes per piece, when neither <see cref="Seconds"/> nor <see cref="Bars"/> is set.</summary>
    public int Notes { get; init; } = 200;
    public double? Seconds { get; init; }
    /// <summary>The length in bars; the last note's tail may ring past the last bar line.</summary>
    public int? Bars { get; init; }
    public int Count { get; init; } = 1;
    public ulong Seed { get; init; } = 1;
    public SamplingOptions? Sampling { get; init; }
    /// <summary>The tempo (default: the primer's, else the model's training corpus' median, else 120).</summary>
    public double? Bpm { get; init; }
    /// <summary>Start in this key: the built-in primer is in it, a primer file is moved into its scale, and pitch is steered towards it.</summary>
    public MusicKey? Key { get; init; }
    /// <summary>How hard pitch is steered towards <see cref="Key"/> (<see cref="GenerateOptions.KeyStrength"/>).</summary>
    public float KeyStrength { get; init; } = DefaultKeyStrength;
    /// <summary>The meter of a beats-mode piece without a primer (default 4/4; a primer brings its own).</summary>
    public Meter? Meter { get; init; }
    public Primer? Primer { get; init; }
    /// <summary>Write the primer, then the continuation, in one file.</summary>
    public bool IncludePrimer { get; init; }
    /// <summary>When given, filled with what the network computed for the first piece at each new note (<see cref="GenerationTrace"/>).</summary>
    public GenerationTrace? Trace { get; init; }

    /// <summary>The key strength chosen by measurement (docs/DEFAULT_MODEL.md, "Key control").</summary>
    public const float DefaultKeyStrength = 2f;
    public const double MaxBpm = 400;
    public const int MaxBars = 1000;

    public void Validate()
    {
        if (Count is < 1 or > 4096) throw new SettingException("count", $"must be in 1..4096 (got {Count})");
        int lengths = (Seconds is null ? 0 : 1) + (Bars is null ? 0 : 1);
        if (lengths > 1) throw new ArgumentException("give one length: notes, seconds or bars");
        if (Seconds is double s && !(s > 0 && s <= 3600)) throw new SettingException("seconds", $"must be in (0, 3600] (got {s})");
        if (Bars is int b && b is < 1 or > MaxBars) throw new SettingException("bars", $"must be in 1..{MaxBars} (got {b})");
        if (Notes is < 1 or > GenerateOptions.MaxNotes) throw new SettingException("notes", $"must be in 1..{GenerateOptions.MaxNotes} (got {Notes})");
        if (Bpm is double t && !(t > 0 && t <= MaxBpm)) throw new SettingException("bpm", $"must be above 0 and at most {MaxBpm} (got {t})");
        if (!(KeyStrength >= 0 && KeyStrength <= 10)) throw new SettingException("key-strength", $"must be in [0, 10] (got {KeyStrength})");
    }
}

/// <summary>One composed piece, ready to write: the notes in seconds at <see cref="File"/>'s tempo, and what the file says.</summary>
/// <param name="Notes">What the MIDI file holds (<see cref="MidiWriter.AsWritten"/>): playable, on the tick grid.</param>
/// <param name="File">Tempo, meter, key signature and the marker where the model takes over.</param>
/// <param name="TakeoverSeconds">Where the model's notes start (0 without an included primer).</param>
/// <param name="Generated">Notes the model wrote (before trimming to the length and making them playable).</param>
public sealed record ComposedPiece(List<Note> Notes, MidiWriteOptions File, double TakeoverSeconds, int PrimerNotes, int Generated, MusicKey Key);

/// <summary>
/// Composition from a model: primer, length (notes, seconds or bars), tempo, meter and key in; pieces ready for
/// <see cref="MidiWriter"/> out. The CLI's <c>generate</c> and <c>evaluate --music</c> both compose through it, so what is
/// scored is what is written.
/// </summary>
public static class Composer
{
    public static List<ComposedPiece> Compose(MusicModel model, ComposeRequest r)
    {
        r.Validate();
        var c = model.Config;
        if (r.Meter is not null && !c.Beats) throw new SettingException("meter", "needs a model trained with time in beats");
        double bpm = r.Bpm ?? r.Primer?.Bpm ?? (c.Bpm > 0 ? c.Bpm : 120);
        var meter = r.Primer?.Meter ?? r.Meter ?? new Meter(0, 4, 4);
        double barBeats = meter.BarBeats;
        var firstPlace = r.Primer is { } p0 ? p0.FirstPlace : new BarPlace(0, (float)barBeats);

        NoteRow[][] primers;
        if (r.Primer is { } primer)
        {
            var rows = (r.Key is { } k ? primer.TransposedTo(k) : primer).Rows;
            if (rows.Length < Generator.MinPrimer(c))
                throw new ArgumentException($"the primer has {rows.Length} notes; the model needs at least {Generator.MinPrimer(c)} to start from");
            primers = Enumerable.Repeat(rows, r.Count).ToArray();
        }
        else primers = Generator.RandomPrimers(c, r.Count, r.Seed, r.Key);
        int P = primers[0].Length;

        // Where the first new note will sit decides how much time N bars leave, so bars are counted from the bar line
        // before it: generate until every piece has passed that much time, then trim each piece to its own bar lines.
        double secondsPerBeat = 60 / bpm;
        // With the primer included, a beats piece's bars follow the primer's last bar, which the first new note may
        // still fall in: one bar more to generate, trimmed below.
        double length = r.Seconds is double s ? (c.Beats ? s / secondsPerBeat : s)
            : r.Bars is int b ? (c.Beats ? (b + (r.IncludePrimer ? 1 : 0)) * barBeats : b * barBeats * secondsPerBeat) : 0;
        var options = new GenerateOptions(r.Notes, r.Count, r.Seed, r.Sampling, Length: length)
        {
            FirstPlace = firstPlace, Key = r.Key, KeyStrength = r.Key is null ? 0 : r.KeyStrength, Trace = r.Trace,
        };
        var pieces = Generator.Generate(model, primers, options);

        var result = new List<ComposedPiece>(pieces.Count);
        foreach (var piece in pieces)
        {
            List<Note> primerNotes, newNotes;
            double limit;
            if (c.Beats)
            {
                var places = Generator.Places(piece, firstPlace);
                var takeover = places[P];
                // Output time 0 is the bar line before the first written note.
                double start = r.IncludePrimer ? firstPlace.Position : takeover.Position;
                var all = BeatFeatures.ToNotes(r.IncludePrimer ? piece : piece[P..], bpm, start);
                primerNotes = r.IncludePrimer ? all[..P] : [];
                newNotes = r.IncludePrimer ? all[P..] : all;
                // The asked bars start at the bar line before the first new note or, with the primer written too, at the
                // bar line after the primer's last bar (the primer's last onset, in beats from output time 0).
                double bar = barBeats * secondsPerBeat;
                double primerLastOnset = firstPlace.Position + piece.Take(P).Skip(1).Sum(x => (double)x.Step);
                double barsFrom = r.IncludePrimer
                    ? (Math.Floor(primerLastOnset / barBeats + 1e-9) + 1) * bar
                    : (newNotes.Count > 0 ? newNotes[0].Start : 0) - takeover.Position * secondsPerBeat;
                limit = r.Bars is int bars ? barsFrom + bars * bar
                    : r.Seconds is double sec ? (newNotes.Count > 0 ? newNotes[0].Start : 0) + sec : double.PositiveInfinity;
            }
            else
            {
                var all = NoteFeatures.ToNotes(r.IncludePrimer ? piece : piece[P..]);
                primerNotes = r.IncludePrimer ? all[..P] : [];
                newNotes = r.IncludePrimer ? all[P..] : all;
                double from = newNotes.Count > 0 ? newNotes[0].Start : 0;
                limit = length > 0 ? from + length : double.PositiveInfinity;
            }
            newNotes = newNotes.Where(n => n.Start < limit - 1e-9).ToList();
            double takeoverSeconds = r.IncludePrimer && newNotes.Count > 0 ? newNotes[0].Start : 0;
            var notes = primerNotes.Concat(newNotes).ToList();
            var key = r.Key ?? MusicKey.Estimate(newNotes.Select(n => n.Pitch));
            var file = new MidiWriteOptions
            {
                BeatsPerMinute = bpm, Meter = meter, Key = key, EndSeconds = double.IsFinite(limit) ? limit : null,
                Markers = r.IncludePrimer ? [(takeoverSeconds, "musicgen continues here")] : [],
            };
            result.Add(new ComposedPiece(MidiWriter.AsWritten(notes, file), file, takeoverSeconds, primerNotes.Count, piece.Length - P, key));
        }
        return result;
    }
}
