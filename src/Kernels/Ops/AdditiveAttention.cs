using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// Additive (Bahdanau) attention of each time step over the <c>span</c> outputs before it, as Magenta's Attention RNN
/// looks back over its last n outputs. The keys and queries are projections made beforehand by GEMMs (keys = Y Wk,
/// queries = Y Wq); this op is the part between them and the context:
///   window(t) = positions [p - span, p - 1] within [0, S), where p = past + t   (the query's own position)
///   e[t,j]    = sum_a v[a] tanh(keys[j,a] + queries[t,a])        for j in window(t)
///   alpha[t]  = softmax_j e[t,j]      (an empty window: alpha = 0 and the context is 0)
///   ctx[t,h]  = sum_j alpha[t,j] values[j,h]
/// Backward, with u = tanh(keys[j] + queries[t]) and dpre[t,j,a] = de[t,j] v[a] (1 - u^2):
///   dalpha[t,j] = dctx[t] . values[j]      de[t,j] = alpha[t,j] (dalpha[t,j] - sum_k alpha[t,k] dalpha[t,k])
///   dvalues[j] += sum_t alpha[t,j] dctx[t]  dkeys[j,a] += sum_t dpre[t,j,a]  dqueries[t,a] += sum_j dpre[t,j,a]
///   dv[a] += sum_{t,j} de[t,j] u[t,j,a]
/// Shapes, time-major with the batch inside: values [S, B, H], keys [S, B, A], queries [T, B, A], v [A], ctx and dctx
/// [T, B, H], alpha and de [T, B, span] (slot i of row t is position p - span + i). S = past + T: in training past is 0
/// and S = T (a window attends within itself); in generation the values and keys of the last notes come first.
/// Every gradient is gathered by the position that owns it (no atomics), so both backends sum in a fixed order.
/// </summary>
public static class AdditiveAttention
{
    /// <summary>The shape arguments as a kernel takes them (blittable).</summary>
    public readonly record struct Shape(int T, int B, int H, int A, int Span, int Past)
    {
        public int S => Past + T;
    }

    /// <summary>values[S,B,H], keys[S,B,A], queries[T,B,A], v[A] -> alpha[T,B,span], ctx[T,B,H].</summary>
    public static void Forward(Backend backend, Shape s, Tensor values, Tensor keys, Tensor queries, Tensor v, Tensor alpha, Tensor ctx)
    {
        Check(s, values, keys, queries, v, alpha, ctx);
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor Y = ManagedBackend.Of(values), K = ManagedBackend.Of(keys), Q = ManagedBackend.Of(queries), V = ManagedBackend.Of(v), P = ManagedBackend.Of(alpha), C = ManagedBackend.Of(ctx);
                cpu.For(s.T * s.B, (long)s.Span * (s.A + s.H) * 2, row =>
                {
                    int t = row / s.B, b = row % s.B;
                    var p = P.Span(row * s.Span, s.Span);
                    Weights(s, t, b, K.Span(0, s.S * s.B * s.A), Q.Span(0, s.T * s.B * s.A), V.Span(0, s.A), p);
                    var c = C.Span(row * s.H, s.H);
                    c.Clear();
                    ReadOnlySpan<float> y = Y.Span(0, s.S * s.B * s.H);
                    for (int i = 0; i < s.Span; i++)
                    {
                        int j = s.Past + t - s.Span + i;
                        if (j < 0 || p[i] == 0) continue;
                        var yj = y.Slice((j * s.B + b) * s.H, s.H);
                        for (int h = 0; h < s.H; h++) c[h] += p[i] * yj[h];
                    }
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var weights = gpu.Kernel("attention.forward.weights", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(WeightsKernel));
                var context = gpu.Kernel("attention.forward.context", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(ContextKernel));
                weights(s.T * s.B, View(keys, s.S * s.B * s.A), View(queries, s.T * s.B * s.A), View(v, s.A), View(alpha, s.T * s.B * s.Span), s);
                context(s.T * s.B * s.H, View(values, s.S * s.B * s.H), View(alpha, s.T * s.B * s.Span), View(ctx, s.T * s.B * s.H), s);
                return;
            }
            default: throw Backend.NotImplemented("AdditiveAttention.Forward", backend);
        }
    }

