using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Midi;

namespace MusicGen.Model;

/// <summary>
/// What TF32 tensor cores cost in accuracy (<c>musicgen bench precision</c>): one training step's loss and gradients of
/// the same network, weights, windows and dropout masks, with every matrix product in float32 and then in TF32, on one
/// device. The gradients' error is reported relative to their size, overall and for the parameter it hits hardest.
/// </summary>
public static class PrecisionComparison
{
    /// <param name="PitchLossFloat32">The pitch head's loss of the step in float32.</param>
    /// <param name="PitchLossTf32">The same in TF32.</param>
    /// <param name="GradientRelativeError">|g_tf32 - g_float32| / |g_float32| over every parameter together (Euclidean norms).</param>
    /// <param name="WorstParameter">The parameter with the largest relative error of its own gradient.</param>
    /// <param name="WorstRelativeError">That error.</param>
    public sealed record Result(long Parameters, float PitchLossFloat32, float PitchLossTf32, double GradientRelativeError, string WorstParameter, double WorstRelativeError);

    /// <summary>
    /// Runs the comparison on <paramref name="backend"/> (which must accept <see cref="GemmPrecision.Tf32"/>), with a
    /// model of <paramref name="config"/> initialised from <paramref name="seed"/> and <paramref name="batchSize"/> random
    /// windows. The backend's precision is what it was when this returns.
    /// </summary>
    public static Result Run(Backend backend, ModelConfig config, int batchSize, int seed)
    {
        var was = backend.Precision;
        using var model = new MusicModel(backend, config);
        model.Initialize((ulong)seed);
        var rng = new Random(seed);
        var batch = new Batch(config, batchSize);
        NoteRow RandomNote() => new(rng.Next(21, 109), (float)rng.NextDouble(), (float)rng.NextDouble(), rng.Next(20, 128));
        for (int r = 0; r < batch.Steps * batchSize; r++) batch.SetInput(r, RandomNote(), 0, config);
        for (int r = 0; r < batch.TargetRows; r++) batch.SetTarget(r, RandomNote(), 0, config);

        (float PitchLoss, float[][] Grads) Step(GemmPrecision precision)
        {
            backend.UsePrecision(precision);
            model.Forward(batch, training: true, (uint)seed, 1); // the same dropout masks both times
            float pitch = model.Backward(batch)[0];
            return (pitch, model.Parameters.Select(p => backend.Download(p.Grad)).ToArray());
        }
        try
        {
            var (loss32, g32) = Step(GemmPrecision.Float32);
            var (lossTf, gTf) = Step(GemmPrecision.Tf32);
            double diff2 = 0, norm2 = 0, worst = -1;
            string worstName = "";
            for (int i = 0; i < g32.Length; i++)
            {
                double d = 0, n = 0;
                for (int j = 0; j < g32[i].Length; j++) { double e = gTf[i][j] - (double)g32[i][j]; d += e * e; n += (double)g32[i][j] * g32[i][j]; }
                diff2 += d; norm2 += n;
                double relative = n > 0 ? Math.Sqrt(d / n) : 0;
                if (relative > worst) (worst, worstName) = (relative, model.Parameters[i].Name);
            }
            return new Result(model.ParameterCount, loss32, lossTf, Math.Sqrt(diff2 / norm2), worstName, worst);
        }
        finally { backend.UsePrecision(was); }
    }
}
