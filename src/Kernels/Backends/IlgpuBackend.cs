using ILGPU;
using ILGPU.Runtime;

namespace MusicGen.Kernels.Backends;

/// <summary>
/// Runs ops as ILGPU kernels on one accelerator (CUDA, OpenCL, or ILGPU's CPU simulator). Each op file
/// loads its kernels through <see cref="Kernel{T}"/>, which compiles once per backend and caches.
/// </summary>
public sealed class IlgpuBackend : Backend
{
    readonly Context _context;
    readonly Dictionary<string, Delegate> _kernels = [];

    public IlgpuBackend(Context context, Accelerator accelerator, string kind)
    {
        _context = context;
        Accelerator = accelerator;
        Kind = kind;
    }

    public Accelerator Accelerator { get; }

    /// <summary>
    /// LSTM layers run each time step as one fused kernel (the recurrent product and the cell together,
    /// <see cref="Ops.LstmRecurrence"/>) instead of a GEMM launch plus a cell launch. Off by default: on an H200 the
    /// fused step measured slower (9.6 against 6.4 ms per seed-network training step; docs/BENCHMARKS.md), because one
    /// thread per (row, unit) leaves the GPU nearly empty at B*H = 8,192 and each thread's 128- or 512-long dot product
    /// waits on memory. Kept, proven, as the starting point of a split-K or persistent version.
    /// </summary>
    public bool FusedRecurrence { get; set; }

    /// <summary>Kernel launches so far (every op asks <see cref="Kernel{T}"/> for its kernel right before each launch).</summary>
    public long Launches => Interlocked.Read(ref _launches);
    long _launches;

    /// <summary>Launches so far per kernel key (what a launch count is made of).</summary>
    public IReadOnlyDictionary<string, long> LaunchesByKernel { get { lock (_kernels) return new Dictionary<string, long>(_byKernel); } }
    readonly Dictionary<string, long> _byKernel = [];

    public override string Name => Accelerator.Name;
    public override string Kind { get; }

    public override Tensor Allocate(params int[] shape) => new IlgpuTensor(this, Accelerator, shape);

    public static IlgpuTensor Of(Tensor t) => t as IlgpuTensor ?? throw new ArgumentException($"tensor {t.ShapeText} lives on {t.Backend.Kind}, not an ILGPU device");

    public override void CopyFromHost(ReadOnlySpan<float> source, Tensor destination, int offset = 0)
    {
        CheckRange(destination, offset, source.Length, "destination");
        if (source.Length == 0) return;
        Of(destination).View.SubView(offset, source.Length).CopyFromCPU(source.ToArray());
    }

    public override void CopyToHost(Tensor source, Span<float> destination, int offset = 0)
    {
        CheckRange(source, offset, destination.Length, "source");
        if (destination.Length == 0) return;
        var host = new float[destination.Length];
        Of(source).View.SubView(offset, destination.Length).CopyToCPU(host);
        host.CopyTo(destination);
    }

    /// <summary>The compiled kernel for <paramref name="key"/>, loading it on first use. The key must be in <see cref="KernelRegistry"/>.</summary>
    /// <summary>The keys of the kernels this backend has loaded so far.</summary>
    public IReadOnlyCollection<string> LoadedKernels { get { lock (_kernels) return _kernels.Keys.ToArray(); } }

    public T Kernel<T>(string key, Func<Accelerator, T> load) where T : Delegate
    {
        if (!KernelRegistry.Contains(key)) throw new InvalidOperationException($"kernel '{key}' is not in KernelRegistry: add it there (the PTX test and `musicgen kernels` read that list)");
        Interlocked.Increment(ref _launches);
        lock (_kernels)
        {
            _byKernel[key] = _byKernel.GetValueOrDefault(key) + 1;
            if (!_kernels.TryGetValue(key, out var kernel)) _kernels[key] = kernel = load(Accelerator);
            return (T)kernel;
        }
    }

    public override void Synchronize() => Accelerator.Synchronize();

    public override void Dispose()
    {
        Accelerator.Dispose();
        _context.Dispose();
    }
}
