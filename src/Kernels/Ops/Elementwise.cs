using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>The small glue ops: fill, copy, and column sums (bias gradients).</summary>
public static class Elementwise
{
    /// <summary>x[offset .. offset+length) = value.</summary>
    public static void Fill(Backend backend, Tensor x, float value, int offset = 0, int length = -1)
    {
        if (length < 0) length = x.Length - offset;
        Backend.Check(x, offset, length, "x");
        if (length == 0) return;
        switch (backend)
        {
            case ManagedBackend:
                ManagedBackend.Of(x).Span(offset, length).Fill(value);
                return;
            case IlgpuBackend gpu:
                var kernel = gpu.Kernel("fill", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, float>(FillKernel));
                kernel(length, IlgpuBackend.Of(x).Slice(offset, length), value);
                return;
            default: throw Backend.NotImplemented("Elementwise.Fill", backend);
        }
    }

    // x[N] = value; one thread per element.
    static void FillKernel(Index1D i, ArrayView<float> x, float value) => x[i] = value;

    /// <summary>dst[dOff..+n) = src[sOff..+n).</summary>
    public static void Copy(Backend backend, Tensor src, int sOff, Tensor dst, int dOff, int n)
    {
        Backend.Check(src, sOff, n, "src");
        Backend.Check(dst, dOff, n, "dst");
        if (n == 0) return;
        switch (backend)
        {
            case ManagedBackend:
                ManagedBackend.Of(src).Span(sOff, n).CopyTo(ManagedBackend.Of(dst).Span(dOff, n));
                return;
            case IlgpuBackend:
                IlgpuBackend.Of(src).View.SubView(sOff, n).CopyTo(IlgpuBackend.Of(dst).View.SubView(dOff, n));
                return;
            default: throw Backend.NotImplemented("Elementwise.Copy", backend);
        }
    }

    /// <summary>
    /// Forward: sum[j] += x[r, j] over rows r (x[R,N] from <paramref name="xOff"/> -> sum[N]); the bias gradient of a
    /// broadcast add. Rows summed in order.
    /// </summary>
    public static void SumRowsForward(Backend backend, Tensor x, int rows, int cols, Tensor sum, int xOff = 0)
    {
        Backend.Check(x, xOff, rows * cols, "x");
        Backend.Check(sum, 0, cols, "sum");
        switch (backend)
        {
            case ManagedBackend:
            {
                var xs = ManagedBackend.Of(x); var s = ManagedBackend.Of(sum).Span(0, cols);
                for (int r = 0; r < rows; r++) TensorPrimitives.Add(s, xs.Span(xOff + r * cols, cols), s);
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel("sumrows", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(SumRowsKernel));
                kernel(cols, IlgpuBackend.Of(x).Slice(xOff, rows * cols), IlgpuBackend.Of(sum).Slice(0, cols), rows, cols);
                return;
            }
            default: throw Backend.NotImplemented("Elementwise.SumRowsForward", backend);
        }
    }

    // x[R,N] -> sum[N] (+=); one thread per column, rows in order (deterministic).
    static void SumRowsKernel(Index1D j, ArrayView<float> x, ArrayView<float> sum, int rows, int cols)
    {
        float s = 0;
        for (int r = 0; r < rows; r++) s += x[r * cols + j];
        sum[j] += s;
    }
}
