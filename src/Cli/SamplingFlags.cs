using System.CommandLine;
using MusicGen.Model;

namespace MusicGen.Cli;

/// <summary>
/// The sampling flags shared by <c>generate</c> and <c>evaluate --music</c>: temperature and top-p per head
/// (pitch, step, duration, velocity), top-k and the repetition penalty on pitch.
/// </summary>
public sealed class SamplingFlags
{
    /// <summary>The defaults, measured with <c>evaluate --music</c> on POP909 (docs/DEFAULT_MODEL.md).</summary>
    public static SamplingOptions Defaults => SamplingOptions.Measured;

    readonly Option<float> _temperature, _topP, _penalty, _stepT, _stepP, _durationT, _durationP, _velocityT, _velocityP;
    readonly Option<int?> _topK;
    readonly Option<int> _window;

    public SamplingFlags()
    {
        var d = Defaults;
        Option<float> F(string name, float value, string description) => new(name) { Description = description, DefaultValueFactory = _ => value };
        _temperature = F("--temperature", d.Temperature, $"Pitch sampling temperature (> 0; lower is safer; beats models: {SamplingOptions.MeasuredBeats.Temperature}; seconds models that look back by notes, such as the classical: {SamplingOptions.MeasuredLookbackNotes.Temperature})");
        _temperature.Aliases.Add("-t");
        _topK = new Option<int?>("--top-k") { Description = "Sample pitch from the K most likely (K >= 1; default: no limit)" };
        _topP = F("--top-p", d.TopP, $"Pitch nucleus: the smallest set of pitches with this much probability, in (0, 1] (beats models: {SamplingOptions.MeasuredBeats.TopP}; seconds models that look back by notes: {SamplingOptions.MeasuredLookbackNotes.TopP})");
        _penalty = F("--repetition-penalty", d.RepetitionPenalty, "Penalty (>= 1) on pitches used in the last --repetition-window notes (1: off)");
        _window = new Option<int>("--repetition-window") { Description = "Notes the repetition penalty looks back over", DefaultValueFactory = _ => d.RepetitionWindow };
        _stepT = F("--step-temperature", d.Step.Temperature, $"Categorical models: temperature of the step (onset) bins (beats models: {SamplingOptions.MeasuredBeats.Step.Temperature}; seconds models that look back by notes: {SamplingOptions.MeasuredLookbackNotes.Step.Temperature})");
        _stepP = F("--step-top-p", d.Step.TopP, "Categorical models: nucleus of the step bins");
        _durationT = F("--duration-temperature", d.Duration.Temperature, "Categorical models: temperature of the duration bins");
        _durationP = F("--duration-top-p", d.Duration.TopP, $"Categorical models: nucleus of the duration bins (beats models: {SamplingOptions.MeasuredBeats.Duration.TopP})");
        _velocityT = F("--velocity-temperature", d.Velocity.Temperature, $"Categorical models: temperature of the velocity bins (seconds models that look back by notes: {SamplingOptions.MeasuredLookbackNotes.Velocity.Temperature})");
        _velocityP = F("--velocity-top-p", d.Velocity.TopP, "Categorical models: nucleus of the velocity bins");
    }

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { _temperature, _topK, _topP, _penalty, _window, _stepT, _stepP, _durationT, _durationP, _velocityT, _velocityP }) cmd.Options.Add(o);
    }

    /// <summary>
    /// The measured defaults for <paramref name="config"/>'s model (<see cref="SamplingOptions.MeasuredFor"/>; without a
    /// model, a seconds model's), with every flag the user gave in their place. Throws ArgumentException (a one-line
    /// error) for a bad value.
    /// </summary>
    public SamplingOptions Read(ParseResult p, ModelConfig? config = null)
    {
        if (p.GetValue(_topK) is int k0 && k0 < 1) throw new ArgumentException($"--top-k must be at least 1 (got {k0})");
        var d = config is null ? Defaults : SamplingOptions.MeasuredFor(config);
        T Pick<T>(Option<T> o, T fallback) => p.GetResult(o) is { Implicit: false } ? p.GetValue(o)! : fallback;
        var s = new SamplingOptions(Pick(_temperature, d.Temperature), p.GetValue(_topK) ?? 0, Pick(_topP, d.TopP), Pick(_penalty, d.RepetitionPenalty), Pick(_window, d.RepetitionWindow))
        {
            Step = new HeadSampling(Pick(_stepT, d.Step.Temperature), Pick(_stepP, d.Step.TopP)),
            Duration = new HeadSampling(Pick(_durationT, d.Duration.Temperature), Pick(_durationP, d.Duration.TopP)),
            Velocity = new HeadSampling(Pick(_velocityT, d.Velocity.Temperature), Pick(_velocityP, d.Velocity.TopP)),
        };
        s.Validate();
        return s;
    }
}
