using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// Layer normalisation over the feature axis (the last one) with a gain and a bias:
///   mean = avg_j x[r,j]   rstd = 1/sqrt(var_j x[r,j] + eps)   xhat = (x - mean) * rstd   y = gain * xhat + bias
/// Forward saves mean[R] and rstd[R]. Backward (llm.c's form):
///   dxhat = dy * gain
///   dx    += rstd * (dxhat - avg_j dxhat - xhat * avg_j(dxhat * xhat))
///   dgain += sum_r dy * xhat        dbias += sum_r dy
/// One row per thread; the row math is in <see cref="ForwardRow"/> / <see cref="BackwardRow"/>, shared by both backends.
/// </summary>
public static class LayerNorm
{
    public const float Epsilon = 1e-5f;

    /// <summary>x[R,N], gain[N], bias[N] -> y[R,N], mean[R], rstd[R].</summary>
    public static void Forward(Backend backend, int rows, int n, Tensor x, Tensor gain, Tensor bias, Tensor y, Tensor mean, Tensor rstd)
    {
        Backend.Check(x, 0, rows * n, "x"); Backend.Check(y, 0, rows * n, "y");
        Backend.Check(gain, 0, n, "gain"); Backend.Check(bias, 0, n, "bias");
        Backend.Check(mean, 0, rows, "mean"); Backend.Check(rstd, 0, rows, "rstd");
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor X = ManagedBackend.Of(x), G = ManagedBackend.Of(gain), Bs = ManagedBackend.Of(bias), Y = ManagedBackend.Of(y), M = ManagedBackend.Of(mean), S = ManagedBackend.Of(rstd);
                cpu.For(rows, n * 6L, r => ForwardRow(X.Span(r * n, n), G.Span(0, n), Bs.Span(0, n), Y.Span(r * n, n), out M.Span(r, 1)[0], out S.Span(r, 1)[0]));
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel("layernorm.forward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(ForwardKernel));
                kernel(rows, IlgpuBackend.Of(x).Slice(0, rows * n), IlgpuBackend.Of(gain).Slice(0, n), IlgpuBackend.Of(bias).Slice(0, n), IlgpuBackend.Of(y).Slice(0, rows * n), IlgpuBackend.Of(mean).Slice(0, rows), IlgpuBackend.Of(rstd).Slice(0, rows), n);
                return;
            }
            default: throw Backend.NotImplemented("LayerNorm.Forward", backend);
        }
    }

    /// <summary>dy[R,N], x[R,N], gain[N], mean[R], rstd[R] -> dx[R,N] (+=), dgain[N] (+=), dbias[N] (+=).</summary>
    public static void Backward(Backend backend, int rows, int n, Tensor dy, Tensor x, Tensor gain, Tensor mean, Tensor rstd, Tensor dx, Tensor dgain, Tensor dbias)
    {
        Backend.Check(dy, 0, rows * n, "dy"); Backend.Check(dx, 0, rows * n, "dx"); Backend.Check(x, 0, rows * n, "x");
        Backend.Check(dgain, 0, n, "dgain"); Backend.Check(dbias, 0, n, "dbias");
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor DY = ManagedBackend.Of(dy), X = ManagedBackend.Of(x), G = ManagedBackend.Of(gain), DX = ManagedBackend.Of(dx);
                ManagedTensor Mt = ManagedBackend.Of(mean), St = ManagedBackend.Of(rstd);
                cpu.For(rows, n * 8L, r => BackwardRowInput(DY.Span(r * n, n), X.Span(r * n, n), G.Span(0, n), Mt.Span(r, 1)[0], St.Span(r, 1)[0], DX.Span(r * n, n)));
                ReadOnlySpan<float> M = Mt.Span(0, rows), S = St.Span(0, rows);
                var xhat = System.Buffers.ArrayPool<float>.Shared.Rent(n);
                var dg = ManagedBackend.Of(dgain).Span(0, n); var db = ManagedBackend.Of(dbias).Span(0, n); var xh = xhat.AsSpan(0, n);
                for (int r = 0; r < rows; r++) // parameter gradients: rows in order, so the sum is deterministic
                {
                    var dyRow = DY.Span(r * n, n);
                    TensorPrimitives.Subtract(X.Span(r * n, n), M[r], xh);  // xhat = (x - mean) * rstd
                    TensorPrimitives.Multiply(xh, S[r], xh);
                    TensorPrimitives.FusedMultiplyAdd(dyRow, xh, dg, dg);
                    TensorPrimitives.Add(db, dyRow, db);
                }
                System.Buffers.ArrayPool<float>.Shared.Return(xhat);
                return;
            }
            case IlgpuBackend gpu:
            {
                var rowsKernel = gpu.Kernel("layernorm.backward.input", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int>(BackwardInputKernel));
                var paramKernel = gpu.Kernel("layernorm.backward.params", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(BackwardParamsKernel));
                var dyv = IlgpuBackend.Of(dy).Slice(0, rows * n); var xv = IlgpuBackend.Of(x).Slice(0, rows * n);
                var mv = IlgpuBackend.Of(mean).Slice(0, rows); var sv = IlgpuBackend.Of(rstd).Slice(0, rows);
                rowsKernel(rows, dyv, xv, IlgpuBackend.Of(gain).Slice(0, n), mv, sv, IlgpuBackend.Of(dx).Slice(0, rows * n), n);
                paramKernel(n, dyv, xv, mv, sv, IlgpuBackend.Of(dgain).Slice(0, n), IlgpuBackend.Of(dbias).Slice(0, n), rows, n);
                return;
            }
            default: throw Backend.NotImplemented("LayerNorm.Backward", backend);
        }
    }

    // ---------------------------------------------------------------- the row math, shared

    public static void ForwardRow(ReadOnlySpan<float> x, ReadOnlySpan<float> gain, ReadOnlySpan<float> bias, Span<float> y, out float mean, out float rstd)
    {
        int n = x.Length;
        float sum = 0;
        for (int j = 0; j < n; j++) sum += x[j];
        mean = sum / n;
        float var = 0;
        for (int j = 0; j < n; j++) { float d = x[j] - mean; var += d * d; }
        rstd = 1f / MathF.Sqrt(var / n + Epsilon);
        for (int j = 0; j < n; j++) y[j] = gain[j] * ((x[j] - mean) * rstd) + bias[j];
    }

    public static void BackwardRowInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> x, ReadOnlySpan<float> gain, float mean, float rstd, Span<float> dx)
    {
        int n = x.Length;
        float sumD = 0, sumDX = 0;
        for (int j = 0; j < n; j++)
        {
            float dxhat = dy[j] * gain[j];
            sumD += dxhat;
            sumDX += dxhat * (x[j] - mean) * rstd;
        }
        float meanD = sumD / n, meanDX = sumDX / n;
        for (int j = 0; j < n; j++)
            dx[j] += rstd * (dy[j] * gain[j] - meanD - (x[j] - mean) * rstd * meanDX);
    }

    // x[R,N] gain[N] bias[N] -> y[R,N] mean[R] rstd[R]; one thread per row.
    static void ForwardKernel(Index1D r, ArrayView<float> x, ArrayView<float> gain, ArrayView<float> bias, ArrayView<float> y, ArrayView<float> mean, ArrayView<float> rstd, int n)
    {
        int o = r * n;
        float sum = 0;
        for (int j = 0; j < n; j++) sum += x[o + j];
        float m = sum / n, var = 0;
        for (int j = 0; j < n; j++) { float d = x[o + j] - m; var += d * d; }
        float s = 1f / MathF.Sqrt(var / n + Epsilon);
        for (int j = 0; j < n; j++) y[o + j] = gain[j] * ((x[o + j] - m) * s) + bias[j];
        mean[r] = m;
        rstd[r] = s;
    }

    // dy[R,N] x[R,N] gain[N] mean[R] rstd[R] -> dx[R,N] (+=); one thread per row.
    static void BackwardInputKernel(Index1D r, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> gain, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dx, int n)
    {
        int o = r * n;
        float m = mean[r], s = rstd[r], sumD = 0, sumDX = 0;
        for (int j = 0; j < n; j++)
        {
            float dxhat = dy[o + j] * gain[j];
            sumD += dxhat;
            sumDX += dxhat * (x[o + j] - m) * s;
        }
        float meanD = sumD / n, meanDX = sumDX / n;
        for (int j = 0; j < n; j++) dx[o + j] += s * (dy[o + j] * gain[j] - meanD - (x[o + j] - m) * s * meanDX);
    }

    // dy[R,N] x[R,N] mean[R] rstd[R] -> dgain[N] (+=), dbias[N] (+=); one thread per feature, rows in order.
    static void BackwardParamsKernel(Index1D j, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> dgain, ArrayView<float> dbias, int rows, int n)
    {
        float g = 0, b = 0;
        for (int r = 0; r < rows; r++)
        {
            float d = dy[r * n + j];
            g += d * (x[r * n + j] - mean[r]) * rstd[r];
            b += d;
        }
        dgain[j] += g;
        dbias[j] += b;
    }
}
