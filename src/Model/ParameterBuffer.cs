using MusicGen.Kernels;
using MusicGen.Kernels.Ops;

namespace MusicGen.Model;

/// <summary>
/// One learnable tensor under its checkpoint name: views of its value, gradient and Adam moments inside the model's
/// <see cref="ParameterBuffer"/> (elements [Offset, Offset + Length) of each flat buffer).
/// </summary>
public sealed class Parameter
{
    internal Parameter(string name, int[] shape, int offset, Tensor value, Tensor grad, Tensor m, Tensor v)
        => (Name, Shape, Offset, Value, Grad, M, V) = (name, shape, offset, value, grad, m, v);

    public string Name { get; }
    public int[] Shape { get; }
    /// <summary>Where this parameter starts in the flat buffers.</summary>
    public int Offset { get; }
    public int Length => Value.Length;
    public Tensor Value { get; }
    public Tensor Grad { get; }
    public Tensor M { get; }
    public Tensor V { get; }
}

/// <summary>
/// All of a model's learnable tensors in four flat buffers, as llm.c's malloc_and_point_parameters lays them out:
/// <see cref="Values"/>, <see cref="Grads"/> and Adam's two moments <see cref="M"/>, <see cref="V"/>, each of
/// <see cref="Count"/> floats, with every parameter a named view into them (<see cref="Backend.View"/>). So the
/// whole-model operations are one call each: <see cref="ZeroGrads"/>, <see cref="GradNorm2"/>, <see cref="AdamStep"/>,
/// and the data-parallel all-reduce (one copy of <see cref="Grads"/>).
///
/// Each parameter starts on a multiple of <see cref="Align"/> floats (64 bytes, a cache line); the few floats of padding
/// between them stay 0 (their gradient is 0, so Adam leaves them at 0) and are not counted in <see cref="ParameterCount"/>.
/// Build it from a <see cref="Layout"/>: declare every parameter first, then allocate once.
/// </summary>
public sealed class ParameterBuffer : IDisposable
{
    /// <summary>Parameters start on multiples of this many floats.</summary>
    public const int Align = 16;

    /// <summary>The parameters in the order they are declared (also their order in the buffers and in checkpoints).</summary>
    public sealed class Layout
    {
        internal readonly List<(string Name, int[] Shape)> Entries = [];

        /// <summary>Declares a parameter; returns its index in <see cref="ParameterBuffer.Parameters"/>.</summary>
        public int Add(string name, params int[] shape)
        {
            if (Entries.Any(e => e.Name == name)) throw new ArgumentException($"parameter {name} declared twice");
            Entries.Add((name, shape));
            return Entries.Count - 1;
        }
    }

    readonly Tensor _partials;

    public ParameterBuffer(Backend backend, Layout layout)
    {
        Backend = backend;
        var offsets = new int[layout.Entries.Count];
        long at = 0, count = 0;
        for (int i = 0; i < offsets.Length; i++)
        {
            offsets[i] = checked((int)at);
            long length = layout.Entries[i].Shape.Aggregate(1L, (a, d) => a * d);
            count += length;
            at += (length + Align - 1) / Align * Align;
        }
        Count = checked((int)Math.Max(at, 1));
        ParameterCount = count;
        Values = backend.Allocate(Count); Grads = backend.Allocate(Count); M = backend.Allocate(Count); V = backend.Allocate(Count);
        Parameters = layout.Entries.Select((e, i) => new Parameter(e.Name, e.Shape, offsets[i],
            backend.View(Values, offsets[i], e.Shape), backend.View(Grads, offsets[i], e.Shape),
            backend.View(M, offsets[i], e.Shape), backend.View(V, offsets[i], e.Shape))).ToArray();
        Norm2 = backend.Allocate(1);
        _partials = backend.Allocate((Count + 4095) / 4096);
    }

    public Backend Backend { get; }
    /// <summary>Length of each flat buffer, padding included.</summary>
    public int Count { get; }
    /// <summary>Learnable numbers (padding excluded).</summary>
    public long ParameterCount { get; }
    /// <summary>[Count] all parameter values; gradients; Adam's first and second moments.</summary>
    public Tensor Values { get; }
    public Tensor Grads { get; }
    public Tensor M { get; }
    public Tensor V { get; }
    /// <summary>[1] the squared global gradient norm after <see cref="GradNorm2"/> (what <see cref="AdamStep"/>'s clipping reads on the device).</summary>
    public Tensor Norm2 { get; }
    public IReadOnlyList<Parameter> Parameters { get; }
    public Parameter this[int index] => Parameters[index];

    /// <summary>Grads = 0 (one fill).</summary>
    public void ZeroGrads() => Elementwise.Fill(Backend, Grads, 0f);

    /// <summary>M = V = 0: Adam starts afresh.</summary>
    public void ZeroMoments() { Elementwise.Fill(Backend, M, 0f); Elementwise.Fill(Backend, V, 0f); }

    /// <summary>Squared global norm of all gradients into <see cref="Norm2"/>: one reduction, on the device, nothing read back.</summary>
    public void ComputeGradNorm2()
    {
        Elementwise.Fill(Backend, Norm2, 0f);
        Adam.SumSquares(Backend, Grads, Count, _partials, Norm2);
    }

    /// <summary><see cref="ComputeGradNorm2"/>, then reads the result back.</summary>
    public float GradNorm2()
    {
        ComputeGradNorm2();
        return Backend.Download(Norm2)[0];
    }

    /// <summary>One Adam/AdamW update of every parameter (one call). Clipping reads <see cref="Norm2"/>: call <see cref="ComputeGradNorm2"/> first.</summary>
    public void AdamStep(AdamConfig adam, int step)
    {
        Adam.Step(Backend, Values, Grads, M, V, Count, adam, step, Norm2);
        Version++;
    }

    /// <summary>
    /// Bumped whenever the values change: an optimizer step, or <see cref="MarkChanged"/> after writing them directly
    /// (initialisation, a checkpoint load, swapping in averaged weights). An LSTM stack keeps its transposed weights while
    /// the version it saw stays the same.
    /// </summary>
    public long Version { get; private set; }
    public void MarkChanged() => Version++;

    public void Dispose()
    {
        Values.Dispose(); Grads.Dispose(); M.Dispose(); V.Dispose(); Norm2.Dispose(); _partials.Dispose();
    }
}
