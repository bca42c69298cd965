using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// Conditions the other heads on one head's class: to each row of logits, add the row of a learned table chosen by
/// that row's class in the conditioning group, on every column outside that group. A categorical model that
/// predicts the step first uses it so pitch, duration and velocity depend on the step (a chord tone after a step of
/// 0, a new melody note after a longer one). In training the class is the target's (teacher forcing); in generation
/// it is the class just sampled.
///   forward:  logits[r, j] += table[c_r, j]                     for j outside [from, from + count)
///   backward: dtable[c, j] += sum_{r : c_r = c} dlogits[r, j]   (same columns; the group's own columns get nothing)
/// Shapes: logits, dlogits [N, K]; classes: column g of targets [N, G] (a class index as a float); table, dtable [C, K].
/// </summary>
public static class ClassConditioning
{
    /// <param name="group">Which column of <paramref name="targets"/> holds each row's conditioning class.</param>
    /// <param name="from">First logit column of the conditioning group (left unchanged).</param>
    /// <param name="count">Columns in the conditioning group, also the number of table rows C.</param>
    public static void Forward(Backend backend, Tensor logits, Tensor targets, Tensor table, int rows, int K, int G, int group, int from, int count)
    {
        Check(logits, targets, table, rows, K, G, group, from, count);
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor L = ManagedBackend.Of(logits), T = ManagedBackend.Of(targets), W = ManagedBackend.Of(table);
                cpu.For(rows, K, r =>
                {
                    int c = (int)T.Span(r * G + group, 1)[0];
                    Span<float> l = L.Span(r * K, K), w = W.Span(c * K, K);
                    for (int j = 0; j < K; j++) if (j < from || j >= from + count) l[j] += w[j];
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var k = gpu.Kernel("conditioning.forward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Args>(ForwardKernel));
                k(rows * K, IlgpuBackend.Of(logits).Slice(0, rows * K), IlgpuBackend.Of(targets).Slice(0, rows * G), IlgpuBackend.Of(table).Slice(0, count * K), new Args(K, G, group, from, count));
                return;
            }
            default: throw Backend.NotImplemented("ClassConditioning.Forward", backend);
        }
    }

    public static void Backward(Backend backend, Tensor dlogits, Tensor targets, Tensor dtable, int rows, int K, int G, int group, int from, int count)
    {
        Check(dlogits, targets, dtable, rows, K, G, group, from, count);
        switch (backend)
        {
            case ManagedBackend:
            {
                ManagedTensor D = ManagedBackend.Of(dlogits), T = ManagedBackend.Of(targets), W = ManagedBackend.Of(dtable);
                for (int r = 0; r < rows; r++) // rows in order: a fixed summation order, deterministic
                {
                    int c = (int)T.Span(r * G + group, 1)[0];
                    Span<float> w = W.Span(c * K, K), d = D.Span(r * K, K);
                    for (int j = 0; j < K; j++) if (j < from || j >= from + count) w[j] += d[j];
                }
                return;
            }
            case IlgpuBackend gpu:
            {
                var k = gpu.Kernel("conditioning.backward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, Args, int>(BackwardKernel));
                k(K, IlgpuBackend.Of(dlogits).Slice(0, rows * K), IlgpuBackend.Of(targets).Slice(0, rows * G), IlgpuBackend.Of(dtable).Slice(0, count * K), new Args(K, G, group, from, count), rows);
                return;
            }
            default: throw Backend.NotImplemented("ClassConditioning.Backward", backend);
        }
    }

    /// <summary>The shape arguments as a kernel takes them (blittable): logits per row, target columns, which one, the group's columns.</summary>
    public readonly record struct Args(int K, int G, int Group, int From, int Count);

    // logits[N,K] targets[N,G] table[C,K] -> logits += table[class]; one thread per logit.
    static void ForwardKernel(Index1D i, ArrayView<float> logits, ArrayView<float> targets, ArrayView<float> table, Args a)
    {
        int K = a.K, r = i / K, j = i % K;
        if (j >= a.From && j < a.From + a.Count) return;
        int c = (int)targets[r * a.G + a.Group];
        logits[i] += table[c * K + j];
    }

    // dlogits[N,K] targets[N,G] -> dtable[C,K] +=; one thread per column, rows in order (deterministic, no atomics).
    static void BackwardKernel(Index1D j, ArrayView<float> dlogits, ArrayView<float> targets, ArrayView<float> dtable, Args a, int rows)
    {
        int K = a.K;
        if (j >= a.From && j < a.From + a.Count) return;
        for (int r = 0; r < rows; r++)
        {
            int c = (int)targets[r * a.G + a.Group];
            dtable[c * K + j] += dlogits[r * K + j];
        }
    }


    static void Check(Tensor logits, Tensor targets, Tensor table, int rows, int K, int G, int group, int from, int count)
    {
        if (group < 0 || group >= G || from < 0 || count < 1 || from + count > K) throw new ArgumentException("conditioning group outside the logits");
        Backend.Check(logits, 0, rows * K, "logits"); Backend.Check(targets, 0, rows * G, "targets"); Backend.Check(table, 0, count * K, "table");
        IndexCheck.Column(logits.Backend, targets, rows, G, group, count, "conditioning class");
    }
}
