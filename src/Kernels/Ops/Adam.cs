using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>Adam hyper-parameters. <paramref name="Decoupled"/>: AdamW (decay applied to the weights) instead of L2 in the gradient.
/// <paramref name="Rectified"/>: RAdam (Liu et al. 2020), whose adaptive step is scaled by the rectification r_t, and is
/// plain momentum while the variance estimate is too young to trust (<see cref="Adam.Rectification"/>).</summary>
public readonly record struct AdamConfig(float LearningRate = 1e-3f, float Beta1 = 0.9f, float Beta2 = 0.999f, float Epsilon = 1e-8f,
    float WeightDecay = 0f, bool Decoupled = true, float MaxGradNorm = 0f, bool Rectified = false);

/// <summary><see cref="AdamConfig"/> as ILGPU kernel parameters must be: blittable (no bool).</summary>
public readonly record struct AdamArgs(float LearningRate, float Beta1, float Beta2, float Epsilon, float WeightDecay, int Decoupled, float MaxGradNorm)
{
    public AdamArgs(AdamConfig c) : this(c.LearningRate, c.Beta1, c.Beta2, c.Epsilon, c.WeightDecay, c.Decoupled ? 1 : 0, c.MaxGradNorm) { }
    public AdamConfig Config => new(LearningRate, Beta1, Beta2, Epsilon, WeightDecay, Decoupled != 0, MaxGradNorm);
}

/// <summary>
/// Adam / AdamW (and RAdam) with bias correction and global-norm gradient clipping, one fused update per tensor:
///   g  = grad * clip        clip = min(1, maxNorm / (||all grads|| + 1e-6)), 1 when maxNorm = 0
///   g += wd * p             (Adam with L2 only)
///   m  = b1 m + (1-b1) g    v = b2 v + (1-b2) g^2
///   p -= lr * ( r * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + wd * p )   (the wd*p term for AdamW only)
/// where r = 1 for Adam; for RAdam r is the rectification r_t, and while it is undefined (rho_t &lt;= 5: the first
/// steps) the step is p -= lr * (m / (1-b1^t) + wd * p), momentum without the adaptive scale.
/// The squared global norm is accumulated on the device (<see cref="SumSquares"/>) and read there by the
/// update, so clipping costs no host round trip.
/// </summary>
public static class Adam
{
    /// <summary>x[N] -> norm2[0] += sum x^2. partials needs ceil(N / 4096) elements of scratch (fixed chunking: deterministic).</summary>
    public static void SumSquares(Backend backend, Tensor x, int n, Tensor partials, Tensor norm2)
    {
        const int chunk = 4096;
        int chunks = (n + chunk - 1) / chunk;
        Backend.Check(x, 0, n, "x"); Backend.Check(partials, 0, chunks, "partials"); Backend.Check(norm2, 0, 1, "norm2");
        switch (backend)
        {
            case ManagedBackend:
            {
                ManagedBackend.Of(norm2).Span(0, 1)[0] += TensorPrimitives.SumOfSquares(ManagedBackend.Of(x).Span(0, n));
                return;
            }
            case IlgpuBackend gpu:
            {
                var partial = gpu.Kernel("adam.sumsq.partial", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(PartialKernel));
                var finish = gpu.Kernel("adam.sumsq.finish", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(FinishKernel));
                if (chunks == 0) return;
                partial(chunks, IlgpuBackend.Of(x).Slice(0, n), IlgpuBackend.Of(partials).Slice(0, chunks), n, chunk);
                finish(1, IlgpuBackend.Of(partials).Slice(0, chunks), IlgpuBackend.Of(norm2).Slice(0, 1), chunks);
                return;
            }
            default: throw Backend.NotImplemented("Adam.SumSquares", backend);
        }
    }

    // x[N] -> partials[ceil(N/chunk)]; one thread per chunk.
    static void PartialKernel(Index1D c, ArrayView<float> x, ArrayView<float> partials, int n, int chunk)
    {
        float s = 0;
        int end = Math.Min(n, (c + 1) * chunk);
        for (int i = c * chunk; i < end; i++) s += x[i] * x[i];
        partials[c] = s;
    }

    // partials[C] -> norm2[0] += sum; a single thread, in order.
    static void FinishKernel(Index1D _, ArrayView<float> partials, ArrayView<float> norm2, int count)
    {
        float s = 0;
        for (int i = 0; i < count; i++) s += partials[i];
        norm2[0] += s;
    }

    /// <summary>
    /// The scale of the adaptive step at step <paramref name="t"/>: 1 for Adam; for RAdam (Liu et al. 2020, as PyTorch's
    /// RAdam) r_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t)) with rho_inf = 2/(1-b2) - 1 and
    /// rho_t = rho_inf - 2 t b2^t / (1-b2^t), or 0 while rho_t &lt;= 5 (then the step is momentum alone).
    /// </summary>
    public static float Rectification(AdamConfig c, int t)
    {
        if (!c.Rectified) return 1f;
        double b2 = c.Beta2, rhoInf = 2 / (1 - b2) - 1, b2t = Math.Pow(b2, t), rhoT = rhoInf - 2 * t * b2t / (1 - b2t);
        return rhoT > 5 ? (float)Math.Sqrt((rhoT - 4) * (rhoT - 2) * rhoInf / ((rhoInf - 4) * (rhoInf - 2) * rhoT)) : 0f;
    }

