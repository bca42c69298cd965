using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// NADE, the neural autoregressive distribution estimator (Larochelle and Murray 2011), as the output of a frame model
/// (RNN-NADE, Boulanger-Lewandowski et al. 2012): the keys of a frame are predicted one after another, key k given the
/// keys below it, so the frame's probability is an exact product of K conditionals and the keys can coordinate (a
/// chord's voices), which K independent Bernoullis cannot. Each row (a time step of a piece) has its own biases, made
/// beforehand from the LSTM's output by two GEMMs: d (one per key) and c (one per NADE hidden unit).
///   a_0       = c                                   (the NADE hidden pre-activation before any key is known)
///   h_k       = sigmoid(a_k)                        h_k[n] for n in 0..N-1
///   z_k       = d_k + V[k] . h_k                    the log-odds of key k sounding, given keys 0..k-1
///   a_{k+1}   = a_k + W[k] v_k                      key k, now known, feeds the next keys' hidden units
/// With the keys v given (training, evaluation), the frame's NLL is sum_k BCE(z_k, v_k) (<see cref="BinaryCrossEntropy"/>,
/// which also gives dz). Backward, with g_k = dz_k and A_{k+1} = dL/da_{k+1} = sum_{j>k} g_j V[j] h_j (1 - h_j):
///   dd_k = g_k (the caller passes dz on as dd)      dV[k] += g_k h_k      dW[k] += A_{k+1} v_k      dc = A_0
/// Shapes: d, v, z, dz [R,K]; c, dc [R,N]; W [K,N] (key k's weights into the hidden units); V [K,N]; hidden and dA [R,K,N] (h_k and A_{k+1} of every row and key).
/// One thread per (row, unit) walks the keys for the hidden states; the weight gradients are gathered by their owner
/// (one thread per weight summing over rows in order), so there are no atomics and both backends sum in the same order.
/// </summary>
public static class Nade
{
    /// <summary>The shape arguments as a kernel takes them (blittable): rows, keys and NADE hidden units.</summary>
    public readonly record struct Shape(int Rows, int Keys, int Hidden);

    /// <summary>d[R,K], c[R,N], v[R,K], W[K,N], V[K,N] -> hidden[R,K,N] (saved for backward), z[R,K].</summary>
    public static void Forward(Backend backend, Shape s, Tensor d, Tensor c, Tensor v, Tensor W, Tensor V, Tensor hidden, Tensor z)
    {
        Check(s, d, c, v, W, V, hidden);
        Backend.Check(z, 0, s.Rows * s.Keys, "z");
        if (s.Rows == 0) return;
        int K = s.Keys, N = s.Hidden;
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor D = ManagedBackend.Of(d), C = ManagedBackend.Of(c), X = ManagedBackend.Of(v), Win = ManagedBackend.Of(W), Wout = ManagedBackend.Of(V),
                    Hd = ManagedBackend.Of(hidden), Z = ManagedBackend.Of(z);
                cpu.For(s.Rows, (long)K * N * 4, r =>
                {
                    var h = Hd.Span(r * K * N, K * N);
                    HiddenRow(C.Span(r * N, N), X.Span(r * K, K), Win.Span(0, K * N), h, K, N);
                    ReadOnlySpan<float> wout = Wout.Span(0, K * N), dr = D.Span(r * K, K);
                    var zr = Z.Span(r * K, K);
                    for (int k = 0; k < K; k++) zr[k] = dr[k] + TensorPrimitives.Dot(wout.Slice(k * N, N), h.Slice(k * N, N));
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var hiddenKernel = gpu.Kernel("nade.forward.hidden", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(HiddenKernel));
                var logitsKernel = gpu.Kernel("nade.forward.logits", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(LogitsKernel));
                hiddenKernel(s.Rows * N, View(c, s.Rows * N), View(v, s.Rows * K), View(W, K * N), View(hidden, s.Rows * K * N), s);
                logitsKernel(s.Rows * K, View(d, s.Rows * K), View(V, K * N), View(hidden, s.Rows * K * N), View(z, s.Rows * K), s);
                return;
            }
            default: throw Backend.NotImplemented("Nade.Forward", backend);
        }
    }

