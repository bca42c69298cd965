using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;
using MusicGen.Kernels.Ops;
using ILGPU.Runtime.CPU;

namespace MusicGen.Kernels;

/// <summary>One device `musicgen devices` lists.</summary>
public sealed record DeviceInfo(string Kind, string Name, long MemoryBytes, int ComputeUnits, string Backend);

/// <summary>
/// Device discovery and the --device switch: auto | cpu | cuda | opencl | ilgpu-cpu.
/// auto picks CUDA, then OpenCL, then the managed CPU backend. An unknown or absent device is an
/// <see cref="ArgumentException"/> with a one-line message.
/// </summary>
public static class Devices
{
    public static readonly string[] Kinds = ["auto", "cpu", "cuda", "opencl", "ilgpu-cpu"];

    public static IReadOnlyList<DeviceInfo> List()
    {
        var list = new List<DeviceInfo>
        {
            new("cpu", new ManagedBackend().Name, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, Environment.ProcessorCount, "managed SIMD"),
        };
        using var context = CreateContext();
        foreach (var device in context)
            list.Add(new DeviceInfo(KindOf(device.AcceleratorType), device.Name, device.MemorySize,
                device.AcceleratorType == AcceleratorType.CPU ? Environment.ProcessorCount : device.NumMultiprocessors, "ILGPU"));
        return list;
    }

    /// <summary>
    /// The backend for <paramref name="kind"/>, multiplying in <paramref name="precision"/>: TF32 where the device has no
    /// TF32 tensor cores is an <see cref="ArgumentException"/> with the reason (<see cref="Backend.UsePrecision"/>).
    /// </summary>
    /// On ilgpu-cpu, TF32 runs on <see cref="CreateTensorCoreSimulator"/> (the emulated tensor cores need 32-lane warps).
    public static Backend Create(string kind, GemmPrecision precision = GemmPrecision.Float32)
    {
        var backend = precision == GemmPrecision.Tf32 && kind.Trim().Equals("ilgpu-cpu", StringComparison.OrdinalIgnoreCase)
            ? CreateTensorCoreSimulator() : Create(kind, OptimizationFor(precision));
        try { backend.UsePrecision(precision); }
        catch { backend.Dispose(); throw; }
        return backend;
    }

    /// <summary>
    /// ILGPU's CPU simulator laid out like one multiprocessor of an NVIDIA GPU in miniature: 32-lane warps, 4 warps to a
    /// group (plain ilgpu-cpu has 4-lane warps and groups of 16). <see cref="Tf32Gemm"/> runs here with its warp-wide
    /// tensor-core instruction emulated from the PTX ISA's fragment layout; thousands of times slower than a GPU.
    /// </summary>
    public static IlgpuBackend CreateTensorCoreSimulator() => CreateSimulator(warpsPerGroup: 4);

    /// <summary>
    /// ILGPU's CPU simulator with 32-lane warps and <paramref name="warpsPerGroup"/> warps to a group: 4 for
    /// <see cref="CreateTensorCoreSimulator"/>; 8 (groups of 256, a GPU's) runs the GPU's block tiles of
    /// <see cref="BlockedGemm"/> (64 and 128) on the CPU, for their tests. Thousands of times slower than a GPU.
    /// </summary>
    public static IlgpuBackend CreateSimulator(int warpsPerGroup)
    {
        var context = Context.Create(b => b.CPU(new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: warpsPerGroup, numMultiprocessors: 1)).EnableAlgorithms());
        return new IlgpuBackend(context, context.Devices[0].CreateAccelerator(context), "ilgpu-cpu");
    }

    /// <summary>Throws what <see cref="Create(string, GemmPrecision)"/> would for <paramref name="precision"/> on <paramref name="kind"/>, before any work (it starts the device and lets it go).</summary>
    public static void CheckPrecision(string kind, GemmPrecision precision)
    {
        if (precision == GemmPrecision.Float32) return;
        using var _ = Create(kind, precision);
    }

    /// <summary>
    /// How hard ILGPU optimizes the kernels it compiles: O1 (its default, what the float32 kernels were measured with) or,
    /// for TF32, O2: only O2 turns the operands of the inline-PTX <c>mma</c> (which ILGPU passes through local memory) back
    /// into registers; at O1 ptxas keeps 656 bytes of stack and loads and stores around every tensor-core instruction.
    /// </summary>
    public static OptimizationLevel OptimizationFor(GemmPrecision precision) => precision == GemmPrecision.Tf32 ? OptimizationLevel.O2 : OptimizationLevel.O1;

    static Backend Create(string kind, OptimizationLevel optimization)
    {
        kind = kind.Trim().ToLowerInvariant();
        if (!Kinds.Contains(kind)) throw new ArgumentException($"unknown device '{kind}' (choose from {string.Join(", ", Kinds)})");
        if (kind == "cpu") return new ManagedBackend();

        var context = CreateContext(optimization);
        try
        {
            Device? pick(AcceleratorType type) => context.Devices.FirstOrDefault(d => d.AcceleratorType == type);
            Device? device = kind switch
            {
                "cuda" => pick(AcceleratorType.Cuda),
                "opencl" => pick(AcceleratorType.OpenCL),
                "ilgpu-cpu" => pick(AcceleratorType.CPU),
                _ => pick(AcceleratorType.Cuda) ?? pick(AcceleratorType.OpenCL),
            };
            if (device is null)
            {
                context.Dispose();
                if (kind == "auto") return new ManagedBackend();
                throw new ArgumentException($"no {kind} device found (see `musicgen devices`)");
            }
            return new IlgpuBackend(context, device.CreateAccelerator(context), KindOf(device.AcceleratorType));
        }
        catch (Exception e) when (e is not ArgumentException)
        {
            context.Dispose();
            throw new ArgumentException($"could not start device '{kind}': {e.Message}");
        }
    }

    /// <summary>An ILGPU context as the devices are made: every accelerator, ILGPU.Algorithms' math intrinsics, and the optimization level.</summary>
    public static Context CreateContext(OptimizationLevel optimization = OptimizationLevel.O1) => Context.Create(b => b.Default().EnableAlgorithms().Optimize(optimization));

    static string KindOf(AcceleratorType t) => t switch
    {
        AcceleratorType.Cuda => "cuda",
        AcceleratorType.OpenCL => "opencl",
        _ => "ilgpu-cpu",
    };
}
