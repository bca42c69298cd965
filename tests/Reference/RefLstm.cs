using MathNet.Numerics.LinearAlgebra;

namespace MusicGen.Tests.Reference;

/// <summary>
/// A plain double-precision LSTM layer, written to be read: the textbook equations with MathNet
/// matrices, one time step at a time. It is the ground truth the float kernels are compared against,
/// and its own backward pass is checked against finite differences of its forward pass.
/// Shapes: x[t] is [B,I]; W_ih [4H,I]; W_hh [4H,H]; biases [4H]; h, c are [B,H]. Gate order i, f, g, o.
/// </summary>
public sealed class RefLstm
{
    public required Matrix<double> Wih, Whh;
    public required Vector<double> Bih, Bhh;
    public int Hidden => Whh.ColumnCount;

    public sealed class Trace
    {
        public required Matrix<double>[] I, F, G, O, C, H; // per time index, [B,H]
        public required Matrix<double> H0, C0;
    }

    static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));

    /// <summary>Runs the sequence (reverse: t = T-1 .. 0) and returns every intermediate.</summary>
    public Trace Forward(Matrix<double>[] x, Matrix<double> h0, Matrix<double> c0, bool reverse)
    {
        int T = x.Length, H = Hidden;
        var tr = new Trace
        {
            I = new Matrix<double>[T], F = new Matrix<double>[T], G = new Matrix<double>[T], O = new Matrix<double>[T],
            C = new Matrix<double>[T], H = new Matrix<double>[T], H0 = h0, C0 = c0,
        };
        var bias = Bih + Bhh;
        Matrix<double> h = h0, c = c0;
        foreach (int t in Order(T, reverse))
        {
            // z[B,4H] = x_t W_ih^T + h W_hh^T + b
            var z = x[t] * Wih.Transpose() + h * Whh.Transpose();
            for (int r = 0; r < z.RowCount; r++) z.SetRow(r, z.Row(r) + bias);
            tr.I[t] = z.SubMatrix(0, z.RowCount, 0, H).Map(Sigmoid);
            tr.F[t] = z.SubMatrix(0, z.RowCount, H, H).Map(Sigmoid);
            tr.G[t] = z.SubMatrix(0, z.RowCount, 2 * H, H).Map(Math.Tanh);
            tr.O[t] = z.SubMatrix(0, z.RowCount, 3 * H, H).Map(Sigmoid);
            c = tr.F[t].PointwiseMultiply(c) + tr.I[t].PointwiseMultiply(tr.G[t]);
            h = tr.O[t].PointwiseMultiply(c.Map(Math.Tanh));
            tr.C[t] = c;
            tr.H[t] = h;
        }
        return tr;
    }

    public sealed class Grads
    {
        public required Matrix<double> Wih, Whh, H0, C0;
        public required Vector<double> Bih, Bhh;
        public required Matrix<double>[] X;
    }

    /// <summary>Backpropagation through time given dL/dh[t] for every t and dL/d(final h, c).</summary>
    public Grads Backward(Trace tr, Matrix<double>[] x, Matrix<double>[] dh, Matrix<double> dhT, Matrix<double> dcT, bool reverse)
    {
        int T = x.Length, H = Hidden, B = x[0].RowCount;
        var g = new Grads
        {
            Wih = Matrix<double>.Build.Dense(4 * H, Wih.ColumnCount), Whh = Matrix<double>.Build.Dense(4 * H, H),
            Bih = Vector<double>.Build.Dense(4 * H), Bhh = Vector<double>.Build.Dense(4 * H),
            X = new Matrix<double>[T], H0 = null!, C0 = null!,
        };
        var dhRec = dhT.Clone();
        var dcNext = dcT.Clone();
        var order = Order(T, reverse).ToArray();
        for (int s = T - 1; s >= 0; s--)
        {
            int t = order[s];
            var hPrev = s == 0 ? tr.H0 : tr.H[order[s - 1]];
            var cPrev = s == 0 ? tr.C0 : tr.C[order[s - 1]];
            var dhTotal = dh[t] + dhRec;
            var tanhC = tr.C[t].Map(Math.Tanh);
            var dc = dcNext + dhTotal.PointwiseMultiply(tr.O[t]).PointwiseMultiply(tanhC.Map(v => 1 - v * v));
            var dzi = dc.PointwiseMultiply(tr.G[t]).PointwiseMultiply(tr.I[t].Map(v => v * (1 - v)));
            var dzf = dc.PointwiseMultiply(cPrev).PointwiseMultiply(tr.F[t].Map(v => v * (1 - v)));
            var dzg = dc.PointwiseMultiply(tr.I[t]).PointwiseMultiply(tr.G[t].Map(v => 1 - v * v));
            var dzo = dhTotal.PointwiseMultiply(tanhC).PointwiseMultiply(tr.O[t].Map(v => v * (1 - v)));
            var dz = Matrix<double>.Build.Dense(B, 4 * H);
            dz.SetSubMatrix(0, H * 0, dzi); dz.SetSubMatrix(0, H, dzf); dz.SetSubMatrix(0, 2 * H, dzg); dz.SetSubMatrix(0, 3 * H, dzo);

            g.Wih += dz.Transpose() * x[t];
            g.Whh += dz.Transpose() * hPrev;
            var colSums = dz.ColumnSums();
            g.Bih += colSums;
            g.Bhh += colSums;
            g.X[t] = dz * Wih;
            dhRec = dz * Whh;
            dcNext = dc.PointwiseMultiply(tr.F[t]);
        }
        g.H0 = dhRec;
        g.C0 = dcNext;
        return g;
    }

    static IEnumerable<int> Order(int T, bool reverse) => reverse ? Enumerable.Range(0, T).Reverse() : Enumerable.Range(0, T);
}