    /// <summary>
    /// dctx[T,B,H], alpha from the forward, and its inputs -> de[T,B,span] (scratch), dvalues[S,B,H] (+=), dkeys[S,B,A] (+=),
    /// dqueries[T,B,A] (+=), dv[A] (+=).
    /// </summary>
    public static void Backward(Backend backend, Shape s, Tensor dctx, Tensor values, Tensor keys, Tensor queries, Tensor v, Tensor alpha,
        Tensor de, Tensor dvalues, Tensor dkeys, Tensor dqueries, Tensor dv)
    {
        Check(s, values, keys, queries, v, alpha, dctx);
        Backend.Check(de, 0, s.T * s.B * s.Span, "de"); Backend.Check(dvalues, 0, s.S * s.B * s.H, "dvalues");
        Backend.Check(dkeys, 0, s.S * s.B * s.A, "dkeys"); Backend.Check(dqueries, 0, s.T * s.B * s.A, "dqueries"); Backend.Check(dv, 0, s.A, "dv");
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor DE = ManagedBackend.Of(de), DY = ManagedBackend.Of(dvalues), DK = ManagedBackend.Of(dkeys), DQ = ManagedBackend.Of(dqueries), DV = ManagedBackend.Of(dv);
                ManagedTensor Y = ManagedBackend.Of(values), K = ManagedBackend.Of(keys), Q = ManagedBackend.Of(queries), V = ManagedBackend.Of(v), P = ManagedBackend.Of(alpha), DC = ManagedBackend.Of(dctx);
                int ny = s.S * s.B * s.H, nk = s.S * s.B * s.A, nq = s.T * s.B * s.A, np = s.T * s.B * s.Span, nc = s.T * s.B * s.H;
                cpu.For(s.T * s.B, (long)s.Span * s.H * 2, row => ScoreGradientRow(s, row, Y.Span(0, ny), P.Span(0, np), DC.Span(0, nc), DE.Span(row * s.Span, s.Span)));
                cpu.For(s.T * s.B, (long)s.Span * s.A * 4, row =>
                {
                    var dq = DQ.Span(row * s.A, s.A);
                    for (int a = 0; a < s.A; a++) dq[a] += QueryGradient(s, row, a, K.Span(0, nk), Q.Span(0, nq), V.Span(0, s.A), DE.Span(0, np));
                });
                cpu.For(s.S * s.B, (long)s.Span * (s.A * 4 + s.H * 2), row =>
                {
                    var dk = DK.Span(row * s.A, s.A);
                    for (int a = 0; a < s.A; a++) dk[a] += KeyGradient(s, row, a, K.Span(0, nk), Q.Span(0, nq), V.Span(0, s.A), DE.Span(0, np));
                    var dy = DY.Span(row * s.H, s.H);
                    for (int h = 0; h < s.H; h++) dy[h] += ValueGradient(s, row, h, P.Span(0, np), DC.Span(0, nc));
                });
                var dvs = DV.Span(0, s.A);
                for (int a = 0; a < s.A; a++) dvs[a] += ScaleGradient(s, a, K.Span(0, nk), Q.Span(0, nq), DE.Span(0, np));
                return;
            }
            case IlgpuBackend gpu:
            {
                var scores = gpu.Kernel("attention.backward.scores", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(ScoreGradientKernel));
                var queryGrad = gpu.Kernel("attention.backward.queries", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(QueryGradientKernel));
                var keyGrad = gpu.Kernel("attention.backward.keys", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(KeyGradientKernel));
                var valueGrad = gpu.Kernel("attention.backward.values", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(ValueGradientKernel));
                var scaleGrad = gpu.Kernel("attention.backward.scale", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Shape>(ScaleGradientKernel));
                ArrayView<float> Y = View(values, s.S * s.B * s.H), K = View(keys, s.S * s.B * s.A), Q = View(queries, s.T * s.B * s.A), V = View(v, s.A);
                ArrayView<float> P = View(alpha, s.T * s.B * s.Span), DC = View(dctx, s.T * s.B * s.H), DE = View(de, s.T * s.B * s.Span);
                scores(s.T * s.B, Y, P, DC, DE, s);
                queryGrad(s.T * s.B * s.A, K, Q, V, DE, View(dqueries, s.T * s.B * s.A), s);
                keyGrad(s.S * s.B * s.A, K, Q, V, DE, View(dkeys, s.S * s.B * s.A), s);
                valueGrad(s.S * s.B * s.H, P, DC, View(dvalues, s.S * s.B * s.H), s);
                scaleGrad(s.A, K, Q, DE, View(dv, s.A), s);
                return;
            }
            default: throw Backend.NotImplemented("AdditiveAttention.Backward", backend);
        }
    }

    static ArrayView<float> View(Tensor x, int n) => IlgpuBackend.Of(x).Slice(0, n);

    // ---- the math of one element, shared by both backends (ILGPU compiles these into the kernels)

    /// <summary>Row (t, b): the softmax weights over its window, written into p[span] (0 outside the sequence).</summary>
    static void Weights(Shape s, int t, int b, ReadOnlySpan<float> keys, ReadOnlySpan<float> queries, ReadOnlySpan<float> v, Span<float> p)
    {
        float max = float.NegativeInfinity;
        for (int i = 0; i < s.Span; i++)
        {
            int j = s.Past + t - s.Span + i;
            if (j < 0) { p[i] = float.NegativeInfinity; continue; }
            float e = 0;
            for (int a = 0; a < s.A; a++) e += v[a] * MathF.Tanh(keys[(j * s.B + b) * s.A + a] + queries[(t * s.B + b) * s.A + a]);
            p[i] = e;
            max = MathF.Max(max, e);
        }
        if (float.IsNegativeInfinity(max)) { p.Clear(); return; } // an empty window
        float sum = 0;
        for (int i = 0; i < s.Span; i++) { p[i] = float.IsNegativeInfinity(p[i]) ? 0 : MathF.Exp(p[i] - max); sum += p[i]; }
        for (int i = 0; i < s.Span; i++) p[i] /= sum;
    }

    /// <summary>Row r = (t, b): de[span] from dalpha = dctx . values over the window.</summary>
    static void ScoreGradientRow(Shape s, int r, ReadOnlySpan<float> values, ReadOnlySpan<float> alpha, ReadOnlySpan<float> dctx, Span<float> de)
    {
        int t = r / s.B, b = r % s.B;
        float dot = 0;
        for (int i = 0; i < s.Span; i++)
        {
            int j = s.Past + t - s.Span + i;
            float d = 0;
            if (j >= 0)
                for (int h = 0; h < s.H; h++) d += dctx[r * s.H + h] * values[(j * s.B + b) * s.H + h];
            de[i] = d;
            dot += alpha[r * s.Span + i] * d;
        }
        for (int i = 0; i < s.Span; i++) de[i] = alpha[r * s.Span + i] * (de[i] - dot);
    }

    /// <summary>dqueries[t,b,a] for row r = (t, b): the sum over its window of de v (1 - u^2).</summary>
    static float QueryGradient(Shape s, int r, int a, ReadOnlySpan<float> keys, ReadOnlySpan<float> queries, ReadOnlySpan<float> v, ReadOnlySpan<float> de)
    {
        int t = r / s.B, b = r % s.B;
        float sum = 0, q = queries[r * s.A + a];
        for (int i = 0; i < s.Span; i++)
        {
            int j = s.Past + t - s.Span + i;
            if (j < 0) continue;
            float u = MathF.Tanh(keys[(j * s.B + b) * s.A + a] + q);
            sum += de[r * s.Span + i] * v[a] * (1 - u * u);
        }
        return sum;
    }

    /// <summary>dkeys[j,b,a] for row jr = (j, b): the sum over the queries whose window holds j.</summary>
    static float KeyGradient(Shape s, int jr, int a, ReadOnlySpan<float> keys, ReadOnlySpan<float> queries, ReadOnlySpan<float> v, ReadOnlySpan<float> de)
    {
        int j = jr / s.B, b = jr % s.B;
        float sum = 0, k = keys[jr * s.A + a];
        for (int i = 0; i < s.Span; i++)
        {
            int t = j - s.Past + s.Span - i; // the query for which j sits in slot i
            if (t < 0 || t >= s.T) continue;
            float u = MathF.Tanh(k + queries[(t * s.B + b) * s.A + a]);
            sum += de[(t * s.B + b) * s.Span + i] * v[a] * (1 - u * u);
        }
        return sum;
    }

    /// <summary>dvalues[j,b,h] for row jr = (j, b): alpha-weighted dctx of the queries whose window holds j.</summary>
    static float ValueGradient(Shape s, int jr, int h, ReadOnlySpan<float> alpha, ReadOnlySpan<float> dctx)
    {
        int j = jr / s.B, b = jr % s.B;
        float sum = 0;
        for (int i = 0; i < s.Span; i++)
        {
            int t = j - s.Past + s.Span - i;
            if (t < 0 || t >= s.T) continue;
            int r = t * s.B + b;
            sum += alpha[r * s.Span + i] * dctx[r * s.H + h];
        }
        return sum;
    }

    /// <summary>dv[a]: over every query row and slot in order, de u.</summary>
    static float ScaleGradient(Shape s, int a, ReadOnlySpan<float> keys, ReadOnlySpan<float> queries, ReadOnlySpan<float> de)
    {
        float sum = 0;
        for (int r = 0; r < s.T * s.B; r++)
        {
            int t = r / s.B, b = r % s.B;
            float q = queries[r * s.A + a];
            for (int i = 0; i < s.Span; i++)
            {
                int j = s.Past + t - s.Span + i;
                if (j < 0) continue;
                sum += de[r * s.Span + i] * MathF.Tanh(keys[(j * s.B + b) * s.A + a] + q);
            }
        }
        return sum;
    }

    // ---- ILGPU kernels: each thread computes one element with the functions above, over ArrayViews

    // keys[S,B,A] queries[T,B,A] v[A] -> alpha[T,B,span]; one thread per query row (t, b).
    static void WeightsKernel(Index1D r, ArrayView<float> keys, ArrayView<float> queries, ArrayView<float> v, ArrayView<float> alpha, Shape s)
    {
        int t = r / s.B, b = r % s.B, o = r * s.Span;
        float max = float.NegativeInfinity;
        for (int i = 0; i < s.Span; i++)
        {
            int j = s.Past + t - s.Span + i;
            if (j < 0) { alpha[o + i] = float.NegativeInfinity; continue; }
            float e = 0;
            for (int a = 0; a < s.A; a++) e += v[a] * XMath.Tanh(keys[(j * s.B + b) * s.A + a] + queries[r * s.A + a]);
            alpha[o + i] = e;
            max = XMath.Max(max, e);
        }
        if (max == float.NegativeInfinity) { for (int i = 0; i < s.Span; i++) alpha[o + i] = 0; return; }
        float sum = 0;
        for (int i = 0; i < s.Span; i++)
        {
            float e = alpha[o + i];
            float w = e == float.NegativeInfinity ? 0 : XMath.Exp(e - max);
            alpha[o + i] = w;
            sum += w;
        }
        for (int i = 0; i < s.Span; i++) alpha[o + i] /= sum;
    }

    // values[S,B,H] alpha[T,B,span] -> ctx[T,B,H]; one thread per context element.
    static void ContextKernel(Index1D n, ArrayView<float> values, ArrayView<float> alpha, ArrayView<float> ctx, Shape s)
    {
        int r = n / s.H, h = n % s.H, t = r / s.B, b = r % s.B;
        float c = 0;
        for (int i = 0; i < s.Span; i++)
        {
            int j = s.Past + t - s.Span + i;
            if (j >= 0) c += alpha[r * s.Span + i] * values[(j * s.B + b) * s.H + h];
        }
        ctx[n] = c;
    }

    // values[S,B,H] alpha[T,B,span] dctx[T,B,H] -> de[T,B,span]; one thread per query row.
    static void ScoreGradientKernel(Index1D r, ArrayView<float> values, ArrayView<float> alpha, ArrayView<float> dctx, ArrayView<float> de, Shape s)
    {
        int t = r / s.B, b = r % s.B;
        float dot = 0;
        for (int i = 0; i < s.Span; i++)
        {
            int j = s.Past + t - s.Span + i;
            float d = 0;
            if (j >= 0)
                for (int h = 0; h < s.H; h++) d += dctx[r * s.H + h] * values[(j * s.B + b) * s.H + h];
            de[r * s.Span + i] = d;
            dot += alpha[r * s.Span + i] * d;
        }
        for (int i = 0; i < s.Span; i++) de[r * s.Span + i] = alpha[r * s.Span + i] * (de[r * s.Span + i] - dot);
    }

    // keys[S,B,A] queries[T,B,A] v[A] de[T,B,span] -> dqueries[T,B,A] +=; one thread per element.
    static void QueryGradientKernel(Index1D n, ArrayView<float> keys, ArrayView<float> queries, ArrayView<float> v, ArrayView<float> de, ArrayView<float> dqueries, Shape s)
    {
        int r = n / s.A, a = n % s.A, t = r / s.B, b = r % s.B;
        float sum = 0, q = queries[n];
        for (int i = 0; i < s.Span; i++)
        {
            int j = s.Past + t - s.Span + i;
            if (j < 0) continue;
            float u = XMath.Tanh(keys[(j * s.B + b) * s.A + a] + q);
            sum += de[r * s.Span + i] * v[a] * (1 - u * u);
        }
        dqueries[n] += sum;
    }

    // keys[S,B,A] queries[T,B,A] v[A] de[T,B,span] -> dkeys[S,B,A] +=; one thread per element.
    static void KeyGradientKernel(Index1D n, ArrayView<float> keys, ArrayView<float> queries, ArrayView<float> v, ArrayView<float> de, ArrayView<float> dkeys, Shape s)
    {
        int jr = n / s.A, a = n % s.A, j = jr / s.B, b = jr % s.B;
        float sum = 0, k = keys[n];
        for (int i = 0; i < s.Span; i++)
        {
            int t = j - s.Past + s.Span - i;
            if (t < 0 || t >= s.T) continue;
            float u = XMath.Tanh(k + queries[(t * s.B + b) * s.A + a]);
            sum += de[(t * s.B + b) * s.Span + i] * v[a] * (1 - u * u);
        }
        dkeys[n] += sum;
    }

    // alpha[T,B,span] dctx[T,B,H] -> dvalues[S,B,H] +=; one thread per element.
    static void ValueGradientKernel(Index1D n, ArrayView<float> alpha, ArrayView<float> dctx, ArrayView<float> dvalues, Shape s)
    {
        int jr = n / s.H, h = n % s.H, j = jr / s.B, b = jr % s.B;
        float sum = 0;
        for (int i = 0; i < s.Span; i++)
        {
            int t = j - s.Past + s.Span - i;
            if (t < 0 || t >= s.T) continue;
            int r = t * s.B + b;
            sum += alpha[r * s.Span + i] * dctx[r * s.H + h];
        }
        dvalues[n] += sum;
    }

    // keys[S,B,A] queries[T,B,A] de[T,B,span] -> dv[A] +=; one thread per element, rows in order (deterministic).
    static void ScaleGradientKernel(Index1D a, ArrayView<float> keys, ArrayView<float> queries, ArrayView<float> de, ArrayView<float> dv, Shape s)
    {
        float sum = 0;
        for (int r = 0; r < s.T * s.B; r++)
        {
            int t = r / s.B, b = r % s.B;
            float q = queries[r * s.A + a];
            for (int i = 0; i < s.Span; i++)
            {
                int j = s.Past + t - s.Span + i;
                if (j >= 0) sum += de[r * s.Span + i] * XMath.Tanh(keys[(j * s.B + b) * s.A + a] + q);
            }
        }
        dv[a] += sum;
    }

    static void Check(Shape s, Tensor values, Tensor keys, Tensor queries, Tensor v, Tensor alpha, Tensor ctx)
    {
        if (s.T < 1 || s.B < 1 || s.H < 1 || s.A < 1 || s.Span < 1 || s.Past < 0)
            throw new ArgumentOutOfRangeException(nameof(s), s, "attention shape: T, B, H, A and span at least 1, past at least 0");
        Backend.Check(values, 0, s.S * s.B * s.H, "values"); Backend.Check(keys, 0, s.S * s.B * s.A, "keys");
        Backend.Check(queries, 0, s.T * s.B * s.A, "queries"); Backend.Check(v, 0, s.A, "v");
        Backend.Check(alpha, 0, s.T * s.B * s.Span, "alpha"); Backend.Check(ctx, 0, s.T * s.B * s.H, "ctx");
    }
}
