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

    /// <summary>The device kind, after saying on stderr that ilgpu-cpu is a simulator (for commands that do real work with it).</summary>
    public static string Warned(string kind)
    {
        if (kind.Trim().Equals("ilgpu-cpu", StringComparison.OrdinalIgnoreCase))
            Console.Error.WriteLine("musicgen: warning: ilgpu-cpu simulates GPU threads for conformance tests and is thousands of times slower than --device cpu");
        return kind;
    }
}
