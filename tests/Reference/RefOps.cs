using MathNet.Numerics.LinearAlgebra;

namespace MusicGen.Tests.Reference;

/// <summary>
/// Double-precision reference versions of the non-LSTM ops, written as plainly as possible.
/// Matrices are [rows, features].
/// </summary>
public static class RefOps
{
    public const double LayerNormEps = 1e-5;

    // ------------------------------------------------------------ layer norm

    public static Matrix<double> LayerNorm(Matrix<double> x, Vector<double> gain, Vector<double> bias)
    {
        var y = x.Clone();
        for (int r = 0; r < x.RowCount; r++)
        {
            var row = x.Row(r);
            double mean = row.Average();
            double var = row.Select(v => (v - mean) * (v - mean)).Average();
            double rstd = 1 / Math.Sqrt(var + LayerNormEps);
            y.SetRow(r, (row - mean) * rstd);
            y.SetRow(r, y.Row(r).PointwiseMultiply(gain) + bias);
        }
        return y;
    }

    /// <summary>Returns (dx, dgain, dbias) for y = LayerNorm(x) given dy.</summary>
    public static (Matrix<double> Dx, Vector<double> Dgain, Vector<double> Dbias) LayerNormBackward(Matrix<double> x, Vector<double> gain, Matrix<double> dy)
    {
        int n = x.ColumnCount;
        var dx = Matrix<double>.Build.Dense(x.RowCount, n);
        var dgain = Vector<double>.Build.Dense(n);
        var dbias = Vector<double>.Build.Dense(n);
        for (int r = 0; r < x.RowCount; r++)
        {
            var row = x.Row(r);
            double mean = row.Average();
            double rstd = 1 / Math.Sqrt(row.Select(v => (v - mean) * (v - mean)).Average() + LayerNormEps);
            var xhat = (row - mean) * rstd;
            var dxhat = dy.Row(r).PointwiseMultiply(gain);
            dgain += dy.Row(r).PointwiseMultiply(xhat);
            dbias += dy.Row(r);
            dx.SetRow(r, (dxhat - dxhat.Average() - xhat * (dxhat.PointwiseMultiply(xhat).Average())) * rstd);
        }
        return (dx, dgain, dbias);
    }

    // ------------------------------------------------------------ loss

    public sealed record LossWeights(double Pitch, double Step, double Duration, double Velocity, double PositivePressure = 10, bool Huber = false);

    /// <summary>
    /// Per-head mean losses and the gradients of the weighted total with respect to logits[B,128] and reg[B,R].
    /// targets[b] = (pitch, step, duration[, velocity]).
    /// </summary>
    public static (double[] Heads, double Total, Matrix<double> DLogits, Matrix<double> DReg) Loss(Matrix<double> logits, Matrix<double> reg, double[][] targets, LossWeights w)
    {
        int B = logits.RowCount, R = reg.ColumnCount;
        var heads = new double[1 + R];
        var dlogits = Matrix<double>.Build.Dense(B, logits.ColumnCount);
        var dreg = Matrix<double>.Build.Dense(B, R);
        double[] weights = [w.Pitch, w.Step, w.Duration, w.Velocity];
        for (int b = 0; b < B; b++)
        {
            int target = (int)targets[b][0];
            var row = logits.Row(b);
            double max = row.Max();
            double logSum = Math.Log(row.Select(v => Math.Exp(v - max)).Sum()) + max;
            heads[0] += (logSum - row[target]) / B;
            for (int j = 0; j < row.Count; j++) dlogits[b, j] = (Math.Exp(row[j] - logSum) - (j == target ? 1 : 0)) * w.Pitch / B;
            for (int k = 0; k < R; k++)
            {
                double y = reg[b, k], e = y - targets[b][1 + k], pp = k < 2 ? w.PositivePressure : 0;
                double loss = w.Huber ? (Math.Abs(e) <= 1 ? 0.5 * e * e : Math.Abs(e) - 0.5) : e * e;
                double grad = w.Huber ? Math.Clamp(e, -1, 1) : 2 * e;
                if (y < 0) { loss += pp * -y; grad -= pp; }
                heads[1 + k] += loss / B;
                dreg[b, k] = grad * weights[1 + k] / B;
            }
        }
        double total = 0;
        for (int k = 0; k < heads.Length; k++) total += weights[k] * heads[k];
        return (heads, total, dlogits, dreg);
    }

