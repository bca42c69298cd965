using MusicGen.Midi;

namespace MusicGen.Model.Music;

/// <summary>
/// The musical statistics of one piece (or one segment of a real piece), as a listener would notice them. Notes
/// are read in onset order, ties by pitch (a chord from the bottom up), whatever order they were written in.
/// Scalars are compared set against set by kernel-density overlap, histograms by intersection (<see cref="MusicComparison"/>).
/// </summary>
public sealed class PieceFeatures
{
    /// <summary>Onsets closer than this to the previous note's are one chord (the same threshold as the step bins).</summary>
    public const double ChordSeconds = NoteBins.ChordSeconds;

    /// <summary>Scalar features, by name, in table order.</summary>
    public required IReadOnlyDictionary<string, double> Scalars { get; init; }
    /// <summary>Histograms, by name, as counts (their sums differ: intersection normalises).</summary>
    public required IReadOnlyDictionary<string, double[]> Histograms { get; init; }
    /// <summary>The estimated key: tonic pitch class 0-11 and mode.</summary>
    public int Tonic { get; init; }
    public bool Minor { get; init; }

    /// <summary>Edges of the step histogram (seconds): a chord bin [0, 0.02), then log-spaced up to 4 s, then "longer".</summary>
    public static readonly double[] StepEdges = [0, ChordSeconds, 0.04, 0.07, 0.1, 0.14, 0.2, 0.28, 0.4, 0.57, 0.8, 1.13, 1.6, 2.26, 3.2, double.PositiveInfinity];
    /// <summary>Edges of the duration histogram (seconds), log-spaced.</summary>
    public static readonly double[] DurationEdges = [0, 0.05, 0.07, 0.1, 0.14, 0.2, 0.28, 0.4, 0.57, 0.8, 1.13, 1.6, 2.26, 3.2, double.PositiveInfinity];

    static readonly int[] MajorScale = [0, 2, 4, 5, 7, 9, 11];
    static readonly int[] MinorScale = [0, 2, 3, 5, 7, 8, 10, 11]; // natural minor plus the raised leading tone (harmonic minor)

    public static PieceFeatures Of(IReadOnlyList<Note> unordered) => Of(unordered, null);

