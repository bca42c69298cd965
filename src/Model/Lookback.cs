using MusicGen.Midi;

namespace MusicGen.Model;

/// <summary>What the lookback inputs look back by: nothing, bars (beats mode), or a count of notes.</summary>
public enum LookbackKind { None, Bars, Notes }

/// <summary>
/// One lookback of a note: the note at the same place one distance back (its "aligned" note) and the note that followed
/// that one, which is what comes next if the music repeats itself. <see cref="Present"/> is false when the piece has no
/// note at that place (it starts later, or no note starts exactly there).
/// </summary>
public readonly record struct Echo(bool Present, NoteRow Aligned, NoteRow Next);

/// <summary>
/// Lookback inputs, after Magenta's Lookback RNN ("the model can easily repeat"): each note also reads what happened
/// one and two distances ago (<see cref="Echo"/>), where a distance is a bar (beats mode: the note that started exactly
/// 1 or 2 bars before this one, the same note of its chord) or <see cref="ModelConfig.LookbackNotes"/> notes (k and 2k
/// notes ago). The note that followed the aligned note tells the network what repeating would play next.
///
/// Per distance, <see cref="InputsPerEcho"/> features: present (0/1); the echo's next note's pitch, one-hot over the 128
/// (transposed with the window, so a straight line runs from it to the pitch it would repeat); whether this note repeats the
/// aligned note's pitch (0/1); the echo's next note's step, scaled like every step input.
/// The features come from the notes alone, so training (<see cref="Windows.Fill"/>) and generation compute them alike.
/// </summary>
public static class Lookback
{
    const int Pitches = 128;
    public const int InputsPerEcho = 1 + Pitches + 1 + 1;
    /// <summary>Distances looked back: one and two bars, or k and 2k notes.</summary>
    public const int Distances = 2;
    public const int Inputs = Distances * InputsPerEcho;

    /// <summary>
    /// The index of the note aligned with note <paramref name="i"/> <paramref name="distance"/> units back (bars or notes),
    /// within the piece rows[first..], or -1. Bars: walks back from note i's chord by the steps (on the beat grid) until
    /// exactly distance x <paramref name="barBeats"/> beats; the aligned note is the chord there, at note i's place in its
    /// own chord (its highest note when that chord has fewer). Always before note i's chord, so training never reads ahead.
    /// </summary>
    public static int Aligned(ReadOnlySpan<NoteRow> rows, int first, int i, LookbackKind kind, int distance, float barBeats)
    {
        if (kind == LookbackKind.Notes) return i - distance >= first ? i - distance : -1;
        if (kind != LookbackKind.Bars) return -1;
        int target = distance * BeatFeatures.ToGrid(barBeats);
        if (target <= 0) return -1;
        int chordStart = i, placeInChord = 0;
        while (chordStart > first && BeatFeatures.ToGrid(rows[chordStart].Step) == 0) { chordStart--; placeInChord++; }
        int k = chordStart, back = 0;
        while (back < target && k > first) { back += BeatFeatures.ToGrid(rows[k].Step); k--; }
        if (back != target) return -1;
        // rows[k] is the last (highest) note of the chord that started exactly there; find that chord's first note.
        int last = k;
        while (k > first && BeatFeatures.ToGrid(rows[k].Step) == 0) k--;
        return Math.Min(k + placeInChord, last);
    }

    /// <summary>The <see cref="Distances"/> echoes of note i of the piece rows[first..] (its bar length from its place in beats mode).</summary>
    public static (Echo Near, Echo Far) Echoes(ReadOnlySpan<NoteRow> rows, int first, int i, ModelConfig c, BarPlace place)
    {
        if (c.Lookback == LookbackKind.None) return default;
        int unit = c.Lookback == LookbackKind.Notes ? c.LookbackNotes : 1;
        return (EchoAt(rows, Aligned(rows, first, i, c.Lookback, unit, place.BarBeats)),
                EchoAt(rows, Aligned(rows, first, i, c.Lookback, 2 * unit, place.BarBeats)));
    }

    static Echo EchoAt(ReadOnlySpan<NoteRow> rows, int aligned) => aligned < 0 ? default : new Echo(true, rows[aligned], rows[aligned + 1]);

    /// <summary>
    /// Writes one echo's <see cref="InputsPerEcho"/> features of a note of (untransposed) pitch <paramref name="pitch"/> into
    /// <paramref name="f"/>, the window transposed by <paramref name="shift"/>.
    /// </summary>
    public static void SetInputs(Span<float> f, Echo echo, float pitch, int shift, ModelConfig c)
    {
        f[..InputsPerEcho].Clear();
        if (!echo.Present) return;
        f[0] = 1;
        f[1 + Math.Clamp((int)echo.Next.Pitch + shift, 0, Pitches - 1)] = 1;
        f[1 + Pitches] = echo.Aligned.Pitch == pitch ? 1 : 0;
        f[2 + Pitches] = c.ClipSeconds(echo.Next.Step);
    }
}
