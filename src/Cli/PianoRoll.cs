using MusicGen.Midi;
using ScottPlot;

namespace MusicGen.Cli;

/// <summary>A piano-roll picture of notes: time (s) across, pitch up, velocity as shade (darker = louder).</summary>
public static class PianoRoll
{
    public static void SavePng(string path, IReadOnlyList<Note> notes, string title, int width = 1400, int height = 500)
    {
        var plot = new Plot();
        foreach (var n in notes)
        {
            var rect = plot.Add.Rectangle(n.Start, n.End, n.Pitch - 0.45, n.Pitch + 0.45);
            double shade = 0.25 + 0.75 * n.Velocity / 127.0;
            rect.FillColor = new Color((byte)(30 * (1 - shade)), (byte)(90 * (1 - shade) + 40), (byte)(200 * shade + 40));
            rect.LineWidth = 0;
        }
        plot.Title(title);
        plot.XLabel("time (s)");
        plot.YLabel("MIDI pitch (60 = middle C)");
        if (notes.Count > 0)
            plot.Axes.SetLimits(0, Math.Max(1, notes.Max(n => n.End)), notes.Min(n => n.Pitch) - 2, notes.Max(n => n.Pitch) + 2);
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".tmp.png";
        plot.SavePng(temp, width, height);
        File.Move(temp, full, overwrite: true);
    }
}
