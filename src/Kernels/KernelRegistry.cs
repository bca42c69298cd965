using System.Reflection;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using ILGPU.Algorithms;
using MusicGen.Kernels.Ops;

namespace MusicGen.Kernels;

/// <summary>
/// How a kernel's threads are laid out: "implicit" kernels take an index and ILGPU picks the groups
/// (LoadAutoGroupedStreamKernel); "explicit" kernels choose their groups and may share memory and barriers (LoadStreamKernel).
/// </summary>
public enum KernelGrouping { Implicit, Explicit }

/// <summary>One ILGPU kernel: the key the ops load it by, the C# method that is compiled, and its grouping.</summary>
/// <param name="OpenCl">False for a kernel ILGPU 1.5's OpenCL backend cannot generate (warp shuffles, inline PTX): OpenCL
/// devices run another path instead.</param>
/// <param name="MinArch">The oldest CUDA architecture whose PTX has its instructions (80: the TF32 tensor-core <c>mma</c>);
/// 0 for every architecture ILGPU targets.</param>
public sealed record KernelInfo(string Name, MethodInfo Method, KernelGrouping Grouping, bool OpenCl = true, int MinArch = 0)
{
    public EntryPointDescription EntryPoint => Grouping == KernelGrouping.Implicit
        ? EntryPointDescription.FromImplicitlyGroupedKernel(Method)
        : EntryPointDescription.FromExplicitlyGroupedKernel(Method);
}

/// <summary>
/// Every ILGPU kernel the ops use, in one list. <see cref="Backends.IlgpuBackend.Kernel{T}"/> refuses a key that is not
/// here, so a new kernel cannot be forgotten by the PTX test (every kernel compiled for sm_70, sm_80 and sm_90 on the
/// CPU-only CI), by <c>musicgen kernels</c>, or by the docs.
/// </summary>
public static class KernelRegistry
{
    public static IReadOnlyList<KernelInfo> All { get; } =
    [
        K("gemm.tiled", typeof(Gemm), "TiledKernel", KernelGrouping.Explicit),
        K("gemm.blocked", typeof(BlockedGemm), "Kernel", KernelGrouping.Explicit),
        K("gemm.tf32", typeof(Tf32Gemm), "Kernel", KernelGrouping.Explicit, openCl: false, minArch: 80),
        K("lstm.step.forward", typeof(LstmCell), "ForwardKernel"),
        K("lstm.step.backward", typeof(LstmCell), "BackwardKernel"),
        K("lstm.fused.forward", typeof(LstmRecurrence), "ForwardKernel", KernelGrouping.Explicit, openCl: false),
        K("lstm.fused.backward", typeof(LstmRecurrence), "BackwardKernel", KernelGrouping.Explicit, openCl: false),
        K("lstm.tile.forward", typeof(LstmTileStep), "ForwardKernel", KernelGrouping.Explicit),
        K("lstm.tile.backward", typeof(LstmTileStep), "BackwardKernel", KernelGrouping.Explicit),
        K("layernorm.forward", typeof(LayerNorm), "ForwardKernel"),
        K("layernorm.backward.input", typeof(LayerNorm), "BackwardInputKernel"),
        K("layernorm.backward.params", typeof(LayerNorm), "BackwardParamsKernel"),
        K("dropout.forward", typeof(Dropout), "Kernel"),
        K("dropout.backward", typeof(Dropout), "Kernel"),
        K("loss.multihead", typeof(MultiHeadLoss), "Kernel"),
        K("loss.categorical", typeof(CategoricalLoss), "Kernel"),
        K("loss.bce", typeof(BinaryCrossEntropy), "Kernel"),
        K("conditioning.forward", typeof(ClassConditioning), "ForwardKernel"),
        K("conditioning.backward", typeof(ClassConditioning), "BackwardKernel"),
        K("attention.forward.weights", typeof(AdditiveAttention), "WeightsKernel"),
        K("attention.forward.context", typeof(AdditiveAttention), "ContextKernel"),
        K("attention.backward.scores", typeof(AdditiveAttention), "ScoreGradientKernel"),
        K("attention.backward.queries", typeof(AdditiveAttention), "QueryGradientKernel"),
        K("attention.backward.keys", typeof(AdditiveAttention), "KeyGradientKernel"),
        K("attention.backward.values", typeof(AdditiveAttention), "ValueGradientKernel"),
        K("attention.backward.scale", typeof(AdditiveAttention), "ScaleGradientKernel"),
        K("nade.forward.hidden", typeof(Nade), "HiddenKernel"),
        K("nade.forward.logits", typeof(Nade), "LogitsKernel"),
        K("nade.backward.hidden", typeof(Nade), "HiddenGradientKernel"),
        K("nade.backward.output", typeof(Nade), "OutputWeightGradientKernel"),
        K("nade.backward.input", typeof(Nade), "InputWeightGradientKernel"),
        K("adam.sumsq.partial", typeof(Adam), "PartialKernel"),
        K("adam.sumsq.finish", typeof(Adam), "FinishKernel"),
        K("adam.step", typeof(Adam), "StepKernel"),
        K("fill", typeof(Elementwise), "FillKernel"),
        K("sumrows", typeof(Elementwise), "SumRowsKernel"),
        K("glue.axpy", typeof(Glue), "AxpyKernel"),
        K("glue.addbias", typeof(Glue), "AddBiasKernel"),
        K("glue.concat", typeof(Glue), "ConcatKernel"),
        K("glue.ends", typeof(Glue), "EndsKernel"),
        K("glue.transpose", typeof(Glue), "TransposeKernel"),
        K("glue.embedding.forward", typeof(Glue), "EmbeddingForwardKernel"),
        K("glue.embedding.backward", typeof(Glue), "EmbeddingBackwardKernel"),
    ];