    /// <summary>
    /// The categorical heads' loss: each group of columns (sizes[g]) of a row of logits is its own softmax
    /// cross-entropy against targets[b][g] (a class index within the group). Per-group mean losses, the weighted
    /// total and its gradient with respect to the logits.
    /// </summary>
    public static (double[] Heads, double Total, Matrix<double> DLogits) CategoricalLoss(Matrix<double> logits, double[][] targets, int[] sizes, double[] weights)
    {
        int B = logits.RowCount, G = sizes.Length;
        var heads = new double[G];
        var dlogits = Matrix<double>.Build.Dense(B, logits.ColumnCount);
        for (int b = 0; b < B; b++)
        {
            for (int g = 0, o = 0; g < G; o += sizes[g], g++)
            {
                int target = (int)targets[b][g];
                var z = Enumerable.Range(o, sizes[g]).Select(j => logits[b, j]).ToArray();
                double max = z.Max();
                double logSum = Math.Log(z.Select(v => Math.Exp(v - max)).Sum()) + max;
                heads[g] += (logSum - z[target]) / B;
                for (int j = 0; j < z.Length; j++) dlogits[b, o + j] = (Math.Exp(z[j] - logSum) - (j == target ? 1 : 0)) * weights[g] / B;
            }
        }
        double total = 0;
        for (int g = 0; g < G; g++) total += weights[g] * heads[g];
        return (heads, total, dlogits);
    }

    /// <summary>
    /// Binary cross-entropy with logits, in double, from its definition: each key's loss is -log p(y) with
    /// p(1) = sigmoid(z), i.e. y softplus(-z) + (1-y) softplus(z). Per-row weighted sums over the keys, the total
    /// scale * sum of those, and the gradient of the total with respect to the logits.
    /// </summary>
    public static (double[] RowLoss, double Total, Matrix<double> DLogits) BinaryCrossEntropy(Matrix<double> logits, Matrix<double> targets, double[] weights, double scale)
    {
        static double Softplus(double x) => x > 0 ? x + Math.Log(1 + Math.Exp(-x)) : Math.Log(1 + Math.Exp(x));
        int N = logits.RowCount, K = logits.ColumnCount;
        var rows = new double[N];
        var d = Matrix<double>.Build.Dense(N, K);
        for (int r = 0; r < N; r++)
            for (int k = 0; k < K; k++)
            {
                double z = logits[r, k], y = targets[r, k];
                rows[r] += weights[r] * (y * Softplus(-z) + (1 - y) * Softplus(z));
                d[r, k] = weights[r] * scale * (1 / (1 + Math.Exp(-z)) - y);
            }
        return (rows, scale * rows.Sum(), d);
    }

    /// <summary>logits + table[class of each row] on the columns outside [from, from+count): the step-first heads' conditioning.</summary>
    public static Matrix<double> Condition(Matrix<double> logits, int[] classes, Matrix<double> table, int from, int count)
    {
        var y = logits.Clone();
        for (int r = 0; r < y.RowCount; r++)
            for (int j = 0; j < y.ColumnCount; j++)
                if (j < from || j >= from + count) y[r, j] += table[classes[r], j];
        return y;
    }

    /// <summary>d table of <see cref="Condition"/>: each row's dlogits summed into its class's row (outside the group).</summary>
    public static Matrix<double> ConditionBackward(Matrix<double> dlogits, int[] classes, int tableRows, int from, int count)
    {
        var d = Matrix<double>.Build.Dense(tableRows, dlogits.ColumnCount);
        for (int r = 0; r < dlogits.RowCount; r++)
            for (int j = 0; j < dlogits.ColumnCount; j++)
                if (j < from || j >= from + count) d[classes[r], j] += dlogits[r, j];
        return d;
    }

    // ------------------------------------------------------------ additive attention

    /// <summary>
    /// Additive attention in double, written from its definition (<see cref="MusicGen.Kernels.Ops.AdditiveAttention"/>):
    /// query t (position past + t) attends to positions past + t - span .. past + t - 1 that exist. Arrays are time-major
    /// and flat: values [S,B,H], keys [S,B,A], queries [T,B,A]; returns alpha [T,B,span] and ctx [T,B,H].
    /// </summary>
    public static (double[] Alpha, double[] Ctx) Attention(double[] values, double[] keys, double[] queries, double[] v, int T, int B, int H, int A, int span, int past)
    {
        var alpha = new double[T * B * span];
        var ctx = new double[T * B * H];
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
            {
                var positions = Enumerable.Range(0, span).Select(i => (Slot: i, J: past + t - span + i)).Where(x => x.J >= 0).ToList();
                if (positions.Count == 0) continue;
                var e = positions.Select(x => Enumerable.Range(0, A).Sum(a => v[a] * Math.Tanh(keys[(x.J * B + b) * A + a] + queries[(t * B + b) * A + a]))).ToArray();
                double max = e.Max(), sum = e.Sum(x => Math.Exp(x - max));
                for (int k = 0; k < positions.Count; k++)
                {
                    double w = Math.Exp(e[k] - max) / sum;
                    alpha[(t * B + b) * span + positions[k].Slot] = w;
                    for (int h = 0; h < H; h++) ctx[(t * B + b) * H + h] += w * values[(positions[k].J * B + b) * H + h];
                }
            }
        return (alpha, ctx);
    }

