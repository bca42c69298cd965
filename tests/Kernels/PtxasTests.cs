using System.Diagnostics;
using System.Text.RegularExpressions;
using MusicGen.Kernels;

namespace MusicGen.Tests.Kernels;

/// <summary>A fact that needs NVIDIA's PTX assembler (Debian's nvidia-cuda-toolkit, which .ci/run installs); skipped without it.</summary>
public sealed class PtxasFactAttribute : FactAttribute
{
    public static string? Ptxas { get; } = Find();
    public PtxasFactAttribute() { if (Ptxas is null) Skip = "ptxas not found (apt-get install nvidia-cuda-toolkit, from Debian's non-free component)"; }

    static string? Find() => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(d => Path.Combine(d, "ptxas")).FirstOrDefault(File.Exists);
}

/// <summary>
/// What a GPU would run, checked without one: ptxas assembles the PTX that ILGPU emits and reports each kernel's
/// registers, spills and stack frame (the figures in docs/BENCHMARKS.md, "What ptxas says").
/// </summary>
public class PtxasTests
{
    public static (int Registers, int SpillStores, int SpillLoads, int Stack) Assemble(string ptx, string arch) => Assemble(ptx, arch, out _);

    /// <summary>Assembles <paramref name="ptx"/> and gives ptxas's figures, and the machine code (cuobjdump -sass) in <paramref name="sass"/>.</summary>
    public static (int Registers, int SpillStores, int SpillLoads, int Stack) Assemble(string ptx, string arch, out string sass)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"mg-ptxas-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "k.ptx"), ptx);
            var p = Process.Start(new ProcessStartInfo(PtxasFactAttribute.Ptxas!, $"-arch={arch} -v k.ptx -o k.cubin")
            {
                WorkingDirectory = dir, RedirectStandardError = true, RedirectStandardOutput = true,
            })!;
            string report = p.StandardError.ReadToEnd() + p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, report);
            int Num(string pattern) => int.Parse(Regex.Match(report, pattern).Groups[1].Value);
            var dump = Process.Start(new ProcessStartInfo(Path.Combine(Path.GetDirectoryName(PtxasFactAttribute.Ptxas)!, "cuobjdump"), "-sass k.cubin")
            {
                WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true,
            })!;
            sass = dump.StandardOutput.ReadToEnd();
            dump.WaitForExit();
            return (Num(@"Used (\d+) registers"), Num(@"(\d+) bytes spill stores"), Num(@"(\d+) bytes spill loads"), Num(@"(\d+) bytes stack frame"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [PtxasFact]
    public void The_blocked_gemm_and_the_tiled_lstm_steps_keep_their_micro_tiles_in_registers_on_sm_80_and_sm_90()
    {
        foreach (var arch in new[] { "sm_80", "sm_90" })
        {
            // The GEMM, and the LSTM steps that run the cell on its tiles (LstmTileStep).
            foreach (var (kernel, ptx) in KernelRegistry.CompilePtx(arch).Where(k => k.Kernel.Name is "gemm.blocked" or "lstm.tile.forward" or "lstm.tile.backward"))
            {
                var (registers, stores, loads, stack) = Assemble(ptx, arch);
                // 64 accumulators and 16 operands live in registers: no spill, no stack, and few enough registers that
                // 256-thread groups still fit two to a multiprocessor (65,536 registers: at most 128 each).
                Assert.True(stores == 0 && loads == 0 && stack == 0, $"{kernel.Name} {arch}: {stores} B spill stores, {loads} B spill loads, {stack} B stack");
                Assert.InRange(registers, 80, 128);
            }
        }
    }

    [PtxasFact]
    public void The_tf32_gemm_runs_on_tensor_cores_with_every_operand_in_registers_on_sm_80_and_sm_90()
    {
        foreach (var arch in new[] { "sm_80", "sm_90" })
        {
            // Compiled as a --precision tf32 device compiles it (ILGPU at O2: Devices.OptimizationFor).
            var ptx = KernelRegistry.CompilePtx(arch, MusicGen.Kernels.Ops.GemmPrecision.Tf32).Single(k => k.Kernel.Name == "gemm.tf32").Ptx;
            var (registers, stores, loads, stack) = Assemble(ptx, arch, out string sass);
            Assert.True(stores == 0 && loads == 0 && stack == 0, $"{arch}: {stores} B spill stores, {loads} B spill loads, {stack} B stack");
            Assert.InRange(registers, 64, 128); // 64 accumulators; 256-thread groups two to a multiprocessor
            // 16 tensor-core instructions per k-step of 8 (a warp tile of 4 x 4 tiles of 16 x 8), no local memory, and only
            // the two barriers of the double buffer: the emulation path is gone from the machine code.
            Assert.Equal(16, Regex.Matches(sass, @"HMMA\.1688\.F32\.TF32").Count);
            Assert.DoesNotMatch(@"\b(LDL|STL)\b", sass);
            Assert.Equal(2, Regex.Matches(sass, @"\bBAR\.SYNC").Count);
        }
    }

    [PtxasFact]
    public void Every_kernel_assembles_for_sm_90_without_spilling()
    {
        foreach (var (kernel, ptx) in KernelRegistry.CompilePtx("sm_90"))
        {
            var (_, stores, loads, _) = Assemble(ptx, "sm_90");
            Assert.True(stores == 0 && loads == 0, $"{kernel.Name}: {stores} B spill stores, {loads} B spill loads");
        }
    }
}
