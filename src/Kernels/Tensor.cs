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

/// <summary>
/// A tensor in managed memory (the managed CPU backend): elements [Offset, Offset + Length) of <see cref="Array"/>.
/// A tensor made by <see cref="Backend.Allocate"/> owns its array (Offset 0); one made by <see cref="Backend.View"/>
/// shares its owner's array (the flat parameter buffer's named views). Ops index Array from Offset, or take
/// <see cref="Span"/>, which adds it.
/// </summary>
public sealed class ManagedTensor : Tensor
{
    public ManagedTensor(Backend backend, int[] shape) : base(backend, shape) => Array = new float[Length];

    /// <summary>A view: <paramref name="shape"/>'s elements of <paramref name="owner"/> from <paramref name="offset"/> (checked by Backend.View).</summary>
    internal ManagedTensor(ManagedTensor owner, int offset, int[] shape) : base(owner.Backend, shape)
    {
        Array = owner.Array;
        Offset = owner.Offset + offset;
    }

    /// <summary>The backing array: this tensor's own, or its owner's for a view.</summary>
    public float[] Array { get; }
    /// <summary>Where element 0 of this tensor sits in <see cref="Array"/> (0 unless a view).</summary>
    public int Offset { get; }
    /// <summary>Elements [offset, offset + length) of this tensor.</summary>
    public Span<float> Span(int offset, int length) => Array.AsSpan(Offset + offset, length);
    /// <summary>All of this tensor's elements.</summary>
    public Span<float> Span() => Array.AsSpan(Offset, Length);
    public override void Dispose() { }
}

/// <summary>A tensor in an ILGPU accelerator's memory (CUDA, OpenCL or ILGPU's CPU simulator): its own buffer, or a view of its owner's.</summary>
public sealed class IlgpuTensor : Tensor
{
    readonly MemoryBuffer1D<float, Stride1D.Dense>? _buffer; // null for a view: the owner frees the memory
    readonly ArrayView1D<float, Stride1D.Dense> _view;

    public IlgpuTensor(Backend backend, Accelerator accelerator, int[] shape) : base(backend, shape)
    {
        _buffer = accelerator.Allocate1D<float>(Math.Max(1, Length));
        _buffer.MemSetToZero();
        _view = _buffer.View;
    }

    /// <summary>A view: <paramref name="shape"/>'s elements of <paramref name="owner"/> from <paramref name="offset"/> (checked by Backend.View).</summary>
    internal IlgpuTensor(IlgpuTensor owner, int offset, int[] shape) : base(owner.Backend, shape)
    {
        int length = shape.Aggregate(1, (a, d) => checked(a * d));
        _view = length > 0 ? owner._view.SubView(offset, length) : owner._view.SubView(0, 1); // length 0 keeps one element, as an owner does
    }

    public ArrayView1D<float, Stride1D.Dense> View => _view;
    public ArrayView<float> Slice(int offset, int length) => _view.SubView(offset, length).AsContiguous();
    public override void Dispose() => _buffer?.Dispose();
}
