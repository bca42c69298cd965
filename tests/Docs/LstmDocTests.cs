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

        string doc = File.ReadAllText(DocPath);
        void Shown(float value, int digits)
        {
            string text = Math.Round(value, digits).ToString("F" + digits, CultureInfo.InvariantCulture);
            if (text == "-0." + new string('0', digits)) text = text[1..];
            Assert.True(doc.Contains(text, StringComparison.Ordinal), $"docs/LSTM.md does not show {text} (the code computes {value})");
        }
        foreach (var v in gates) Shown(v, 4);
        foreach (var v in c) Shown(v, 4);
        foreach (var v in h) Shown(v, 4);
        foreach (var v in dz) Shown(v, 4);
        foreach (var v in be.Download(grads.Wih)) Shown(v, 5);
        foreach (var v in be.Download(grads.Whh)) Shown(v, 5);
        var db = be.Download(grads.Bih);
        Assert.Equal(db, be.Download(grads.Bhh)); // both biases get the column sums of dz
        foreach (var v in db) Shown(v, 5);
        Shown(be.Download(dh0)[0], 5);
        Shown(be.Download(dc0)[0], 5);
        // Spot values, so that a table of the right numbers in the wrong places would not pass.
        Assert.Equal(0.2998, h[0], 4);
        Assert.Equal(0.0222, h[1], 4);
        Assert.Equal(0.0570, c[1], 4);
        Assert.Equal(-0.02756, be.Download(dh0)[0], 5);
    }
}
