namespace MusicGen.Model;

/// <summary>How one categorical head (step, duration or velocity bins) is sampled: temperature and nucleus.</summary>
public readonly record struct HeadSampling(float Temperature = 1f, float TopP = 1f)
{
    public void Validate(string head)
    {
        if (!(Temperature > 0) || float.IsInfinity(Temperature)) throw new SettingException($"{head}-temperature", $"must be > 0 (got {Temperature})");
        if (!(TopP > 0 && TopP <= 1)) throw new SettingException($"{head}-top-p", $"must be in (0, 1] (got {TopP})");
    }

    /// <summary>The same as a <see cref="SamplingOptions"/> for <see cref="Sampler.Distribution"/> (no top-k, no penalty).</summary>
    public SamplingOptions AsOptions() => new(Temperature, 0, TopP, 1f, 0);
}

/// <summary>How the next pitch is drawn from the pitch head's logits (and, for a categorical model, step, duration and velocity from theirs).</summary>
/// <param name="Temperature">Divides the logits: &lt; 1 sharper, &gt; 1 flatter. Must be &gt; 0.</param>
/// <param name="TopK">Keep only the K most likely pitches (0: all).</param>
/// <param name="TopP">Nucleus: keep the smallest set of most likely pitches whose probability reaches P, in (0, 1].</param>
/// <param name="RepetitionPenalty">Logits of pitches used in the last <paramref name="RepetitionWindow"/> notes are divided by this
/// when positive and multiplied when negative (CTRL's rule); 1 disables it. Fights one-note loops.</param>
public sealed record SamplingOptions(float Temperature = 1f, int TopK = 0, float TopP = 1f, float RepetitionPenalty = 1f, int RepetitionWindow = 8)
{
    /// <summary>
    /// The defaults of generation, measured with <c>evaluate --music</c> on POP909 (docs/DEFAULT_MODEL.md): pitch at
    /// temperature 0.9 with nucleus 0.95, the other heads drawn as predicted. What the CLI uses and what
    /// <see cref="GenerateOptions"/> without sampling options uses, so a library caller gets the CLI's music.
    /// (The constructor's own defaults, temperature 1 and no nucleus, are the plain distribution.)
    /// </summary>
    public static SamplingOptions Measured { get; } = new(Temperature: 0.9f, TopK: 0, TopP: 0.95f, RepetitionPenalty: 1f, RepetitionWindow: 8);

    /// <summary>
    /// The defaults for a model that counts time in beats, measured the same way (docs/DEFAULT_MODEL.md): pitch at
    /// temperature 0.8 with nucleus 0.9, the step bins at temperature 0.9 and the duration bins' nucleus at 0.95. The
    /// pitch setting was chosen on POP909's validation split for issue 26's repetition targets (docs/EXPERIMENTS.md,
    /// "Sampling for memory"): a model that looks back a bar can copy it, and a cooler pitch keeps the copy going. The
    /// 97 step and 96 duration bins spread a thin tail over long values, which the plain distribution samples too often
    /// (fewer notes per second than real music).
    /// </summary>
    public static SamplingOptions MeasuredBeats { get; } = Measured with { Temperature = 0.8f, TopP = 0.9f, Step = new(0.9f, 1f), Duration = new(1f, 0.95f) };

    /// <summary>
    /// The defaults for a model that counts time in seconds and looks back by notes (the classical model's recipe),
    /// chosen on ASAP's validation split as <see cref="MeasuredBeats"/>' pitch was on POP909's (docs/EXPERIMENTS.md,
    /// "the classical model retrained"): pitch at temperature 0.6 with no nucleus. A model that can see the notes 16 and
    /// 32 back copies a figure when its pitch is drawn cool; one without lookback has nothing to copy and keeps <see cref="Measured"/>.
    /// At that pitch, the step bins at temperature 1.1 and the velocity bins at 0.7, chosen next on the same split
    /// (docs/EXPERIMENTS.md, "the classical model's step and velocity sampling"): as predicted, the classical model
    /// strikes too many notes together and varies its loudness more than real performances do.
    /// </summary>
    public static SamplingOptions MeasuredLookbackNotes { get; } = Measured with { Temperature = 0.6f, TopP = 1f, Step = new(1.1f, 1f), Velocity = new(0.7f, 1f) };

