namespace MusicGen.Kernels.Backends;

/// <summary>
/// The CPU path users run: tensors are float[]; ops use System.Numerics.Tensors.TensorPrimitives
/// (SIMD) and Parallel.For over rows. Deterministic: every reduction has a fixed order.
/// </summary>
public sealed class ManagedBackend(int threads = 0) : Backend
{
    /// <summary>Worker threads: the constructor's argument, else $MUSICGEN_THREADS, else one per core.</summary>
    public int Threads { get; } = threads > 0 ? threads
        : int.TryParse(Environment.GetEnvironmentVariable("MUSICGEN_THREADS"), out int t) && t > 0 ? t : Environment.ProcessorCount;
    public override string Name => $"managed CPU ({Threads} threads, {System.Numerics.Vector<float>.Count * 32}-bit SIMD)";
    public override string Kind => "cpu";

    public override Tensor Allocate(params int[] shape) => new ManagedTensor(this, shape);
    protected override Tensor MakeView(Tensor owner, int offset, int[] shape) => new ManagedTensor(Of(owner), offset, shape);

    /// <summary>
    /// A full, blocking, non-compacting collection. Disposed managed tensors are plain float arrays on the large-object
    /// heap, freed only by a full collection, which .NET runs when it sees fit: a MuseData frame run that dropped a
    /// buffer set per batch grew to 10.9 GB resident with 2-4 GB in use. Float arrays hold no references, so the
    /// collection has little to trace.
    /// </summary>
    public override void ReclaimDisposed() => GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);

    public static ManagedTensor Of(Tensor t) => t as ManagedTensor ?? throw new ArgumentException($"tensor {t.ShapeText} lives on {t.Backend.Kind}, not the managed backend");

    public override void CopyFromHost(ReadOnlySpan<float> source, Tensor destination, int offset = 0)
    {
        CheckRange(destination, offset, source.Length, "destination");
        source.CopyTo(Of(destination).Span(offset, source.Length));
    }

    public override void CopyToHost(Tensor source, Span<float> destination, int offset = 0)
    {
        CheckRange(source, offset, destination.Length, "source");
        Of(source).Span(offset, destination.Length).CopyTo(destination);
    }

    public override void Synchronize() { }
    public override void Dispose() { }

    /// <summary>Set on a thread while it runs one of <see cref="Concurrently"/>'s actions: its ops then run on that thread alone.</summary>
    [ThreadStatic] static bool t_oneThreadEach;

    /// <summary>
    /// Runs two independent pieces of work (the two directions of a bidirectional LSTM layer) side by side, one per
    /// thread, each op inside them on its own thread only; with one thread, one after the other. For many small ops this
    /// beats splitting every op over the threads (a fork and join per op). The two must not write the same tensors.
    /// </summary>
    public override void RunIndependently(Action first, Action second) => Concurrently(first, second);

    /// <summary>See <see cref="RunIndependently"/>.</summary>
    public void Concurrently(Action first, Action second)
    {
        if (Threads < 2 || t_oneThreadEach) { first(); second(); return; }
        void Alone(Action a) { t_oneThreadEach = true; try { a(); } finally { t_oneThreadEach = false; } }
        Parallel.Invoke(new ParallelOptions { MaxDegreeOfParallelism = 2 }, () => Alone(first), () => Alone(second));
    }

    /// <summary>Runs body(i) for i in [0, count), on several threads only when the work is big enough to pay for them.</summary>
    public void For(int count, long workPerItem, Action<int> body)
    {
        if (Threads == 1 || t_oneThreadEach || count < 2 || count * workPerItem < 32_768)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Threads }, body);
    }
}
