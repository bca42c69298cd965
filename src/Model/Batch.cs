using MusicGen.Midi;
using MusicGen.Midi.Corpus;

namespace MusicGen.Model;

/// <summary>
/// One batch on the host, laid out for the model: time-major inputs [T, B, I] (scalar mode) or pitch ids
/// [T*B] plus continuous features [T*B, C] (embedding mode), and targets [rows, 1+R]: pitch index, then
/// step, duration[, velocity/127] as numbers (regression heads) or as bin indices (categorical heads,
/// <see cref="NoteBins"/>): rows = B (the note after each window), or T*B time-major
/// with <see cref="ModelConfig.EveryStep"/> (row t*B+b: the note after step t), whose last B rows are again
/// the notes after the windows.
/// </summary>
public sealed class Batch
{
    /// <param name="steps">Time steps per row: the model's window (default), or 1 to feed a single note to a model that carries its state.</param>
    public Batch(ModelConfig c, int size, int steps = 0)
    {
        Size = size;
        Steps = steps > 0 ? steps : c.SeqLen;
        Inputs = new float[Steps * size * c.InputSize];
        Ids = new float[Steps * size];
        Continuous = new float[Steps * size * c.Continuous];
        TargetRows = c.HeadRows(size, Steps);
        Targets = new float[TargetRows * (1 + c.RegressionHeads)];
        _bins = c.Categorical ? new NoteBins(c) : null;
    }

    readonly NoteBins? _bins;

    public int Size { get; }
    public int Steps { get; }
    public float[] Inputs { get; }
    public float[] Ids { get; }
    public float[] Continuous { get; }
    public float[] Targets { get; }
    public int TargetRows { get; }
    /// <summary>The pitch of the note after window b (the last step's target).</summary>
    public int TargetPitch(int b, ModelConfig c) => (int)Targets[(TargetRows - Size + b) * (1 + c.RegressionHeads)];

    /// <summary>The targets of one prediction (a row of <see cref="Targets"/>), transposed by <paramref name="shift"/>.</summary>
    public void SetTarget(int row, NoteRow n, int shift, ModelConfig c)
    {
        int R = c.RegressionHeads;
        Targets[row * (1 + R)] = n.Pitch + shift;
        if (_bins is not null)
        {
            Targets[row * (1 + R) + 1] = _bins.StepBin(n.Step);
            Targets[row * (1 + R) + 2] = _bins.DurationBin(n.Duration);
            if (c.Velocity) Targets[row * (1 + R) + 3] = _bins.VelocityBin(n.Velocity);
            return;
        }
        Targets[row * (1 + R) + 1] = c.ClipSeconds(n.Step);
        Targets[row * (1 + R) + 2] = c.ClipSeconds(n.Duration);
        if (c.Velocity) Targets[row * (1 + R) + 3] = n.Velocity / 127f;
    }

    /// <summary>
    /// The input features of one note (row = t*B + b), transposed by <paramref name="shift"/>: the one place features are made.
    /// Beats mode: <paramref name="place"/> is the note's place in its bar (<see cref="ModelConfig.BarInputs"/>).
    /// With <see cref="ModelConfig.Lookback"/>: <paramref name="near"/> and <paramref name="far"/> are its echoes (<see cref="Lookback.Echoes"/>).
    /// </summary>
    public void SetInput(int row, NoteRow n, int shift, ModelConfig c, BarPlace place = default, Echo near = default, Echo far = default)
    {
        float pitch = n.Pitch + shift, step = c.ClipSeconds(n.Step), duration = c.ClipSeconds(n.Duration), velocity = n.Velocity / 127f;
        Span<float> features;
        if (c.Input == InputKind.Embedding)
        {
            int C = c.Continuous;
            Ids[row] = pitch;
            features = Continuous.AsSpan(row * C, C);
        }
        else
        {
            int I = c.InputSize;
            Inputs[row * I] = pitch / 128f;
            features = Inputs.AsSpan(row * I + 1, I - 1);
        }
        features[0] = step; features[1] = duration;
        if (c.Velocity) features[2] = velocity;
        int next = c.Velocity ? 3 : 2;
        if (c.Beats) { SetBarInputs(features[next..], place); next += ModelConfig.BarInputs; }
        if (c.Lookback != LookbackKind.None)
        {
            Lookback.SetInputs(features[next..], near, n.Pitch, shift, c);
            Lookback.SetInputs(features[(next + Lookback.InputsPerEcho)..], far, n.Pitch, shift, c);
        }
    }

    /// <summary>
    /// Sets the inputs of note i of the piece rows[first..] (row = t*B + b), with its place and, when the model looks back, its
    /// echoes: what <see cref="Windows.Fill"/> and generation both call, so the two see the same features.
    /// </summary>
    public void SetInput(int row, ReadOnlySpan<NoteRow> rows, int first, int i, int shift, ModelConfig c, BarPlace place)
    {
        var (near, far) = Lookback.Echoes(rows, first, i, c, place);
        SetInput(row, rows[i], shift, c, place, near, far);
    }

    /// <summary>The <see cref="ModelConfig.BarInputs"/> of a note at <paramref name="place"/>: beat of the bar (one-hot of 8), grid position within the beat (one-hot of 12), bar length / 4.</summary>
    static void SetBarInputs(Span<float> f, BarPlace place)
    {
        const int G = BeatFeatures.GridPerBeat;
        f.Clear();
        int position = Math.Max(0, BeatFeatures.ToGrid(place.Position));
        f[Math.Min(position / G, 7)] = 1;
        f[8 + position % G] = 1;
        f[8 + G] = place.BarBeats / 4f;
    }
}

