using ILGPU;
using ILGPU.Runtime;

namespace MusicGen.Kernels.Backends;

/// <summary>
/// How an LSTM time step's recurrence runs on an ILGPU device (<see cref="IlgpuBackend.Recurrence"/>):
/// Unfused: the recurrent GEMM, then the cell kernel (two launches);
/// Fused: one launch, a warp per (b, j) doing its dot products and the cell (<see cref="Ops.LstmRecurrence"/>);
/// Tiled: one launch, the register-blocked GEMM with the cell run on its outputs (<see cref="Ops.LstmTileStep"/>);
/// Auto: whichever measured faster for the hidden size (<see cref="IlgpuBackend.RecurrenceFor"/>).
/// </summary>
public enum RecurrenceKernel { Auto, Unfused, Fused, Tiled }

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
    /// How LSTM layers run a time step's recurrence (<see cref="RecurrenceKernel"/>). Auto, the default, is "where it
    /// measured faster": the fused warp-per-unit kernel for hidden sizes up to <see cref="FusedUpToHidden"/> on CUDA,
    /// else the GEMM + cell pair. Measured on an H200 (docs/BENCHMARKS.md, section 6): 5.4 against 6.4 ms per
    /// seed-network training step (H=128), 10.2 against 11.7 (H=256), but 258 against 234 ms at H=512, where one warp per
    /// unit re-reads too much of W_hh. Tiled (<see cref="Ops.LstmTileStep"/>) has not been timed on a GPU, so Auto never
    /// picks it.
    /// </summary>
    public RecurrenceKernel Recurrence { get; set; }

    /// <summary>
    /// The block tile side of the register-blocked GEMM on a GPU: 64 or 128, or null (the default) for
    /// <see cref="Ops.BlockedGemm.SideFor"/>'s choice per shape. For `bench gemm --tile` and the tests.
    /// </summary>
    public int? GemmTile
    {
        get => _gemmTile;
        set => _gemmTile = value is null or 64 or 128 ? value : throw new ArgumentException($"GEMM tile {value}: choose 64 or 128");
    }
    int? _gemmTile;

    /// <summary>The largest hidden size the automatic choice fuses.</summary>
    public const int FusedUpToHidden = 256;

    /// <summary>
    /// The recurrence a layer of <paramref name="hidden"/> units runs here: <see cref="Recurrence"/>, with Auto resolved,
    /// and Fused never on OpenCL (ILGPU cannot generate its warp shuffles there: the GEMM + cell pair instead).
    /// </summary>
    public RecurrenceKernel RecurrenceFor(int hidden) => Recurrence switch
    {
        RecurrenceKernel.Fused when Kind == "opencl" => RecurrenceKernel.Unfused,
        RecurrenceKernel.Auto => Kind == "cuda" && hidden <= FusedUpToHidden ? RecurrenceKernel.Fused : RecurrenceKernel.Unfused,
        var chosen => chosen,
    };

    /// <summary>Kernel launches so far (every op asks <see cref="Kernel{T}"/> for its kernel right before each launch).</summary>
    public long Launches => Interlocked.Read(ref _launches);
    long _launches;

    /// <summary>Launches so far per kernel key (what a launch count is made of).</summary>
    public IReadOnlyDictionary<string, long> LaunchesByKernel { get { lock (_kernels) return new Dictionary<string, long>(_byKernel); } }
    readonly Dictionary<string, long> _byKernel = [];

    public override string Name => Accelerator.Name;
    public override string Kind { get; }

    public override Tensor Allocate(params int[] shape) => new IlgpuTensor(this, Accelerator, shape);
    protected override Tensor MakeView(Tensor owner, int offset, int[] shape) => new IlgpuTensor(Of(owner), offset, shape);

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