    /// <summary>The gradients of <see cref="Attention"/> given dctx, by the chain rule in scatter form (each query adds into
    /// the positions it read), independent of the op's gather form.</summary>
    public static (double[] DValues, double[] DKeys, double[] DQueries, double[] Dv) AttentionBackward(double[] dctx, double[] values, double[] keys, double[] queries, double[] v,
        int T, int B, int H, int A, int span, int past)
    {
        var (alpha, _) = Attention(values, keys, queries, v, T, B, H, A, span, past);
        int S = past + T;
        double[] dvalues = new double[S * B * H], dkeys = new double[S * B * A], dqueries = new double[T * B * A], dv = new double[A];
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
            {
                int r = t * B + b;
                var dalpha = new double[span];
                for (int i = 0; i < span; i++)
                {
                    int j = past + t - span + i;
                    if (j < 0) continue;
                    for (int h = 0; h < H; h++)
                    {
                        dalpha[i] += dctx[r * H + h] * values[(j * B + b) * H + h];
                        dvalues[(j * B + b) * H + h] += alpha[r * span + i] * dctx[r * H + h];
                    }
                }
                double dot = Enumerable.Range(0, span).Sum(i => alpha[r * span + i] * dalpha[i]);
                for (int i = 0; i < span; i++)
                {
                    int j = past + t - span + i;
                    if (j < 0) continue;
                    double de = alpha[r * span + i] * (dalpha[i] - dot);
                    for (int a = 0; a < A; a++)
                    {
                        double u = Math.Tanh(keys[(j * B + b) * A + a] + queries[r * A + a]);
                        dv[a] += de * u;
                        double dpre = de * v[a] * (1 - u * u);
                        dkeys[(j * B + b) * A + a] += dpre;
                        dqueries[r * A + a] += dpre;
                    }
                }
            }
        return (dvalues, dkeys, dqueries, dv);
    }

    // ------------------------------------------------------------ Adam

    /// <param name="rectified">RAdam (Liu et al. 2020, Algorithm 2): the adaptive step scaled by r_t once rho_t &gt; 5 (PyTorch's
    /// threshold), momentum alone before.</param>
    public static (double P, double M, double V) Adam(double p, double g, double m, double v, int t, double lr, double b1, double b2, double eps, double wd, bool decoupled, double clip,
        bool rectified = false)
    {
        g *= clip;
        if (!decoupled) g += wd * p;
        m = b1 * m + (1 - b1) * g;
        v = b2 * v + (1 - b2) * g * g;
        double mhat = m / (1 - Math.Pow(b1, t)), vhat = v / (1 - Math.Pow(b2, t));
        double step = mhat / (Math.Sqrt(vhat) + eps);
        if (rectified)
        {
            double rhoInf = 2 / (1 - b2) - 1, rhoT = rhoInf - 2 * t * Math.Pow(b2, t) / (1 - Math.Pow(b2, t));
            step = rhoT > 5 ? Math.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT)) * step : mhat;
        }
        double update = step + (decoupled ? wd * p : 0);
        return (p - lr * update, m, v);
    }

    // ------------------------------------------------------------ NADE

    /// <summary>
    /// NADE's conditional log-odds in double, from the definition (<see cref="MusicGen.Kernels.Ops.Nade"/>): for row r
    /// and key k, z = d[r,k] + sum_n V[k,n] sigmoid(c[r,n] + sum_{j&lt;k} W[j,n] v[r,j]). Flat arrays: d, v [R,K]; c [R,N];
    /// W [K,N]; V [K,N]. Returns z [R,K].
    /// </summary>
    public static double[] Nade(double[] d, double[] c, double[] v, double[] W, double[] V, int R, int K, int N)
    {
        var z = new double[R * K];
        for (int r = 0; r < R; r++)
            for (int k = 0; k < K; k++)
            {
                double sum = d[r * K + k];
                for (int n = 0; n < N; n++)
                {
                    double a = c[r * N + n];
                    for (int j = 0; j < k; j++) a += W[j * N + n] * v[r * K + j];
                    sum += V[k * N + n] / (1 + Math.Exp(-a));
                }
                z[r * K + k] = sum;
            }
        return z;
    }

    /// <summary>The gradients of sum(dz * <see cref="Nade"/>) by the chain rule in scatter form: each z_k sends its gradient
    /// through its own hidden pre-activation a_k to c and to every W[j &lt; k] (not the op's running sum).</summary>
    public static (double[] Dd, double[] Dc, double[] DW, double[] DV) NadeBackward(double[] dz, double[] c, double[] v, double[] W, double[] V, int R, int K, int N)
    {
        double[] dd = (double[])dz.Clone(), dc = new double[R * N], dW = new double[N * K], dV = new double[K * N];
        for (int r = 0; r < R; r++)
            for (int k = 0; k < K; k++)
                for (int n = 0; n < N; n++)
                {
                    double a = c[r * N + n];
                    for (int j = 0; j < k; j++) a += W[j * N + n] * v[r * K + j];
                    double h = 1 / (1 + Math.Exp(-a)), g = dz[r * K + k];
                    dV[k * N + n] += g * h;
                    double da = g * V[k * N + n] * h * (1 - h);
                    dc[r * N + n] += da;
                    for (int j = 0; j < k; j++) dW[j * N + n] += da * v[r * K + j];
                }
        return (dd, dc, dW, dV);
    }
}