    /// <summary>The per-element update, shared by both backends. Returns (p, m, v) after the step. <paramref name="rect"/>: <see cref="Rectification"/>.</summary>
    public static (float P, float M, float V) Update(float p, float g, float m, float v, AdamConfig c, float clip, float bc1, float bc2, float rect)
    {
        g *= clip;
        if (!c.Decoupled) g += c.WeightDecay * p;
        m = c.Beta1 * m + (1f - c.Beta1) * g;
        v = c.Beta2 * v + (1f - c.Beta2) * g * g;
        float update = rect > 0 ? rect * (m / bc1) / (MathF.Sqrt(v / bc2) + c.Epsilon) : m / bc1;
        if (c.Decoupled) update += c.WeightDecay * p;
        return (p - c.LearningRate * update, m, v);
    }

    /// <summary>
    /// <see cref="Update"/> transcribed to <see cref="System.Numerics.Vector{T}"/> for the managed backend (the scalar loop spent
    /// ~10 ns per parameter on the square root and divisions). Returns the index where the scalar tail starts.
    /// </summary>
    static int ManagedUpdate(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, AdamConfig c, float clip, float bc1, float bc2, float rect)
    {
        if (rect != 1f) return 0; // RAdam: the scalar Update does every element (an optimizer step is a small share of a training step)
        int w = System.Numerics.Vector<float>.Count, i = 0, end = p.Length;
        var b1 = new System.Numerics.Vector<float>(c.Beta1); var b2 = new System.Numerics.Vector<float>(c.Beta2);
        var ob1 = new System.Numerics.Vector<float>(1f - c.Beta1); var ob2 = new System.Numerics.Vector<float>(1f - c.Beta2);
        var vclip = new System.Numerics.Vector<float>(clip); var wd = new System.Numerics.Vector<float>(c.WeightDecay);
        var ibc1 = new System.Numerics.Vector<float>(1f / bc1); var ibc2 = new System.Numerics.Vector<float>(1f / bc2);
        var eps = new System.Numerics.Vector<float>(c.Epsilon); var lr = new System.Numerics.Vector<float>(c.LearningRate);
        for (; i + w <= end; i += w)
        {
            var vp = new System.Numerics.Vector<float>(p[i..]);
            var vg = new System.Numerics.Vector<float>(g[i..]) * vclip;
            if (!c.Decoupled) vg += wd * vp;
            var vm = b1 * new System.Numerics.Vector<float>(m[i..]) + ob1 * vg;
            var vv = b2 * new System.Numerics.Vector<float>(v[i..]) + ob2 * vg * vg;
            var update = vm * ibc1 / (System.Numerics.Vector.SquareRoot(vv * ibc2) + eps);
            if (c.Decoupled) update += wd * vp;
            (vp - lr * update).CopyTo(p[i..]);
            vm.CopyTo(m[i..]);
            vv.CopyTo(v[i..]);
        }
        return i;
    }

    /// <summary>The clip factor from the squared global norm.</summary>
    public static float Clip(float norm2, float maxNorm) => maxNorm > 0 ? MathF.Min(1f, maxNorm / (MathF.Sqrt(norm2) + 1e-6f)) : 1f;

    /// <summary>param[N], grad[N], m[N], v[N], norm2[1] -> param, m, v updated for step t (1-based).</summary>
    public static void Step(Backend backend, Tensor param, Tensor grad, Tensor m, Tensor v, int n, AdamConfig c, int t, Tensor norm2)
    {
        if (t < 1) throw new ArgumentOutOfRangeException(nameof(t), "Adam steps count from 1");
        Backend.Check(param, 0, n, "param"); Backend.Check(grad, 0, n, "grad"); Backend.Check(m, 0, n, "m"); Backend.Check(v, 0, n, "v"); Backend.Check(norm2, 0, 1, "norm2");
        float bc1 = 1f - MathF.Pow(c.Beta1, t), bc2 = 1f - MathF.Pow(c.Beta2, t), rect = Rectification(c, t);
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor Pt = ManagedBackend.Of(param), Gt = ManagedBackend.Of(grad), Mt = ManagedBackend.Of(m), Vt = ManagedBackend.Of(v);
                float clip = Clip(ManagedBackend.Of(norm2).Span(0, 1)[0], c.MaxGradNorm);
                const int chunk = 4096;
                cpu.For((n + chunk - 1) / chunk, chunk * 10L, k =>
                {
                    int from = k * chunk, len = Math.Min(n, from + chunk) - from;
                    Span<float> P = Pt.Span(from, len), G = Gt.Span(from, len), M = Mt.Span(from, len), V = Vt.Span(from, len);
                    int i = ManagedUpdate(P, G, M, V, c, clip, bc1, bc2, rect);
                    for (; i < len; i++) (P[i], M[i], V[i]) = Update(P[i], G[i], M[i], V[i], c, clip, bc1, bc2, rect);
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel("adam.step", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamArgs, float, float, float>(StepKernel));
                kernel(n, IlgpuBackend.Of(param).Slice(0, n), IlgpuBackend.Of(grad).Slice(0, n), IlgpuBackend.Of(m).Slice(0, n), IlgpuBackend.Of(v).Slice(0, n), IlgpuBackend.Of(norm2).Slice(0, 1), new AdamArgs(c), bc1, bc2, rect);
                return;
            }
            default: throw Backend.NotImplemented("Adam.Step", backend);
        }
    }

    // param[N] grad[N] m[N] v[N] norm2[1] -> param, m, v; one thread per element. rect: the step's Rectification (1 for Adam).
    static void StepKernel(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, ArrayView<float> norm2, AdamArgs args, float bc1, float bc2, float rect)
    {
        var c = args.Config;
        var (np, nm, nv) = Update(p[i], g[i], m[i], v[i], c, Clip(norm2[0], c.MaxGradNorm), bc1, bc2, rect);
        p[i] = np; m[i] = nm; v[i] = nv;
    }
}
