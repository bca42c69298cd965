namespace MusicGen.Model.Frames;

/// <summary>
/// The number the RRU paper's table reports for polyphonic music (Zakovskis et al. 2021, "Gates are not what you need
/// in RNNs"), computed the way its released code (LUMII-Syslab/RRU, <c>mm_main.py</c>, <c>mm_utils.py</c>, read, not
/// copied) computes it, so that a model of ours can be put beside that table on the same terms. It differs from the
/// benchmark's number (<see cref="FrameTrainer.Evaluate"/>: every predicted frame weighs the same) in three ways:
/// <list type="number">
/// <item>Each piece is cut into windows of 200 frames, <b>each read from a zero state</b>: window k holds frames
/// 200k .. 200k+200 (the inputs 200k .. 200k+199, the targets one frame later); what is left at the end, frames
/// 200k .. L-1, is a last shorter window when it has at least 2 frames. Every frame but a piece's first is still
/// predicted once, but the state is reset every 200 frames.</item>
/// <item>Each window's NLL is <b>its own mean per frame</b>, so a short window weighs as much as a full one.</item>
/// <item>The windows, in file order, go in batches of 16, the last batch taking the remainder (16 to 31 windows);
/// the number is <b>the mean over batches of the mean over the batch's windows</b>.</item>
/// </list>
/// Pieces no longer than the window (all of JSB's chorales) are one window each, read exactly as the benchmark reads
/// them; the number then differs only in weighing each piece alike and in the batching of item 3.
/// </summary>
public static class RruProtocol
{
    /// <summary>RRU's window: 200 frames.</summary>
    public const int Window = 200;

    /// <summary>RRU's batch size (the default of its music script).</summary>
    public const int BatchSize = 16;

    /// <summary>
    /// The windows of <paramref name="pieces"/>, in order, each a piece of its own (its first frame read, the rest
    /// predicted): full windows of <paramref name="window"/> + 1 frames every <paramref name="window"/> frames, then the
    /// rest when it has at least 2 frames.
    /// </summary>
    public static int[][][] Windows(int[][][] pieces, int window = Window)
    {
        if (window < 1) throw new ArgumentOutOfRangeException(nameof(window), $"window {window} must be at least 1");
        var windows = new List<int[][]>();
        foreach (var piece in pieces)
        {
            int next = 0;
            for (int start = 0; start < piece.Length - window; start += window)
            {
                windows.Add(piece[start..(start + window + 1)]);
                next = start + window;
            }
            if (piece.Length - next >= 2) windows.Add(piece[next..]);
        }
        return windows.ToArray();
    }

    /// <summary>
    /// The mean over batches of the mean over each batch's windows of the window's NLL per frame (nats, summed over the
    /// 88 keys), with <paramref name="batchSize"/> windows per batch and the remainder in the last; also the number of
    /// windows.
    /// </summary>
    public static (double Nll, int Windows) Score(FrameModel model, int[][][] pieces, int window = Window, int batchSize = BatchSize)
    {
        var windows = Windows(pieces, window);
        if (windows.Length < batchSize)
            throw new ArgumentException($"{windows.Length} windows make no batch of {batchSize}: the protocol scores whole batches only");
        var perWindow = FrameTrainer.EvaluatePieces(model, windows).Select(w => w.Nll / w.Frames).ToArray();
        return (BatchMeans(perWindow, batchSize), windows.Length);
    }

    /// <summary>The mean over batches of the batch means, batches of <paramref name="batchSize"/> in order, the last one taking the remainder.</summary>
    public static double BatchMeans(IReadOnlyList<double> values, int batchSize)
    {
        int batches = values.Count / batchSize;
        if (batches == 0) throw new ArgumentException($"{values.Count} values make no batch of {batchSize}");
        double sum = 0;
        for (int b = 0; b < batches; b++)
        {
            int first = b * batchSize, end = b == batches - 1 ? values.Count : first + batchSize;
            double batch = 0;
            for (int i = first; i < end; i++) batch += values[i];
            sum += batch / (end - first);
        }
        return sum / batches;
    }
}
