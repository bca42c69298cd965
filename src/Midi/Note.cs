namespace MusicGen.Midi;

/// <summary>
/// One sounding note as read from a MIDI file, in seconds from the start of the file.
/// </summary>
/// <param name="Pitch">MIDI key number, 0-127 (60 = middle C).</param>
/// <param name="Velocity">Note-on velocity, 1-127.</param>
/// <param name="Start">Onset time in seconds.</param>
/// <param name="End">Release time in seconds (after sustain-pedal extension when that option is on); always &gt; Start.</param>
/// <param name="Channel">MIDI channel, 0-15 (9 is General MIDI percussion).</param>
/// <param name="Program">General MIDI program (instrument) in force on the channel at the onset, 0-127.</param>
public readonly record struct Note(int Pitch, int Velocity, double Start, double End, int Channel, int Program)
{
    public double Duration => End - Start;
}

/// <summary>How <see cref="MidiReader"/> turns MIDI events into notes.</summary>
public sealed record MidiReadOptions
{
    /// <summary>Extend note durations while the sustain pedal (CC64 &gt;= 64) is down, as MAESTRO-style performance data needs.</summary>
    public bool Sustain { get; init; }

    /// <summary>Keep notes on channel 10 (index 9), the General MIDI drum channel. Off by default: drums are not piano.</summary>
    public bool IncludeDrums { get; init; }

    /// <summary>A file with more notes sounding at once than this is rejected as pathological (no piano score needs it).</summary>
    public int MaxSimultaneousNotes { get; init; } = 4096;

    public static MidiReadOptions Default { get; } = new();
}

/// <summary>A file that cannot be turned into notes; <see cref="Exception.Message"/> is the one-line reason.</summary>
public sealed class MidiFormatException(string reason) : Exception(reason);