    /// <summary>
    /// dz[R,K] (from the loss), and the forward's v, W, V and hidden -> dA[R,K,N] (scratch), dc[R,N] (overwritten),
    /// dW[K,N] (+=), dV[K,N] (+=). The gradient of d is dz itself.
    /// </summary>
    public static void Backward(Backend backend, Shape s, Tensor dz, Tensor v, Tensor W, Tensor V, Tensor hidden, Tensor dA, Tensor dc, Tensor dW, Tensor dV)
    {
        int K = s.Keys, N = s.Hidden;
        Check(s, dz, dc, v, W, V, hidden);
        Backend.Check(dA, 0, s.Rows * K * N, "dA"); Backend.Check(dW, 0, K * N, "dW"); Backend.Check(dV, 0, K * N, "dV");
        if (s.Rows == 0) return;
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor G = ManagedBackend.Of(dz), X = ManagedBackend.Of(v), Wout = ManagedBackend.Of(V), Hd = ManagedBackend.Of(hidden),
                    DA = ManagedBackend.Of(dA), DC = ManagedBackend.Of(dc), DWin = ManagedBackend.Of(dW), DWout = ManagedBackend.Of(dV);
                int R = s.Rows;
                cpu.For(R, (long)K * N * 4, r =>
                    HiddenGradientRow(G.Span(r * K, K), Wout.Span(0, K * N), Hd.Span(r * K * N, K * N), DA.Span(r * K * N, K * N), DC.Span(r * N, N), K, N));
                // The weight gradients, a key at a time: each weight sums over the rows in order (the kernels' order), then is added.
                cpu.For(K, (long)R * N * 4, k =>
                {
                    ReadOnlySpan<float> g = G.Span(0, R * K), x = X.Span(0, R * K), h = Hd.Span(0, R * K * N), da = DA.Span(0, R * K * N);
                    Span<float> sumV = N <= 1024 ? stackalloc float[N] : new float[N], sumW = N <= 1024 ? stackalloc float[N] : new float[N];
                    sumV.Clear(); sumW.Clear();
                    for (int r = 0; r < R; r++)
                    {
                        int at = (r * K + k) * N;
                        if (g[r * K + k] is float gk and not 0) TensorPrimitives.MultiplyAdd(h.Slice(at, N), gk, sumV, sumV);
                        if (x[r * K + k] is float xk and not 0) TensorPrimitives.MultiplyAdd(da.Slice(at, N), xk, sumW, sumW);
                    }
                    TensorPrimitives.Add(DWout.Span(k * N, N), sumV, DWout.Span(k * N, N));
                    TensorPrimitives.Add(DWin.Span(k * N, N), sumW, DWin.Span(k * N, N));
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var hiddenGrad = gpu.Kernel("nade.backward.hidden", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(HiddenGradientKernel));
                var outputGrad = gpu.Kernel("nade.backward.output", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(OutputWeightGradientKernel));
                var inputGrad = gpu.Kernel("nade.backward.input", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(InputWeightGradientKernel));
                ArrayView<float> G = View(dz, s.Rows * K), Hd = View(hidden, s.Rows * K * N), DA = View(dA, s.Rows * K * N);
                hiddenGrad(s.Rows * N, G, View(V, K * N), Hd, DA, View(dc, s.Rows * N), s);
                outputGrad(K * N, G, Hd, View(dV, K * N), s);
                inputGrad(K * N, View(v, s.Rows * K), DA, View(dW, K * N), s);
                return;
            }
            default: throw Backend.NotImplemented("Nade.Backward", backend);
        }
    }

    /// <summary>
    /// Draws one frame (generation; managed, in double): key by key, key k sounds with probability sigmoid(z_k / temperature),
    /// and the drawn key feeds the next keys' hidden units. d[K], c[N], W[K,N], V[K,N] on the host; uniform() gives [0, 1).
    /// Writes the keys (0 or 1) into v[K] and returns the log-probability of the drawn frame at temperature 1.
    /// </summary>
    public static double Sample(ReadOnlySpan<float> d, ReadOnlySpan<float> c, ReadOnlySpan<float> W, ReadOnlySpan<float> V, int keys, int hidden,
        float temperature, Func<double> uniform, Span<float> v)
    {
        var a = new double[hidden];
        for (int n = 0; n < hidden; n++) a[n] = c[n];
        double logp = 0;
        for (int k = 0; k < keys; k++)
        {
            double z = d[k];
            for (int n = 0; n < hidden; n++) z += V[k * hidden + n] / (1 + Math.Exp(-a[n]));
            bool on = uniform() < 1 / (1 + Math.Exp(-z / temperature));
            v[k] = on ? 1f : 0f;
            logp -= on ? Math.Log(1 + Math.Exp(-z)) : Math.Log(1 + Math.Exp(z));
            if (on) for (int n = 0; n < hidden; n++) a[n] += W[k * hidden + n];
        }
        return logp;
    }

    static void Check(Shape s, Tensor d, Tensor c, Tensor v, Tensor W, Tensor V, Tensor hidden)
    {
        if (s.Rows < 0 || s.Keys < 1 || s.Hidden < 1) throw new ArgumentOutOfRangeException(nameof(s), $"NADE shape {s}");
        Backend.Check(d, 0, s.Rows * s.Keys, "d"); Backend.Check(c, 0, s.Rows * s.Hidden, "c"); Backend.Check(v, 0, s.Rows * s.Keys, "v");
        Backend.Check(W, 0, s.Keys * s.Hidden, "W"); Backend.Check(V, 0, s.Keys * s.Hidden, "V"); Backend.Check(hidden, 0, s.Rows * s.Keys * s.Hidden, "hidden");
    }

    static ArrayView<float> View(Tensor x, int n) => IlgpuBackend.Of(x).Slice(0, n);

    // ---- one row on the managed backend (the kernels below are the same arithmetic, one thread per unit)

