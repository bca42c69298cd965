using NAudio.Midi;

namespace MusicGen.Midi;

/// <summary>
/// Reads a Standard MIDI File into <see cref="Note"/>s.
///
/// Pipeline: <see cref="SmfScanner"/> validates the raw bytes (no length field is trusted),
/// NAudio.Midi parses the events, our own <see cref="TempoMap"/> turns ticks into seconds, and the
/// note-pairing rules below turn note-on/off events into notes.
///
/// Pairing rules (the same as pretty_midi, the de-facto reference for MAESTRO-style data):
/// <list type="bullet">
/// <item>A note-on with velocity 0 is a note-off.</item>
/// <item>Note-ons of one (channel, pitch) stack up. A note-off ends every open note of that key that
///   started at an earlier tick; notes that started at the very tick of the note-off stay open
///   (so an off/on pair written in either order at one tick never yields a zero-length note).
///   Overlapping notes of one pitch are therefore kept, each with its own end.</item>
/// <item>A note never turned off ends at its track's End of Track; if that is its own onset it is dropped.</item>
/// <item>Format 2 files are read track after track: each track is its own sequence with its own
///   tempo map, starting where the previous one ended.</item>
/// <item>Sustain (option): while CC64 &gt;= 64 on a channel, a note released under the pedal is held
///   until the pedal lifts or the same pitch is struck again on that channel, whichever is first.</item>
/// </list>
/// The result is sorted by start time, ties broken by pitch.
/// </summary>
public static class MidiReader
{
    /// <summary>The largest file read (64 MiB; the largest piano MIDI files of the shared corpora are under 1 MB).</summary>
    public const long MaxFileBytes = 64L << 20;

    /// <summary>The longest note accepted (1 hour) and the latest a note may end (24 hours).</summary>
    public const double MaxNoteSeconds = 3600, MaxPieceSeconds = 24 * 3600;

    /// <summary>Reads the file at <paramref name="path"/>; throws <see cref="MidiFormatException"/> with a reason on bad input.</summary>
    public static List<Note> ReadFile(string path, MidiReadOptions? options = null) => Read(ReadBytes(path), options);

    /// <summary>Reads MIDI file bytes; throws <see cref="MidiFormatException"/> with a reason on bad input.</summary>
    public static List<Note> Read(byte[] bytes, MidiReadOptions? options = null)
    {
        options ??= MidiReadOptions.Default;
        var (file, layout) = Parse(bytes);
        return ExtractNotes(file, layout, options).Select(n => n.Note).ToList();
    }

    /// <summary>
    /// Reads a file with its musical time: every note's onset and release in quarter-note beats (ticks / PPQ), the
    /// time signatures and the tempos. Throws <see cref="MidiFormatException"/> on bad input, and for SMPTE-timed
    /// files, which have no beats.
    /// </summary>
    public static MidiScore ReadScoreFile(string path, MidiReadOptions? options = null) => ReadScore(ReadBytes(path), options);

    /// <inheritdoc cref="ReadScoreFile"/>
    public static MidiScore ReadScore(byte[] bytes, MidiReadOptions? options = null)
    {
        options ??= MidiReadOptions.Default;
        var (file, layout) = Parse(bytes);
        if (layout.IsSmpte) throw new MidiFormatException("SMPTE time division: the file counts frames, not beats");
        var timed = ExtractNotes(file, layout, options);
        int ppq = layout.TicksPerQuarter;
        var meters = new List<Meter>();
        var tempos = new List<(double Beat, double Bpm)>();
        var keys = new List<(double Beat, int SharpsFlats, bool Minor)>();
        for (int t = 0; t < file.Tracks; t++)
            foreach (var ev in file.Events[t])
                switch (ev)
                {
                    case TimeSignatureEvent ts when ts.Numerator > 0 && ts.Denominator is >= 0 and <= 6:
                        meters.Add(new Meter(ev.AbsoluteTime / (double)ppq, ts.Numerator, 1 << ts.Denominator)); break;
                    case TempoEvent te when te.MicrosecondsPerQuarterNote > 0:
                        tempos.Add((ev.AbsoluteTime / (double)ppq, 60e6 / te.MicrosecondsPerQuarterNote)); break;
                    case KeySignatureEvent ks when ks.SharpsFlats is >= -7 and <= 7:
                        keys.Add((ev.AbsoluteTime / (double)ppq, ks.SharpsFlats, ks.MajorMinor == 1)); break;
                }
        meters.Sort((a, b) => a.Beat.CompareTo(b.Beat));
        tempos.Sort((a, b) => a.Beat.CompareTo(b.Beat));
        keys.Sort((a, b) => a.Beat.CompareTo(b.Beat));
        return new MidiScore(timed.Select(n => n.Note).ToList(), timed.Select(n => n.StartBeat).ToArray(), timed.Select(n => n.EndBeat).ToArray(),
            meters, tempos, keys, ppq, layout.Format == 2);
    }

