namespace MusicGen.Model;

/// <summary>
/// The recipes of the shipped models, as one name each (<c>musicgen train --preset pop</c>): the network and the
/// training options the embedded models were trained with (docs/DEFAULT_MODEL.md). Flags given beside a preset override it.
/// </summary>
public static class TrainingPresets
{
    /// <summary>Beats mode's bins: steps of 0..8 beats and durations of 1/12..8 beats, one bin per grid unit.</summary>
    public const int BeatsStepBins = 8 * MusicGen.Midi.BeatFeatures.GridPerBeat + 1, BeatsDurationBins = 8 * MusicGen.Midi.BeatFeatures.GridPerBeat;

    public static IReadOnlyList<string> Names { get; } = ["pop", "classical"];

    /// <summary>What each preset is, in a line (for --help).</summary>
    public static string Describe(string name) => name switch
    {
        "pop" => "the embedded pop model: time in beats, lookback inputs from 1 and 2 bars back, a 2-layer LSTM of 256, every step predicting its next note, windows of 32, every 32nd window per epoch, 9 epochs (POP909)",
        "classical" => "the embedded classical model: the pop network in seconds, lookback inputs from 16 and 32 notes back, 6 epochs, every 4th validation window (ASAP, read with --sustain)",
        _ => throw new ArgumentException($"unknown preset '{name}' (known: {string.Join(", ", Names)})"),
    };

    /// <summary>The network and training options of preset <paramref name="name"/>.</summary>
    public static (ModelConfig Model, TrainOptions Options) Get(string name)
    {
        var model = new ModelConfig { Bidirectional = false, EveryStep = true, Hidden = 256, SeqLen = 32 };
        return name switch
        {
            "pop" => (model with { Time = MusicGen.Midi.TimeUnit.Beats, StepBins = BeatsStepBins, DurationBins = BeatsDurationBins, Lookback = LookbackKind.Bars },
                new TrainOptions { Stride = 32, Epochs = 9, ValidationStride = 4 }),
            "classical" => (model with { Lookback = LookbackKind.Notes }, new TrainOptions { Stride = 32, Epochs = 6, ValidationStride = 4 }),
            _ => throw new ArgumentException($"unknown preset '{name}' (known: {string.Join(", ", Names)})"),
        };
    }
}
