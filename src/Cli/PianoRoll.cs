using MusicGen.Midi;
using ScottPlot;
using SkiaSharp;

namespace MusicGen.Cli;

/// <summary>A piano-roll picture of notes: time (s) across, pitch up, velocity as shade (darker = louder).</summary>
public static class PianoRoll
{
    /// <param name="takeoverSeconds">When &gt; 0: a red line where a continuation's own notes start.</param>
    /// <param name="barSeconds">When &gt; 0: a faint line at every bar line.</param>
    public static void SavePng(string path, IReadOnlyList<Note> notes, string title, int width = 1400, int height = 500, double takeoverSeconds = 0, double barSeconds = 0)
    {
        double end = notes.Count > 0 ? notes.Max(n => n.End) : 1;
        var plot = Build(notes, title, end);
        if (barSeconds > 0 && end / barSeconds < 2000)
            for (double t = 0; t <= end; t += barSeconds)
            {
                var line = plot.Add.VerticalLine(t);
                line.Color = new Color(0, 0, 0, 40);
                line.LineWidth = 1;
            }
        if (takeoverSeconds > 0)
        {
            var line = plot.Add.VerticalLine(takeoverSeconds);
            line.Color = Colors.Red;
            line.LineWidth = 2;
            line.Text = "model";
        }
        Write(path, temp => plot.SavePng(temp, width, height));
    }

    /// <summary>Two piano rolls one above the other, on the same time scale: e.g. a real segment and a generated piece.</summary>
    public static void SaveComparisonPng(string path, IReadOnlyList<Note> top, string topTitle, IReadOnlyList<Note> bottom, string bottomTitle, int width = 1400, int height = 450)
    {
        double seconds = Math.Max(top.Count > 0 ? top.Max(n => n.End) : 1, bottom.Count > 0 ? bottom.Max(n => n.End) : 1);
        using var a = SKBitmap.Decode(Build(top, topTitle, seconds).GetImageBytes(width, height, ImageFormat.Png));
        using var b = SKBitmap.Decode(Build(bottom, bottomTitle, seconds).GetImageBytes(width, height, ImageFormat.Png));
        using var surface = SKSurface.Create(new SKImageInfo(width, 2 * height));
        surface.Canvas.Clear(SKColors.White);
        surface.Canvas.DrawBitmap(a, 0, 0);
        surface.Canvas.DrawBitmap(b, 0, height);
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        Write(path, temp => File.WriteAllBytes(temp, data.ToArray()));
    }

    static Plot Build(IReadOnlyList<Note> notes, string title, double seconds)
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
            plot.Axes.SetLimits(0, Math.Max(1, seconds), notes.Min(n => n.Pitch) - 2, notes.Max(n => n.Pitch) + 2);
        return plot;
    }

    /// <summary>Writes through a temp file and a rename, so a reader never sees half a picture.</summary>
    static void Write(string path, Action<string> save)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".tmp.png";
        save(temp);
        File.Move(temp, full, overwrite: true);
    }
}
