namespace MusicGen.Midi;

/// <summary>A time signature from <paramref name="Beat"/> on (in quarter-note beats): <paramref name="Numerator"/>/<paramref name="Denominator"/>.</summary>
public readonly record struct Meter(double Beat, int Numerator, int Denominator)
{
    /// <summary>Quarter-note beats in one bar: 4 in 4/4, 3 in 3/4 and in 6/8.</summary>
    public double BarBeats => Numerator * 4.0 / Denominator;

    /// <summary>Reads "3/4", "6/8", "4/4" (numerator 1-32, denominator 1, 2, 4, 8, 16 or 32).</summary>
    public static Meter Parse(string text)
    {
        var parts = text.Trim().Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], out int n) && int.TryParse(parts[1], out int d)
            && n is >= 1 and <= 32 && d is 1 or 2 or 4 or 8 or 16 or 32)
            return new Meter(0, n, d);
        throw new FormatException($"meter '{text}': write it as N/D, for example 4/4, 3/4 or 6/8");
    }

    public override string ToString() => $"{Numerator}/{Denominator}";
}

/// <summary>
/// A MIDI file read with its musical time (<see cref="MidiReader.ReadScore"/>): the notes (in seconds, as
/// <see cref="MidiReader.Read"/> returns them) and, index for index, their onsets and releases in quarter-note beats
/// (ticks / PPQ), with the file's time signatures, tempos and key signatures in beats.
/// </summary>
public sealed record MidiScore(
    IReadOnlyList<Note> Notes, double[] StartBeats, double[] EndBeats,
    IReadOnlyList<Meter> Meters, IReadOnlyList<(double Beat, double Bpm)> Tempos,
    IReadOnlyList<(double Beat, int SharpsFlats, bool Minor)> Keys, int TicksPerQuarter, bool Format2)
{
    /// <summary>The time signature in force at <paramref name="beat"/> (4/4 before the first, as the SMF specification says).</summary>
    public Meter MeterAt(double beat)
    {
        var m = new Meter(0, 4, 4);
        foreach (var x in Meters) { if (x.Beat > beat + 1e-9) break; m = x; }
        return m;
    }

    /// <summary>The tempo in force at <paramref name="beat"/> (120 bpm before the first).</summary>
    public double BpmAt(double beat)
    {
        double bpm = 120;
        foreach (var (b, t) in Tempos) { if (b > beat + 1e-9) break; bpm = t; }
        return bpm;
    }

    /// <summary>The median over notes of the tempo in force at each onset: "the piece's tempo" (120 when it has no notes).</summary>
    public double MedianBpm()
    {
        if (Notes.Count == 0) return 120;
        var beats = Tempos.Select(t => t.Beat).ToArray();
        var t = StartBeats.Select(b =>
        {
            int k = Array.BinarySearch(beats, b + 1e-9);
            if (k < 0) k = ~k - 1;
            return k < 0 ? 120 : Tempos[k].Bpm;
        }).Order().ToArray();
        return t[t.Length / 2];
    }
}
