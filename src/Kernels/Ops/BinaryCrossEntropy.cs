using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// Binary cross-entropy with logits, forward and backward fused in one pass per row: K independent Bernoulli
/// outputs per row (the 88 piano keys of a frame model), each row with a weight (1 for a real frame, 0 for the
/// padding after a shorter sequence in a batch).
///   for each row r, key k, logit z, target y in {0, 1} (any value in [0, 1] works):
///     loss_rk = max(z, 0) - z y + log(1 + exp(-|z|))         (= -y log sigmoid(z) - (1-y) log(1 - sigmoid(z)), stable)
///     rowLoss_r = w_r * sum_k loss_rk                         (the frame's negative log-likelihood in nats, weighted)
///     dz_rk     = (sigmoid(z) - y) * w_r * scale              (the gradient of scale * sum_r rowLoss_r)
/// The caller picks scale = 1 / sum_r w_r to train on the mean NLL per frame.
/// Shapes: logits [N,K], targets [N,K], rowWeight [N] -> dlogits [N,K] (=), rowLoss [N] (=).
/// </summary>
public static class BinaryCrossEntropy
{
    public static void ForwardBackward(Backend backend, int rows, int keys, float scale, Tensor logits, Tensor targets, Tensor rowWeight, Tensor dlogits, Tensor rowLoss)
    {
        if (rows < 0 || keys < 1) throw new ArgumentOutOfRangeException(nameof(keys), $"{rows} rows of {keys} keys");
        Backend.Check(logits, 0, rows * keys, "logits"); Backend.Check(targets, 0, rows * keys, "targets"); Backend.Check(dlogits, 0, rows * keys, "dlogits");
        Backend.Check(rowWeight, 0, rows, "rowWeight"); Backend.Check(rowLoss, 0, rows, "rowLoss");
        if (rows == 0) return;
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor Z = ManagedBackend.Of(logits), Y = ManagedBackend.Of(targets), W = ManagedBackend.Of(rowWeight),
                    DZ = ManagedBackend.Of(dlogits), RL = ManagedBackend.Of(rowLoss);
                cpu.For(rows, keys * 8L, r => RL.Span(r, 1)[0] = Row(Z.Span(r * keys, keys), Y.Span(r * keys, keys), W.Span(r, 1)[0], scale, DZ.Span(r * keys, keys)));
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel("loss.bce", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, float>(Kernel));
                kernel(rows, IlgpuBackend.Of(logits).Slice(0, rows * keys), IlgpuBackend.Of(targets).Slice(0, rows * keys), IlgpuBackend.Of(rowWeight).Slice(0, rows),
                    IlgpuBackend.Of(dlogits).Slice(0, rows * keys), IlgpuBackend.Of(rowLoss).Slice(0, rows), keys, scale);
                return;
            }
            default: throw Backend.NotImplemented("BinaryCrossEntropy.ForwardBackward", backend);
        }
    }

    /// <summary>One row: writes dz and returns the weighted row loss (the managed path; the kernel below is the same arithmetic).</summary>
    public static float Row(ReadOnlySpan<float> z, ReadOnlySpan<float> y, float weight, float scale, Span<float> dz)
    {
        float sum = 0, g = weight * scale;
        for (int k = 0; k < z.Length; k++)
        {
            sum += KeyLoss(z[k], y[k]);
            dz[k] = (Sigmoid(z[k]) - y[k]) * g;
        }
        return weight * sum;
    }

    /// <summary>-y log sigmoid(z) - (1-y) log(1 - sigmoid(z)), without overflow for any z.</summary>
    public static float KeyLoss(float z, float y) => MathF.Max(z, 0f) - z * y + MathF.Log(1f + MathF.Exp(-MathF.Abs(z)));

    /// <summary>1 / (1 + exp(-z)), computed from exp(-|z|) so it never overflows.</summary>
    public static float Sigmoid(float z)
    {
        float e = MathF.Exp(-MathF.Abs(z));
        return z >= 0 ? 1f / (1f + e) : e / (1f + e);
    }

    // logits[N,K] targets[N,K] rowWeight[N] -> dlogits[N,K], rowLoss[N]; one thread per row.
    static void Kernel(Index1D r, ArrayView<float> logits, ArrayView<float> targets, ArrayView<float> rowWeight, ArrayView<float> dlogits, ArrayView<float> rowLoss, int keys, float scale)
    {
        float w = rowWeight[r], g = w * scale, sum = 0;
        for (int k = 0, i = r * keys; k < keys; k++, i++)
        {
            float z = logits[i], y = targets[i];
            sum += KeyLoss(z, y);
            dlogits[i] = (Sigmoid(z) - y) * g;
        }
        rowLoss[r] = w * sum;
    }
}
