using System.CommandLine;
using MusicGen.Model;

namespace MusicGen.Cli.Commands;

/// <summary><c>musicgen info CHECKPOINT</c>.</summary>
public static class InfoCommand
{
    public static Command Build()
    {
        var path = new Argument<string>("checkpoint") { Description = "A .safetensors checkpoint (or a run directory: its last.safetensors)" };
        var cmd = new Command("info", "Show a checkpoint's config, parameter count, data fingerprint and last metrics") { path };
        cmd.SetAction(p => Cli.Run(() =>
        {
            string file = p.GetValue(path)!;
            if (Directory.Exists(file)) file = Path.Combine(file, Trainer.Last);
            var (config, st) = Checkpoint.Read(file);
            long parameters = st.Tensors.Values.Sum(t => (long)t.Data.Length);
            Console.WriteLine($"checkpoint   {Path.GetFullPath(file)}");
            Console.WriteLine($"parameters   {parameters:N0} in {st.Tensors.Count} tensors, stored as {st.Storage}");
            Console.WriteLine($"config       {config.ToJson()}");
            Console.WriteLine($"features     {st.Metadata.GetValueOrDefault("features")}");
            foreach (var key in new[] { "corpus_fingerprint", "corpus_path", "backend", "state", "train_options", "last_metrics", "exported_from" })
                if (st.Metadata.TryGetValue(key, out var v) && v.Length > 0) Console.WriteLine($"{key,-12} {v}");
            return Cli.Ok;
        }));
        return cmd;
    }
}
