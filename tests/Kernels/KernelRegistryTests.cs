using System.Diagnostics;
using System.Text.RegularExpressions;
using MusicGen.Kernels;
using MusicGen.Kernels.Backends;
using MusicGen.Model;

namespace MusicGen.Tests.Kernels;

/// <summary>A fact that is skipped, with the reason, where clang (for the OpenCL C syntax check) is not installed.</summary>
public sealed class ClangFactAttribute : FactAttribute
{
    public ClangFactAttribute() { if (KernelRegistryTests.Clang is null) Skip = "clang is not installed (apt-get install clang-14): the OpenCL C syntax check needs it"; }
}

/// <summary>
/// GPU code proven without a GPU: every registered ILGPU kernel compiles to PTX for three architectures and to OpenCL C,
/// and the registry is exactly the set of kernels the ops load.
/// </summary>
public class KernelRegistryTests
{
    [Theory]
    [InlineData("sm_70", "sm_70")]
    [InlineData("sm_80", "sm_80")]
    // ILGPU 1.5.3 writes ".target sm_80" for SM_90 whatever the instruction set (checked for ISA 7.8 to 8.8); the
    // driver compiles sm_80 PTX for an sm_90 GPU, which is how every kernel ran on an H200 (docs/BENCHMARKS.md).
    [InlineData("sm_90", "sm_80")]
    public void Every_kernel_compiles_to_ptx(string arch, string target)
    {
        var compiled = KernelRegistry.CompilePtx(arch);
        Assert.Equal(KernelRegistry.All.Count(k => k.MinArch <= int.Parse(arch[3..])), compiled.Count);
        Assert.Equal(arch != "sm_70", compiled.Any(c => c.Kernel.Name == "gemm.tf32")); // tensor-core TF32 from sm_80
        foreach (var (kernel, ptx) in compiled)
        {
            Assert.False(string.IsNullOrWhiteSpace(ptx), kernel.Name);
            Assert.Contains($".target {target}", ptx);
            Assert.Matches(@"\.version \d+\.\d+", ptx);
            Assert.Contains($".entry Kernel_{kernel.Method.Name}(", ptx);
            if (kernel.Name == "gemm.tiled") Assert.Contains("bar.sync", ptx);              // the tiled GEMM's barriers
            if (kernel.Name.StartsWith("lstm.fused", StringComparison.Ordinal)) Assert.Contains("shfl.sync", ptx); // the warp sums
            if (kernel.Name == "gemm.tf32") // the tensor-core instruction and the rounding
            {
                Assert.Equal(16, Regex.Matches(ptx, @"mma\.sync\.aligned\.m16n8k8\.row\.col\.f32\.tf32\.tf32\.f32").Count); // a warp tile of 4 x 4 tiles per k-step
                Assert.Contains("cvt.rna.tf32.f32", ptx);
            }
        }
    }

    [Fact]
    public void The_registry_is_exactly_the_kernels_the_ops_load()
    {
        using var be = (IlgpuBackend)TestBackends.Create("ilgpu-cpu");
        SelfTest.Run(be, tiny: true);
        // A step-first categorical model and a regression model, forward and backward, and an optimizer step, with the
        // fused recurrence (the default) and without (a GEMM and a cell kernel per step).
        foreach (var recurrence in new[] { RecurrenceKernel.Fused, RecurrenceKernel.Unfused, RecurrenceKernel.Tiled })
        foreach (var cfg in new[]
                 {
                     new ModelConfig { SeqLen = 3, Layers = 1, Hidden = 3, StepBins = 4, DurationBins = 3, VelocityBins = 2, EmbeddingDim = 2 },
                     new ModelConfig { SeqLen = 3, Layers = 1, Hidden = 3, Heads = HeadKind.Regression, Input = InputKind.Scalar, Bidirectional = false }, // last step: axpy
                 })
        {
            be.Recurrence = recurrence;
            using var model = new MusicModel(be, cfg);
            model.Initialize(1);
            var batch = new Batch(cfg, 2);
            for (int r = 0; r < 6; r++) batch.SetInput(r, new MusicGen.Midi.NoteRow(60 + r, 0.1f, 0.2f, 70), 0, cfg);
            for (int r = 0; r < batch.TargetRows; r++) batch.SetTarget(r, new MusicGen.Midi.NoteRow(62, 0.1f, 0.2f, 70), 0, cfg);
            model.Forward(batch, training: true, 1, 1);
            model.Backward(batch);
            model.GradNorm2();
            model.OptimizerStep(new MusicGen.Kernels.Ops.AdamConfig(1e-3f, MaxGradNorm: 1f), 1);
        }
        // The TF32 GEMM runs only where TF32 is asked for, on a device that has it: here the simulator with 32-lane warps.
        using var warp32 = TestBackends.CreateWarp32Simulator();
        warp32.UsePrecision(MusicGen.Kernels.Ops.GemmPrecision.Tf32);
        using (var x = warp32.Allocate(2, 3)) using (var y = warp32.Allocate(3, 2)) using (var z = warp32.Allocate(2, 2))
            MusicGen.Kernels.Ops.Gemm.Forward(warp32, MatrixView.Of(x, 2, 3), MatrixView.Of(y, 3, 2), MatrixView.Of(z, 2, 2));
        Assert.Empty(KernelRegistry.All.Select(k => k.Name).Except(be.LoadedKernels).Except(warp32.LoadedKernels)); // registered but never loaded
        Assert.Empty(be.LoadedKernels.Except(KernelRegistry.All.Select(k => k.Name)));  // (cannot happen: the backend refuses them)
    }

    [Fact]
    public void A_kernel_outside_the_registry_is_refused()
    {
        using var be = (IlgpuBackend)TestBackends.Create("ilgpu-cpu");
        var e = Assert.Throws<InvalidOperationException>(() => be.Kernel<Action>("not.registered", _ => () => { }));
        Assert.Contains("KernelRegistry", e.Message);
    }

    [Fact]
    public void Every_kernel_compiles_to_opencl_c()
    {
        var compiled = KernelRegistry.CompileOpenCl();
        Assert.Equal(KernelRegistry.All.Count(k => k.OpenCl), compiled.Count);
        Assert.All(KernelRegistry.All.Where(k => !k.OpenCl), k => Assert.True(k.Name.StartsWith("lstm.fused", StringComparison.Ordinal) || k.Name == "gemm.tf32", k.Name)); // only the warp-shuffle and tensor-core kernels are CUDA-only
        Assert.All(compiled, c => Assert.Contains("kernel void", c.Source));
    }

    [ClangFact]
    public void Clang_accepts_every_kernels_opencl_c_as_opencl_2()
    {
        using var dir = new MusicGen.Tests.Corpus.TempDir();
        foreach (var (kernel, source) in KernelRegistry.CompileOpenCl())
        {
            string file = dir.Write($"{kernel.Name}.cl", System.Text.Encoding.UTF8.GetBytes(source));
            var psi = new ProcessStartInfo(Clang!, ["-x", "cl", "-cl-std=CL2.0", "-fsyntax-only", file]) { RedirectStandardError = true, RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            string errors = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"{kernel.Name}: {errors}");
        }
    }

    /// <summary>The clang executable on PATH (clang, or Debian's clang-14..19), or null.</summary>
    public static string? Clang { get; } = new[] { "clang", "clang-19", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14" }
        .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)))
        .FirstOrDefault(File.Exists);
}