    static KernelInfo K(string name, Type type, string method, KernelGrouping grouping = KernelGrouping.Implicit, bool openCl = true, int minArch = 0) =>
        new(name, type.GetMethod(method, BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static)
                  ?? throw new MissingMethodException(type.FullName, method), grouping, openCl, minArch);

    static readonly HashSet<string> Names = All.Select(k => k.Name).ToHashSet(StringComparer.Ordinal);

    public static bool Contains(string name) => Names.Contains(name);

    /// <summary>The architectures the tests compile for, each with the PTX instruction set that introduced it.</summary>
    public static readonly IReadOnlyDictionary<string, (CudaArchitecture Arch, CudaInstructionSet Isa)> Architectures =
        new Dictionary<string, (CudaArchitecture, CudaInstructionSet)>
        {
            ["sm_70"] = (CudaArchitecture.SM_70, CudaInstructionSet.ISA_70),
            ["sm_75"] = (CudaArchitecture.SM_75, CudaInstructionSet.ISA_70),
            ["sm_80"] = (CudaArchitecture.SM_80, CudaInstructionSet.ISA_70),
            ["sm_86"] = (CudaArchitecture.SM_86, CudaInstructionSet.ISA_71),
            ["sm_89"] = (CudaArchitecture.SM_89, CudaInstructionSet.ISA_78),
            ["sm_90"] = (CudaArchitecture.SM_90, CudaInstructionSet.ISA_78),
        };

    /// <summary>The registered kernels a GPU of <paramref name="arch"/> (e.g. "sm_75") can run: all but those whose <see cref="KernelInfo.MinArch"/> is newer.</summary>
    public static IEnumerable<KernelInfo> For(string arch) => All.Where(k => k.MinArch <= int.Parse(arch.AsSpan(3)));

    /// <summary>Compiles every registered kernel that <paramref name="arch"/> (e.g. "sm_90") can run (<see cref="For"/>) to PTX, with no GPU: name -> PTX text.</summary>
    /// <paramref name="precision"/> picks ILGPU's optimization level as <see cref="Devices.Create(string, GemmPrecision)"/> does.
    public static IReadOnlyList<(KernelInfo Kernel, string Ptx)> CompilePtx(string arch, GemmPrecision precision = GemmPrecision.Float32)
    {
        if (!Architectures.TryGetValue(arch, out var target))
            throw new ArgumentException($"architecture '{arch}': choose {string.Join(", ", Architectures.Keys)}");
        using var context = Devices.CreateContext(Devices.OptimizationFor(precision)); // as Devices makes it
        var backend = new PTXBackend(context, new CudaCapabilityContext(target.Arch), target.Arch, target.Isa, null);
        try
        {
            return For(arch).Select(k =>
            {
                var compiled = (PTXCompiledKernel)backend.Compile(k.EntryPoint, KernelSpecialization.Empty);
                return (k, compiled.PTXAssembly);
            }).ToList();
        }
        finally { backend.Dispose(); }
    }

    /// <summary>Compiles every registered kernel that OpenCL devices run (<see cref="KernelInfo.OpenCl"/>) to OpenCL C 2.0 source, with no device.</summary>
    public static IReadOnlyList<(KernelInfo Kernel, string Source)> CompileOpenCl()
    {
        using var context = Context.Create(b => b.Default().EnableAlgorithms()); // as Devices makes it: the math intrinsics come from ILGPU.Algorithms
        var capabilities = new CLCapabilityContext(float16: false, float64: true, genericAddressSpace: true, int64_Atomics: false, subGroups: false);
        var backend = new CLBackend(context, capabilities, CLDeviceVendor.Other, CLCVersion.CL20);
        try
        {
            return All.Where(k => k.OpenCl).Select(k =>
            {
                var compiled = (CLCompiledKernel)backend.Compile(k.EntryPoint, KernelSpecialization.Empty);
                return (k, compiled.Source);
            }).ToList();
        }
        finally { backend.Dispose(); }
    }
}
