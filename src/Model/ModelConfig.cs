using System.Text.Json;
using System.Text.Json.Serialization;
using MusicGen.Kernels.Ops;
using MusicGen.Midi;

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
/// <summary>What the network reads per note besides step, duration and velocity: a learned pitch embedding, or pitch/128.</summary>
public enum InputKind { Embedding, Scalar }

/// <summary>How step, duration and velocity are predicted: bins with a softmax each, or the original regression head.</summary>
public enum HeadKind { Categorical, Regression }

/// <summary>Where a bidirectional last-step model's heads read its two directions: each at its own end, or both at the last step.</summary>
public enum BidirectionalReading { Ends, Last }

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
    /// <summary>
    /// What the heads of a bidirectional (last-step) model read from the top layer's output [T,B,2H]:
    /// "ends" (default): the forward half at t = T-1 and the reverse half at t = 0, each after reading the whole
    /// window, as Keras' Bidirectional(LSTM) without return_sequences and the original design did; or "last": both
    /// halves at t = T-1, where the reverse half has read only the newest note from a zero state (its recurrent
    /// weights then get no gradient at all). A config stored before this option existed reads as "last".
    /// </summary>
    public BidirectionalReading BidirectionalHeads { get; init; } = BidirectionalReading.Ends;
    /// <summary>A bidirectional last-step model whose heads read the two directions' ends (<see cref="BidirectionalHeads"/>).</summary>
    [JsonIgnore] public bool ReadsEnds => Bidirectional && !EveryStep && BidirectionalHeads == BidirectionalReading.Ends;
    public float Dropout { get; init; } = 0.2f;
    /// <summary>DropConnect on each layer's recurrent weights W_hh in training (AWD-LSTM's weight drop; 0: none).</summary>
    public float WeightDrop { get; init; }
    /// <summary>The output dropout draws one mask per window and feature for all its steps (variational, AWD-LSTM's locked dropout).</summary>
    public bool LockedDropout { get; init; }
    /// <summary>Every layer above the first adds its input to its output (a residual connection; needs 2 layers or more).</summary>
    public bool Residual { get; init; }
    public bool LayerNorm { get; init; } = true;
    /// <summary>
    /// "embedding" (default: a learned 32-dim pitch embedding; pitch is a category, and a scalar pitch/128
    /// makes neighbouring keys look alike to the network) or "scalar" (the original design's three numbers).
    /// </summary>
    public InputKind Input { get; init; } = InputKind.Embedding;
    public int EmbeddingDim { get; init; } = 32;
    /// <summary>Velocity as an input feature and a head (on by default: dynamics are part of the music).</summary>
    public bool Velocity { get; init; } = true;
    public float MaxSeconds { get; init; } = 4f;
    /// <summary>
    /// The unit of step and duration. Seconds (default; a config stored before this option existed): performance timing,
    /// log-spaced bins. Beats: quarter-note beats on a grid of <see cref="BeatFeatures.GridPerBeat"/> per beat, one bin per
    /// grid unit (<see cref="NoteBins"/>), and each note's place in its bar as an input (<see cref="BarInputs"/>); generation
    /// writes exact bars at a chosen tempo. Needs categorical heads and a corpus prepared with --time beats.
    /// </summary>
    public TimeUnit Time { get; init; } = TimeUnit.Seconds;
    /// <summary>Beats mode: the training corpus' median tempo, the tempo of generated files when none is asked for (0: unknown).</summary>
    public float Bpm { get; init; }
    [JsonIgnore] public bool Beats => Time == TimeUnit.Beats;
    /// <summary>
    /// Lookback inputs (<see cref="Model.Lookback"/>): each note also reads the notes at its place one and two bars ago (bars, beats
    /// mode only) or <see cref="LookbackNotes"/> and twice that many notes ago (notes), and what followed them. None (default; a
    /// config stored before this option existed): no lookback inputs.
    /// </summary>
    public LookbackKind Lookback { get; init; } = LookbackKind.None;
    /// <summary>
    /// Attention over the top layer's last <see cref="AttentionSpan"/> outputs (<see cref="AttentionLayer"/>; 0, the default:
    /// none). Unidirectional every-step models only. The heads then read the output beside its context (2H features).
    /// </summary>
    public int AttentionSpan { get; init; }
    /// <summary>With <see cref="AttentionSpan"/>: the size of the attention's keys and queries.</summary>
    public int AttentionSize { get; init; } = 64;
    [JsonIgnore] public bool Attends => AttentionSpan > 0;
    /// <summary>Features the heads read per prediction: the top layer's output, and with attention its context too.</summary>
    [JsonIgnore] public int HeadWidth => Attends ? 2 * LayerOutput : LayerOutput;
    /// <summary>With <see cref="LookbackKind.Notes"/>: how many notes back the nearer lookback reads (the farther reads twice as many).</summary>
    public int LookbackNotes { get; init; } = 16;
    /// <summary>Beats mode: the bar inputs per note: which beat of the bar (one-hot, 8, the last for any later beat), where
    /// within the beat on the grid (one-hot, 12), and the bar's length in beats / 4.</summary>
    public const int BarInputs = 8 + BeatFeatures.GridPerBeat + 1;
    /// <summary>Beats mode: the longest step and duration the bins hold, in beats.</summary>
    [JsonIgnore] public float MaxBeats => Math.Max(StepBins - 1, DurationBins) / (float)BeatFeatures.GridPerBeat;
    /// <summary>
    /// How step, duration and velocity are predicted. "categorical" (default): a softmax over quantised bins per
    /// feature (<see cref="NoteBins"/>), trained with cross-entropy and sampled at generation, so a step can be
    /// exactly 0 (a chord) and rhythm varies. "regression": the original design's regression head (squared error
    /// plus positive pressure), whose prediction is a conditional mean. Checkpoints written before this option
    /// existed load as "regression".
    /// </summary>
    public HeadKind Heads { get; init; } = HeadKind.Categorical;
    /// <summary>Categorical heads: step bins (the first is "a chord"), duration bins, velocity bins.</summary>
    public int StepBins { get; init; } = 64;
    public int DurationBins { get; init; } = 64;
    public int VelocityBins { get; init; } = 32;
    /// <summary>
    /// Categorical heads (ignored by regression heads): predict the step first and condition pitch, duration and
    /// velocity on it (a learned row of logit offsets per step bin, <see cref="ClassConditioning"/>), instead of drawing
    /// the four independently given the history. Training conditions on the true step; generation on the step it has
    /// just drawn. On by default: it measured better (docs/DEFAULT_MODEL.md, "Design measurements"). A config stored
    /// before this option existed reads as false.
    /// </summary>
    public bool StepFirst { get; init; } = true;
    /// <summary>Whether the heads really condition on the step: categorical heads with <see cref="StepFirst"/>.</summary>
    [JsonIgnore] public bool ConditionsOnStep => Categorical && StepFirst;
    /// <summary>Loss weights: pitch first (its cross-entropy also dwarfs the regression losses).</summary>
    public float PitchWeight { get; init; } = 1f;
    public float StepWeight { get; init; } = 0.5f;
    public float DurationWeight { get; init; } = 0.5f;
    public float VelocityWeight { get; init; } = 0.25f;
    public bool Huber { get; init; }
    public float PositivePressure { get; init; } = 10f;

    [JsonIgnore] public int Directions => Bidirectional ? 2 : 1;
    [JsonIgnore] public bool Categorical => Heads == HeadKind.Categorical;
    /// <summary>Features after pitch that each note's prediction has: step, duration (and velocity). With regression heads, the regression outputs.</summary>
    [JsonIgnore] public int RegressionHeads => Velocity ? 3 : 2;
    /// <summary>Logits per prediction: 128 pitches, then (categorical heads) the step, duration and velocity bins.</summary>
    [JsonIgnore] public int ClassCount => Categorical ? Pitches + StepBins + DurationBins + (Velocity ? VelocityBins : 0) : Pitches;
    /// <summary>The groups of logits the categorical loss sees, with the loss weights.</summary>
    [JsonIgnore] public CategoricalGroups Groups => Velocity
        ? CategoricalGroups.From([Pitches, StepBins, DurationBins, VelocityBins], [PitchWeight, StepWeight, DurationWeight, VelocityWeight])
        : CategoricalGroups.From([Pitches, StepBins, DurationBins], [PitchWeight, StepWeight, DurationWeight]);
    const int Pitches = MultiHeadLoss.Pitches;
    /// <summary>Continuous input features: step, duration (and velocity).</summary>
    [JsonIgnore] public int Continuous => (Velocity ? 3 : 2) + (Beats ? BarInputs : 0) + (Lookback == LookbackKind.None ? 0 : Model.Lookback.Inputs);
    [JsonIgnore] public int InputSize => Input == InputKind.Embedding ? EmbeddingDim + Continuous : 1 + Continuous;
    [JsonIgnore] public int LayerOutput => Hidden * Directions;
    /// <summary>The recurrent body this config describes.</summary>
    [JsonIgnore] public LstmStackShape Stack => new(InputSize, Hidden, Layers, Bidirectional, LayerNorm, Dropout, WeightDrop, LockedDropout, Residual);
    /// <summary>Rows the heads and the loss see for a batch of B windows of T steps: T*B with <see cref="EveryStep"/>, else B.</summary>
    public int HeadRows(int batch, int steps) => EveryStep ? batch * steps : batch;

    /// <summary>Parameters of the network this config describes (what <see cref="MusicModel.ParameterCount"/> will say).</summary>
    public long ParameterCount()
    {
        long H = Hidden, D = LayerOutput, p = Input == InputKind.Embedding ? 128L * EmbeddingDim : 0;
        for (int l = 0; l < Layers; l++)
        {
            long input = l == 0 ? InputSize : D;
            p += Directions * (4 * H * (input + H) + 8 * H) + (LayerNorm ? 2 * D : 0);
        }
        if (Attends) p += 2L * AttentionSize * H + AttentionSize;
        long W = HeadWidth;
        p += (long)ClassCount * (W + 1) + (Categorical ? 0 : RegressionHeads * (W + 1)) + (ConditionsOnStep ? (long)StepBins * ClassCount : 0);
        return p;
    }

    /// <summary>
    /// A training step's memory, roughly, in bytes: each parameter four times (value, gradient, two Adam moments) and
    /// once transposed, and per layer and direction the saved gates, states and their gradients for a batch.
    /// </summary>
    public long TrainingBytes(int batch)
    {
        long T = SeqLen, B = batch, H = Hidden, D = LayerOutput;
        long perLayer = Directions * T * B * (4 * H * 2 + H * 3) + T * B * D * 7;
        long heads = (long)HeadRows(batch, SeqLen) * ClassCount * 2 + (Attends ? T * B * (4L * AttentionSize + 2 * AttentionSpan + 6 * H) : 0);
        return 4 * (ParameterCount() * 5 + Layers * perLayer + heads);
    }

    /// <summary>Step and duration as the model sees them: seconds clipped to [0, MaxSeconds]; beats clipped to [0, MaxBeats] and divided by 4 (a 4/4 bar is 1).</summary>
    public float ClipSeconds(float time) => Beats ? Math.Clamp(time, 0f, MaxBeats) / 4f : Math.Clamp(time, 0f, MaxSeconds);

    [JsonIgnore] public LossConfig Loss => new(PitchWeight, StepWeight, DurationWeight, VelocityWeight, RegressionHeads, Huber, PositivePressure);

    public void Validate()
    {
        if (SeqLen < 1 || SeqLen > 4096) throw new ArgumentException($"sequence length {SeqLen} outside 1..4096");
        if (Layers < 1 || Layers > 16) throw new ArgumentException($"layers {Layers} outside 1..16");
        if (Hidden < 1 || Hidden > 8192) throw new ArgumentException($"hidden size {Hidden} outside 1..8192");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"dropout {Dropout} outside [0, 1)");
        if (!(WeightDrop >= 0 && WeightDrop < 1)) throw new ArgumentException($"weight drop {WeightDrop} outside [0, 1)");
        if (Residual && Layers < 2) throw new ArgumentException("residual connections go round the layers above the first: they need 2 layers or more");
        if (!Enum.IsDefined(Input)) throw new ArgumentException($"input '{Input}': choose scalar or embedding");
        if (Input == InputKind.Embedding && (EmbeddingDim < 1 || EmbeddingDim > 1024)) throw new ArgumentException($"embedding size {EmbeddingDim} outside 1..1024");
        if (EveryStep && Bidirectional) throw new ArgumentException("every-step targets need a unidirectional model (a bidirectional one would read the notes it predicts)");
        if (!(MaxSeconds > NoteBins.ChordSeconds)) throw new ArgumentException($"max seconds must be above {NoteBins.ChordSeconds}");
        if (!Enum.IsDefined(Heads)) throw new ArgumentException($"heads '{Heads}': choose categorical or regression");
        if (!Enum.IsDefined(BidirectionalHeads)) throw new ArgumentException($"bidirectional heads '{BidirectionalHeads}': choose ends or last");
        if (!Enum.IsDefined(Time)) throw new ArgumentException($"time '{Time}': choose seconds or beats");
        if (Beats && !Categorical) throw new SettingException("time", "beats needs categorical heads");
        if (!Enum.IsDefined(Lookback)) throw new ArgumentException($"lookback '{Lookback}': choose none, bars or notes");
        if (Lookback == LookbackKind.Bars && !Beats) throw new ArgumentException("lookback by bars needs time in beats (a model in seconds has no bars): use lookback by notes");
        if (AttentionSpan is < 0 or > 1024) throw new ArgumentException($"the attention span must be 1..1024 notes (got {AttentionSpan})");
        if (Attends && (Bidirectional || !EveryStep)) throw new SettingException("attention", "needs a unidirectional model trained on every step");
        if (Attends && AttentionSize is < 1 or > 4096) throw new ArgumentException($"the attention size must be 1..4096 (got {AttentionSize})");
        if (Lookback == LookbackKind.Notes && LookbackNotes is < 1 or > 1024) throw new ArgumentException($"the lookback distance must be 1..1024 notes (got {LookbackNotes})");
        if (Categorical && (StepBins is < 2 or > 1024 || DurationBins is < 1 or > 1024 || VelocityBins is < 1 or > 127))
            throw new ArgumentException("bins: step 2..1024, duration 1..1024, velocity 1..127");
    }

    /// <summary>Enums are stored by name in lower camel case ("categorical", "embedding", "ends", "beats"), as the strings
    /// they replaced were; reading ignores case.</summary>
    static readonly JsonSerializerOptions Json = new() { WriteIndented = false, Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase, allowIntegerValues: false) } };
    public string ToJson() => JsonSerializer.Serialize(this, Json);
    /// <summary>
    /// Reads a stored config. Options added after the first checkpoints take, when absent, the value every model had before
    /// they existed: no <see cref="Heads"/> is a regression model, no <see cref="StepFirst"/> has independent heads, no
    /// <see cref="BidirectionalHeads"/> reads both halves at the last step, no <see cref="Time"/> counts seconds.
    /// </summary>
    public static ModelConfig FromJson(string json)
    {
        ModelConfig c;
        using (var doc = JsonDocument.Parse(json))
        {
            c = doc.RootElement.Deserialize<ModelConfig>(Json) ?? throw new InvalidDataException("empty model config");
            bool Has(string name) => doc.RootElement.TryGetProperty(name, out _);
            if (!Has(nameof(Heads))) c = c with { Heads = HeadKind.Regression };
            if (!Has(nameof(StepFirst))) c = c with { StepFirst = false };
            if (!Has(nameof(BidirectionalHeads))) c = c with { BidirectionalHeads = BidirectionalReading.Last };
        }
        return c;
    }
}
