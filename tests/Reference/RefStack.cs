using MathNet.Numerics.LinearAlgebra;

namespace MusicGen.Tests.Reference;

/// <summary>
/// The whole network in double precision, forward and backward by hand:
///   x[T][B,I] -> for each layer: LSTM, or Bi-LSTM (forward and reverse halves, concatenated [B,2H])
///             -> layer norm -> dropout (a fixed mask)  -> ... -> output at t = T-1 (or at every t)
///             -> pitch head (Linear D->128) and regression head (Linear D->R) -> multi-head loss,
///                or (categorical heads, <see cref="Groups"/> set) one head Linear D->K -> grouped cross-entropy.
/// D = H x directions (2H for a bidirectional layer). Used to prove the composed gradient (finite differences) that the float model must reproduce.
/// </summary>
public sealed class RefStack
{
    public required RefLstm[][] Layers;             // [layer][direction 0 = forward, 1 = reverse (bidirectional only)]
    public required Vector<double>[] Gain, Bias;    // layer norm per layer, [D]
    public required Matrix<double>[][] Masks;        // dropout multiplier per layer per time step [B,D] (0 or 1/(1-p))
    public required Matrix<double> Wp, Wr;           // [128,D] (categorical: [K,D]), [R,D] (categorical: [0,D], unused)
    public required Vector<double> Bp, Br;
    /// <summary>Categorical heads: the group sizes of the K logits (pitch, step, duration[, velocity]); null: regression heads.</summary>
    public int[]? Groups { get; init; }
    /// <summary>Step-first categorical heads: logit offsets [StepBins, K] added by each row's true step bin to the non-step columns.</summary>
    public Matrix<double>? StepCondition { get; set; }
    public required RefOps.LossWeights Weights;
    /// <summary>Heads on every time step (targets: T*B rows, time-major) instead of only the last (targets: B rows).</summary>
    public bool EveryStep { get; init; }
    /// <summary>Bidirectional, last step: the heads read the forward half at t = T-1 and the reverse half at t = 0
    /// (ModelConfig.BidirectionalHeads "ends"); otherwise both halves at T-1 ("last").</summary>
    public bool ReadEnds { get; init; }
    /// <summary>Residual connections: every layer above the first adds its input to its (dropped-out) output.</summary>
    public bool Residual { get; init; }
    /// <summary>
    /// A frame model's loss instead of the heads above: binary cross-entropy of the logits (every step, [T*B,K]) against
    /// these targets [T*B,K], row weights [T*B] and scale (RefOps.BinaryCrossEntropy); the targets argument is then unused.
    /// </summary>
    public (Matrix<double> Targets, double[] Weights, double Scale)? Bce { get; init; }

    sealed record LayerTrace(Matrix<double>[] Input, RefLstm.Trace Fwd, RefLstm.Trace? Rev, Matrix<double>[] Concat, Matrix<double>[] Normed);

    public double Loss(Matrix<double>[] x, double[][] targets) => Run(x, targets, backward: false).Total;

    public sealed class Gradients
    {
        public required Matrix<double>[][] Wih, Whh;
        public required Vector<double>[][] Bih, Bhh;
        public required Vector<double>[] Gain, Bias;
        public required Matrix<double> Wp, Wr;
        public required Vector<double> Bp, Br;
        public required Matrix<double>[] X;
        public Matrix<double>? StepCondition;
    }

    public Gradients Backward(Matrix<double>[] x, double[][] targets) => Run(x, targets, backward: true).Grads!;

