using System.Runtime.InteropServices;

namespace MusicGen.Midi;

/// <summary>What a note's step and duration are counted in: seconds (performance timing) or quarter-note beats on a grid (scores, sequencer files).</summary>
public enum TimeUnit { Seconds, Beats }

/// <summary>
/// Where a note starts within its bar: <paramref name="Position"/> quarter-note beats after the bar line, in a bar of
/// <paramref name="BarBeats"/> beats (4 in 4/4). 8 bytes, stored beside each <see cref="NoteRow"/> of a beats-mode corpus.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public readonly record struct BarPlace(float Position, float BarBeats)
{
    /// <summary>The place of a note <paramref name="beats"/> after this one (both on one meter).</summary>
    public BarPlace After(float beats)
    {
        // On the grid, in whole grid units, so that a long piece never drifts off it.
        int bar = BeatFeatures.ToGrid(BarBeats), position = BeatFeatures.ToGrid(Position) + BeatFeatures.ToGrid(beats);
        return this with { Position = (float)(position % Math.Max(bar, 1)) / BeatFeatures.GridPerBeat };
    }
}

/// <summary>
/// Time in beats (the "beats" time mode): a score's notes as feature rows whose step and duration are counted in
/// quarter-note beats on a grid of <see cref="GridPerBeat"/> per beat (12 holds sixteenths, eighth-note triplets and
/// sixteenth triplets), each with its <see cref="BarPlace"/>. Onsets and releases are rounded to the grid; a duration is
/// at least one grid unit; notes whose onsets round together form a chord (step 0), ordered low to high.
/// </summary>
/// <summary>A score's grid: aligned beat = the file's beat - <paramref name="Offset"/>; bars from <paramref name="Meters"/> (in aligned beats, the first at or before the first note).</summary>
public sealed record BeatGrid(double Offset, Meter[] Meters);

public static class BeatFeatures
{
    /// <summary>Grid units per quarter-note beat.</summary>
    public const int GridPerBeat = 12;

    /// <summary>An onset is "on the grid" when it lies within this many beats of a grid point (a quarter of a unit; a
    /// uniformly random onset is on it half of the time).</summary>
    public const double OnGridTolerance = 1.0 / (4 * GridPerBeat);

    public static int ToGrid(double beats) => (int)Math.Round(beats * GridPerBeat);

    /// <summary>The fraction of <paramref name="score"/>'s onsets within <see cref="OnGridTolerance"/> of the grid, once aligned by <paramref name="grid"/> (1 for no notes).</summary>
    public static double OnGridFraction(MidiScore score, BeatGrid grid)
    {
        if (score.StartBeats.Length == 0) return 1;
        int on = score.StartBeats.Count(raw =>
        {
            double b = (raw - grid.Offset) * GridPerBeat;
            return Math.Abs(b - Math.Round(b)) <= OnGridTolerance * GridPerBeat + 1e-9;
        });
        return on / (double)score.StartBeats.Length;
    }

    /// <summary>
    /// Where a score's grid and bars are. Many files written from a recording keep a constant offset between tick 0 and
    /// the beat (POP909's onsets sit, file by file, 13, 40 or 145 ticks after a multiple of 1/12 beat), and many carry a
    /// placeholder time signature (617 of POP909's 909 files say 1/4). So:
    /// 1. the grid offset is the most common onset phase modulo one grid unit;
    /// 2. the beat is the grid position (of 12) that the most onsets fall on;
    /// 3. the bars: when the grid needed no shift and the file has a time signature of at least 2 beats a bar, its
    ///    signatures; otherwise one meter (the file's first of at least 2 beats, else 4/4) whose bar line is the beat
    ///    phase on which the most notes of a beat or longer start (the heuristic of a downbeat: long notes and chord
    ///    changes land there; it can mistake the third beat of 4/4 for the first).
    /// </summary>
    public static BeatGrid EstimateGrid(MidiScore score)
    {
        var starts = score.StartBeats;
        if (starts.Length == 0) return new BeatGrid(0, [new Meter(0, 4, 4)]);
        // 1. Phase within a grid unit, in 1/40ths of a unit (a tick at 480 PPQ), with a window of +-2 so jitter counts.
        const int Fine = 40;
        var histogram = new int[Fine];
        foreach (var b in starts) histogram[(int)Math.Round(Frac(b * GridPerBeat) * Fine) % Fine]++;
        int bestPhase = 0, bestCount = -1;
        for (int p = 0; p < Fine; p++)
        {
            int c = 0;
            for (int d = -2; d <= 2; d++) c += histogram[(p + d + Fine) % Fine] * (d == 0 ? 2 : 1);
            if (c > bestCount) (bestPhase, bestCount) = (p, c);
        }
        double offset = bestPhase / (double)(Fine * GridPerBeat);
        if (bestPhase * 2 > Fine) offset -= 1.0 / GridPerBeat; // the nearer way round
        // 2. The beat: the grid position within the beat that the most onsets fall on.
        var onBeat = new int[GridPerBeat];
        foreach (var b in starts) onBeat[Mod(ToGrid(b - offset), GridPerBeat)]++;
        int shift = Array.IndexOf(onBeat, onBeat.Max());
        offset += shift / (double)GridPerBeat;
        // 3. Bars.
        bool aligned = Math.Abs(offset) < 0.5 / GridPerBeat;
        var fileMeters = score.Meters.Where(m => m.BarBeats >= 2).ToList();
        if (aligned && fileMeters.Count > 0 && score.Meters.All(m => m.BarBeats >= 2))
            return new BeatGrid(0, score.Meters[0].Beat <= 0 ? [.. score.Meters] : [new Meter(0, 4, 4), .. score.Meters]);
        var meter = fileMeters.Count > 0 ? fileMeters[0] : new Meter(0, 4, 4);
        int bar = Math.Max(1, (int)Math.Round(meter.BarBeats));
        var downbeat = new double[bar];
        for (int i = 0; i < starts.Length; i++)
        {
            int g = ToGrid(starts[i] - offset);
            if (Mod(g, GridPerBeat) != 0 || score.EndBeats[i] - starts[i] < 0.9) continue;
            downbeat[Mod(g / GridPerBeat - (g < 0 ? 1 : 0), bar)] += 1;
        }
        int phase = Array.IndexOf(downbeat, downbeat.Max());
        return new BeatGrid(offset, [meter with { Beat = phase }]);
    }

