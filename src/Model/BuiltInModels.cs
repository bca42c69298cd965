using MusicGen.Kernels;

namespace MusicGen.Model;

/// <summary>
/// The models built into the library (embedded resources of this assembly), so a caller composes without training:
/// <c>var (model, _) = BuiltInModels.Load("pop", backend);</c>. Each carries its training data's licence.
/// </summary>
public static class BuiltInModels
{
    /// <summary>A built-in model: the name to ask for, the corpus it learned from and that corpus' licence.</summary>
    public sealed record Entry(string Name, string Corpus, string Licence)
    {
        internal string Resource => $"MusicGen.Model.BuiltIn.{Name}.safetensors";
        /// <summary>Whether this build carries the model (a build from a checkout without the file leaves it out).</summary>
        public bool Present => typeof(BuiltInModels).Assembly.GetManifestResourceInfo(Resource) is not null;
    }

    public static readonly IReadOnlyList<Entry> All =
    [
        new("pop", "POP909", "MIT"),
        new("classical", "ASAP", "CC BY-NC-SA 4.0 (non-commercial use only)"),
    ];

    /// <summary>The model composed with when none is named.</summary>
    public const string Default = "pop";

    /// <summary>The entry called <paramref name="name"/>; throws <see cref="SettingException"/> (setting "model") for an unknown one.</summary>
    public static Entry Find(string name) => All.FirstOrDefault(e => e.Name == name)
        ?? throw new SettingException("model", $"'{name}': choose {string.Join(" or ", All.Select(e => e.Name))}");

    /// <summary>Reads a built-in model's config and metadata without building it.</summary>
    public static (ModelConfig Config, SafeTensors.File File) Read(string name)
    {
        using var stream = Open(Find(name));
        return Checkpoint.Read(stream, $"built-in {name} model");
    }

    /// <summary>Builds a built-in model on <paramref name="backend"/>.</summary>
    public static (MusicModel Model, SafeTensors.File File) Load(string name, Backend backend)
    {
        using var stream = Open(Find(name));
        return Checkpoint.Load(stream, $"built-in {name} model", backend);
    }

    static Stream Open(Entry e) => typeof(BuiltInModels).Assembly.GetManifestResourceStream(e.Resource)
        ?? throw new InvalidDataException($"this build has no built-in {e.Name} model (models/ lacked its file when it was built)");

    /// <summary>
    /// The model a user names: a checkpoint file, a run folder (its best.safetensors, or last.safetensors before the
    /// first best), or else a built-in model by name (<see cref="Default"/> when neither is given). Returns the model and
    /// a line saying where it came from.
    /// </summary>
    public static (MusicModel Model, string Source) LoadModel(string? checkpoint, string? builtIn, Backend backend)
    {
        if (checkpoint is not null && builtIn is not null) throw new ArgumentException("give a checkpoint or a built-in model, not both");
        if (checkpoint is not null)
        {
            string file = checkpoint;
            if (Directory.Exists(file))
                file = File.Exists(Path.Combine(file, RunFolder.Best)) ? Path.Combine(file, RunFolder.Best) : Path.Combine(file, RunFolder.Last);
            if (!File.Exists(file)) throw new SettingException("checkpoint", $"'{checkpoint}': no such checkpoint");
            return (Checkpoint.Load(file, backend).Model, file);
        }
        var entry = Find(builtIn ?? Default);
        return (Load(entry.Name, backend).Model, $"built-in {entry.Name} model ({entry.Corpus})");
    }
}
