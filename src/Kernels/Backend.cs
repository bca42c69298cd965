namespace MusicGen.Kernels;

/// <summary>
/// Where tensors live and ops run. Two implementations: <see cref="Backends.ManagedBackend"/> (the CPU
/// path users run: SIMD, multi-threaded) and <see cref="Backends.IlgpuBackend"/> (CUDA, OpenCL, and
/// ILGPU's CPU simulator used as a conformance device). Ops are static classes in Ops/ that take the
/// backend explicitly; nothing is global.
/// </summary>
public abstract class Backend : IDisposable
{
    /// <summary>The device name as `musicgen devices` shows it.</summary>
    public abstract string Name { get; }
    /// <summary>The --device kind that selects it: cpu, cuda, opencl, ilgpu-cpu.</summary>
    public abstract string Kind { get; }

    public abstract Tensor Allocate(params int[] shape);

    /// <summary>What GEMMs multiply in: Float32 (the default) or, on a GPU with tensor cores, Tf32 (<see cref="UsePrecision"/>).</summary>
    public Ops.GemmPrecision Precision { get; private set; }

    /// <summary>Sets <see cref="Precision"/>; Tf32 where this device has no TF32 tensor cores is an <see cref="ArgumentException"/> saying why.</summary>
    public void UsePrecision(Ops.GemmPrecision precision)
    {
        if (precision == Ops.GemmPrecision.Tf32 && !(this is Backends.IlgpuBackend gpu && Ops.Tf32Gemm.Supported(gpu)))
            throw new ArgumentException(Ops.Tf32Gemm.WhyNot(this));
        Precision = precision;
    }

    /// <summary>
    /// A tensor of <paramref name="shape"/> that is elements [offset, offset + its length) of <paramref name="owner"/>: no copy,
    /// writes to either are seen by both. The owner keeps the memory (disposing a view frees nothing). The flat parameter
    /// buffer hands out each parameter's value, gradient and Adam moments this way.
    /// </summary>
    public Tensor View(Tensor owner, int offset, params int[] shape)
    {
        if (owner.Backend != this) throw new ArgumentException($"tensor {owner.ShapeText} lives on {owner.Backend.Kind}, not {Kind}");
        if (shape.Any(d => d < 0)) throw new ArgumentException("negative dimension");
        CheckRange(owner, offset, shape.Aggregate(1, (a, d) => checked(a * d)), "view");
        return MakeView(owner, offset, shape);
    }

    protected abstract Tensor MakeView(Tensor owner, int offset, int[] shape);

    public Tensor Upload(float[] data, params int[] shape)
    {
        var t = Allocate(shape);
        if (data.Length != t.Length) throw new ArgumentException($"{data.Length} values for shape {t.ShapeText}");
        CopyFromHost(data, t);
        return t;
    }

    public abstract void CopyFromHost(ReadOnlySpan<float> source, Tensor destination, int offset = 0);
    public abstract void CopyToHost(Tensor source, Span<float> destination, int offset = 0);

    public float[] Download(Tensor t)
    {
        var host = new float[t.Length];
        CopyToHost(t, host);
        return host;
    }

    /// <summary>
    /// Runs two pieces of work that write nothing in common (the two directions of a bidirectional LSTM layer). A
    /// backend may run them side by side; the base runs them one after the other, which is always correct. Model code
    /// calls this instead of asking which backend it has.
    /// </summary>
    public virtual void RunIndependently(Action first, Action second) { first(); second(); }

    /// <summary>
    /// The error an op throws for a backend it has no case for: it names the op and the backend. Each op picks its
    /// implementation in one <c>switch (backend)</c> whose default throws this (docs/ARCHITECTURE.md, "Adding a backend").
    /// </summary>
    /// <remarks>Never inlined: inlined into a hot op (Gemm.Forward, called per time step) its string building made every call
    /// 10-20 % slower (measured with bench/before-after.sh), though it runs only on the error path.</remarks>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    public static NotSupportedException NotImplemented(string op, Backend backend) =>
        new($"op {op} has no implementation for backend '{backend.Kind}' ({backend.GetType().Name}): add a case for it to the op's switch");

    /// <summary>
    /// Returns the memory of tensors just disposed to the system now. A device's buffers are freed by Dispose itself
    /// (the base does nothing); the managed backend's arrays wait for the garbage collector, which on a machine with
    /// free memory may let hundreds of megabytes of them pile up per batch (see ManagedBackend). Callers that drop
    /// large buffer sets often (<c>FrameModel</c>'s shape cache) call this after disposing them.
    /// </summary>
    public virtual void ReclaimDisposed() { }

    /// <summary>Waits for queued work (a no-op on the managed backend).</summary>
    public abstract void Synchronize();

    public abstract void Dispose();

    protected static void CheckRange(Tensor t, int offset, int length, string what)
    {
        if (offset < 0 || length < 0 || offset > t.Length - length)
            throw new ArgumentOutOfRangeException(what, $"{what}: range [{offset}, {offset + length}) outside tensor {t.ShapeText}");
    }

    /// <summary>Validates a BLAS-style range before an op touches it.</summary>
    public static void Check(Tensor t, int offset, int length, string what) => CheckRange(t, offset, length, what);
}
