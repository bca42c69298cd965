using System.Runtime.InteropServices;
using MusicGen.Midi;

namespace MusicGen.Model;

/// <summary>What to generate.</summary>
/// <param name="Notes">Notes to generate per piece (the primer is not counted).</param>
/// <param name="Count">Pieces generated together in one batched pass.</param>
/// <param name="Length">When &gt; 0: generate until every piece's new notes start at or after this much time, in the model's unit
/// (seconds, or beats for a beats-mode model), counted from the first new note; then the caller trims.</param>
public sealed record GenerateOptions(int Notes = 200, int Count = 1, ulong Seed = 1, SamplingOptions? Sampling = null, float MinDuration = 0.05f, double Length = 0)
{
    /// <summary>The most notes a --seconds run may take (a model that predicts zero steps would otherwise never reach the time).</summary>
    public const int MaxNotes = 100_000;

    /// <summary>Beats mode: the place in its bar of the primers' first note (their later notes' places follow from the steps).</summary>
    public BarPlace FirstPlace { get; init; } = new(0, 4);

    /// <summary>A key to steer pitch towards: each pitch's logit gets <see cref="KeyStrength"/> x ln(its Krumhansl-Kessler
    /// weight in the key / the tonic's), so out-of-key notes grow rarer and the tonic triad commoner; null: no steering.</summary>
    public MusicKey? Key { get; init; }
    public float KeyStrength { get; init; } = 1f;

    /// <summary>When given, filled with what the network computed for the first piece at each new note.</summary>
    public GenerationTrace? Trace { get; init; }
}

/// <summary>
/// Autoregressive generation: the model sees the last T notes of each piece and proposes the next.
/// Pitch is sampled (temperature, top-k, top-p, repetition penalty). A categorical model's step, duration and
/// velocity are sampled too, each from its own bins with its own temperature and top-p, independently given the
/// history, and written as the bin's value (<see cref="NoteBins"/>; the chord bin is a step of exactly 0).
/// A regression model's step and duration are the regression head's predictions (its conditional mean), clipped
/// to [0, MaxSeconds] (duration at least MinDuration). Velocity is predicted when the model has a velocity head,
/// else the primer's mean velocity.
/// A bidirectional model re-runs its whole window of the last T notes for every note (its backward half must
/// re-read the window); a unidirectional model reads the primer once (its last T notes, or all of it when the
/// model was trained on every step and so knows any context length) and then carries its LSTM state, one time
/// step per note. All pieces run as one batch.
/// </summary>
public static class Generator
{
    /// <summary>The fewest primer notes the model can start from: its window, or 1 for an every-step model.</summary>
    public static int MinPrimer(ModelConfig c) => c.EveryStep ? 1 : c.SeqLen;

    /// <summary>The built-in primer for a model: the arpeggio, as long as the model's window (at most 12 notes for an every-step model).</summary>
    public static NoteRow[] DefaultPrimer(ModelConfig c) => DefaultPrimer(c.EveryStep ? Math.Min(c.SeqLen, 12) : c.SeqLen);

    /// <summary>A built-in primer (a C-major arpeggio, quarter notes at 120 bpm) for when none is given.</summary>
    public static NoteRow[] DefaultPrimer(int length) => Arpeggio(length, 60, minor: false);

    /// <summary>An arpeggio of the triad on <paramref name="root"/> (root, third, fifth, octave, fifth, third ...), quarter notes at 120 bpm.</summary>
    public static NoteRow[] Arpeggio(int length, int root, bool minor)
    {
        int[] pitches = [root, root + (minor ? 3 : 4), root + 7, root + 12, root + 7, root + (minor ? 3 : 4)];
        return Enumerable.Range(0, length).Select(i => new NoteRow(pitches[i % pitches.Length], i == 0 ? 0 : 0.5f, 0.45f, 80)).ToArray();
    }

    /// <summary>
    /// Built-in primers for <paramref name="count"/> pieces, so that pieces differ: each in one of the 24 major and
    /// minor keys drawn from the seed, its root between C3 and B3. An every-step model gets only the key's triad as one
    /// block chord (3 notes; what follows is the model's own opening); a windowed model the key's arpeggio, as long as its window.
    /// </summary>
    /// <param name="key">When given, every primer is in this key (root between C3 and B3) instead of a drawn one.</param>
    public static NoteRow[][] RandomPrimers(ModelConfig c, int count, ulong seed, MusicKey? key = null)
    {
        var primers = new NoteRow[count][];
        // Beats mode counts time in beats: the 0.5 s steps of 120 bpm are one beat.
        float unit = c.Beats ? 2f : 1f;
        for (int i = 0; i < count; i++)
        {
            var rng = new SplitMix(seed * 0xA24BAED4963EE407UL + (ulong)i + 1);
            int root = 48 + rng.NextInt(12);
            bool minor = rng.NextInt(2) == 1;
            if (key is { } k) (root, minor) = (48 + k.Tonic, k.Minor);
            var primer = c.EveryStep
                ? [new NoteRow(root, 0, 1f, 70), new NoteRow(root + (minor ? 3 : 4), 0, 1f, 70), new NoteRow(root + 7, 0, 1f, 70)]
                : Arpeggio(c.SeqLen, root, minor);
            primers[i] = primer.Select(r => r with { Step = r.Step * unit, Duration = r.Duration * unit }).ToArray();
        }
        return primers;
    }

