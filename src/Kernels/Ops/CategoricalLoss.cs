using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// The heads of a categorical model, as ILGPU kernel parameters must be (blittable, no arrays): up to four groups
/// of logits side by side in one row (pitch, step bins, duration bins, velocity bins), each with its loss weight.
/// </summary>
public readonly record struct CategoricalGroups(int Count, int Size0, int Size1, int Size2, int Size3, float Weight0, float Weight1, float Weight2, float Weight3)
{
    public static CategoricalGroups From(ReadOnlySpan<int> sizes, ReadOnlySpan<float> weights)
    {
        if (sizes.Length is < 1 or > 4 || weights.Length != sizes.Length) throw new ArgumentException("1 to 4 groups, one weight each");
        foreach (int s in sizes) if (s < 1) throw new ArgumentException("every group needs at least one class");
        int At(ReadOnlySpan<int> s, int i) => i < s.Length ? s[i] : 0;
        float W(ReadOnlySpan<float> w, int i) => i < w.Length ? w[i] : 0f;
        return new(sizes.Length, At(sizes, 0), At(sizes, 1), At(sizes, 2), At(sizes, 3), W(weights, 0), W(weights, 1), W(weights, 2), W(weights, 3));
    }

    public int Size(int g) => g switch { 0 => Size0, 1 => Size1, 2 => Size2, _ => Size3 };
    public float Weight(int g) => g switch { 0 => Weight0, 1 => Weight1, 2 => Weight2, _ => Weight3 };
    /// <summary>Column where group g starts in a row of logits.</summary>
    public int Offset(int g) { int o = 0; for (int i = 0; i < g; i++) o += Size(i); return o; }
    /// <summary>Logits per row: the sum of the group sizes.</summary>
    public int Width => Size0 + Size1 + Size2 + Size3;
}

/// <summary>
/// The weighted multi-head loss of a categorical model, forward and backward fused in one pass per row: every group
/// of a row's logits is its own softmax cross-entropy against its own target class.
///   for each group g (columns o_g .. o_g + K_g), target class y_g:
///     loss_g = logsumexp(z[o_g..]) - z[o_g + y_g]
///     dz_j   = (softmax_g(z)_j - [j = y_g]) * w_g / N            (j within the group)
/// The total loss is sum_g w_g * mean_rows loss_g, and the gradients written are of that total.
/// Shapes: logits [N, Width], targets [N, G] (class index within each group, as a float)
///         -> dlogits [N, Width] (=), rowLoss [N, G] (=, unweighted).
/// </summary>
public static class CategoricalLoss
{
    public static void ForwardBackward(Backend backend, int rows, CategoricalGroups groups, Tensor logits, Tensor targets, Tensor dlogits, Tensor rowLoss)
    {
        int W = groups.Width, G = groups.Count;
        Backend.Check(logits, 0, rows * W, "logits"); Backend.Check(dlogits, 0, rows * W, "dlogits");
        Backend.Check(targets, 0, rows * G, "targets"); Backend.Check(rowLoss, 0, rows * G, "rowLoss");
        Span<int> sizes = stackalloc int[G];
        for (int g = 0; g < G; g++) sizes[g] = groups.Size(g);
        IndexCheck.Columns(backend, targets, rows, G, 0, sizes, "target");
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor L = ManagedBackend.Of(logits), DL = ManagedBackend.Of(dlogits), RL = ManagedBackend.Of(rowLoss);
                ManagedTensor Tt = ManagedBackend.Of(targets);
                float[] T = Tt.Array; int to = Tt.Offset; // targets: T[to + ...]
                cpu.For(rows, W * 4L, r =>
                {
                    for (int g = 0, o = 0; g < G; o += groups.Size(g), g++)
                        RL.Span(r * G + g, 1)[0] = MultiHeadLoss.PitchRow(L.Span(r * W + o, groups.Size(g)), (int)T[to + r * G + g], groups.Weight(g) / rows, DL.Span(r * W + o, groups.Size(g)));
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel("loss.categorical", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, CategoricalGroups, int>(Kernel));
                kernel(rows, IlgpuBackend.Of(logits).Slice(0, rows * W), IlgpuBackend.Of(targets).Slice(0, rows * G),
                    IlgpuBackend.Of(dlogits).Slice(0, rows * W), IlgpuBackend.Of(rowLoss).Slice(0, rows * G), groups, rows);
                return;
            }
            default: throw Backend.NotImplemented("CategoricalLoss.ForwardBackward", backend);
        }
    }

    // logits[N,W] targets[N,G] -> dlogits[N,W], rowLoss[N,G]; one thread per row, the groups one after another.
    static void Kernel(Index1D r, ArrayView<float> logits, ArrayView<float> targets, ArrayView<float> dlogits, ArrayView<float> rowLoss, CategoricalGroups groups, int rows)
    {
        int W = groups.Width, G = groups.Count, o = r * W;
        for (int g = 0; g < G; g++)
        {
            int K = groups.Size(g), target = (int)targets[r * G + g];
            rowLoss[r * G + g] = MultiHeadLoss.PitchRow(logits, o, K, target, groups.Weight(g) / rows, dlogits); // softmax cross-entropy of the group
            o += K;
        }
    }
}
