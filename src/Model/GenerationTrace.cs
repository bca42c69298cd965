namespace MusicGen.Model;

/// <summary>
/// What the network computed while composing the first piece of a generation, note by note: for each new note, every
/// LSTM layer's gate activations and cell state at the time step that predicted it (read from the layer's own forward
/// record by <see cref="MusicModel.LayerActivations"/>), and the pitch distribution the note was drawn from. Pass one
/// in <see cref="GenerateOptions.Trace"/> (or <see cref="ComposeRequest.Trace"/>); generation fills it.
/// </summary>
public sealed class GenerationTrace
{
    /// <summary>One new note: its pitch, the distribution over the 128 pitches it was drawn from (after temperature,
    /// top-p, the key's steering and the repetition penalty), and per layer the gates i, f, g, o [4H] and the cell state [H].</summary>
    public sealed record Step(int Pitch, float[] PitchProbabilities, float[][] Gates, float[][] Cell);

    readonly List<Step> _steps = [];
    float[][]? _gates, _cell;

    public IReadOnlyList<Step> Steps => _steps;
    /// <summary>The model's layers and hidden units per layer (the gates of one layer are 4 x Hidden).</summary>
    public int Layers { get; private set; }
    public int Hidden { get; private set; }

    /// <summary>After a forward: keeps every layer's activations of piece 0 at the last time step.</summary>
    internal void ReadNetwork(MusicModel model, int batchSize, int steps)
    {
        Layers = model.Config.Layers;
        Hidden = model.Config.Hidden;
        _gates = new float[Layers][];
        _cell = new float[Layers][];
        for (int l = 0; l < Layers; l++) (_gates[l], _cell[l]) = model.LayerActivations(l, batchSize, steps, row: 0);
    }

    /// <summary>After piece 0's note is drawn: the note, its distribution and the activations read since the forward.</summary>
    internal void Add(int pitch, ReadOnlySpan<double> probabilities)
    {
        if (_gates is null || _cell is null) throw new InvalidOperationException("ReadNetwork comes first");
        var p = new float[probabilities.Length];
        for (int i = 0; i < p.Length; i++) p[i] = (float)probabilities[i];
        _steps.Add(new Step(pitch, p, _gates, _cell));
        _gates = _cell = null;
    }
}
