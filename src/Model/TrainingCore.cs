using System.Text.Json;
using System.Text.Json.Nodes;
using MusicGen.Kernels;

namespace MusicGen.Model;

/// <summary>
/// The pieces of a training run that do not depend on the model, shared by <see cref="Trainer"/> (note models) and
/// <see cref="Frames.FrameTrainer"/> (frame models): the run folder and its metrics.jsonl, the learning-rate
/// schedules, early stopping, the divergence check and PyTorch's initialisation.
/// </summary>
public static class TrainingCore
{
    /// <summary>JSON options for training state: infinities (a best loss not yet seen) are written as "Infinity".</summary>
    public static readonly JsonSerializerOptions StateJson = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>
    /// Linear warm-up over the first min(warmup, total/10) steps, then cosine decay to <paramref name="floor"/> of the peak
    /// at the last step. Steps count from 1.
    /// </summary>
    public static float WarmupCosine(float peak, float floor, int warmupSteps, int step, int totalSteps)
    {
        int warm = Math.Min(warmupSteps, Math.Max(1, totalSteps / 10));
        if (step <= warm) return peak * step / warm;
        double progress = Math.Clamp((step - warm) / (double)Math.Max(1, totalSteps - warm), 0, 1);
        return (float)(peak * (floor + (1 - floor) * 0.5 * (1 + Math.Cos(Math.PI * progress))));
    }

    /// <summary>Cosine decay from the peak at step 0 to <paramref name="floor"/> of it at the last step (steps count from 0; no warm-up).</summary>
    public static float Cosine(float peak, float floor, int step, int totalSteps)
    {
        double progress = totalSteps <= 1 ? 0 : Math.Min(1.0, step / (double)(totalSteps - 1));
        double min = peak * floor;
        return (float)(min + (peak - min) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }

    /// <summary>Throws <see cref="TrainingDivergedException"/> when a step's loss or gradient norm is not finite.</summary>
    public static void CheckFinite(double loss, double gradNorm2, string where)
    {
        if (!double.IsFinite(loss)) throw new TrainingDivergedException($"loss became {loss} at {where}; the last good checkpoint is kept");
        if (!double.IsFinite(gradNorm2)) throw new TrainingDivergedException($"gradient norm became {gradNorm2} at {where}; the last good checkpoint is kept");
    }

    /// <summary>
    /// PyTorch's initialisation of a model's parameters, drawn in declaration order from one <see cref="SplitMix"/> stream:
    /// layer-norm gain 1 and bias 0; a parameter <paramref name="constant"/> names gets that value (no draws); every other
    /// one U(-bound, bound) with <paramref name="bound"/>'s bound; then each LSTM's forget-gate bias (b_ih rows H..2H) is set
    /// to 1 and b_hh's to 0, so early training remembers (Jozefowicz et al. 2015).
    /// </summary>
    public static void InitializeLikePyTorch(Backend backend, IReadOnlyList<Parameter> parameters, ulong seed, int hidden,
        Func<Parameter, float?> constant, Func<Parameter, float> bound)
    {
        var rng = new SplitMix(seed);
        foreach (var p in parameters)
        {
            var host = new float[p.Length];
            if (p.Name.StartsWith("norm.", StringComparison.Ordinal)) Array.Fill(host, p.Name.EndsWith(".weight", StringComparison.Ordinal) ? 1f : 0f);
            else if (constant(p) is float value) Array.Fill(host, value);
            else
            {
                float b = bound(p);
                for (int i = 0; i < host.Length; i++) host[i] = (float)(rng.NextDouble() * 2 - 1) * b;
                if (p.Name.StartsWith("lstm.bias_ih", StringComparison.Ordinal)) Array.Fill(host, 1f, hidden, hidden);
                if (p.Name.StartsWith("lstm.bias_hh", StringComparison.Ordinal)) Array.Fill(host, 0f, hidden, hidden);
            }
            backend.CopyFromHost(host, p.Value);
        }
    }
}

/// <summary>Early stopping: the best validation score so far and how many epochs have passed without beating it.</summary>
public readonly record struct EarlyStopping(double Best, int EpochsWithoutImprovement)
{
    public static EarlyStopping Start => new(double.PositiveInfinity, 0);

    /// <summary>After an epoch scored <paramref name="score"/> (lower is better): the new state, and whether it improved.</summary>
    public (EarlyStopping Next, bool Improved) Observe(double score) =>
        score < Best ? (new EarlyStopping(score, 0), true) : (this with { EpochsWithoutImprovement = EpochsWithoutImprovement + 1 }, false);

    /// <summary>Whether to stop: <paramref name="patience"/> epochs without improvement (0: never).</summary>
    public bool ShouldStop(int patience) => patience > 0 && EpochsWithoutImprovement >= patience;
}

/// <summary>
/// A run folder: last.safetensors (resumable), best.safetensors (the best validation score's model) and metrics.jsonl
/// (one JSON object per line). Only the writing process (rank 0 of a data-parallel run) writes.
/// </summary>
public sealed class RunFolder(string path, bool writes = true)
{
    public const string Last = "last.safetensors", Best = "best.safetensors", Metrics = "metrics.jsonl";

    public string Path { get; } = path;
    public string LastPath => System.IO.Path.Combine(Path, Last);
    public string BestPath => System.IO.Path.Combine(Path, Best);
    public string MetricsPath => System.IO.Path.Combine(Path, Metrics);

    /// <summary>Starts a new run: refuses a folder that already holds one, creates it, and clears any stray metrics.</summary>
    public void StartNew(string resumeHint)
    {
        if (File.Exists(LastPath)) throw new ArgumentException($"'{Path}' already holds a run; {resumeHint}");
        if (!writes) return;
        Directory.CreateDirectory(Path);
        File.Delete(MetricsPath);
    }

    /// <summary>Appends one line to metrics.jsonl.</summary>
    public void AppendMetrics(JsonObject line) { if (writes) File.AppendAllText(MetricsPath, line.ToJsonString() + "\n"); }

    /// <summary>Appends one record, serialised as it is, to metrics.jsonl.</summary>
    public void AppendMetrics<T>(T record) { if (writes) File.AppendAllText(MetricsPath, JsonSerializer.Serialize(record, TrainingCore.StateJson) + "\n"); }

    /// <summary>The last metrics line that satisfies <paramref name="match"/> (null: none, or no file).</summary>
    public string? LastMetricsLine(Func<string, bool> match) => File.Exists(MetricsPath) ? File.ReadLines(MetricsPath).LastOrDefault(match) : null;

    /// <summary>On resume: keeps only the metrics lines <paramref name="keep"/> accepts (those written before the checkpoint), so
    /// the file reads as one uninterrupted run, and removes half-written temp files; returns how many of those there were.</summary>
    public int TrimAfterCheckpoint(Func<JsonObject, bool> keep)
    {
        if (!writes) return 0;
        if (File.Exists(MetricsPath))
        {
            var kept = File.ReadAllLines(MetricsPath).Where(line =>
            {
                try { return keep(JsonNode.Parse(line)!.AsObject()); }
                catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException) { return false; }
            }).ToList();
            Midi.AtomicFile.Write(MetricsPath, s => { using var w = new StreamWriter(s, leaveOpen: true); foreach (var l in kept) w.WriteLine(l); });
        }
        return Midi.AtomicFile.DeleteOrphans(Path);
    }
}
