using MusicGen.Midi;
using MusicGen.Midi.Corpus;

namespace MusicGen.Model.Music;

/// <summary>One line of the comparison: a feature, each set's mean, and how much their distributions overlap (1: the same, 0: disjoint).</summary>
public sealed record FeatureComparison(string Name, bool IsHistogram, double ReferenceMean, double CandidateMean, double Overlap);

/// <summary>
/// Two sets of pieces compared feature by feature, after Yang and Lerch (2018), "On the evaluation of
/// generative models in music": each scalar feature's per-piece values form a distribution per set, estimated by a
/// Gaussian kernel density (Silverman's bandwidth); the score is the area under the smaller of the two densities.
/// Each histogram is pooled over a set and normalised; the score is its intersection, sum_k min(p_k, q_k).
/// </summary>
public static class MusicComparison
{
    /// <summary>The features the issue that introduced this measure scored (its "mean over all features").</summary>
    public static readonly string[] Headline =
    [
        "chord fraction", "duration sd/mean", "notes sounding per onset", "notes per second", "repeated interval 4-grams",
        "step histogram", "duration histogram", "interval histogram", "key-relative pitch classes",
    ];

    public static List<FeatureComparison> Compare(IReadOnlyList<PieceFeatures> reference, IReadOnlyList<PieceFeatures> candidate)
    {
        if (reference.Count == 0 || candidate.Count == 0) throw new ArgumentException("both sets need at least one piece");
        var rows = new List<FeatureComparison>();
        // Features both sets have (a piece in beats has two more: onsets on the grid and notes on downbeats).
        foreach (string name in reference[0].Scalars.Keys.Where(candidate[0].Scalars.ContainsKey))
        {
            var a = reference.Select(p => p.Scalars[name]).ToArray();
            var b = candidate.Select(p => p.Scalars[name]).ToArray();
            rows.Add(new FeatureComparison(name, false, a.Average(), b.Average(), KdeOverlap(a, b)));
        }
        foreach (string name in reference[0].Histograms.Keys)
        {
            var a = Pool(reference.Select(p => p.Histograms[name]));
            var b = Pool(candidate.Select(p => p.Histograms[name]));
            rows.Add(new FeatureComparison(name, true, double.NaN, double.NaN, Intersection(a, b)));
        }
        return rows;
    }

    /// <summary>The histograms whose distances <see cref="Diversity"/> averages.</summary>
    public static readonly string[] DiversityHistograms = ["key-relative pitch classes", "interval histogram", "step histogram", "duration histogram"];

    /// <summary>
    /// How much the pieces of a set differ from each other: over every pair of pieces, the total-variation distance
    /// (half the L1 distance of the normalised histograms, 0 = the same, 1 = disjoint) of each of
    /// <see cref="DiversityHistograms"/>, averaged. A model that writes the same piece every time scores near 0; real
    /// music from many songs gives the level to compare with.
    /// </summary>
    public static double Diversity(IReadOnlyList<PieceFeatures> pieces)
    {
        if (pieces.Count < 2) return double.NaN;
        double sum = 0; long pairs = 0;
        for (int i = 0; i < pieces.Count; i++)
            for (int j = i + 1; j < pieces.Count; j++, pairs++)
                sum += DiversityHistograms.Average(h => 1 - Intersection(pieces[i].Histograms[h], pieces[j].Histograms[h]));
        return sum / pairs;
    }

    /// <summary>The mean overlap over the <see cref="Headline"/> features and over all of them.</summary>
    public static (double Headline, double All) Means(IReadOnlyList<FeatureComparison> rows) =>
        (rows.Where(r => Headline.Contains(r.Name)).Average(r => r.Overlap), rows.Average(r => r.Overlap));

    static double[] Pool(IEnumerable<double[]> histograms)
    {
        double[]? sum = null;
        foreach (var h in histograms)
        {
            sum ??= new double[h.Length];
            for (int k = 0; k < h.Length; k++) sum[k] += h[k];
        }
        return sum!;
    }

    /// <summary>sum_k min(p_k, q_k) of the two histograms normalised to sum 1 (0 when either is empty).</summary>
    public static double Intersection(double[] a, double[] b)
    {
        double sa = a.Sum(), sb = b.Sum();
        if (sa <= 0 || sb <= 0) return 0;
        double s = 0;
        for (int k = 0; k < a.Length; k++) s += Math.Min(a[k] / sa, b[k] / sb);
        return s;
    }

    /// <summary>
    /// The overlapping area of the two samples' Gaussian kernel densities, integral of min(p, q), by the trapezoid
    /// rule on 2,001 points. Bandwidth per sample: Silverman's rule 0.9 min(sd, IQR/1.34) n^(-1/5), at least 5 % of
    /// the pooled standard deviation (so a sample of one repeated value is a narrow spike, not a delta); two samples
    /// of the same single value overlap fully.
    /// </summary>
    public static double KdeOverlap(double[] a, double[] b)
    {
        var all = a.Concat(b).ToArray();
        double pooledSd = Sd(all);
        if (pooledSd == 0) return 1;
        double ha = Bandwidth(a, pooledSd), hb = Bandwidth(b, pooledSd), h = Math.Max(ha, hb);
        double lo = all.Min() - 4 * h, hi = all.Max() + 4 * h;
        const int points = 2001;
        double dx = (hi - lo) / (points - 1), area = 0, previous = 0;
        for (int i = 0; i < points; i++)
        {
            double x = lo + i * dx, m = Math.Min(Density(a, ha, x), Density(b, hb, x));
            if (i > 0) area += 0.5 * (m + previous) * dx;
            previous = m;
        }
        return Math.Clamp(area, 0, 1);
    }

    static double Density(double[] sample, double h, double x)
    {
        double s = 0;
        foreach (double v in sample) { double z = (x - v) / h; s += Math.Exp(-0.5 * z * z); }
        return s / (sample.Length * h * Math.Sqrt(2 * Math.PI));
    }

    static double Bandwidth(double[] v, double pooledSd)
    {
        var sorted = v.OrderBy(x => x).ToArray();
        double iqr = Quantile(sorted, 0.75) - Quantile(sorted, 0.25), sd = Sd(v);
        double spread = iqr > 0 ? Math.Min(sd, iqr / 1.34) : sd;
        return Math.Max(0.9 * spread * Math.Pow(v.Length, -0.2), 0.05 * pooledSd);
    }

    static double Quantile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int i = (int)pos;
        return i + 1 < sorted.Length ? sorted[i] + (pos - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
    }

    static double Sd(double[] v)
    {
        double m = v.Average();
        return Math.Sqrt(v.Average(x => (x - m) * (x - m)));
    }
}
