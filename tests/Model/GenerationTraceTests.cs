using MusicGen.Midi;
using MusicGen.Model;
using MusicGen.Tests.Kernels;

namespace MusicGen.Tests.Model;

/// <summary>Generation's trace: what the network computed at each new note, read from its own forward record.</summary>
public class GenerationTraceTests
{
    static ModelConfig Config => new()
    {
        SeqLen = 6, Layers = 2, Hidden = 5, EmbeddingDim = 3, Dropout = 0, Bidirectional = false, EveryStep = true,
        StepBins = 4, DurationBins = 3, VelocityBins = 2,
    };

    [Fact]
    public void The_trace_holds_each_notes_gates_cells_and_distribution_as_a_fresh_forward_computes_them()
    {
        using var be = TestBackends.Create("cpu");
        var c = Config;
        using var model = new MusicModel(be, c);
        model.Initialize(7);
        NoteRow[] primer = [new(60, 0, 0.5f, 80), new(64, 0.5f, 0.5f, 80), new(67, 0.5f, 0.5f, 80)];
        var trace = new GenerationTrace();
        var pieces = Generator.Generate(model, [primer, primer], new GenerateOptions(Notes: 6, Count: 2, Seed: 3) { Trace = trace });
        var piece = pieces[0];
        Assert.Equal(6, trace.Steps.Count);
        Assert.Equal((c.Layers, c.Hidden), (trace.Layers, trace.Hidden));
        for (int i = 0; i < 6; i++)
        {
            var step = trace.Steps[i];
            Assert.Equal((int)piece[primer.Length + i].Pitch, step.Pitch); // the first piece's notes, in order
            Assert.Equal(1.0, step.PitchProbabilities.Sum(), 4);
            Assert.True(step.PitchProbabilities[step.Pitch] > 0);

            // The same notes read as one window from a zero state: the layers at its last step are the trace's.
            int n = primer.Length + i;
            var window = new Batch(c, 1, steps: n);
            for (int t = 0; t < n; t++) window.SetInput(t, piece[t], 0, c);
            model.Forward(window, training: false);
            for (int l = 0; l < c.Layers; l++)
            {
                var (gates, cell) = model.LayerActivations(l, 1, n, row: 0);
                for (int j = 0; j < gates.Length; j++) Assert.Equal(gates[j], step.Gates[l][j], 4);
                for (int j = 0; j < cell.Length; j++) Assert.Equal(cell[j], step.Cell[l][j], 4);
                // i, f, o are sigmoids and g a tanh.
                Assert.All(step.Gates[l], (g, j) => Assert.InRange(g, j / c.Hidden == 2 ? -1f : 0f, 1f));
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => model.LayerActivations(c.Layers, 1, 1, 0));
    }
}
