namespace MusicGen.Model;

/// <summary>One row of one batch of a stream plan: the window to read, whether it begins a piece (the row's carried
/// state starts from zeros there), and the piece's transposition.</summary>
public readonly record struct StreamStep(int Window, bool StartsPiece, int Shift);

/// <summary>
/// Truncated backpropagation through time over whole pieces (<see cref="TrainOptions.CarryState"/>): the training
/// pieces are read as B streams, each row of every batch continuing its stream where the last batch left it, so the
/// LSTM state can be carried from batch to batch and training sees what generation does: a state that has read the
/// piece from its start.
///
///   piece p: notes n0 n1 ... ; its windows start at n0, n0+T, n0+2T, ... (every window of T inputs that has a label
///   after each input: T+1 notes), so consecutive windows of a piece touch and never overlap.
///   epoch e: the pieces in an order drawn from (seed, e), each dealt to the stream that holds the fewest windows so far;
///   then batch k, row b = stream b's k-th window. An epoch has floor(windows / B) batches: a stream that runs short
///   starts its pieces again (from zeros), one that runs long leaves its last windows for another epoch.
///
/// Built on a <see cref="Windows"/> of every start (stride 1) of the split, whose window indices it returns, so
/// batches fill as ever (<see cref="Windows.Fill(Batch, ReadOnlySpan{int}, ReadOnlySpan{int})"/>), lookback inputs included.
/// </summary>
public sealed class WindowStreams
{
    readonly Windows _windows;
    /// <summary>Per piece, its consecutive window indices (in <see cref="Windows"/>), in reading order.</summary>
    readonly int[][] _pieces;

    public WindowStreams(Windows windows)
    {
        _windows = windows;
        int T = windows.Config.SeqLen;
        var pieces = new List<int[]>();
        // The windows of one file are consecutive indices with one FileStart; take every T-th from the file's first.
        for (int first = 0; first < windows.Count;)
        {
            int end = first;
            while (end < windows.Count && windows.FileStarts[end] == windows.FileStarts[first]) end++;
            var piece = new List<int>();
            for (int w = first; w < end; w += T) piece.Add(w);
            pieces.Add([.. piece]);
            first = end;
        }
        _pieces = [.. pieces];
        Windows = _pieces.Sum(p => p.Length);
    }

    /// <summary>Pieces with at least one window of T+1 notes.</summary>
    public int Pieces => _pieces.Length;
    /// <summary>Windows over all pieces: what one epoch reads, give or take a stream's last piece.</summary>
    public int Windows { get; }

    /// <summary>Batches of <paramref name="streams"/> rows in an epoch.</summary>
    public int BatchesPerEpoch(int streams) => Windows / streams;

    /// <summary>
    /// Epoch <paramref name="epoch"/>'s plan: [batch][row]. Each piece is transposed as a whole by a shift drawn from
    /// (seed, epoch, piece) in [-transpose, transpose], within the shifts that keep every pitch of the piece in 0..127.
    /// </summary>
    public StreamStep[][] Plan(int streams, ulong seed, int epoch, int transpose)
    {
        if (streams < 1 || streams > Windows) throw new ArgumentException($"{Windows} windows cannot fill {streams} streams");
        var rng = new SplitMix(seed * 0x9E3779B97F4A7C15UL + (ulong)epoch * 0xBF58476D1CE4E5B9UL + 0x5EED);
        var order = Enumerable.Range(0, _pieces.Length).ToArray();
        for (int i = order.Length - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        // Deal each piece to the stream that holds the fewest windows (the lowest index on a tie).
        var dealt = Enumerable.Range(0, streams).Select(_ => new List<StreamStep>()).ToArray();
        foreach (int p in order)
        {
            int s = 0;
            for (int k = 1; k < streams; k++) if (dealt[k].Count < dealt[s].Count) s = k;
            int shift = Shift(p, transpose, seed, epoch);
            for (int i = 0; i < _pieces[p].Length; i++) dealt[s].Add(new StreamStep(_pieces[p][i], i == 0, shift));
        }
        int batches = BatchesPerEpoch(streams);
        var plan = new StreamStep[batches][];
        for (int k = 0; k < batches; k++)
        {
            plan[k] = new StreamStep[streams];
            for (int s = 0; s < streams; s++)
            {
                var steps = dealt[s];
                // A short stream starts again from its first piece; a stream that got no piece (fewer pieces than streams) reads the first stream's.
                var from = steps.Count > 0 ? steps : dealt[0];
                var step = from[k % from.Count];
                plan[k][s] = k % from.Count == 0 ? step with { StartsPiece = true } : step;
            }
        }
        return plan;
    }

    /// <summary>Piece <paramref name="piece"/>'s transposition in an epoch: uniform over the shifts in ±range that keep it in 0..127.</summary>
    int Shift(int piece, int range, ulong seed, int epoch)
    {
        if (range <= 0) return 0;
        int lo = 127, hi = 0, T = _windows.Config.SeqLen;
        foreach (int w in _pieces[piece])
            for (int t = 0; t <= T; t++) { int p = (int)_windows.Notes[_windows.Starts[w] + t].Pitch; lo = Math.Min(lo, p); hi = Math.Max(hi, p); }
        int min = Math.Max(-range, -lo), max = Math.Min(range, 127 - hi);
        if (min > max) return 0;
        var rng = new SplitMix((seed + 0x632BE59BD9B4E019UL) ^ ((ulong)epoch << 32) ^ (ulong)piece * 0xD1B54A32D192ED03UL);
        return min + rng.NextInt(max - min + 1);
    }
}
