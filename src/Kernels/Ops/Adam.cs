using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>Adam hyper-parameters. <paramref name="Decoupled"/>: AdamW (decay applied to the weights) instead of L2 in the gradient.</summary>
public readonly record struct AdamConfig(float LearningRate = 1e-3f, float Beta1 = 0.9f, float Beta2 = 0.999f, float Epsilon = 1e-8f,
    float WeightDecay = 0f, bool Decoupled = true, float MaxGradNorm = 0f);

/// <summary><see cref="AdamConfig"/> as ILGPU kernel parameters must be: blittable (no bool).</summary>
public readonly record struct AdamArgs(float LearningRate, float Beta1, float Beta2, float Epsilon, float WeightDecay, int Decoupled, float MaxGradNorm)
{
    public AdamArgs(AdamConfig c) : this(c.LearningRate, c.Beta1, c.Beta2, c.Epsilon, c.WeightDecay, c.Decoupled ? 1 : 0, c.MaxGradNorm) { }
    public AdamConfig Config => new(LearningRate, Beta1, Beta2, Epsilon, WeightDecay, Decoupled != 0, MaxGradNorm);
}

/// <summary>
/// Adam / AdamW with bias correction and global-norm gradient clipping, one fused update per tensor:
///   g  = grad * clip        clip = min(1, maxNorm / (||all grads|| + 1e-6)), 1 when maxNorm = 0
///   g += wd * p             (Adam with L2 only)
///   m  = b1 m + (1-b1) g    v = b2 v + (1-b2) g^2
///   p -= lr * ( (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + wd * p )   (the wd*p term for AdamW only)
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

    /// <summary>The per-element update, shared by both backends. Returns (p, m, v) after the step.</summary>
    public static (float P, float M, float V) Update(float p, float g, float m, float v, AdamConfig c, float clip, float bc1, float bc2)
    {
        g *= clip;
        if (!c.Decoupled) g += c.WeightDecay * p;
        m = c.Beta1 * m + (1f - c.Beta1) * g;
        v = c.Beta2 * v + (1f - c.Beta2) * g * g;
        float update = m / bc1 / (MathF.Sqrt(v / bc2) + c.Epsilon);
        if (c.Decoupled) update += c.WeightDecay * p;
        return (p - c.LearningRate * update, m, v);
    }

    /// <summary>
    /// <see cref="Update"/> transcribed to <see cref="System.Numerics.Vector{T}"/> for the managed backend (the scalar loop spent
    /// ~10 ns per parameter on the square root and divisions). Returns the index where the scalar tail starts.
    /// </summary>
    static int ManagedUpdate(Span<float> p, ReadOnlySpan<float> g, Span<float> m, Span<float> v, AdamConfig c, float clip, float bc1, float bc2)
    {
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
        float bc1 = 1f - MathF.Pow(c.Beta1, t), bc2 = 1f - MathF.Pow(c.Beta2, t);
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
                    int i = ManagedUpdate(P, G, M, V, c, clip, bc1, bc2);
                    for (; i < len; i++) (P[i], M[i], V[i]) = Update(P[i], G[i], M[i], V[i], c, clip, bc1, bc2);
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel("adam.step", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, AdamArgs, float, float>(StepKernel));
                kernel(n, IlgpuBackend.Of(param).Slice(0, n), IlgpuBackend.Of(grad).Slice(0, n), IlgpuBackend.Of(m).Slice(0, n), IlgpuBackend.Of(v).Slice(0, n), IlgpuBackend.Of(norm2).Slice(0, 1), new AdamArgs(c), bc1, bc2);
                return;
            }
            default: throw Backend.NotImplemented("Adam.Step", backend);
        }
    }

    // param[N] grad[N] m[N] v[N] norm2[1] -> param, m, v; one thread per element.
    static void StepKernel(Index1D i, ArrayView<float> p, ArrayView<float> g, ArrayView<float> m, ArrayView<float> v, ArrayView<float> norm2, AdamArgs args, float bc1, float bc2)
    {
        var c = args.Config;
        var (np, nm, nv) = Update(p[i], g[i], m[i], v[i], c, Clip(norm2[0], c.MaxGradNorm), bc1, bc2);
        p[i] = np; m[i] = nm; v[i] = nv;
    }
}
