namespace MusicGen.Model.Frames;

/// <summary>
/// A batch of whole pieces laid out for <see cref="FrameModel"/>: piece b's frame t is the input at step t and its
/// frame t+1 the target, for t = 0 .. L-2 (the first frame is read, never predicted). Pieces shorter than the batch's
/// T steps are padded with silent frames of weight 0. Time-major: row t*B + b.
/// </summary>
public sealed class FrameBatch
{
    /// <summary>Steps are rounded up to a multiple of this, so a training run meets few distinct shapes (buffers are per shape).</summary>
    public const int StepQuantum = 8;

    public FrameBatch(int size, int steps)
    {
        Size = size; Steps = steps;
        Inputs = new float[steps * size * FrameCorpus.Keys];
        Targets = new float[steps * size * FrameCorpus.Keys];
        Weights = new float[steps * size];
    }

    public int Size { get; }
    public int Steps { get; }
    /// <summary>[T,B,88] input frames.</summary>
    public float[] Inputs { get; }
    /// <summary>[T*B,88] target frames (the next frame of each input).</summary>
    public float[] Targets { get; }
    /// <summary>[T*B]: 1 for a real prediction, 0 for padding.</summary>
    public float[] Weights { get; }
    /// <summary>Real predictions in the batch: the sum of <see cref="Weights"/>.</summary>
    public int Frames { get; private set; }

    /// <summary>The steps a batch of these pieces needs: the longest piece's L-1, rounded up to <see cref="StepQuantum"/>.</summary>
    public static int StepsFor(IEnumerable<int[][]> pieces) => (pieces.Max(p => p.Length - 1) + StepQuantum - 1) / StepQuantum * StepQuantum;

    /// <summary>Lays out pieces[b] transposed by shifts[b] semitones (null: none).</summary>
    public static FrameBatch From(IReadOnlyList<int[][]> pieces, IReadOnlyList<int>? shifts = null)
    {
        int B = pieces.Count, T = StepsFor(pieces), K = FrameCorpus.Keys;
        var batch = new FrameBatch(B, T);
        for (int b = 0; b < B; b++)
        {
            var piece = pieces[b];
            int shift = shifts?[b] ?? 0;
            for (int t = 0; t < piece.Length - 1; t++)
            {
                int row = t * B + b;
                FrameCorpus.Roll(piece[t], shift, batch.Inputs.AsSpan(row * K, K));
                FrameCorpus.Roll(piece[t + 1], shift, batch.Targets.AsSpan(row * K, K));
                batch.Weights[row] = 1f;
            }
            batch.Frames += piece.Length - 1;
        }
        return batch;
    }
}
