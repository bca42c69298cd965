using System.Runtime.InteropServices;

namespace MusicGen.Midi;

/// <summary>
/// One training row per note, the model's view of music (the TensorFlow music-generation tutorial's
/// features plus velocity). 16 bytes, stored as-is in the corpus cache.
/// </summary>
/// <param name="Pitch">MIDI key, 0-127, as a float.</param>
/// <param name="Step">Seconds since the previous note's start (0 for a file's first note).</param>
/// <param name="Duration">Seconds the note sounds.</param>
/// <param name="Velocity">Note-on velocity, 1-127, as a float.</param>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
public readonly record struct NoteRow(float Pitch, float Step, float Duration, float Velocity);

public static class NoteFeatures
{
    /// <summary>Feature rows for notes already in start order (ties by pitch), as <see cref="MidiReader"/> returns them.</summary>
    public static NoteRow[] FromNotes(IReadOnlyList<Note> notes)
    {
        var rows = new NoteRow[notes.Count];
        double previousStart = notes.Count > 0 ? notes[0].Start : 0;
        for (int i = 0; i < rows.Length; i++)
        {
            var n = notes[i];
            rows[i] = new NoteRow(n.Pitch, (float)(n.Start - previousStart), (float)n.Duration, n.Velocity);
            previousStart = n.Start;
        }
        return rows;
    }

    /// <summary>The inverse: rows back to notes (channel 0, piano), the first starting at <paramref name="startSeconds"/>.</summary>
    public static List<Note> ToNotes(ReadOnlySpan<NoteRow> rows, double startSeconds = 0)
    {
        var notes = new List<Note>(rows.Length);
        double start = startSeconds;
        for (int i = 0; i < rows.Length; i++)
        {
            var r = rows[i];
            if (i > 0) start += Math.Max(0, r.Step);
            int pitch = Math.Clamp((int)MathF.Round(r.Pitch), 0, 127);
            int velocity = Math.Clamp((int)MathF.Round(r.Velocity), 1, 127);
            notes.Add(new Note(pitch, velocity, start, start + Math.Max(r.Duration, 1e-3), 0, 0));
        }
        return notes;
    }
}