    static double Frac(double x) => x - Math.Floor(x);
    static int Mod(int a, int m) => ((a % m) + m) % m;

    /// <summary>Feature rows in beats and the bar place of each, in onset order (ties by pitch), on the grid <see cref="EstimateGrid"/> finds.</summary>
    public static (NoteRow[] Rows, BarPlace[] Places) FromScore(MidiScore score) => FromScore(score, EstimateGrid(score));

    /// <summary>Feature rows in beats and the bar place of each, in onset order (ties by pitch), on <paramref name="grid"/>.</summary>
    public static (NoteRow[] Rows, BarPlace[] Places) FromScore(MidiScore score, BeatGrid grid)
    {
        int n = score.Notes.Count;
        var order = Enumerable.Range(0, n)
            .Select(i => (i, Start: ToGrid(score.StartBeats[i] - grid.Offset), End: ToGrid(score.EndBeats[i] - grid.Offset)))
            .OrderBy(x => x.Start).ThenBy(x => score.Notes[x.i].Pitch).ThenBy(x => x.End).ToArray();
        var rows = new NoteRow[n];
        var places = new BarPlace[n];
        // Bar lines: each meter starts a bar at its own beat (and every bar length before and after it).
        var meters = grid.Meters;
        int m = 0, previous = order.Length > 0 ? order[0].Start : 0;
        for (int k = 0; k < n; k++)
        {
            var (i, start, end) = order[k];
            while (m + 1 < meters.Length && ToGrid(meters[m + 1].Beat) <= start) m++;
            int bar = Math.Max(1, ToGrid(meters[m].BarBeats)), from = ToGrid(meters[m].Beat);
            int position = ((start - from) % bar + bar) % bar;
            var note = score.Notes[i];
            rows[k] = new NoteRow(note.Pitch, (start - previous) / (float)GridPerBeat, Math.Max(1, end - start) / (float)GridPerBeat, note.Velocity);
            places[k] = new BarPlace(position / (float)GridPerBeat, bar / (float)GridPerBeat);
            previous = start;
        }
        return (rows, places);
    }

    /// <summary>
    /// Rows in beats back to notes in seconds at a constant <paramref name="bpm"/>, the first note
    /// <paramref name="startBeat"/> beats after the start: what a MIDI file at that tempo holds, every onset on the grid.
    /// </summary>
    public static List<Note> ToNotes(ReadOnlySpan<NoteRow> rows, double bpm, double startBeat = 0)
    {
        double secondsPerBeat = 60.0 / bpm;
        var notes = new List<Note>(rows.Length);
        int start = ToGrid(startBeat);
        for (int i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            if (i > 0) start += Math.Max(0, ToGrid(r.Step));
            int duration = Math.Max(1, ToGrid(r.Duration));
            int pitch = Math.Clamp((int)MathF.Round(r.Pitch), 0, 127), velocity = Math.Clamp((int)MathF.Round(r.Velocity), 1, 127);
            notes.Add(new Note(pitch, velocity, start * secondsPerBeat / GridPerBeat, (start + duration) * secondsPerBeat / GridPerBeat, 0, 0));
        }
        return notes;
    }
}
