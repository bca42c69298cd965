namespace MusicGen.Midi;

/// <summary>
/// A major or minor key: <paramref name="Tonic"/> is a pitch class (0 = C ... 11 = B). Parses the forms a musician
/// writes ("C", "F#", "Bb", "Am", "c#m", "D minor", "Eb major") and estimates the key of notes with the
/// Krumhansl-Kessler profiles.
/// </summary>
public readonly record struct MusicKey(int Tonic, bool Minor)
{
    /// <summary>What <see cref="Parse"/> accepts, for error messages.</summary>
    public const string AcceptedForms = "a tonic A-G with an optional # or b, then m, min, minor, maj or major (for example C, F#, Bb, Am, C#m, \"D minor\")";

    /// <summary>Krumhansl-Kessler probe-tone profiles of C major and C minor.</summary>
    public static readonly double[] MajorProfile = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
    public static readonly double[] MinorProfile = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

    static readonly string[] SharpNames = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
    static readonly string[] FlatNames = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"];

    public static MusicKey Parse(string text)
    {
        if (TryParse(text, out var key)) return key;
        throw new FormatException($"key '{text}': write {AcceptedForms}");
    }

    public static bool TryParse(string? text, out MusicKey key)
    {
        key = default;
        var s = (text ?? "").Trim().Replace(" ", "").Replace("-", "");
        if (s.Length == 0) return false;
        int tonic = char.ToUpperInvariant(s[0]) switch { 'C' => 0, 'D' => 2, 'E' => 4, 'F' => 5, 'G' => 7, 'A' => 9, 'B' => 11, _ => -1 };
        if (tonic < 0) return false;
        int i = 1;
        if (i < s.Length && (s[i] == '#' || s[i] == '♯')) { tonic++; i++; }
        else if (i < s.Length && (s[i] == 'b' || s[i] == '♭')) { tonic--; i++; }
        string rest = s[i..];
        bool? minor = rest == "M" ? false // "CM": C major, as chord symbols write it
            : rest.ToLowerInvariant() switch { "" or "maj" or "major" => false, "m" or "min" or "minor" => true, _ => null };
        if (minor is null) return false;
        key = new MusicKey(((tonic % 12) + 12) % 12, minor.Value);
        return true;
    }

    /// <summary>Sharps (positive) or flats (negative) of the key signature, -7..7, as a MIDI key-signature event holds them.</summary>
    public int SharpsFlats
    {
        get
        {
            int major = Minor ? (Tonic + 3) % 12 : Tonic;          // the relative major
            int fifths = (major * 7) % 12;                          // steps round the circle of fifths from C
            return fifths > 6 ? fifths - 12 : fifths == 6 ? 6 : fifths; // F# major (6 sharps) rather than Gb (6 flats)
        }
    }

    /// <summary>"C major", "F# minor", "Bb major": flats for keys whose signature has flats.</summary>
    public override string ToString() => $"{(SharpsFlats < 0 ? FlatNames : SharpNames)[Tonic]} {(Minor ? "minor" : "major")}";

    /// <summary>The relative major or minor (same key signature): A minor for C major.</summary>
    public MusicKey Relative => Minor ? new MusicKey((Tonic + 3) % 12, false) : new MusicKey((Tonic + 9) % 12, true);

    /// <summary>The profile weight of pitch class <paramref name="pitchClass"/> in this key.</summary>
    public double ProfileWeight(int pitchClass) => (Minor ? MinorProfile : MajorProfile)[((pitchClass - Tonic) % 12 + 12) % 12];

    /// <summary>The key whose Krumhansl-Kessler profile correlates best with the pitch-class counts (ties: the lower tonic, major first).</summary>
    public static MusicKey Estimate(ReadOnlySpan<double> pitchClassCounts)
    {
        double best = double.NegativeInfinity;
        var key = new MusicKey(0, false);
        double mx = 0;
        for (int k = 0; k < 12; k++) mx += pitchClassCounts[k] / 12;
        foreach (bool minor in new[] { false, true })
            for (int tonic = 0; tonic < 12; tonic++)
            {
                var profile = minor ? MinorProfile : MajorProfile;
                double my = profile.Average(), sxy = 0, sxx = 0, syy = 0;
                for (int k = 0; k < 12; k++)
                {
                    double a = pitchClassCounts[k] - mx, b = profile[((k - tonic) % 12 + 12) % 12] - my;
                    sxy += a * b; sxx += a * a; syy += b * b;
                }
                double r = sxx > 0 && syy > 0 ? sxy / Math.Sqrt(sxx * syy) : 0;
                if (r > best + 1e-12) { best = r; key = new MusicKey(tonic, minor); }
            }
        return key;
    }

    /// <summary>The key of <paramref name="pitches"/> (MIDI keys), each note counted once.</summary>
    public static MusicKey Estimate(IEnumerable<int> pitches)
    {
        var counts = new double[12];
        foreach (int p in pitches) counts[((p % 12) + 12) % 12]++;
        return Estimate(counts);
    }
}
