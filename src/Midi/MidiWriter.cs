using NAudio.Midi;

namespace MusicGen.Midi;

/// <summary>How <see cref="MidiWriter"/> lays notes out in ticks, and what the file says about its music.</summary>
public sealed record MidiWriteOptions
{
    public int TicksPerQuarter { get; init; } = 480;
    /// <summary>The file's tempo. Notes keep their times in seconds; at this tempo a beat is 60/bpm seconds, so notes
    /// made in beats at this tempo land exactly on the tick grid.</summary>
    public double BeatsPerMinute { get; init; } = 120;
    /// <summary>The time signature event (the meter's Beat is ignored).</summary>
    public Meter Meter { get; init; } = new(0, 4, 4);
    /// <summary>A key-signature event when set.</summary>
    public MusicKey? Key { get; init; }
    /// <summary>Marker events (seconds, text): a DAW shows them on its timeline, for example where a continuation starts.</summary>
    public IReadOnlyList<(double Seconds, string Text)> Markers { get; init; } = [];
    /// <summary>General MIDI program for the track (0 = Acoustic Grand Piano).</summary>
    public int Program { get; init; }
    /// <summary>Where the file ends (seconds), when later than its last note-off: a piece asked for in bars ends at its
    /// last bar line even when that bar closes with a rest, so a sequencer shows every bar asked for.</summary>
    public double? EndSeconds { get; init; }
    public static MidiWriteOptions Default { get; } = new();
}

/// <summary>
/// Writes notes as a type-1 Standard MIDI File: track 1 holds tempo, time signature, key signature and markers, track 2
/// the notes on channel 1 with a program change, so sequencers and players read it as one piano part.
///
/// A key sounds one note at a time, so the notes are made playable first (<see cref="Playable"/>): of notes struck on
/// one key at one tick only the longest is kept, and a note still sounding when its key is struck again ends there.
/// At one tick every note-off comes before any note-on. The file then reads back as exactly the notes written (to the
/// tick). The file is written atomically (temp file + rename).
/// </summary>
public static class MidiWriter
{
    public static void WriteFile(string path, IReadOnlyList<Note> notes, MidiWriteOptions? options = null)
        => AtomicFile.Write(path, stream => Write(stream, notes, options));

    public static void Write(Stream stream, IReadOnlyList<Note> notes, MidiWriteOptions? options = null)
    {
        options ??= MidiWriteOptions.Default;
        if (!(options.BeatsPerMinute > 0 && options.BeatsPerMinute <= 1000) || options.TicksPerQuarter is <= 0 or > 0x7FFF)
            throw new ArgumentException("tempo must be in (0, 1000] bpm and ticks per quarter note in 1..32767");
        int microsPerQuarter = (int)Math.Round(60_000_000 / options.BeatsPerMinute);
        // From the exact tempo (not the rounded microseconds), so that a note made on a beat grid lands on its tick.
        double ticksPerSecond = options.TicksPerQuarter * options.BeatsPerMinute / 60;

        var events = new MidiEventCollection(1, options.TicksPerQuarter);
        events.AddTrack();
        events.AddEvent(new TempoEvent(microsPerQuarter, 0), 0);
        int denominatorPower = (int)Math.Round(Math.Log2(options.Meter.Denominator));
        events.AddEvent(new TimeSignatureEvent(0, options.Meter.Numerator, denominatorPower, 24, 8), 0);
        if (options.Key is { } key) events.AddEvent(new KeySignatureEvent(key.SharpsFlats, key.Minor ? 1 : 0, 0), 0);
        foreach (var (seconds, text) in options.Markers)
            events.AddEvent(new TextEvent(text, MetaEventType.Marker, (long)Math.Round(Math.Max(0, seconds) * ticksPerSecond)), 0);
        events.AddTrack();
        events.AddEvent(new TextEvent("Piano", MetaEventType.SequenceTrackName, 0), 1);
        events.AddEvent(new PatchChangeEvent(0, 1, options.Program), 1);

        var ticked = new List<TickNote>(notes.Count);
        foreach (var n in notes)
        {
            if (n.Pitch is < 0 or > 127) throw new ArgumentException($"pitch {n.Pitch} outside 0-127");
            long on = (long)Math.Round(Math.Max(0, n.Start) * ticksPerSecond);
            long off = Math.Max(on + 1, (long)Math.Round(Math.Max(0, n.End) * ticksPerSecond));
            ticked.Add(new TickNote(n.Pitch, Math.Clamp(n.Velocity, 1, 127), on, off));
        }
        // Offs before ons at one tick; NAudio's export sort is stable, so this order survives.
        var timeline = new List<(long Tick, int Order, MidiEvent Event)>(2 * ticked.Count);
        foreach (var n in Playable(ticked))
        {
            timeline.Add((n.On, 1, new NoteEvent(n.On, 1, MidiCommandCode.NoteOn, n.Pitch, n.Velocity)));
            timeline.Add((n.Off, 0, new NoteEvent(n.Off, 1, MidiCommandCode.NoteOff, n.Pitch, 0)));
        }
        foreach (var (_, _, e) in timeline.OrderBy(x => x.Tick).ThenBy(x => x.Order)) events.AddEvent(e, 1);
        // PrepareForExport keeps an end-of-track that comes last and puts one after the last event otherwise, so this
        // one stands only where it is later than every note.
        if (options.EndSeconds is double end && end > 0)
            for (int track = 0; track < 2; track++) events.AddEvent(new MetaEvent(MetaEventType.EndTrack, 0, (long)Math.Round(end * ticksPerSecond)), track);
        events.PrepareForExport();
        MidiFile.Export(stream, events);
    }

