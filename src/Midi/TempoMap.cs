namespace MusicGen.Midi;

/// <summary>
/// Converts MIDI ticks to seconds from a file's tempo events. Built by hand on purpose: NAudio's
/// own tempo map (MidiFileSequence) measured ~100x slower than parsing the file.
/// A tempo change at tick t applies from t on; before the first one the tempo is 120 bpm
/// (500,000 microseconds per quarter note), as the SMF specification says.
/// </summary>
public sealed class TempoMap
{
    const int DefaultMicrosPerQuarter = 500_000;

    // Segment k starts at _ticks[k] (at _seconds[k]) and runs at _secondsPerTick[k].
    readonly long[] _ticks;
    readonly double[] _seconds;
    readonly double[] _secondsPerTick;

    TempoMap(long[] ticks, double[] seconds, double[] secondsPerTick)
    {
        _ticks = ticks; _seconds = seconds; _secondsPerTick = secondsPerTick;
    }

    /// <summary>A constant rate, for SMPTE time division (tempo events do not apply there).</summary>
    public static TempoMap Constant(double secondsPerTick) => new([0], [0.0], [secondsPerTick]);

    /// <summary>Builds the map from (tick, microseconds per quarter note) pairs in any order.</summary>
    public static TempoMap FromTempoEvents(int ticksPerQuarter, List<(long Tick, int MicrosPerQuarter)> tempos)
    {
        if (ticksPerQuarter <= 0) throw new MidiFormatException($"time division of {ticksPerQuarter} ticks per quarter note");
        // Stable sort by tick: of several changes at one tick, the last in file order wins.
        var sorted = tempos.Select((t, i) => (t.Tick, t.MicrosPerQuarter, i)).OrderBy(t => t.Tick).ThenBy(t => t.i).ToList();
        var ticks = new List<long> { 0 };
        var seconds = new List<double> { 0.0 };
        var rate = new List<double> { DefaultMicrosPerQuarter * 1e-6 / ticksPerQuarter };
        foreach (var (tick, micros, _) in sorted)
        {
            if (micros <= 0) throw new MidiFormatException($"tempo of {micros} microseconds per quarter note");
            int last = ticks.Count - 1;
            double perTick = micros * 1e-6 / ticksPerQuarter;
            if (tick == ticks[last]) { rate[last] = perTick; continue; }
            seconds.Add(seconds[last] + (tick - ticks[last]) * rate[last]);
            ticks.Add(tick);
            rate.Add(perTick);
        }
        return new TempoMap([.. ticks], [.. seconds], [.. rate]);
    }

    /// <summary>Seconds at <paramref name="tick"/> (binary search over the tempo segments).</summary>
    public double ToSeconds(long tick)
    {
        int k = Array.BinarySearch(_ticks, tick);
        if (k < 0) k = ~k - 1;
        return _seconds[k] + (tick - _ticks[k]) * _secondsPerTick[k];
    }

    /// <summary>
    /// A cursor for converting ticks that arrive in non-decreasing order (one track's events):
    /// amortised O(1) per call instead of a binary search.
    /// </summary>
    public struct Cursor(TempoMap map)
    {
        int _segment;

        public double ToSeconds(long tick)
        {
            var t = map._ticks;
            if (tick < t[_segment]) _segment = 0; // out of order: start over
            while (_segment + 1 < t.Length && t[_segment + 1] <= tick) _segment++;
            return map._seconds[_segment] + (tick - t[_segment]) * map._secondsPerTick[_segment];
        }
    }

    /// <summary>Ticks at <paramref name="seconds"/>: the inverse of <see cref="ToSeconds"/>.</summary>
    public long ToTicks(double seconds)
    {
        int k = Array.BinarySearch(_seconds, seconds);
        if (k < 0) k = ~k - 1;
        if (k < 0) k = 0;
        return _ticks[k] + (long)Math.Round((seconds - _seconds[k]) / _secondsPerTick[k]);
    }
}
