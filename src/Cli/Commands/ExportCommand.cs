using System.CommandLine;
using MusicGen.Kernels;
using MusicGen.Model;

namespace MusicGen.Cli.Commands;

/// <summary><c>musicgen export CHECKPOINT --out FILE [--f16]</c>: the model alone, for shipping (how the embedded default model is made).</summary>
public static class ExportCommand
{
    public static Command Build()
    {
        var path = new Argument<string>("checkpoint") { Description = "A .safetensors checkpoint or a run directory (its best model)" };
        var output = new Option<string>("--out", "-o") { Description = "The file to write (.safetensors)", Required = true };
        var half = new Option<bool>("--f16") { Description = "Store the weights as float16 (half the size; about 3 significant digits)" };
        var cmd = new Command("export", "Write a checkpoint's model alone (no optimizer state: not resumable), optionally as float16") { path, output, half };
        cmd.SetAction(p => Cli.Run(() =>
        {
            string source = p.GetValue(path)!, destination = p.GetValue(output)!;
            if (Directory.Exists(source))
                source = File.Exists(Path.Combine(source, Trainer.Best)) ? Path.Combine(source, Trainer.Best) : Path.Combine(source, Trainer.Last);
            if (!File.Exists(source)) return Cli.Error($"'{p.GetValue(path)}': no such checkpoint");
            if (!destination.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) return Cli.Error($"--out '{destination}' should end in .safetensors");
            if (Path.GetFullPath(source) == Path.GetFullPath(destination)) return Cli.Error("--out must differ from the checkpoint it exports");
            if (Cli.CannotWrite(destination, "--out") is string whyNot) return Cli.Error(whyNot);
            using var backend = new MusicGen.Kernels.Backends.ManagedBackend();
            Checkpoint.Export(source, destination, p.GetValue(half), backend);
            Console.WriteLine($"{destination}: {new FileInfo(destination).Length:N0} bytes ({(p.GetValue(half) ? "float16" : "float32")}) from {source}");
            return Cli.Ok;
        }));
        return cmd;
    }
}