    /// <summary>A note in ticks.</summary>
    public readonly record struct TickNote(int Pitch, int Velocity, long On, long Off);

    /// <summary>
    /// The notes one key at a time can play: of several struck on one key at one tick the longest stays (the loudest of
    /// equally long ones), and a note still sounding when its key is struck again ends at that strike. Order: by onset, then pitch.
    /// </summary>
    public static List<TickNote> Playable(IEnumerable<TickNote> notes)
    {
        var result = new List<TickNote>();
        foreach (var key in notes.GroupBy(n => n.Pitch))
        {
            var sorted = key.OrderBy(n => n.On).ThenByDescending(n => n.Off).ThenByDescending(n => n.Velocity).ToList();
            for (int i = 0; i < sorted.Count; i++)
            {
                var n = sorted[i];
                if (i > 0 && sorted[i - 1].On == n.On) continue; // a duplicate strike: the longest was kept
                int next = i + 1;
                while (next < sorted.Count && sorted[next].On == n.On) next++;
                if (next < sorted.Count && sorted[next].On < n.Off) n = n with { Off = sorted[next].On };
                result.Add(n);
            }
        }
        result.Sort((a, b) => a.On != b.On ? a.On.CompareTo(b.On) : a.Pitch.CompareTo(b.Pitch));
        return result;
    }

    /// <summary>
    /// The notes as a file at <paramref name="options"/>' tempo will hold them: on the tick grid, and playable (<see cref="Playable"/>).
    /// What <see cref="MidiReader"/> reads back from the written file, so scoring these scores the file.
    /// </summary>
    public static List<Note> AsWritten(IReadOnlyList<Note> notes, MidiWriteOptions? options = null)
    {
        options ??= MidiWriteOptions.Default;
        double ticksPerSecond = options.TicksPerQuarter * options.BeatsPerMinute / 60;
        var ticked = notes.Select(n =>
        {
            long on = (long)Math.Round(Math.Max(0, n.Start) * ticksPerSecond);
            return new TickNote(Math.Clamp(n.Pitch, 0, 127), Math.Clamp(n.Velocity, 1, 127), on, Math.Max(on + 1, (long)Math.Round(Math.Max(0, n.End) * ticksPerSecond)));
        });
        return Playable(ticked).Select(n => new Note(n.Pitch, n.Velocity, n.On / ticksPerSecond, n.Off / ticksPerSecond, 0, options.Program)).ToList();
    }
}
