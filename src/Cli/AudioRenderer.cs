using System.Diagnostics;

namespace MusicGen.Cli;

/// <summary>MIDI -> WAV through FluidSynth and a General MIDI soundfont (Debian: fluidsynth, fluid-soundfont-gm), when installed.</summary>
public static class AudioRenderer
{
    static readonly string[] SoundFonts = ["/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2", "/usr/share/soundfonts/default.sf2"];

    /// <summary>Null when FluidSynth and a soundfont are both present, else the one-line reason.</summary>
    public static string? Missing(out string fluidsynth, out string soundFont)
    {
        fluidsynth = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, "fluidsynth")).FirstOrDefault(File.Exists) ?? "";
        soundFont = Environment.GetEnvironmentVariable("MUSICGEN_SOUNDFONT") is { Length: > 0 } sf && File.Exists(sf) ? sf : SoundFonts.FirstOrDefault(File.Exists) ?? "";
        if (fluidsynth.Length == 0) return "--wav needs FluidSynth (apt-get install fluidsynth fluid-soundfont-gm); the MIDI file was written";
        if (soundFont.Length == 0) return "--wav needs a General MIDI soundfont (apt-get install fluid-soundfont-gm, or set MUSICGEN_SOUNDFONT); the MIDI file was written";
        return null;
    }

    public static void Render(string midiPath, string wavPath, string fluidsynth, string soundFont)
    {
        var psi = new ProcessStartInfo(fluidsynth) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-ni", "-g", "0.8", "-r", "44100", "-F", wavPath, soundFont, midiPath }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new IOException("could not start fluidsynth");
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0 || !File.Exists(wavPath)) throw new IOException($"fluidsynth failed ({p.ExitCode}): {err.Result.Trim().Split('\n').LastOrDefault()}");
    }
}