    /// <summary>The measured defaults for <paramref name="config"/>'s model.</summary>
    public static SamplingOptions MeasuredFor(ModelConfig config) =>
        config.Beats ? MeasuredBeats : config.Lookback == LookbackKind.Notes ? MeasuredLookbackNotes : Measured;

    /// <summary>Categorical models: how the step, duration and velocity bins are drawn.</summary>
    public HeadSampling Step { get; init; } = new(1f, 1f);
    public HeadSampling Duration { get; init; } = new(1f, 1f);
    public HeadSampling Velocity { get; init; } = new(1f, 1f);

    public void Validate()
    {
        Step.Validate("step"); Duration.Validate("duration"); Velocity.Validate("velocity");
        if (!(Temperature > 0) || float.IsInfinity(Temperature)) throw new SettingException("temperature", $"must be > 0 (got {Temperature})");
        if (TopK < 0) throw new SettingException("top-k", $"must be at least 1 (got {TopK})");
        if (!(TopP > 0 && TopP <= 1)) throw new SettingException("top-p", $"must be in (0, 1] (got {TopP})");
        if (!(RepetitionPenalty >= 1)) throw new SettingException("repetition-penalty", $"must be >= 1 (got {RepetitionPenalty})");
        if (RepetitionWindow < 0) throw new SettingException("repetition-window", "must be >= 0");
    }
}

/// <summary>Temperature, top-k and nucleus sampling over 128 pitches, in double precision, deterministic for a given uniform draw.</summary>
public static class Sampler
{
    /// <summary>The distribution the next pitch is drawn from: penalty, then temperature, softmax, top-k, top-p, renormalised.</summary>
    public static double[] Distribution(ReadOnlySpan<float> logits, SamplingOptions o, ReadOnlySpan<int> recentPitches = default)
    {
        int n = logits.Length;
        var z = new double[n];
        for (int j = 0; j < n; j++) z[j] = logits[j];
        if (o.RepetitionPenalty > 1)
        {
            var seen = new bool[n];
            foreach (int pitch in recentPitches) if ((uint)pitch < (uint)n) seen[pitch] = true;
            for (int j = 0; j < n; j++) if (seen[j]) z[j] = z[j] > 0 ? z[j] / o.RepetitionPenalty : z[j] * o.RepetitionPenalty;
        }
        double max = double.NegativeInfinity;
        for (int j = 0; j < n; j++) { z[j] /= o.Temperature; max = Math.Max(max, z[j]); }
        double sum = 0;
        for (int j = 0; j < n; j++) { z[j] = Math.Exp(z[j] - max); sum += z[j]; }
        for (int j = 0; j < n; j++) z[j] /= sum;

        int keep = o.TopK > 0 ? Math.Min(o.TopK, n) : n;
        if (keep == n && o.TopP >= 1) return z; // nothing to cut: the tempered softmax itself

        // Rank once, most likely first (a primitive-key sort: a comparison delegate measured several times slower),
        // then ties put in pitch order, so the support is deterministic.
        var order = new int[n];
        var keys = new double[n];
        for (int j = 0; j < n; j++) { order[j] = j; keys[j] = -z[j]; }
        Array.Sort(keys, order);
        for (int start = 0; start < n;)
        {
            int end = start + 1;
            while (end < n && keys[end] == keys[start]) end++;
            if (end - start > 1) Array.Sort(order, start, end - start);
            start = end;
        }
        if (o.TopP < 1)
        {
            double cumulative = 0;
            for (int r = 0; r < keep; r++)
            {
                cumulative += z[order[r]];
                if (cumulative >= o.TopP - 1e-12) { keep = r + 1; break; }
            }
        }
        var p = new double[n];
        double kept = 0;
        for (int r = 0; r < keep; r++) kept += z[order[r]];
        for (int r = 0; r < keep; r++) p[order[r]] = z[order[r]] / kept;
        return p;
    }

    /// <summary>Inverse-CDF draw with a uniform <paramref name="u"/> in [0, 1).</summary>
    public static int Draw(ReadOnlySpan<double> p, double u)
    {
        double c = 0;
        int last = 0;
        for (int j = 0; j < p.Length; j++)
        {
            if (p[j] <= 0) continue;
            last = j;
            c += p[j];
            if (u < c) return j;
        }
        return last;
    }
}
