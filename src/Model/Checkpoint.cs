using System.Text.Json;
using MusicGen.Kernels;

namespace MusicGen.Model;

/// <summary>
/// Checkpoints: a .safetensors file with the model tensors under PyTorch-style names and, in its metadata,
/// the model config, the feature scaling, the corpus fingerprint, the training options and state; and a
/// sibling "NAME.optim.SAVEID.safetensors" with the Adam moments (m.NAME, v.NAME), which the model file names.
/// Both carry the same save id, so files from different saves are never mixed. Each is written atomically,
/// the optimizer file first, so a process killed at any instant leaves a resumable pair.
/// </summary>
public static class Checkpoint
{
    public const string Format = "musicgen-checkpoint-1";

    /// <summary>
    /// The optimizer file of one save: "&lt;model name&gt;.optim.&lt;save id&gt;.safetensors" beside the model. Each save writes a
    /// new one first, then the model file (which names it), then deletes the older ones; so a kill at any moment
    /// leaves a model file whose optimizer file exists.
    /// </summary>
    static string OptimizerName(string modelPath, string saveId) => $"{Path.GetFileNameWithoutExtension(modelPath)}.optim.{saveId}.safetensors";

    public static string FeatureDescription(ModelConfig c) => BaseFeatures(c) + c.Lookback switch
    {
        LookbackKind.Bars => "; looks back 1 and 2 bars (the notes there and what followed them)",
        LookbackKind.Notes => $"; looks back {c.LookbackNotes} and {2 * c.LookbackNotes} notes (the notes there and what followed them)",
        _ => "",
    } + (c.Attends ? $"; attends to its last {c.AttentionSpan} outputs (keys and queries of {c.AttentionSize})" : "");

    static string BaseFeatures(ModelConfig c) => c.Beats
        ? $"input {(c.Input == InputKind.Embedding ? $"pitch embedding({c.EmbeddingDim})" : "pitch/128")}, step and duration in beats / 4 (clipped to {c.MaxBeats} beats){(c.Velocity ? ", velocity/127" : "")}, " +
          $"beat of the bar (one-hot 8), position in the beat (one-hot 12), bar length / 4; targets: pitch index, step bin of {c.StepBins} (k/12 beat; 0: a chord), " +
          $"duration bin of {c.DurationBins} ((k+1)/12 beat){(c.Velocity ? $", velocity bin of {c.VelocityBins}" : "")}{(c.ConditionsOnStep ? "; step predicted first" : "")}; corpus tempo {c.Bpm} bpm"
        : $"input {(c.Input == InputKind.Embedding ? $"pitch embedding({c.EmbeddingDim})" : "pitch/128")}, step s, duration s{(c.Velocity ? ", velocity/127" : "")}; " +
        $"step and duration clipped to [0, {c.MaxSeconds}] s; targets: " +
        (c.Categorical
            ? $"pitch index, step bin of {c.StepBins} (0: a chord), duration bin of {c.DurationBins}{(c.Velocity ? $", velocity bin of {c.VelocityBins}" : "")}{(c.ConditionsOnStep ? "; step predicted first" : "")}"
            : $"pitch index, step s, duration s{(c.Velocity ? ", velocity/127" : "")}");