    static byte[] ReadBytes(string path)
    {
        try
        {
            // Sized before it is opened: a FIFO or a device reports 0 bytes, and opening one would wait for a writer forever.
            long size = new FileInfo(path).Length;
            if (size == 0) throw new MidiFormatException("empty file (0 bytes), or not a regular file");
            if (size > MaxFileBytes) throw new MidiFormatException($"{size:N0} bytes: larger than any MIDI file this reader accepts ({MaxFileBytes:N0})");
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new MidiFormatException($"unreadable: {e.Message}");
        }
    }

    static (MidiFile File, SmfLayout Layout) Parse(byte[] bytes)
    {
        var layout = SmfScanner.Scan(bytes);
        MidiFile file;
        try
        {
            using var stream = layout.HasAlienChunks || layout.MissingEndOfTrack
                ? new MemoryStream(SmfScanner.Normalize(bytes.AsSpan(layout.SmfOffset, layout.SmfLength)), writable: false)
                : new MemoryStream(bytes, layout.SmfOffset, layout.SmfLength, writable: false);
            file = new MidiFile(stream, strictChecking: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The scan accepts only well-formed structure, so this is NAudio disagreeing on a detail.
            throw new MidiFormatException($"MIDI parser rejected the file: {e.Message}");
        }
        if (file.Events.Tracks != layout.TrackCount)
            throw new MidiFormatException($"MIDI parser found {file.Events.Tracks} tracks where the scan found {layout.TrackCount}");
        return (file, layout);
    }

    /// <summary>A note with its onset and release in beats (ticks / PPQ; NaN for SMPTE files).</summary>
    readonly record struct TimedNote(Note Note, double StartBeat, double EndBeat);

    static List<TimedNote> ExtractNotes(MidiFile file, SmfLayout layout, MidiReadOptions options)
    {
        var programs = CollectProgramChanges(file);
        var notes = new List<Note>();
        var beats = new List<(double Start, double End)>(); // beats[i]: notes[i]'s onset and release in beats
        double ppq = layout.IsSmpte ? double.NaN : layout.TicksPerQuarter;
        double trackOffsetBeats = 0;
        var pedal = options.Sustain ? new List<(double Time, bool Down)>[16] : null;
        var open = new List<(long Tick, int Velocity)>?[16 * 128];
        double trackOffsetSeconds = 0;
        TempoMap? shared = layout.Format == 2 ? null : BuildTempoMap(file, layout, tracks: Enumerable.Range(0, file.Tracks));

        for (int track = 0; track < file.Tracks; track++)
        {
            var events = file.Events[track];
            var map = shared ?? BuildTempoMap(file, layout, tracks: [track]);
            var clock = new TempoMap.Cursor(map);
            double offset = layout.Format == 2 ? trackOffsetSeconds : 0, offsetBeats = layout.Format == 2 ? trackOffsetBeats : 0;
            int openCount = 0;
            long trackEndTick = events.Count > 0 ? events[^1].AbsoluteTime : 0;

            foreach (var ev in events)
            {
                switch (ev)
                {
                    case NoteEvent n when n.CommandCode == MidiCommandCode.NoteOn && n.Velocity > 0:
                    {
                        if (n.Channel - 1 == 9 && !options.IncludeDrums) break;
                        ref var list = ref open[(n.Channel - 1) * 128 + n.NoteNumber];
                        (list ??= []).Add((n.AbsoluteTime, n.Velocity));
                        if (++openCount > options.MaxSimultaneousNotes)
                            throw new MidiFormatException($"more than {options.MaxSimultaneousNotes} notes sounding at once (pathological file)");
                        break;
                    }
                    case NoteEvent n when n.CommandCode is MidiCommandCode.NoteOn or MidiCommandCode.NoteOff:
                    {
                        var list = open[(n.Channel - 1) * 128 + n.NoteNumber];
                        if (list is null || list.Count == 0) break;
                        double end = offset + clock.ToSeconds(n.AbsoluteTime);
                        int kept = 0;
                        for (int i = 0; i < list.Count; i++)
                        {
                            var (tick, velocity) = list[i];
                            if (tick == n.AbsoluteTime) { list[kept++] = list[i]; continue; }
                            notes.Add(MakeNote(n.NoteNumber, velocity, offset + map.ToSeconds(tick), end, n.Channel - 1, programs, tick));
                            beats.Add((offsetBeats + tick / ppq, offsetBeats + n.AbsoluteTime / ppq));
                        }
                        openCount -= list.Count - kept;
                        list.RemoveRange(kept, list.Count - kept);
                        break;
                    }
                    case ControlChangeEvent cc when pedal is not null && cc.Controller == MidiController.Sustain:
                        (pedal[cc.Channel - 1] ??= []).Add((offset + clock.ToSeconds(cc.AbsoluteTime), cc.ControllerValue >= 64));
                        break;
                }
            }

            // Notes never turned off end at End of Track (dropped when that is their own onset).
            double trackEnd = offset + map.ToSeconds(trackEndTick);
            for (int key = 0; key < open.Length; key++)
            {
                var list = open[key];
                if (list is null) continue;
                foreach (var (tick, velocity) in list)
                    if (tick < trackEndTick)
                    {
                        notes.Add(MakeNote(key % 128, velocity, offset + map.ToSeconds(tick), trackEnd, key / 128, programs, tick));
                        beats.Add((offsetBeats + tick / ppq, offsetBeats + trackEndTick / ppq));
                    }
                list.Clear();
            }
            trackOffsetSeconds = trackEnd;
            trackOffsetBeats += trackEndTick / ppq;
        }

        if (pedal is not null)
        {
            var released = notes.Select(n => n.End).ToArray();
            ApplySustain(notes, pedal);
            // A release the pedal moved: its beat from the tempo map (one map in formats 0 and 1).
            for (int i = 0; i < notes.Count; i++)
                if (notes[i].End != released[i] && shared is not null && !layout.IsSmpte)
                    beats[i] = (beats[i].Start, shared.ToTicks(notes[i].End) / ppq);
        }
        var timed = notes.Select((n, i) => new TimedNote(n, beats[i].Start, beats[i].End)).ToList();
        timed.Sort(static (x, y) =>
        {
            var (a, b) = (x.Note, y.Note);
            return a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.Pitch != b.Pitch ? a.Pitch.CompareTo(b.Pitch) : a.End.CompareTo(b.End);
        });
        // Sanity: an hour-long note or a day-long piece is a corrupt delta time, not music (one would make a corpus report
        // days of audio).
        foreach (var n in notes)
        {
            if (n.End - n.Start > MaxNoteSeconds) throw new MidiFormatException($"a note lasting {(n.End - n.Start) / 3600:F1} h: implausible timing (a corrupt delta time?)");
            if (n.End > MaxPieceSeconds) throw new MidiFormatException($"a note ending at {n.End / 3600:F1} h: implausible timing (a corrupt delta time?)");
        }
        return timed;
    }

    static Note MakeNote(int pitch, int velocity, double start, double end, int channel, List<(long Tick, int Program)>[] programs, long tick)
        => new(pitch, velocity, start, end, channel, ProgramAt(programs[channel], tick));

    static TempoMap BuildTempoMap(MidiFile file, SmfLayout layout, IEnumerable<int> tracks)
    {
        if (layout.IsSmpte) return TempoMap.Constant(layout.SmpteSecondsPerTick);
        var tempos = new List<(long, int)>();
        foreach (int t in tracks)
            foreach (var ev in file.Events[t])
                if (ev is TempoEvent tempo) tempos.Add((tempo.AbsoluteTime, tempo.MicrosecondsPerQuarterNote));
        return TempoMap.FromTempoEvents(layout.TicksPerQuarter, tempos);
    }

    /// <summary>Program changes of every track, per channel, in tick order (channels can be driven from any track).</summary>
    static List<(long Tick, int Program)>[] CollectProgramChanges(MidiFile file)
    {
        var perChannel = new List<(long Tick, int Program)>[16];
        for (int c = 0; c < 16; c++) perChannel[c] = [];
        for (int t = 0; t < file.Tracks; t++)
            foreach (var ev in file.Events[t])
                if (ev is PatchChangeEvent p) perChannel[p.Channel - 1].Add((p.AbsoluteTime, p.Patch));
        foreach (var list in perChannel) list.Sort(static (a, b) => a.Tick.CompareTo(b.Tick));
        return perChannel;
    }

    static int ProgramAt(List<(long Tick, int Program)> changes, long tick)
    {
        int program = 0;
        foreach (var (t, p) in changes)
        {
            if (t > tick) break;
            program = p;
        }
        return program;
    }

    /// <summary>Holds notes released under a down sustain pedal until it lifts or the pitch is struck again.</summary>
    static void ApplySustain(List<Note> notes, List<(double Time, bool Down)>[] pedal)
    {
        var intervals = new List<(double Down, double Up)>[16];
        for (int c = 0; c < 16; c++)
        {
            intervals[c] = [];
            var events = pedal[c];
            if (events is null) continue;
            events.Sort(static (a, b) => a.Time.CompareTo(b.Time)); // stable enough: ties keep both states at one instant
            double? downSince = null;
            foreach (var (time, down) in events)
            {
                if (down && downSince is null) downSince = time;
                else if (!down && downSince is double d) { intervals[c].Add((d, time)); downSince = null; }
            }
            if (downSince is double still) intervals[c].Add((still, double.PositiveInfinity));
        }

        // Next onset of the same (channel, pitch) after each note, to cut the extension there.
        double lastRelease = notes.Count > 0 ? notes.Max(n => n.End) : 0;
        var order = Enumerable.Range(0, notes.Count)
            .OrderBy(i => notes[i].Channel).ThenBy(i => notes[i].Pitch).ThenBy(i => notes[i].Start).ToArray();
        for (int k = 0; k < order.Length; k++)
        {
            var note = notes[order[k]];
            var held = intervals[note.Channel];
            if (held.Count == 0) continue;
            int j = FindInterval(held, note.End);
            if (j < 0) continue;
            double end = held[j].Up;
            if (k + 1 < order.Length)
            {
                var next = notes[order[k + 1]];
                if (next.Channel == note.Channel && next.Pitch == note.Pitch && next.Start > note.Start) end = Math.Min(end, next.Start);
            }
            if (double.IsPositiveInfinity(end)) end = lastRelease; // pedal never lifted: hold to the last release
            if (end > note.End) notes[order[k]] = note with { End = end };
        }
    }

    /// <summary>Index of the interval with Down &lt;= time &lt; Up, or -1.</summary>
    static int FindInterval(List<(double Down, double Up)> intervals, double time)
    {
        int lo = 0, hi = intervals.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (intervals[mid].Up <= time) lo = mid + 1;
            else if (intervals[mid].Down > time) hi = mid - 1;
            else return mid;
        }
        return -1;
    }
}
