using ILGPU;
using ILGPU.Runtime;

namespace MusicGen.Kernels;

/// <summary>
/// A float32 buffer with a shape, living on one <see cref="Backend"/>. Row-major: the last axis is
/// contiguous. Ops address sub-ranges by element offset (BLAS style), so a time step of a [T,B,H]
/// tensor is simply offset t*B*H, length B*H.
/// </summary>
public abstract class Tensor : IDisposable
{
    protected Tensor(Backend backend, int[] shape)
    {
        if (shape.Any(d => d < 0)) throw new ArgumentException("negative dimension");
        Backend = backend;
        Shape = shape;
        Length = shape.Aggregate(1, (a, d) => checked(a * d));
    }

    public Backend Backend { get; }
    public int[] Shape { get; }
    public int Length { get; }
    public string ShapeText => "[" + string.Join(",", Shape) + "]";
    public abstract void Dispose();
}

/// <summary>A tensor in managed memory (the managed CPU backend).</summary>
public sealed class ManagedTensor(Backend backend, int[] shape) : Tensor(backend, shape)
{
    public float[] Data { get; } = new float[shape.Aggregate(1, (a, d) => checked(a * d))];
    public Span<float> Span(int offset, int length) => Data.AsSpan(offset, length);
    public override void Dispose() { }
}

/// <summary>A tensor in an ILGPU accelerator's memory (CUDA, OpenCL or ILGPU's CPU simulator).</summary>
public sealed class IlgpuTensor : Tensor
{
    readonly MemoryBuffer1D<float, Stride1D.Dense> _buffer;

    public IlgpuTensor(Backend backend, Accelerator accelerator, int[] shape) : base(backend, shape)
    {
        _buffer = accelerator.Allocate1D<float>(Math.Max(1, Length));
        _buffer.MemSetToZero();
    }

    public ArrayView1D<float, Stride1D.Dense> View => _buffer.View;
    public ArrayView<float> Slice(int offset, int length) => _buffer.View.SubView(offset, length).AsContiguous();
    public override void Dispose() => _buffer.Dispose();
}
