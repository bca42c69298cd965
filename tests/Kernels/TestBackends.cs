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

    /// <summary>ILGPU's CPU simulator with 32-lane warps, where the TF32 GEMM's tensor cores are emulated (<see cref="Devices.CreateTensorCoreSimulator"/>); tiny shapes only.</summary>
    public static IlgpuBackend CreateWarp32Simulator() => Devices.CreateTensorCoreSimulator();
}
