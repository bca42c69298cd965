using System.CommandLine;
using System.Globalization;
using MusicGen.Midi.Corpus;
using ScottPlot;

namespace MusicGen.Cli.Commands;

/// <summary>
/// <c>musicgen plot --csv FILE --out PNG</c>: a line chart from a small CSV, for reports (docs/EXPERIMENTS.md's
/// learning curves and NLL against corpus size are drawn with it by experiments/summarize.py).
///
/// CSV: a header, then rows <c>series,x,y[,spread[,style[,group]]]</c>. Each series is one line through its points in
/// file order; <c>spread</c> (optional, may be empty) draws an error bar of +-spread; <c>style</c> "dashed" dashes the
/// line; series with the same <c>group</c> share a colour (a configuration's training and validation curves, say).
/// </summary>
public static class PlotCommand
{
    public static Command Build()
    {
        var csv = new Option<string>("--csv") { Description = "Rows series,x,y[,spread[,style]] after a header line", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "The PNG file to write", Required = true };
        var title = new Option<string>("--title") { Description = "Chart title", DefaultValueFactory = _ => "" };
        var xLabel = new Option<string>("--x-label") { Description = "X axis label", DefaultValueFactory = _ => "x" };
        var yLabel = new Option<string>("--y-label") { Description = "Y axis label", DefaultValueFactory = _ => "y" };
        var logX = new Option<bool>("--log-x") { Description = "Logarithmic x axis (log10 ticks)" };
        var cmd = new Command("plot", "Draw a line chart (PNG) from a CSV of series,x,y[,spread[,style[,group]]]") { csv, output, title, xLabel, yLabel, logX };
        cmd.SetAction(p => Cli.Run(() =>
        {
            string input = p.GetValue(csv)!, png = p.GetValue(output)!;
            if (!File.Exists(input)) return Cli.Error($"--csv '{input}': no such file");
            if (!png.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) return Cli.Error($"--out '{png}' should end in .png");
            if (Cli.CannotWrite(png, "--out") is string whyNot) return Cli.Error(whyNot);
            var rows = Csv.Read(File.ReadAllText(input)).Skip(1).Where(r => !(r.Count == 1 && r[0].Length == 0)).ToList();
            if (rows.Count == 0) return Cli.Error($"--csv '{input}' has no data rows");
            bool log = p.GetValue(logX);
            var series = new List<(string Name, List<(double X, double Y, double Spread)> Points, bool Dashed, string Group)>();
            foreach (var (row, line) in rows.Select((r, i) => (r, i + 2)))
            {
                if (row.Count < 3 || !Number(row[1], out double x) || !Number(row[2], out double y))
                    return Cli.Error($"--csv '{input}' line {line}: expected series,x,y[,spread[,style]]");
                double spread = row.Count > 3 && Number(row[3], out double s) ? s : 0;
                if (log && x <= 0) return Cli.Error($"--csv '{input}' line {line}: x must be positive with --log-x");
                int k = series.FindIndex(t => t.Name == row[0]);
                if (k < 0) { series.Add((row[0], [], row.Count > 4 && row[4].Trim() == "dashed", row.Count > 5 && row[5].Trim().Length > 0 ? row[5].Trim() : row[0])); k = series.Count - 1; }
                series[k].Points.Add((log ? Math.Log10(x) : x, y, spread));
            }
            var plot = new Plot();
            var palette = new ScottPlot.Palettes.Category10();
            var groups = series.Select(x => x.Group).Distinct().ToList();
            for (int i = 0; i < series.Count; i++)
            {
                var (name, points, dashed, group) = series[i];
                var color = palette.GetColor(groups.IndexOf(group));
                var scatter = plot.Add.Scatter(points.Select(q => q.X).ToArray(), points.Select(q => q.Y).ToArray(), color);
                scatter.LegendText = name;
                scatter.MarkerSize = 6;
                if (dashed) scatter.LinePattern = LinePattern.Dashed;
                if (points.Any(q => q.Spread > 0))
                {
                    var bars = plot.Add.ErrorBar(points.Select(q => q.X).ToArray(), points.Select(q => q.Y).ToArray(), points.Select(q => q.Spread).ToArray());
                    bars.Color = color;
                }
            }
            if (log)
            {
                var ticks = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = v => Math.Pow(10, v).ToString("G3", CultureInfo.InvariantCulture) };
                plot.Axes.Bottom.TickGenerator = ticks;
            }
            plot.Title(p.GetValue(title)!);
            plot.XLabel(p.GetValue(xLabel)!);
            plot.YLabel(p.GetValue(yLabel)!);
            plot.ShowLegend(Alignment.UpperRight);
            string full = Path.GetFullPath(png);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            plot.SavePng(full + ".tmp.png", 900, 560);
            File.Move(full + ".tmp.png", full, overwrite: true);
            Console.WriteLine($"{png}: {series.Count} series, {rows.Count} points");
            return Cli.Ok;
        }));
        return cmd;
    }

    static bool Number(string s, out double v) => double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out v) && double.IsFinite(v);
}