    (double Total, Gradients? Grads) Run(Matrix<double>[] x, double[][] targets, bool backward)
    {
        int T = x.Length, B = x[0].RowCount;
        var traces = new List<LayerTrace>();
        var input = x;
        for (int l = 0; l < Layers.Length; l++)
        {
            int H = Layers[l][0].Hidden;
            var zero = Matrix<double>.Build.Dense(B, H);
            var f = Layers[l][0].Forward(input, zero, zero, reverse: false);
            var r = Layers[l].Length == 2 ? Layers[l][1].Forward(input, zero, zero, reverse: true) : null;
            var concat = Enumerable.Range(0, T).Select(t => r is null ? f.H[t] : f.H[t].Append(r.H[t])).ToArray();
            var normed = concat.Select(c => RefOps.LayerNorm(c, Gain[l], Bias[l])).ToArray();
            var dropped = Enumerable.Range(0, T).Select(t => normed[t].PointwiseMultiply(Masks[l][t])).ToArray();
            traces.Add(new LayerTrace(input, f, r, concat, normed));
            input = Residual && l > 0 ? Enumerable.Range(0, T).Select(t => dropped[t] + input[t]).ToArray() : dropped;
        }
        // The heads' input: the last step [B,D], or every step stacked time-major [T*B,D].
        var top = input;
        int Hf = Layers[^1][0].Hidden;
        var last = EveryStep ? Matrix<double>.Build.Dense(T * B, top[0].ColumnCount, (i, j) => top[i / B][i % B, j])
            : ReadEnds ? Matrix<double>.Build.Dense(B, top[0].ColumnCount, (b, j) => j < Hf ? top[T - 1][b, j] : top[0][b, j])
            : top[T - 1];
        var logits = last * Wp.Transpose(); var reg = last * Wr.Transpose();
        for (int b = 0; b < logits.RowCount; b++) { logits.SetRow(b, logits.Row(b) + Bp); reg.SetRow(b, reg.Row(b) + Br); }
        if (StepCondition is not null) logits = RefOps.Condition(logits, targets.Select(t => (int)t[1]).ToArray(), StepCondition, 128, Groups![1]);
        double total; Matrix<double> dlogits, dreg;
        if (Bce is { } bce) { (_, total, dlogits) = RefOps.BinaryCrossEntropy(logits, bce.Targets, bce.Weights, bce.Scale); dreg = Matrix<double>.Build.Dense(logits.RowCount, Wr.RowCount); }
        else if (Groups is null) (_, total, dlogits, dreg) = RefOps.Loss(logits, reg, targets, Weights);
        else
        {
            (_, total, dlogits) = RefOps.CategoricalLoss(logits, targets, Groups, [Weights.Pitch, Weights.Step, Weights.Duration, Weights.Velocity]);
            dreg = Matrix<double>.Build.Dense(logits.RowCount, Wr.RowCount);
        }
        if (!backward) return (total, null);
        Matrix<double>? dCondition = StepCondition is null ? null : RefOps.ConditionBackward(dlogits, targets.Select(t => (int)t[1]).ToArray(), StepCondition.RowCount, 128, Groups![1]);

        int L = Layers.Length;
        var g = new Gradients
        {
            Wih = new Matrix<double>[L][], Whh = new Matrix<double>[L][], Bih = new Vector<double>[L][], Bhh = new Vector<double>[L][],
            Gain = new Vector<double>[L], Bias = new Vector<double>[L],
            Wp = dlogits.Transpose() * last, Wr = dreg.Transpose() * last, Bp = dlogits.ColumnSums(), Br = dreg.ColumnSums(), X = null!, StepCondition = dCondition,
        };
        // d(output sequence of the top layer): every step's rows of d(heads' input), or only t = T-1.
        var dLast = dlogits * Wp + dreg * Wr;
        var dOut = Enumerable.Range(0, T).Select(_ => Matrix<double>.Build.Dense(B, last.ColumnCount)).ToArray();
        if (EveryStep) for (int t = 0; t < T; t++) dOut[t] = dLast.SubMatrix(t * B, B, 0, last.ColumnCount);
        else if (ReadEnds)
        {
            // The forward half's gradient lands at t = T-1, the reverse half's at t = 0 (both at once when T = 1).
            dOut[T - 1] += Matrix<double>.Build.Dense(B, last.ColumnCount, (b, j) => j < Hf ? dLast[b, j] : 0);
            dOut[0] += Matrix<double>.Build.Dense(B, last.ColumnCount, (b, j) => j >= Hf ? dLast[b, j] : 0);
        }
        else dOut[T - 1] = dLast;
        for (int l = L - 1; l >= 0; l--)
        {
            var tr = traces[l];
            int H = Layers[l][0].Hidden, dirs = Layers[l].Length;
            // Residual: the layer's input reached the output unchanged too, so its gradient includes the output's.
            var dAround = Residual && l > 0 ? dOut : null;
            g.Gain[l] = Vector<double>.Build.Dense(dirs * H); g.Bias[l] = Vector<double>.Build.Dense(dirs * H);
            var dF = new Matrix<double>[T]; var dR = new Matrix<double>[T];
            for (int t = 0; t < T; t++)
            {
                var dNormed = dOut[t].PointwiseMultiply(Masks[l][t]);
                var (dConcat, dGain, dBias) = RefOps.LayerNormBackward(tr.Concat[t], Gain[l], dNormed);
                g.Gain[l] += dGain; g.Bias[l] += dBias;
                dF[t] = dConcat.SubMatrix(0, B, 0, H);
                if (dirs == 2) dR[t] = dConcat.SubMatrix(0, B, H, H);
            }
            var zero = Matrix<double>.Build.Dense(B, H);
            var gf = Layers[l][0].Backward(tr.Fwd, tr.Input, dF, zero, zero, reverse: false);
            if (dirs == 1)
            {
                g.Wih[l] = [gf.Wih]; g.Whh[l] = [gf.Whh]; g.Bih[l] = [gf.Bih]; g.Bhh[l] = [gf.Bhh];
                dOut = dAround is null ? gf.X : Enumerable.Range(0, T).Select(t => gf.X[t] + dAround[t]).ToArray();
                continue;
            }
            var gr = Layers[l][1].Backward(tr.Rev!, tr.Input, dR, zero, zero, reverse: true);
            g.Wih[l] = [gf.Wih, gr.Wih]; g.Whh[l] = [gf.Whh, gr.Whh]; g.Bih[l] = [gf.Bih, gr.Bih]; g.Bhh[l] = [gf.Bhh, gr.Bhh];
            dOut = Enumerable.Range(0, T).Select(t => dAround is null ? gf.X[t] + gr.X[t] : gf.X[t] + gr.X[t] + dAround[t]).ToArray();
        }
        g.X = dOut;
        return (total, g);
    }
}