    /// <summary>h[k] = sigmoid(a_k) for every key k of one row, from a_0 = c and a_{k+1} = a_k + W[k] v_k.</summary>
    static void HiddenRow(ReadOnlySpan<float> c, ReadOnlySpan<float> v, ReadOnlySpan<float> W, Span<float> h, int K, int N)
    {
        Span<float> a = N <= 1024 ? stackalloc float[N] : new float[N];
        c.CopyTo(a);
        for (int k = 0; k < K; k++)
        {
            TensorPrimitives.Sigmoid(a, h.Slice(k * N, N));
            if (v[k] != 0) TensorPrimitives.MultiplyAdd(W.Slice(k * N, N), v[k], a, a);
        }
    }

    /// <summary>One row, walking the keys downwards: dA[k] = A_{k+1}, then A_k = A_{k+1} + g_k V[k] h_k (1 - h_k); dc = A_0.</summary>
    static void HiddenGradientRow(ReadOnlySpan<float> g, ReadOnlySpan<float> V, ReadOnlySpan<float> h, Span<float> dA, Span<float> dc, int K, int N)
    {
        Span<float> t = N <= 1024 ? stackalloc float[N] : new float[N];
        dc.Clear(); // dc holds the running A while the keys are walked
        for (int k = K - 1; k >= 0; k--)
        {
            dc.CopyTo(dA.Slice(k * N, N));
            float gk = g[k];
            if (gk == 0) continue;
            var hk = h.Slice(k * N, N);
            TensorPrimitives.Subtract(1f, hk, t);           // 1 - h
            TensorPrimitives.Multiply(t, hk, t);            // h (1 - h)
            TensorPrimitives.Multiply(t, V.Slice(k * N, N), t);
            TensorPrimitives.MultiplyAdd(t, gk, dc, dc);    // A += g V h (1 - h)
        }
    }

    // ---- ILGPU kernels

    // c[R,N] v[R,K] W[K,N] -> hidden[R,K,N]; one thread per (row, unit), walking the keys upwards.
    static void HiddenKernel(Index1D i, ArrayView<float> c, ArrayView<float> v, ArrayView<float> W, ArrayView<float> hidden, Shape s)
    {
        int r = i / s.Hidden, n = i % s.Hidden, K = s.Keys, N = s.Hidden;
        float a = c[i];
        for (int k = 0; k < K; k++)
        {
            hidden[(r * K + k) * N + n] = BinaryCrossEntropy.Sigmoid(a);
            a += W[k * N + n] * v[r * K + k];
        }
    }

    // d[R,K] V[K,N] hidden[R,K,N] -> z[R,K]; one thread per (row, key).
    static void LogitsKernel(Index1D i, ArrayView<float> d, ArrayView<float> V, ArrayView<float> hidden, ArrayView<float> z, Shape s)
    {
        int k = i % s.Keys, N = s.Hidden;
        float sum = 0;
        for (int n = 0; n < N; n++) sum += V[k * N + n] * hidden[i * N + n];
        z[i] = d[i] + sum;
    }

    // dz[R,K] V[K,N] hidden[R,K,N] -> dA[R,K,N], dc[R,N]; one thread per (row, unit), walking the keys downwards.
    static void HiddenGradientKernel(Index1D i, ArrayView<float> dz, ArrayView<float> V, ArrayView<float> hidden, ArrayView<float> dA, ArrayView<float> dc, Shape s)
    {
        int r = i / s.Hidden, n = i % s.Hidden, K = s.Keys, N = s.Hidden;
        float acc = 0;
        for (int k = K - 1; k >= 0; k--)
        {
            int at = (r * K + k) * N + n;
            dA[at] = acc;
            float g = dz[r * K + k];
            if (g != 0) { float h = hidden[at]; acc += g * V[k * N + n] * h * (1 - h); }
        }
        dc[i] = acc;
    }

    // dz[R,K] hidden[R,K,N] -> dV[K,N] +=; one thread per weight, summing over the rows in order.
    static void OutputWeightGradientKernel(Index1D i, ArrayView<float> dz, ArrayView<float> hidden, ArrayView<float> dV, Shape s)
    {
        int k = i / s.Hidden, n = i % s.Hidden, K = s.Keys, N = s.Hidden;
        float sum = 0;
        for (int r = 0; r < s.Rows; r++) sum += dz[r * K + k] * hidden[(r * K + k) * N + n];
        dV[i] += sum;
    }

    // v[R,K] dA[R,K,N] -> dW[K,N] +=; one thread per weight, summing over the rows in order.
    static void InputWeightGradientKernel(Index1D i, ArrayView<float> v, ArrayView<float> dA, ArrayView<float> dW, Shape s)
    {
        int k = i / s.Hidden, n = i % s.Hidden, K = s.Keys, N = s.Hidden;
        float sum = 0;
        for (int r = 0; r < s.Rows; r++) sum += dA[(r * K + k) * N + n] * v[r * K + k];
        dW[i] += sum;
    }
}
