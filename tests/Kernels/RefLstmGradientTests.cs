using MathNet.Numerics.LinearAlgebra;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>The reference LSTM's backward pass against finite differences of its forward pass.</summary>
public class RefLstmGradientTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reference_lstm_gradients_match_finite_differences(bool reverse)
    {
        const int T = 5, B = 3, I = 3, H = 7;
        var r = new Rand(11);
        var lstm = new RefLstm
        {
            Wih = Rand.Mat(r.Floats(4 * H * I, 0.5f), 4 * H, I), Whh = Rand.Mat(r.Floats(4 * H * H, 0.5f), 4 * H, H),
            Bih = Rand.Vec(r.Floats(4 * H, 0.5f)), Bhh = Rand.Vec(r.Floats(4 * H, 0.5f)),
        };
        var x = Rand.Seq(r.Floats(T * B * I), T, B, I);
        var h0 = Rand.Mat(r.Floats(B * H), B, H);
        var c0 = Rand.Mat(r.Floats(B * H), B, H);
        // L = sum_t <h_t, R_t> + <h_final, r1> + <c_final, r2>
        var R = Rand.Seq(r.Floats(T * B * H), T, B, H);
        var r1 = Rand.Mat(r.Floats(B * H), B, H);
        var r2 = Rand.Mat(r.Floats(B * H), B, H);
        int last = reverse ? 0 : T - 1;

        double Loss()
        {
            var tr = lstm.Forward(x, h0, c0, reverse);
            double l = 0;
            for (int t = 0; t < T; t++) l += tr.H[t].PointwiseMultiply(R[t]).Enumerate().Sum();
            return l + tr.H[last].PointwiseMultiply(r1).Enumerate().Sum() + tr.C[last].PointwiseMultiply(r2).Enumerate().Sum();
        }

        var g = lstm.Backward(lstm.Forward(x, h0, c0, reverse), x, R, r1, r2, reverse);

        CheckMatrix("W_ih", lstm.Wih, g.Wih, Loss);
        CheckMatrix("W_hh", lstm.Whh, g.Whh, Loss);
        FiniteDifference.Check("b_ih", 4 * H, i => lstm.Bih[i], (i, v) => lstm.Bih[i] = v, Loss, i => g.Bih[i]);
        FiniteDifference.Check("b_hh", 4 * H, i => lstm.Bhh[i], (i, v) => lstm.Bhh[i] = v, Loss, i => g.Bhh[i]);
        CheckMatrix("h0", h0, g.H0, Loss);
        CheckMatrix("c0", c0, g.C0, Loss);
        for (int t = 0; t < T; t++) CheckMatrix($"x[{t}]", x[t], g.X[t], Loss);
    }

    static void CheckMatrix(string name, Matrix<double> m, Matrix<double> grad, Func<double> loss)
    {
        int cols = m.ColumnCount;
        FiniteDifference.Check(name, m.RowCount * cols, i => m[i / cols, i % cols], (i, v) => m[i / cols, i % cols] = v, loss, i => grad[i / cols, i % cols]);
    }
}