    /// <param name="grid">A piece in beats: its tempo and bar length, with a bar line at time 0. Adds "onsets on the grid"
    /// (within 1/48 beat of the 1/12-beat grid) and "notes on downbeats".</param>
    public static PieceFeatures Of(IReadOnlyList<Note> unordered, PieceGrid? grid)
    {
        var notes = unordered.OrderBy(n => n.Start).ThenBy(n => n.Pitch).ToArray();
        int N = notes.Length;
        if (N < 2) throw new ArgumentException("a piece needs at least 2 notes to be described");

        // Pitch.
        var pcCounts = new double[12];
        foreach (var n in notes) pcCounts[n.Pitch % 12]++;
        var (tonic, minor) = Key(pcCounts);
        var keyRelative = new double[12];
        for (int k = 0; k < 12; k++) keyRelative[k] = pcCounts[(k + tonic) % 12];
        var scale = minor ? MinorScale : MajorScale;
        double inScale = notes.Count(n => scale.Contains(((n.Pitch - tonic) % 12 + 12) % 12)) / (double)N;
        double entropy = 0;
        foreach (double c in pcCounts) if (c > 0) entropy -= c / N * Math.Log2(c / N);

        // Successive notes: intervals, repeats, steps.
        var intervals = new double[25];                           // -12..+12 semitones (wider ones in the end bins)
        var steps = new double[StepEdges.Length - 1];
        var durations = new double[DurationEdges.Length - 1];
        int same = 0, run = 1, longest = 1, chordNotes = 0;
        var intervalSeq = new int[N - 1];
        for (int i = 1; i < N; i++)
        {
            int d = notes[i].Pitch - notes[i - 1].Pitch;
            intervalSeq[i - 1] = d;
            intervals[Math.Clamp(d, -12, 12) + 12]++;
            if (d == 0) { same++; run++; longest = Math.Max(longest, run); } else run = 1;
            double step = notes[i].Start - notes[i - 1].Start;
            steps[Bin(StepEdges, step)]++;
            if (step < ChordSeconds) chordNotes++;
        }
        foreach (var n in notes) durations[Bin(DurationEdges, n.Duration)]++;
        double longestRepeat = (LongestRepeat(intervalSeq) + 1) / (double)N;

        // Repeated motifs: the fraction of interval 4-grams that already occurred earlier in the piece.
        var seen = new HashSet<(int, int, int, int)>();
        int grams = 0, repeated = 0;
        for (int i = 0; i + 4 <= intervalSeq.Length; i++, grams++)
            if (!seen.Add((intervalSeq[i], intervalSeq[i + 1], intervalSeq[i + 2], intervalSeq[i + 3]))) repeated++;

        // Onsets: groups of notes starting within ChordSeconds of the previous; at each, how many notes sound.
        var onsets = new List<double> { notes[0].Start };
        for (int i = 1; i < N; i++) if (notes[i].Start - notes[i - 1].Start >= ChordSeconds) onsets.Add(notes[i].Start);
        double sounding = 0;
        foreach (double t in onsets)
            sounding += notes.Count(n => n.Start < t + ChordSeconds && n.End > t);
        double span = notes[^1].Start - notes[0].Start;
        double meanDuration = notes.Average(n => n.Duration);
        double sdDuration = Math.Sqrt(notes.Average(n => (n.Duration - meanDuration) * (n.Duration - meanDuration)));
        double meanVelocity = notes.Average(n => (double)n.Velocity);
        double sdVelocity = Math.Sqrt(notes.Average(n => (n.Velocity - meanVelocity) * (n.Velocity - meanVelocity)));

        var scalars = new Dictionary<string, double>
            {
                ["chord fraction"] = chordNotes / (double)(N - 1),
                ["duration sd/mean"] = meanDuration > 0 ? sdDuration / meanDuration : 0,
                ["notes sounding per onset"] = sounding / onsets.Count,
                ["notes per second"] = span > 0 ? (N - 1) / span : 0,
                ["repeated interval 4-grams"] = grams > 0 ? repeated / (double)grams : 0,
                ["longest exact repeat"] = longestRepeat,
                ["pitch range"] = notes.Max(n => n.Pitch) - notes.Min(n => n.Pitch),
                ["distinct pitches"] = notes.Select(n => n.Pitch).Distinct().Count(),
                ["pitch-class entropy"] = entropy,
                ["scale fit"] = inScale,
                ["same-pitch fraction"] = same / (double)(N - 1),
                ["longest same-pitch run"] = longest,
                ["velocity sd"] = sdVelocity,
            };
        if (grid is { } g)
        {
            double perBeat = g.Bpm / 60;
            scalars["onsets on the grid"] = notes.Count(n => OffGrid(n.Start * perBeat * 12) <= 0.25) / (double)N;
            scalars["notes on downbeats"] = notes.Count(n => OffGrid(n.Start * perBeat / g.BarBeats) * g.BarBeats <= 1.0 / 48) / (double)N;
        }
        return new PieceFeatures
        {
            Tonic = tonic, Minor = minor,
            Scalars = scalars,
            Histograms = new Dictionary<string, double[]>
            {
                ["step histogram"] = steps,
                ["duration histogram"] = durations,
                ["interval histogram"] = intervals,
                ["key-relative pitch classes"] = keyRelative,
            },
        };
    }

    static double OffGrid(double x) => Math.Abs(x - Math.Round(x));

    /// <summary>
    /// The longest run of intervals that occurs twice without overlapping itself (a repeated motif, at any transposition):
    /// over every shift k, the longest run of equal intervals between positions i and i+k, capped at k.
    /// </summary>
    public static int LongestRepeat(int[] intervals)
    {
        int best = 0;
        for (int k = 1; k < intervals.Length; k++)
        {
            int run = 0;
            for (int i = 0; i + k < intervals.Length; i++)
            {
                run = intervals[i] == intervals[i + k] ? run + 1 : 0;
                best = Math.Max(best, Math.Min(run, k));
            }
        }
        return best;
    }

    static int Bin(double[] edges, double x)
    {
        for (int k = 1; k < edges.Length; k++) if (x < edges[k]) return k - 1;
        return edges.Length - 2;
    }

    /// <summary>The key whose Krumhansl-Kessler profile correlates best with the pitch-class counts (<see cref="MusicKey.Estimate(ReadOnlySpan{double})"/>).</summary>
    public static (int Tonic, bool Minor) Key(double[] pcCounts)
    {
        var k = MusicKey.Estimate(pcCounts);
        return (k.Tonic, k.Minor);
    }

}

/// <summary>A piece in beats: <paramref name="Bpm"/> and <paramref name="BarBeats"/> beats a bar, a bar line at time 0.</summary>
public readonly record struct PieceGrid(double Bpm, double BarBeats);
