using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

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

    public static Backend Create(string kind)
    {
        kind = kind.Trim().ToLowerInvariant();
        if (!Kinds.Contains(kind)) throw new ArgumentException($"unknown device '{kind}' (choose from {string.Join(", ", Kinds)})");
        if (kind == "cpu") return new ManagedBackend();

        var context = CreateContext();
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

    static Context CreateContext() => Context.Create(b => b.Default().EnableAlgorithms());

    static string KindOf(AcceleratorType t) => t switch
    {
        AcceleratorType.Cuda => "cuda",
        AcceleratorType.OpenCL => "opencl",
        _ => "ilgpu-cpu",
    };
}
