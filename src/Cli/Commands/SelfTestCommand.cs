using System.CommandLine;
using System.Globalization;
using MusicGen.Kernels;
using Spectre.Console;

namespace MusicGen.Cli.Commands;

/// <summary><c>musicgen selftest</c>: every kernel on a device against the managed backend.</summary>
public static class SelfTestCommand
{
    public static Command Build()
    {
        var device = DevicesCommand.DeviceOption("auto");
        var tiny = new Option<bool>("--tiny") { Description = "Small shapes only (automatic on ilgpu-cpu, which simulates GPU threads slowly)" };
        var command = new Command("selftest", "Run every op on a device and compare with the managed CPU backend; exit 1 on any mismatch") { device, tiny };
        command.SetAction(parse => Cli.Run(() =>
        {
            using var backend = Devices.Create(parse.GetValue(device)!);
            bool small = parse.GetValue(tiny) || backend.Kind == "ilgpu-cpu";
            Console.WriteLine($"device: {backend.Kind} ({backend.Name}); reference: managed CPU backend");
            var results = SelfTest.Run(backend, small);
            var table = new Table().AddColumns("op", "shape", "max abs error", "tolerance", "result");
            foreach (var r in results)
                table.AddRow(r.Op, r.Shape, double.IsNaN(r.MaxAbsError) ? "-" : r.MaxAbsError.ToString("E2", CultureInfo.InvariantCulture),
                    r.Tolerance.ToString("E1", CultureInfo.InvariantCulture), r.Passed ? "[green]pass[/]" : $"[red]FAIL[/]{(r.Error is null ? "" : " " + Markup.Escape(r.Error))}");
            AnsiConsole.Write(table);
            int failed = results.Count(r => !r.Passed);
            Console.WriteLine($"{results.Count - failed} passed, {failed} failed");
            return failed == 0 ? Cli.Ok : Cli.Failed;
        }));
        return command;
    }
}
