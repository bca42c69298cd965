namespace MusicGen.Model;

/// <summary>
/// The categories a categorical model predicts for a note's step, duration and velocity (see
/// <see cref="ModelConfig.Heads"/>). Each feature's bins are fixed by the config alone, so a checkpoint is enough
/// to rebuild them:
///   step:     bin 0 = "with the previous note" (step &lt; <see cref="ChordSeconds"/>, a chord), then
///             StepBins-1 log-spaced bins from ChordSeconds up to MaxSeconds;
///   duration: DurationBins log-spaced bins from <see cref="MinDurationSeconds"/> up to MaxSeconds;
///   velocity: VelocityBins equal bins over 1..127.
/// A bin's value (what generation writes when it samples that bin) is its geometric centre for times, its centre
/// for velocity, and exactly 0 for the chord bin. Times beyond the ends fall in the first or last bin.
/// </summary>
public sealed class NoteBins
{
    /// <summary>Onsets closer than this to the previous note's are one chord (the chord bin, step 0).</summary>
    public const float ChordSeconds = 0.02f;
    /// <summary>The shortest duration bin's lower edge.</summary>
    public const float MinDurationSeconds = 0.025f;

    readonly float[] _stepEdges, _durationEdges;   // lower edges of bins 1.. (step) and 1.. (duration), ascending

    readonly bool _beats;

    public NoteBins(ModelConfig c)
    {
        StepBins = c.StepBins;
        DurationBins = c.DurationBins;
        VelocityBins = c.VelocityBins;
        _beats = c.Beats;
        // Step: bins 1..S-1 split [ChordSeconds, MaxSeconds] evenly in log time; edge k is the lower edge of bin k.
        _stepEdges = LogEdges(ChordSeconds, c.MaxSeconds, StepBins - 1);
        StepValues = new float[StepBins];
        for (int k = 1; k < StepBins; k++) StepValues[k] = MathF.Sqrt(_stepEdges[k - 1] * _stepEdges[k]);
        _durationEdges = LogEdges(MinDurationSeconds, c.MaxSeconds, DurationBins);
        DurationValues = new float[DurationBins];
        for (int k = 0; k < DurationBins; k++) DurationValues[k] = MathF.Sqrt(_durationEdges[k] * _durationEdges[k + 1]);
        VelocityValues = new float[VelocityBins];
        for (int k = 0; k < VelocityBins; k++) VelocityValues[k] = 1 + 126f * (k + 0.5f) / VelocityBins;
        if (_beats)
        {
            for (int k = 0; k < StepBins; k++) StepValues[k] = k / (float)Grid;
            for (int k = 0; k < DurationBins; k++) DurationValues[k] = (k + 1) / (float)Grid;
        }
    }

    const int Grid = MusicGen.Midi.BeatFeatures.GridPerBeat;

    public int StepBins { get; }
    public int DurationBins { get; }
    public int VelocityBins { get; }
    /// <summary>The seconds each step bin stands for (bin 0: exactly 0, a chord).</summary>
    public float[] StepValues { get; }
    public float[] DurationValues { get; }
    public float[] VelocityValues { get; }

    /// <summary>n+1 edges from lo to hi, evenly spaced in log.</summary>
    static float[] LogEdges(float lo, float hi, int n)
    {
        var e = new float[n + 1];
        for (int k = 0; k <= n; k++) e[k] = (float)(lo * Math.Pow(hi / (double)lo, k / (double)n));
        return e;
    }

    /// <summary>Which of <paramref name="n"/> bins with lower edges edges[0..n) holds x (clamped to the ends).</summary>
    static int Find(float[] edges, int n, float x)
    {
        int lo = 0, hi = n - 1; // the last bin whose lower edge is <= x
        if (!(x >= edges[0])) return 0;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (edges[mid] <= x) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    public int StepBin(float time) => _beats ? Math.Clamp((int)MathF.Round(time * Grid), 0, StepBins - 1)
        : time < ChordSeconds ? 0 : 1 + Find(_stepEdges, StepBins - 1, time);
    public int DurationBin(float time) => _beats ? Math.Clamp((int)MathF.Round(time * Grid) - 1, 0, DurationBins - 1)
        : Find(_durationEdges, DurationBins, time);
    public int VelocityBin(float velocity) => Math.Clamp((int)((velocity - 1) * VelocityBins / 126f), 0, VelocityBins - 1);
}
