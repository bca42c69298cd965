using System.Text.Json;
using System.Text.Json.Serialization;
using MusicGen.Kernels.Ops;

namespace MusicGen.Model;

/// <summary>
/// Everything that defines the network and its features. Stored in every checkpoint's metadata, so a
/// checkpoint alone is enough to rebuild the model.
///
/// Input per note: "scalar" (the original design: pitch/128, step, duration) or "embedding" (a learned
/// pitch embedding of <see cref="EmbeddingDim"/> concatenated with step and duration). With
/// <see cref="Velocity"/>, velocity/127 is an input feature and a fourth head.
/// Step and duration are in seconds, clipped to [0, <see cref="MaxSeconds"/>] for inputs and targets.
/// </summary>
public sealed record ModelConfig
{
    public int SeqLen { get; init; } = 10;
    public int Layers { get; init; } = 2;
    public int Hidden { get; init; } = 128;
    public bool Bidirectional { get; init; } = true;
    /// <summary>
    /// Unidirectional models only: every time step predicts the note after it (a window of T notes gives T
    /// targets, as a language model is trained), instead of only the last. A bidirectional model cannot: its
    /// reverse half would read the very notes it is asked to predict. The loss is the mean over all T*B
    /// predictions; validation still scores only the prediction after the whole window, like every model.
    /// </summary>
    public bool EveryStep { get; init; }
    public float Dropout { get; init; } = 0.2f;
    public bool LayerNorm { get; init; } = true;
    /// <summary>
    /// "embedding" (default: a learned 32-dim pitch embedding; pitch is a category, and a scalar pitch/128
    /// makes neighbouring keys look alike to the network) or "scalar" (the original design's three numbers).
    /// </summary>
    public string Input { get; init; } = "embedding";
    public int EmbeddingDim { get; init; } = 32;
    public bool Velocity { get; init; }
    public float MaxSeconds { get; init; } = 4f;
    /// <summary>Loss weights: pitch first (its cross-entropy also dwarfs the regression losses).</summary>
    public float PitchWeight { get; init; } = 1f;
    public float StepWeight { get; init; } = 0.5f;
    public float DurationWeight { get; init; } = 0.5f;
    public float VelocityWeight { get; init; } = 0.25f;
    public bool Huber { get; init; }
    public float PositivePressure { get; init; } = 10f;

    [JsonIgnore] public int Directions => Bidirectional ? 2 : 1;
    [JsonIgnore] public int RegressionHeads => Velocity ? 3 : 2;
    /// <summary>Continuous input features: step, duration (and velocity).</summary>
    [JsonIgnore] public int Continuous => Velocity ? 3 : 2;
    [JsonIgnore] public int InputSize => Input == "embedding" ? EmbeddingDim + Continuous : 1 + Continuous;
    [JsonIgnore] public int LayerOutput => Hidden * Directions;
    /// <summary>Rows the heads and the loss see for a batch of B windows of T steps: T*B with <see cref="EveryStep"/>, else B.</summary>
    public int HeadRows(int batch, int steps) => EveryStep ? batch * steps : batch;

    /// <summary>Step and duration as the model sees them: seconds clipped to [0, MaxSeconds].</summary>
    public float ClipSeconds(float seconds) => Math.Clamp(seconds, 0f, MaxSeconds);

    [JsonIgnore] public LossConfig Loss => new(PitchWeight, StepWeight, DurationWeight, VelocityWeight, RegressionHeads, Huber, PositivePressure);

    public void Validate()
    {
        if (SeqLen < 1 || SeqLen > 4096) throw new ArgumentException($"sequence length {SeqLen} outside 1..4096");
        if (Layers < 1 || Layers > 16) throw new ArgumentException($"layers {Layers} outside 1..16");
        if (Hidden < 1 || Hidden > 8192) throw new ArgumentException($"hidden size {Hidden} outside 1..8192");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"dropout {Dropout} outside [0, 1)");
        if (Input is not ("scalar" or "embedding")) throw new ArgumentException($"input '{Input}': choose scalar or embedding");
        if (Input == "embedding" && (EmbeddingDim < 1 || EmbeddingDim > 1024)) throw new ArgumentException($"embedding size {EmbeddingDim} outside 1..1024");
        if (EveryStep && Bidirectional) throw new ArgumentException("every-step targets need a unidirectional model (a bidirectional one would read the notes it predicts)");
        if (!(MaxSeconds > 0)) throw new ArgumentException("max seconds must be positive");
    }

    static readonly JsonSerializerOptions Json = new() { WriteIndented = false };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    public static ModelConfig FromJson(string json) => JsonSerializer.Deserialize<ModelConfig>(json, Json) ?? throw new InvalidDataException("empty model config");
}