    /// <summary>Writes the model (and, when <paramref name="withOptimizer"/>, its Adam moments first; always F32).</summary>
    /// <param name="half">Store the model's tensors as F16 (half the size; for shipping a model, not for resuming).</param>
    /// <param name="carried">Saved beside the Adam moments: training state that is not the model's (the carried LSTM state of <see cref="TrainOptions.CarryState"/>).</param>
    public static void Save(string path, MusicModel model, IReadOnlyDictionary<string, string> extraMetadata, bool withOptimizer, bool half = false,
        IEnumerable<(string Name, int[] Shape, float[] Data)>? carried = null)
    {
        if (withOptimizer && half) throw new ArgumentException("a resumable checkpoint keeps full precision; F16 is for exported models");
        var be = model.Backend;
        var metadata = new Dictionary<string, string>(extraMetadata)
        {
            ["format"] = Format,
            ["config"] = model.Config.ToJson(),
            ["features"] = FeatureDescription(model.Config),
            ["parameters"] = model.ParameterCount.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        var optimizer = withOptimizer ? AdamMoments(model.Parameters, be) : null;
        if (optimizer is not null && carried is not null) optimizer.AddRange(carried);
        WritePair(path, model.Parameters.Select(p => (p.Name, p.Shape, be.Download(p.Value))).ToList(), metadata, optimizer, half);
    }

    /// <summary>The Adam moments of <paramref name="parameters"/> as an optimizer file's tensors: m.NAME and v.NAME.</summary>
    public static List<(string Name, int[] Shape, float[] Data)> AdamMoments(IEnumerable<Parameter> parameters, Backend backend) =>
        parameters.SelectMany(p => new[] { ($"m.{p.Name}", p.Shape, backend.Download(p.M)), ($"v.{p.Name}", p.Shape, backend.Download(p.V)) }).ToList();

    /// <summary>
    /// The checkpoint pair both trainers write: <paramref name="tensors"/> (the model) in <paramref name="path"/>, and, when
    /// <paramref name="optimizer"/> is given, the optimizer file of this save written first beside it, which the model file
    /// names ("optimizer") and whose save id it carries ("save_id"); then the older optimizer files are deleted. Each file is
    /// written atomically, so a kill at any instant leaves a model file whose optimizer file exists.
    /// </summary>
    public static void WritePair(string path, List<(string Name, int[] Shape, float[] Data)> tensors, Dictionary<string, string> metadata,
        List<(string Name, int[] Shape, float[] Data)>? optimizer, bool half = false)
    {
        string saveId = Guid.NewGuid().ToString("N");
        metadata["save_id"] = saveId;
        if (optimizer is not null)
        {
            SafeTensors.Save(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, OptimizerName(path, saveId)), optimizer,
                new Dictionary<string, string> { ["format"] = metadata["format"], ["save_id"] = saveId });
            metadata["optimizer"] = OptimizerName(path, saveId);
        }
        else metadata.Remove("optimizer");
        SafeTensors.Save(path, tensors, metadata, half);
        if (optimizer is not null) DeleteStaleOptimizers(path, OptimizerName(path, saveId));
    }

