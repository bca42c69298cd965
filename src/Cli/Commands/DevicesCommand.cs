using System.CommandLine;
using System.Globalization;
using MusicGen.Kernels;
using Spectre.Console;

namespace MusicGen.Cli.Commands;

/// <summary><c>musicgen devices</c>: what --device can select on this machine.</summary>
public static class DevicesCommand
{
    public static Command Build()
    {
        var command = new Command("devices", "List the compute devices MusicGen can use (--device cpu | cuda | opencl | ilgpu-cpu)");
        command.SetAction(_ => Cli.Run(() =>
        {
            var table = new Table().AddColumns("--device", "name", "memory", "compute units", "backend");
            foreach (var d in Devices.List())
                table.AddRow(d.Kind, Markup.Escape(d.Name), d.MemoryBytes >= long.MaxValue / 2 ? "host" : (d.MemoryBytes / 1048576.0 / 1024).ToString("F1", CultureInfo.InvariantCulture) + " GiB",
                    d.ComputeUnits.ToString(CultureInfo.InvariantCulture), d.Backend);
            AnsiConsole.Write(table);
            Console.WriteLine("auto picks cuda, then opencl, then cpu. ilgpu-cpu simulates GPU threads for conformance tests only (slow).");
            return Cli.Ok;
        }));
        return command;
    }

    /// <summary>The shared --device option of every verb that computes.</summary>
    public static Option<string> DeviceOption(string defaultKind = "auto") => new("--device")
    {
        Description = "Compute device: auto | cpu | cuda | opencl | ilgpu-cpu (ILGPU's thread simulator: for conformance tests, thousands of times slower)",
        DefaultValueFactory = _ => defaultKind,
    };

    public static Option<string> PrecisionOption() => new("--precision")
    {
        Description = "What matrix products multiply in: float32, or tf32 (tensor cores with inputs rounded to 10 mantissa bits, as PyTorch's allow_tf32; an NVIDIA GPU of compute capability 8.0 or newer)",
        DefaultValueFactory = _ => "float32",
    };

    /// <summary>--precision's value, or a one-line error naming the choices.</summary>
    public static MusicGen.Kernels.Ops.GemmPrecision Precision(string text) => text.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" => MusicGen.Kernels.Ops.GemmPrecision.Float32,
        "tf32" => MusicGen.Kernels.Ops.GemmPrecision.Tf32,
        _ => throw new ArgumentException($"--precision '{text}': choose float32 or tf32"),
    };

    /// <summary>The device kind, after saying on stderr that ilgpu-cpu is a simulator (for commands that do real work with it).</summary>
    public static string Warned(string kind)
    {
        if (kind.Trim().Equals("ilgpu-cpu", StringComparison.OrdinalIgnoreCase))
            Console.Error.WriteLine("musicgen: warning: ilgpu-cpu simulates GPU threads for conformance tests and is thousands of times slower than --device cpu");
        return kind;
    }
}