/// <summary>
/// Windows of <see cref="ModelConfig.SeqLen"/> notes whose next note is the label, never crossing a file
/// boundary, and their assembly into <see cref="Batch"/>es with feature scaling and optional transposition.
/// </summary>
public sealed class Windows
{
    /// <summary>Absolute index (in the corpus' note array) of each window's first note.</summary>
    public int[] Starts { get; }
    /// <summary>Absolute index of the first note of each window's file (index for index with <see cref="Starts"/>): how far back a lookback may read.</summary>
    public int[] FileStarts { get; }
    public NoteRow[] Notes { get; }
    /// <summary>Beats mode: each note's place in its bar (index for index with <see cref="Notes"/>); null in seconds mode.</summary>
    public BarPlace[]? Places { get; }
    /// <summary>The config the windows were cut for: its SeqLen is the window length.</summary>
    public ModelConfig Config => _c;
    readonly ModelConfig _c;

    /// <param name="fileFraction">Keep only this fraction of the split's files (1: all), chosen by a hash of each file's
    /// relative path: the same files for every seed and run, and a smaller fraction's files are a subset of a larger one's.</param>
    /// <param name="stride">Keep every Nth window (1: all): a quicker, evenly spread evaluation.</param>
    public Windows(NoteCorpus corpus, Split split, ModelConfig config, double fileFraction = 1, int stride = 1)
    {
        if (!(fileFraction > 0 && fileFraction <= 1)) throw new ArgumentException($"file fraction {fileFraction} outside (0, 1]");
        if (stride < 1) throw new ArgumentException($"window stride must be at least 1 (got {stride})");
        _c = config;
        if (config.Time != corpus.Time)
            throw new ArgumentException($"the model counts time in {config.Time.ToString().ToLowerInvariant()} and the corpus in {corpus.Time.ToString().ToLowerInvariant()}: prepare the corpus in {config.Time.ToString().ToLowerInvariant()}");
        Notes = corpus.Notes;
        Places = corpus.Places;
        var starts = new List<int>();
        var fileStarts = new List<int>();
        long n = 0;
        foreach (var f in corpus.Files)
        {
            if (f.Split != split || (fileFraction < 1 && FilePosition(f.RelativePath) >= fileFraction)) continue;
            for (int i = 0; i + config.SeqLen < f.NoteCount; i++, n++)
                if (n % stride == 0) { starts.Add(checked((int)f.FirstNote + i)); fileStarts.Add((int)f.FirstNote); }
        }
        Starts = [.. starts];
        FileStarts = [.. fileStarts];
    }

    /// <summary>A file's place in [0, 1), from a hash of its relative path: what <c>fileFraction</c> compares with.</summary>
    public static double FilePosition(string relativePath) =>
        (System.IO.Hashing.XxHash64.HashToUInt64(System.Text.Encoding.UTF8.GetBytes(relativePath), seed: 0x5EED) >> 11) * (1.0 / (1UL << 53));

    public int Count => Starts.Length;

    /// <summary>Fills <paramref name="batch"/> with the windows <paramref name="windowIndices"/>[from..from+B), each transposed by its shift.</summary>
    public void Fill(Batch batch, ReadOnlySpan<int> windowIndices, Func<int, int>? shiftOf = null)
    {
        Span<int> shifts = batch.Size <= 1024 ? stackalloc int[batch.Size] : new int[batch.Size];
        for (int b = 0; b < batch.Size; b++) shifts[b] = shiftOf?.Invoke(windowIndices[b]) ?? 0;
        Fill(batch, windowIndices, shifts);
    }

    /// <summary>Fills row b of <paramref name="batch"/> with window <paramref name="windowIndices"/>[b], transposed by <paramref name="shifts"/>[b].</summary>
    public void Fill(Batch batch, ReadOnlySpan<int> windowIndices, ReadOnlySpan<int> shifts)
    {
        var c = _c;
        int T = c.SeqLen, B = batch.Size;
        for (int b = 0; b < B; b++)
        {
            int w = windowIndices[b], start = Starts[w], shift = shifts[b];
            for (int t = 0; t < T; t++) batch.SetInput(t * B + b, Notes, FileStarts[w], start + t, shift, c, Places is null ? default : Places[start + t]);
            if (c.EveryStep)
                for (int t = 0; t < T; t++) batch.SetTarget(t * B + b, Notes[start + t + 1], shift, c);
            else batch.SetTarget(b, Notes[start + T], shift, c);
        }
    }

    /// <summary>
    /// The transposition of window w in an epoch: uniform in [-range, range] intersected with the shifts that
    /// keep every pitch of the window (inputs and label) within 0..127; drawn from a hash of (seed, epoch, w).
    /// </summary>
    public int Shift(int w, int range, ulong seed, int epoch)
    {
        if (range <= 0) return 0;
        int start = Starts[w], lo = 127, hi = 0;
        for (int t = 0; t <= _c.SeqLen; t++) { int p = (int)Notes[start + t].Pitch; lo = Math.Min(lo, p); hi = Math.Max(hi, p); }
        int min = Math.Max(-range, -lo), max = Math.Min(range, 127 - hi);
        if (min > max) return 0;
        var rng = new SplitMix(seed ^ (ulong)epoch * 0x9E3779B97F4A7C15UL ^ (ulong)w * 0xD1B54A32D192ED03UL);
        return min + rng.NextInt(max - min + 1);
    }

    /// <summary>A seeded Fisher-Yates permutation of the windows for one epoch.</summary>
    public int[] Shuffled(ulong seed, int epoch)
    {
        var order = Enumerable.Range(0, Count).ToArray();
        var rng = new SplitMix(seed * 0x2545F4914F6CDD1DUL + (ulong)epoch);
        for (int i = order.Length - 1; i > 0; i--)
        {
            int j = (int)(rng.Next() % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
