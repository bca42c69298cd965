using NAudio.Midi;

namespace MusicGen.Midi;

/// <summary>How <see cref="MidiWriter"/> lays notes out in ticks.</summary>
public sealed record MidiWriteOptions
{
    public int TicksPerQuarter { get; init; } = 480;
    public double BeatsPerMinute { get; init; } = 120;
    /// <summary>General MIDI program for the track (0 = Acoustic Grand Piano).</summary>
    public int Program { get; init; }
    public static MidiWriteOptions Default { get; } = new();
}

/// <summary>
/// Writes notes as a type-1 Standard MIDI File: track 1 holds tempo and time signature, track 2 the
/// notes on channel 1 with a program change, so sequencers and players read it as one piano part.
/// The file is written atomically (temp file + rename).
/// </summary>
public static class MidiWriter
{
    public static void WriteFile(string path, IReadOnlyList<Note> notes, MidiWriteOptions? options = null)
        => AtomicFile.Write(path, stream => Write(stream, notes, options));

    public static void Write(Stream stream, IReadOnlyList<Note> notes, MidiWriteOptions? options = null)
    {
        options ??= MidiWriteOptions.Default;
        if (options.BeatsPerMinute <= 0 || options.TicksPerQuarter is <= 0 or > 0x7FFF)
            throw new ArgumentException("tempo and ticks per quarter note must be positive");
        int microsPerQuarter = (int)Math.Round(60_000_000 / options.BeatsPerMinute);
        double ticksPerSecond = options.TicksPerQuarter * 1e6 / microsPerQuarter;

        var events = new MidiEventCollection(1, options.TicksPerQuarter);
        events.AddTrack();
        events.AddEvent(new TempoEvent(microsPerQuarter, 0), 0);
        events.AddEvent(new TimeSignatureEvent(0, 4, 2, 24, 8), 0);
        events.AddTrack();
        events.AddEvent(new TextEvent("Piano", MetaEventType.SequenceTrackName, 0), 1);
        events.AddEvent(new PatchChangeEvent(0, 1, options.Program), 1);
        foreach (var n in notes)
        {
            if (n.Pitch is < 0 or > 127) throw new ArgumentException($"pitch {n.Pitch} outside 0-127");
            long on = (long)Math.Round(Math.Max(0, n.Start) * ticksPerSecond);
            long off = Math.Max(on + 1, (long)Math.Round(Math.Max(0, n.End) * ticksPerSecond));
            var noteOn = new NoteOnEvent(on, 1, n.Pitch, Math.Clamp(n.Velocity, 1, 127), (int)(off - on));
            events.AddEvent(noteOn, 1);
            events.AddEvent(noteOn.OffEvent!, 1);
        }
        events.PrepareForExport();
        MidiFile.Export(stream, events);
    }
}
