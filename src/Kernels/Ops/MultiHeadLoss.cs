using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>Weights and options of <see cref="MultiHeadLoss"/>.</summary>
/// <param name="RegressionHeads">2 (step, duration) or 3 (step, duration, velocity).</param>
/// <param name="Huber">Huber (delta 1) instead of squared error for the regression heads.</param>
/// <param name="PositivePressure">Weight of the 10*max(-y_hat, 0) term on step and duration (the TensorFlow music tutorial's).</param>
/// <remarks>The defaults are the model's (ModelConfig: pitch first, 1 / 0.5 / 0.5 / 0.25); the TensorFlow music tutorial used 0.05 / 1 / 1.</remarks>
public readonly record struct LossConfig(float PitchWeight = 1f, float StepWeight = 0.5f, float DurationWeight = 0.5f, float VelocityWeight = 0.25f,
    int RegressionHeads = 2, bool Huber = false, float PositivePressure = 10f)
{
    public float Weight(int head) => head switch { 0 => PitchWeight, 1 => StepWeight, 2 => DurationWeight, _ => VelocityWeight };
}

/// <summary><see cref="LossConfig"/> as ILGPU kernel parameters must be: blittable (no bool).</summary>
public readonly record struct LossArgs(float PitchWeight, float StepWeight, float DurationWeight, float VelocityWeight, int RegressionHeads, int Huber, float PositivePressure)
{
    public LossArgs(LossConfig c) : this(c.PitchWeight, c.StepWeight, c.DurationWeight, c.VelocityWeight, c.RegressionHeads, c.Huber ? 1 : 0, c.PositivePressure) { }
    public float Weight(int head) => head switch { 0 => PitchWeight, 1 => StepWeight, 2 => DurationWeight, _ => VelocityWeight };
}

/// <summary>
/// The weighted multi-head loss, forward and backward fused in one pass per batch row.
///   pitch:     softmax cross-entropy over 128 logits           dlogit_j = (softmax_j - [j = target]) * w_p / B
///   step, duration (and optional velocity): e = y - target
///              squared error e^2 (or Huber) + pp * max(-y, 0)   dy = 2e (or clamp(e,-1,1)) - pp*[y &lt; 0], times w / B
///              (positive pressure only on step and duration: negative times are impossible)
/// Outputs per-row, per-head unweighted losses rowLoss[B, 1+R]; <see cref="HeadLosses"/> averages them.
/// The total loss is sum_k w_k * mean_b rowLoss[b,k], and the gradients written are of that total.
/// </summary>
public static class MultiHeadLoss
{
    public const int Pitches = 128;

    /// <summary>
    /// logits[B,128], reg[B,R], targets[B,1+R] (pitch index as a float, then the regression targets)
    /// -> dlogits[B,128] (=), dreg[B,R] (=), rowLoss[B,1+R] (=).
    /// </summary>
    public static void ForwardBackward(Backend backend, int batch, LossConfig cfg, Tensor logits, Tensor reg, Tensor targets, Tensor dlogits, Tensor dreg, Tensor rowLoss)
    {
        int R = cfg.RegressionHeads;
        if (R is < 2 or > 3) throw new ArgumentException("2 or 3 regression heads");
        Backend.Check(logits, 0, batch * Pitches, "logits"); Backend.Check(dlogits, 0, batch * Pitches, "dlogits");
        Backend.Check(reg, 0, batch * R, "reg"); Backend.Check(dreg, 0, batch * R, "dreg");
        Backend.Check(targets, 0, batch * (1 + R), "targets"); Backend.Check(rowLoss, 0, batch * (1 + R), "rowLoss");
        IndexCheck.Column(backend, targets, batch, 1 + R, 0, Pitches, "pitch target");
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor L = ManagedBackend.Of(logits), Y = ManagedBackend.Of(reg), DL = ManagedBackend.Of(dlogits), DY = ManagedBackend.Of(dreg), RL = ManagedBackend.Of(rowLoss);
                ManagedTensor Tt = ManagedBackend.Of(targets);
                float[] T = Tt.Array; int to = Tt.Offset; // targets: T[to + ...]
                cpu.For(batch, Pitches * 4L, b =>
                {
                    int target = (int)T[to + b * (1 + R)];
                    Span<float> y = Y.Span(b * R, R), dy = DY.Span(b * R, R), rl = RL.Span(b * (1 + R), 1 + R);
                    rl[0] = PitchRow(L.Span(b * Pitches, Pitches), target, cfg.PitchWeight / batch, DL.Span(b * Pitches, Pitches));
                    for (int k = 0; k < R; k++)
                    {
                        var (loss, grad) = Regression(y[k], T[to + b * (1 + R) + 1 + k], k < 2 ? cfg.PositivePressure : 0f, cfg.Huber);
                        rl[1 + k] = loss;
                        dy[k] = grad * cfg.Weight(1 + k) / batch;
                    }
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel("loss.multihead", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, LossArgs, int>(Kernel));
                kernel(batch, IlgpuBackend.Of(logits).Slice(0, batch * Pitches), IlgpuBackend.Of(reg).Slice(0, batch * R), IlgpuBackend.Of(targets).Slice(0, batch * (1 + R)),
                    IlgpuBackend.Of(dlogits).Slice(0, batch * Pitches), IlgpuBackend.Of(dreg).Slice(0, batch * R), IlgpuBackend.Of(rowLoss).Slice(0, batch * (1 + R)), new LossArgs(cfg), batch);
                return;
            }
            default: throw Backend.NotImplemented("MultiHeadLoss.ForwardBackward", backend);
        }
    }