    /// <summary>Generates <see cref="GenerateOptions.Count"/> pieces from one primer; each is the primer followed by the new notes.</summary>
    public static List<NoteRow[]> Generate(MusicModel model, ReadOnlySpan<NoteRow> primer, GenerateOptions o)
    {
        var one = primer.ToArray();
        return Generate(model, Enumerable.Repeat(one, Math.Max(o.Count, 1)).ToArray(), o);
    }

    /// <summary>Generates one piece per primer (all of one length; <see cref="GenerateOptions.Count"/> must match); each is its primer followed by the new notes.</summary>
    public static List<NoteRow[]> Generate(MusicModel model, IReadOnlyList<NoteRow[]> primers, GenerateOptions o)
    {
        var c = model.Config;
        if (primers.Count != o.Count) throw new ArgumentException($"{primers.Count} primers for a count of {o.Count}");
        if (primers.Any(p => p.Length != primers[0].Length)) throw new ArgumentException("the primers of one batch must have one length");
        ReadOnlySpan<NoteRow> primer = primers.Count > 0 ? primers[0] : [];
        var sampling = o.Sampling ?? SamplingOptions.MeasuredFor(c); // the CLI's defaults
        sampling.Validate();
        if (o.Count < 1) throw new SettingException("count", $"must be at least 1 (got {o.Count})");
        if (o.Length <= 0 && o.Notes < 1) throw new SettingException("notes", $"must be at least 1 (got {o.Notes})");
        if (o.Length < 0 || double.IsNaN(o.Length)) throw new ArgumentException($"the length must be positive (got {o.Length})");
        if (!(o.KeyStrength >= 0 && o.KeyStrength <= 10)) throw new ArgumentException($"the key strength must be in [0, 10] (got {o.KeyStrength})");
        if (primer.Length < MinPrimer(c)) throw new ArgumentException($"the primer has {primer.Length} notes; the model needs at least {MinPrimer(c)}");

        int C = o.Count, R = c.RegressionHeads, K = c.ClassCount;
        float velocity = primer.Length > 0 ? (float)primer.ToArray().Average(n => n.Velocity) : 80f;
        var pieces = primers.Select(p => new List<NoteRow>(p)).ToList();
        // Beats mode: every note's place in its bar, walked from the first primer note's place by the steps.
        var places = c.Beats ? primers.Select(p => Places(p, o.FirstPlace)).ToList() : null;
        var keyBias = KeyBias(o.Key, o.KeyStrength);
        var bins = c.Categorical ? new NoteBins(c) : null;
        SamplingOptions stepSampling = sampling.Step.AsOptions(), durationSampling = sampling.Duration.AsOptions(), velocitySampling = sampling.Velocity.AsOptions();
        var stepCondition = model.StepConditionTable();
        var rngs = Enumerable.Range(0, C).Select(i => new SplitMix(o.Seed * 0x9E3779B97F4A7C15UL + (ulong)i)).ToArray();
        var window = new Batch(c, C, c.EveryStep ? primer.Length : c.SeqLen);
        // A unidirectional model carries its (h, c) from note to note: after reading the primer's window once,
        // each new note costs one time step. A bidirectional one re-reads the whole window every note.
        using var state = c.Bidirectional ? null : model.NewState(C);
        var single = c.Bidirectional ? null : new Batch(c, C, steps: 1);
        var elapsed = new double[C];
        int limit = o.Length > 0 ? GenerateOptions.MaxNotes : o.Notes;
        for (int step = 0; step < limit; step++)
        {
            if (o.Length > 0 && elapsed.All(e => e >= o.Length)) break;
            Batch batch;
            if (single is not null && step > 0)
            {
                for (int b = 0; b < C; b++) single.SetInput(b, CollectionsMarshal.AsSpan(pieces[b]), 0, pieces[b].Count - 1, 0, c, places is null ? default : places[b][^1]);
                batch = single;
            }
            else
            {
                for (int b = 0; b < C; b++) FillWindow(window, b, C, pieces[b], places?[b], c);
                batch = window;
            }
            model.Forward(batch, training: false, state: state);
            var (logits, reg) = model.Outputs(C, batch.Steps);
            o.Trace?.ReadNetwork(model, C, batch.Steps);
            // Each piece draws from its own generator, so the pieces can be sampled in parallel and stay reproducible.
            if (C >= 16) Parallel.For(0, C, SampleNote);
            else for (int b = 0; b < C; b++) SampleNote(b);

            void SampleNote(int b)
            {
                var piece = pieces[b];
                int recentCount = Math.Min(sampling.RepetitionWindow, piece.Count);
                Span<int> recent = stackalloc int[recentCount];
                for (int i = 0; i < recentCount; i++) recent[i] = (int)piece[piece.Count - 1 - i].Pitch;
                var row = logits.AsSpan(b * K, K);
                float stepSeconds, duration, vel;
                int pitch;
                if (bins is not null)
                {
                    // Each feature's bins are their own softmax. Independent heads: each drawn on its own given the
                    // history. Step-first: the step is drawn first and its row of offsets added to the other heads.
                    int o1 = MusicModel.Pitches, o2 = o1 + bins.StepBins, o3 = o2 + bins.DurationBins;
                    int stepBin = -1;
                    if (stepCondition is not null)
                    {
                        stepBin = Sampler.Draw(Sampler.Distribution(row[o1..o2], stepSampling), rngs[b].NextDouble());
                        var offsets = stepCondition.AsSpan(stepBin * K, K);
                        for (int j = 0; j < K; j++) if (j < o1 || j >= o2) row[j] += offsets[j];
                    }
                    if (keyBias is not null) for (int j = 0; j < MusicModel.Pitches; j++) row[j] += keyBias[j];
                    // A chord (a step of 0) cannot strike a key it has already struck: those pitches are left out.
                    if (stepBin >= 0 && bins.StepValues[stepBin] == 0)
                        for (int i = piece.Count - 1; i >= 0; i--)
                        {
                            row[(int)piece[i].Pitch] = -1e9f;
                            if (piece[i].Step != 0 || i == 0) break;
                        }
                    var p = Sampler.Distribution(row[..MusicModel.Pitches], sampling, recent);
                    pitch = Sampler.Draw(p, rngs[b].NextDouble());
                    if (b == 0) o.Trace?.Add(pitch, p);
                    if (stepBin < 0) stepBin = Sampler.Draw(Sampler.Distribution(row[o1..o2], stepSampling), rngs[b].NextDouble());
                    stepSeconds = bins.StepValues[stepBin];
                    duration = Math.Max(bins.DurationValues[Sampler.Draw(Sampler.Distribution(row[o2..o3], durationSampling), rngs[b].NextDouble())], o.MinDuration);
                    vel = c.Velocity ? bins.VelocityValues[Sampler.Draw(Sampler.Distribution(row[o3..], velocitySampling), rngs[b].NextDouble())] : velocity;
                }
                else
                {
                    if (keyBias is not null) for (int j = 0; j < MusicModel.Pitches; j++) row[j] += keyBias[j];
                    var p = Sampler.Distribution(row, sampling, recent);
                    pitch = Sampler.Draw(p, rngs[b].NextDouble());
                    if (b == 0) o.Trace?.Add(pitch, p);
                    stepSeconds = Math.Clamp(reg[b * R], 0f, c.MaxSeconds);
                    duration = Math.Clamp(reg[b * R + 1], o.MinDuration, c.MaxSeconds);
                    vel = c.Velocity ? Math.Clamp(reg[b * R + 2] * 127f, 1f, 127f) : velocity;
                }
                piece.Add(new NoteRow(pitch, stepSeconds, duration, MathF.Round(vel)));
                if (places is not null) places[b].Add(places[b][^1].After(stepSeconds));
                if (step > 0) elapsed[b] += stepSeconds; // the first new note starts the generated part at 0
            }
        }
        return pieces.Select(p => p.ToArray()).ToList();
    }