    /// <summary>Reads the optimizer file that the model file <paramref name="modelFile"/> (at <paramref name="modelPath"/>) names; refuses a file from another save.</summary>
    public static SafeTensors.File ReadOptimizer(string modelPath, SafeTensors.File modelFile)
    {
        if (!modelFile.Metadata.TryGetValue("optimizer", out var name) || name.Contains('/') || name.Contains('\\'))
            throw new InvalidDataException("the checkpoint does not name its optimizer state; cannot resume exactly");
        string path = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, name);
        if (!File.Exists(path)) throw new InvalidDataException($"the optimizer state '{name}' beside the checkpoint is missing; cannot resume exactly");
        var opt = SafeTensors.Load(path);
        if (!opt.Metadata.TryGetValue("save_id", out var id) || id != modelFile.Metadata.GetValueOrDefault("save_id"))
            throw new InvalidDataException("the optimizer state and the checkpoint come from different saves (interrupted write?)");
        return opt;
    }

    /// <summary>Metadata that <see cref="Save"/> writes itself, or that names a sibling file: not carried by <see cref="Export"/>.</summary>
    static readonly string[] OwnKeys = ["format", "save_id", "config", "features", "parameters", "optimizer", SafeTensors.ChecksumKey];

    /// <summary>
    /// Writes the model of checkpoint <paramref name="source"/> alone (no optimizer state, so not resumable) to
    /// <paramref name="destination"/>, optionally as F16, keeping its training metadata (options, metrics, corpus).
    /// </summary>
    public static void Export(string source, string destination, bool half, Backend backend)
    {
        var (model, file) = Load(source, backend);
        using (model)
        {
            var meta = file.Metadata.Where(kv => !OwnKeys.Contains(kv.Key)).ToDictionary();
            meta["exported_from"] = Path.GetFileName(source);
            Save(destination, model, meta, withOptimizer: false, half);
        }
    }

    static void DeleteStaleOptimizers(string modelPath, string keep)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        foreach (var f in Directory.EnumerateFiles(dir, $"{Path.GetFileNameWithoutExtension(modelPath)}.optim.*.safetensors"))
            if (Path.GetFileName(f) != keep) File.Delete(f);
    }

    /// <summary>Reads a checkpoint's config and metadata; throws <see cref="InvalidDataException"/> with a reason if it is not one of ours.</summary>
    public static (ModelConfig Config, SafeTensors.File File) Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no checkpoint at '{path}'");
        return Parse(SafeTensors.Load(path), path);
    }

    /// <summary>Reads a checkpoint from a stream (a built-in model).</summary>
    public static (ModelConfig Config, SafeTensors.File File) Read(Stream stream, string name) => Parse(SafeTensors.Load(stream), name);

    static (ModelConfig Config, SafeTensors.File File) Parse(SafeTensors.File file, string path)
    {
        if (!file.Metadata.TryGetValue("format", out var format) || format != Format)
            throw new InvalidDataException($"'{path}' is not a MusicGen checkpoint (format '{format ?? "none"}', expected {Format})");
        if (!file.Metadata.TryGetValue("config", out var json)) throw new InvalidDataException($"'{path}' has no model config");
        ModelConfig config;
        try { config = ModelConfig.FromJson(json); config.Validate(); }
        catch (Exception e) when (e is JsonException or ArgumentException) { throw new InvalidDataException($"'{path}' has an invalid model config: {e.Message}"); }
        return (config, file);
    }

    /// <summary>Builds the model a checkpoint describes on <paramref name="backend"/> and loads its weights (names and shapes must match exactly).</summary>
    public static (MusicModel Model, SafeTensors.File File) Load(string path, Backend backend) => Build(Read(path), backend);

    /// <summary>As <see cref="Load(string, Backend)"/>, from a stream.</summary>
    public static (MusicModel Model, SafeTensors.File File) Load(Stream stream, string name, Backend backend) => Build(Read(stream, name), backend);

    static (MusicModel Model, SafeTensors.File File) Build((ModelConfig Config, SafeTensors.File File) read, Backend backend)
    {
        var (config, file) = read;
        var model = new MusicModel(backend, config);
        try
        {
            foreach (var p in model.Parameters)
            {
                if (!file.Tensors.TryGetValue(p.Name, out var t)) throw new InvalidDataException($"checkpoint lacks tensor '{p.Name}'");
                if (!t.Shape.SequenceEqual(p.Shape))
                    throw new InvalidDataException($"tensor '{p.Name}' has shape [{string.Join(",", t.Shape)}], the config needs [{string.Join(",", p.Shape)}]");
                backend.CopyFromHost(t.Data, p.Value);
            }
            model.MarkWeightsChanged();
            var unknown = file.Tensors.Keys.Except(model.Parameters.Select(p => p.Name)).ToList();
            if (unknown.Count > 0) throw new InvalidDataException($"checkpoint has tensors this config does not use: {string.Join(", ", unknown.Take(3))}");
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return (model, file);
    }

    /// <summary>Loads the Adam moments saved beside <paramref name="modelPath"/>; refuses a file from another save.</summary>
    /// <returns>The optimizer file, which may hold more training state (a carried LSTM state).</returns>
    public static SafeTensors.File LoadOptimizer(string modelPath, SafeTensors.File modelFile, MusicModel model)
    {
        var opt = ReadOptimizer(modelPath, modelFile);
        foreach (var p in model.Parameters)
        {
            if (!opt.Tensors.TryGetValue($"m.{p.Name}", out var m) || !opt.Tensors.TryGetValue($"v.{p.Name}", out var v) || m.Data.Length != p.Length || v.Data.Length != p.Length)
                throw new InvalidDataException($"optimizer state lacks or mis-sizes the moments of '{p.Name}'");
            model.Backend.CopyFromHost(m.Data, p.M);
            model.Backend.CopyFromHost(v.Data, p.V);
        }
        return opt;
    }
}