    /// <summary>Mean over the batch of each head's loss: [pitch, step, duration(, velocity)]. Downloads (one small copy).</summary>
    public static float[] HeadLosses(Backend backend, Tensor rowLoss, int batch, int heads)
    {
        var host = new float[batch * heads];
        backend.CopyToHost(rowLoss, host);
        var mean = new float[heads];
        for (int b = 0; b < batch; b++)
            for (int k = 0; k < heads; k++) mean[k] += host[b * heads + k];
        for (int k = 0; k < heads; k++) mean[k] /= batch;
        return mean;
    }

    /// <summary>The weighted total from per-head means.</summary>
    public static float Total(LossConfig cfg, float[] heads)
    {
        float total = 0;
        for (int k = 0; k < heads.Length; k++) total += cfg.Weight(k) * heads[k];
        return total;
    }

    // ---------------------------------------------------------------- the row math, shared

    /// <summary>Regression loss and d loss / d y of one output (positive pressure pp on negative predictions).</summary>
    public static (float Loss, float Grad) Regression(float y, float target, float pp, bool huber)
    {
        float e = y - target, loss, grad;
        if (huber)
        {
            float a = MathF.Abs(e);
            loss = a <= 1f ? 0.5f * e * e : a - 0.5f;
            grad = a <= 1f ? e : (e > 0 ? 1f : -1f);
        }
        else
        {
            loss = e * e;
            grad = 2f * e;
        }
        if (y < 0) { loss += pp * -y; grad -= pp; }
        return (loss, grad);
    }

    /// <summary>Cross-entropy of one row of logits; writes dlogits = (softmax - onehot) * scale and returns the loss.</summary>
    public static float PitchRow(ReadOnlySpan<float> logits, int target, float scale, Span<float> dlogits)
    {
        float max = float.NegativeInfinity;
        for (int j = 0; j < logits.Length; j++) max = MathF.Max(max, logits[j]);
        float sum = 0;
        for (int j = 0; j < logits.Length; j++) sum += MathF.Exp(logits[j] - max);
        float logSum = MathF.Log(sum);
        for (int j = 0; j < logits.Length; j++)
            dlogits[j] = (MathF.Exp(logits[j] - max - logSum) - (j == target ? 1f : 0f)) * scale;
        return logSum + max - logits[target];
    }

    /// <summary>
    /// <see cref="PitchRow"/> written again for kernels (ILGPU kernels read ArrayViews, not spans): the K logits from
    /// <paramref name="o"/>, the same operations in the same order. Both loss kernels (this one's and
    /// <see cref="CategoricalLoss"/>'s) call it; a test pins it to PitchRow bit for bit.
    /// </summary>
    public static float PitchRow(ArrayView<float> logits, int o, int K, int target, float scale, ArrayView<float> dlogits)
    {
        float max = float.NegativeInfinity;
        for (int j = 0; j < K; j++) max = MathF.Max(max, logits[o + j]);
        float sum = 0;
        for (int j = 0; j < K; j++) sum += MathF.Exp(logits[o + j] - max);
        float logSum = MathF.Log(sum);
        for (int j = 0; j < K; j++)
            dlogits[o + j] = (MathF.Exp(logits[o + j] - max - logSum) - (j == target ? 1f : 0f)) * scale;
        return logSum + max - logits[o + target];
    }

    // logits[B,128] reg[B,R] targets[B,1+R] -> dlogits, dreg, rowLoss; one thread per batch row.
    static void Kernel(Index1D b, ArrayView<float> logits, ArrayView<float> reg, ArrayView<float> targets, ArrayView<float> dlogits, ArrayView<float> dreg, ArrayView<float> rowLoss, LossArgs cfg, int batch)
    {
        int R = cfg.RegressionHeads, o = b * Pitches;
        int target = (int)targets[b * (1 + R)];
        rowLoss[b * (1 + R)] = PitchRow(logits, o, Pitches, target, cfg.PitchWeight / batch, dlogits);
        for (int k = 0; k < R; k++)
        {
            var (loss, grad) = Regression(reg[b * R + k], targets[b * (1 + R) + 1 + k], k < 2 ? cfg.PositivePressure : 0f, cfg.Huber != 0);
            rowLoss[b * (1 + R) + 1 + k] = loss;
            dreg[b * R + k] = grad * cfg.Weight(1 + k) / batch;
        }
    }
}
