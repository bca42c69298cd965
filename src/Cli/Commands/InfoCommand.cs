using System.CommandLine;
using MusicGen.Model;

namespace MusicGen.Cli.Commands;

/// <summary><c>musicgen info [CHECKPOINT | --model NAME]</c>.</summary>
public static class InfoCommand
{
    public static Command Build()
    {
        var path = new Argument<string?>("checkpoint") { Description = "A .safetensors checkpoint (or a run directory: its last.safetensors); none: an embedded model (--model)", Arity = ArgumentArity.ZeroOrOne };
        var modelName = GenerateCommand.ModelOption();
        var cmd = new Command("info", "Show a checkpoint's (or an embedded model's) config, parameter count, data fingerprint and last metrics") { path, modelName };
        cmd.SetAction(p => Cli.Run(() =>
        {
            string? file = p.GetValue(path);
            if (file is not null && p.GetValue(modelName) is not null) return Cli.Error("give a checkpoint or --model, not both");
            ModelConfig config;
            SafeTensors.File st;
            string shown;
            if (file is null)
            {
                var entry = BuiltInModels.Find(p.GetValue(modelName) ?? BuiltInModels.Default);
                (config, st) = BuiltInModels.Read(entry.Name);
                shown = $"built-in {entry.Name} model ({entry.Corpus}; {entry.Licence})";
            }
            else
            {
                if (Directory.Exists(file)) file = Path.Combine(file, Trainer.Last);
                (config, st) = Checkpoint.Read(file);
                shown = Path.GetFullPath(file);
            }
            long parameters = st.Tensors.Values.Sum(t => (long)t.Data.Length);
            Console.WriteLine($"checkpoint   {shown}");
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
