using System.Globalization;
using System.Text.RegularExpressions;
using MusicGen.Kernels.Backends;
using MusicGen.Kernels.Ops;

namespace MusicGen.Tests.Docs;

/// <summary>docs/LSTM.md stays true: its code references resolve, and its worked example is what the layer computes.</summary>
public class LstmDocTests
{
    static string DocPath => Path.Combine(SharedData.RepositoryRoot, "docs", "LSTM.md");

    [Fact]
    public void Every_file_and_symbol_reference_in_docs_LSTM_points_at_existing_code()
    {
        string doc = File.ReadAllText(DocPath);
        var links = Regex.Matches(doc, @"\]\((\.\./[^)#\s]+)#([A-Za-z_][A-Za-z0-9_]*)\)").ToList();
        Assert.True(links.Count >= 25, $"only {links.Count} code references found");
        foreach (Match m in links)
        {
            string file = Path.GetFullPath(Path.Combine(SharedData.RepositoryRoot, "docs", m.Groups[1].Value));
            Assert.True(File.Exists(file), $"{m.Value}: no file {file}");
            string symbol = m.Groups[2].Value;
            // The symbol is declared there: a type, method or function of that name.
            Assert.True(Regex.IsMatch(File.ReadAllText(file), $@"(class|record|struct|def|void|static|public|[>\]\w])\s+{symbol}\b[\s(<:]"),
                $"{m.Value}: '{symbol}' is not declared in {m.Groups[1].Value}");
        }
    }

    [Fact]
    public void The_worked_example_of_docs_LSTM_is_what_the_layer_computes()
    {
        using var be = new ManagedBackend();
        const int T = 2, B = 1, I = 1, H = 1;
        using var w = new LstmWeights(be.Upload([0.5f, -0.25f, 1f, 0.75f], 4, 1), be.Upload([0.25f, 0.5f, -0.5f, 1f], 4, 1),
            be.Upload([0f, 1f, 0f, 0f], 4), be.Upload([0f, 0f, 0f, 0f], 4));
        using var grads = LstmWeights.Allocate(be, I, H);
        using var ws = new LstmWorkspace(be, T, B, I, H);
        using var x = be.Upload([1f, -1f], T, B, I); using var h0 = be.Allocate(B, H); using var c0 = be.Allocate(B, H);
        using var dh = be.Upload([0f, 1f], T, B, H); using var dh0 = be.Allocate(B, H); using var dc0 = be.Allocate(B, H);
        LstmLayer.Forward(be, ws, w, reverse: false, x, h0, c0);
        var gates = be.Download(ws.Gates); var c = be.Download(ws.C); var h = be.Download(ws.H); // activations i, f, g, o per step
        LstmLayer.Backward(be, ws, grads, dh, new LstmInputGrads(Dh0: dh0, Dc0: dc0));
        var dz = be.Download(ws.DGates);

        // Every number read from its place in the worked example (a table cell or a named list), not just anywhere in the page.
        string doc = File.ReadAllText(DocPath);
        string example = doc[doc.IndexOf("## A worked example", StringComparison.Ordinal)..];
        example = example[..example.IndexOf("\n## ", 5, StringComparison.Ordinal)];
        static double[] Numbers(string text) => [.. Regex.Matches(text, @"-?\d+\.\d+").Select(m => double.Parse(m.Value, CultureInfo.InvariantCulture))];
        string[] Row(string table, int t) => example[example.IndexOf(table, StringComparison.Ordinal)..].Split('\n')
            .First(l => l.StartsWith($"| {t} |", StringComparison.Ordinal)).Split('|', StringSplitOptions.TrimEntries);
        double[] Named(string name)
        {
            var m = Regex.Match(example, Regex.Escape(name) + @" = [^()]*?(\([^)]*\)|-?\d+\.\d+)"); // "dW_ih = sum_t dz_t x_t = (...)", "dh0 = -0.02756"
            Assert.True(m.Success, $"docs/LSTM.md's worked example does not give {name}");
            return Numbers(m.Groups[1].Value);
        }
        void Same(double[] shown, IEnumerable<float> computed, int digits, string what)
        {
            var expected = computed.Select(v => Math.Round(v, digits)).ToArray();
            Assert.True(shown.SequenceEqual(expected), $"docs/LSTM.md shows {what} = ({string.Join(", ", shown)}); the code computes ({string.Join(", ", expected)})");
        }
        for (int t = 0; t < T; t++)
        {
            var forward = Row("Forward:", t);    // | t | z | i | f | g | o | c_t | h_t |
            Same([.. forward[3..9].Select(double.Parse)], [.. gates.Skip(4 * t).Take(4), c[t], h[t]], 4, $"i, f, g, o, c, h at t = {t}");
            var backward = Row("Backward,", t);  // | t | dh | dc | dz (i, f, g, o) | dc carried |
            Same(Numbers(backward[4]), dz.Skip(4 * t).Take(4), 4, $"dz at t = {t}");
        }
        Same(Named("dW_ih"), be.Download(grads.Wih), 5, "dW_ih");
        Same(Named("dW_hh"), be.Download(grads.Whh), 5, "dW_hh");
        var db = be.Download(grads.Bih);
        Assert.Equal(db, be.Download(grads.Bhh)); // both biases get the column sums of dz
        Same(Named("db"), db, 5, "db");
        Same(Named("dh0"), be.Download(dh0), 5, "dh0");
        Same(Named("dc0"), be.Download(dc0), 5, "dc0");
        // Spot values, so that a table of the right numbers in the wrong places would not pass.
        Assert.Equal(0.2998, h[0], 4);
        Assert.Equal(0.0222, h[1], 4);
        Assert.Equal(0.0570, c[1], 4);
        Assert.Equal(-0.02756, be.Download(dh0)[0], 5);
    }
}
