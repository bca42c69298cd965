using System.CommandLine;
using MusicGen.Kernels;
using Spectre.Console;

namespace MusicGen.Cli.Commands;

/// <summary>
/// <c>musicgen kernels [--ptx DIR [--arch sm_90]] [--opencl DIR]</c>: the registered ILGPU kernels, and what a GPU runs
/// for each: PTX (compiled here, without a GPU) or OpenCL C source, one file per kernel.
/// </summary>
public static class KernelsCommand
{
    public static Command Build()
    {
        var ptx = new Option<string?>("--ptx") { Description = "Write each kernel's PTX to this folder (<name>.<arch>.ptx)" };
        var arch = new Option<string>("--arch") { Description = $"PTX target: {string.Join(", ", KernelRegistry.Architectures.Keys)}", DefaultValueFactory = _ => "sm_90" };
        var opencl = new Option<string?>("--opencl") { Description = "Write each kernel's OpenCL C 2.0 source to this folder (<name>.cl)" };
        var precision = new Option<string>("--precision") { Description = "With --ptx: compile as a device of this precision does (tf32: ILGPU at O2, which the tensor-core GEMM needs; float32: O1)", DefaultValueFactory = _ => "float32" };
        var cmd = new Command("kernels", "List the ILGPU kernels, and write the PTX (or OpenCL C) each compiles to, without a GPU") { ptx, arch, precision, opencl };
        cmd.SetAction(p => Cli.Run(() =>
        {
            var table = new Table().AddColumns("kernel", "C# method", "grouping");
            foreach (var k in KernelRegistry.All)
                table.AddRow(k.Name, $"{k.Method.DeclaringType!.Name}.{k.Method.Name}", k.Grouping.ToString().ToLowerInvariant());
            AnsiConsole.Write(table);
            Console.WriteLine($"{KernelRegistry.All.Count} kernels");
            if (p.GetValue(ptx) is string dir)
            {
                string a = p.GetValue(arch)!;
                if (!KernelRegistry.Architectures.ContainsKey(a)) return Cli.Error($"--arch '{a}': choose {string.Join(", ", KernelRegistry.Architectures.Keys)}");
                Directory.CreateDirectory(dir);
                long bytes = 0;
                foreach (var (k, text) in KernelRegistry.CompilePtx(a, DevicesCommand.Precision(p.GetValue(precision)!)))
                {
                    File.WriteAllText(Path.Combine(dir, $"{k.Name}.{a}.ptx"), text);
                    bytes += text.Length;
                }
                var left = KernelRegistry.All.Except(KernelRegistry.For(a)).Select(k => $"{k.Name} (sm_{k.MinArch} and newer)").ToList();
                Console.WriteLine($"{dir}: {KernelRegistry.For(a).Count()} PTX files for {a} ({bytes:N0} characters){(left.Count > 0 ? "; not " + string.Join(", ", left) : "")}");
            }
            if (p.GetValue(opencl) is string clDir)
            {
                Directory.CreateDirectory(clDir);
                var sources = KernelRegistry.CompileOpenCl();
                foreach (var (k, text) in sources) File.WriteAllText(Path.Combine(clDir, $"{k.Name}.cl"), text);
                Console.WriteLine($"{clDir}: {sources.Count} OpenCL C files (not {string.Join(", ", KernelRegistry.All.Where(k => !k.OpenCl).Select(k => k.Name))}: warp shuffles and inline PTX, which ILGPU's OpenCL backend cannot generate)");
            }
            return Cli.Ok;
        }));
        return cmd;
    }
}