    /// <summary>Puts the last batch.Steps notes of a piece in row b of a batch, with the training features.</summary>
    static void FillWindow(Batch batch, int b, int B, List<NoteRow> piece, List<BarPlace>? places, ModelConfig c)
    {
        int T = batch.Steps;
        for (int t = 0; t < T; t++) batch.SetInput(t * B + b, CollectionsMarshal.AsSpan(piece), 0, piece.Count - T + t, 0, c, places is null ? default : places[piece.Count - T + t]);
    }

    /// <summary>Beats mode: the place in its bar of every row, the first at <paramref name="first"/>, each later one after its step.</summary>
    public static List<BarPlace> Places(ReadOnlySpan<NoteRow> rows, BarPlace first)
    {
        var places = new List<BarPlace>(rows.Length + 256);
        for (int i = 0; i < rows.Length; i++) places.Add(i == 0 ? first : places[^1].After(rows[i].Step));
        return places;
    }

    /// <summary>Per-pitch logit offsets that steer towards <paramref name="key"/>: strength x ln(weight / tonic weight) of the Krumhansl-Kessler profile.</summary>
    public static float[]? KeyBias(MusicKey? key, float strength)
    {
        if (key is not { } k || strength == 0) return null;
        var bias = new float[MusicModel.Pitches];
        double tonic = k.ProfileWeight(k.Tonic);
        for (int p = 0; p < bias.Length; p++) bias[p] = (float)(strength * Math.Log(k.ProfileWeight(p % 12) / tonic));
        return bias;
    }
}
