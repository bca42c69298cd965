using ILGPU;
using ILGPU.Runtime.CPU;
using MusicGen.Kernels;
using MusicGen.Kernels.Backends;

namespace MusicGen.Tests.Kernels;

/// <summary>
/// The backends every conformance test runs on. "ilgpu-cpu" is ILGPU's CPU accelerator: it simulates
/// GPU threads (very slowly), so tests give it tiny shapes only. CUDA is verified by `musicgen selftest`
/// on a GPU machine.
/// </summary>
public static class TestBackends
{
    public static Backend Create(string kind) => Devices.Create(kind);

    /// <summary>
    /// ILGPU's CPU simulator laid out like an NVIDIA GPU's multiprocessor in miniature: 32-lane warps, 4 warps to a group
    /// (`--device ilgpu-cpu` has 4-lane warps and groups of 16). The TF32 tensor-core GEMM runs here with its warp-wide
    /// instruction emulated (<see cref="MusicGen.Kernels.Ops.Tf32Gemm.Mma"/>); tiny shapes only.
    /// </summary>
    public static IlgpuBackend CreateWarp32Simulator()
    {
        var context = Context.Create(b => b.CPU(new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 4, numMultiprocessors: 1)).EnableAlgorithms());
        return new IlgpuBackend(context, context.GetCPUDevice(0).CreateAccelerator(context), "ilgpu-cpu");
    }
}
