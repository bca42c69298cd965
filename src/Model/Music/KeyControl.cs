using MusicGen.Midi;

namespace MusicGen.Model.Music;

/// <summary>How often composing in an asked key gives a piece in that key.</summary>
/// <param name="Hits">Pieces whose estimated key (Krumhansl-Kessler, over the piece's notes) is the asked key.</param>
/// <param name="Relatives">Pieces estimated in the asked key's relative major or minor (same signature, other tonic): a miss.</param>
/// <param name="Pieces">The pieces composed: the 24 major and minor keys in turn.</param>
/// <param name="ScaleFit">The pieces' mean "scale fit" (<see cref="PieceFeatures"/>): near 1, steering has pushed out every
/// note outside the scale, which real music does not (POP909's test segments: 0.96).</param>
public sealed record KeyControlResult(float Strength, int Pieces, int Hits, int Relatives, double ScaleFit, double Seconds)
{
    public double HitRate => Hits / (double)Pieces;
    public double RelativeRate => Relatives / (double)Pieces;
}

/// <summary>
/// Measures <c>generate --key</c>: <paramref name="count"/> pieces, asked in the 24 keys in turn (C major, C# major ...
/// B minor), each composed as the CLI composes it (built-in primer in the key, pitch steered at the given strength),
/// and each piece's key estimated from its notes.
/// </summary>
public static class KeyControl
{
    public static KeyControlResult Measure(MusicModel model, int count, int notes, float strength, ulong seed, SamplingOptions? sampling = null)
    {
        if (count < 1) throw new SettingException("count", $"must be at least 1 (got {count})");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int hits = 0, relatives = 0;
        double scaleFit = 0;
        for (int k = 0; k < 24; k++)
        {
            int pieces = count / 24 + (k < count % 24 ? 1 : 0);
            if (pieces == 0) continue;
            var key = new MusicKey(k % 12, k >= 12);
            var composed = Composer.Compose(model, new ComposeRequest
            {
                Notes = notes, Count = pieces, Seed = seed + (ulong)k * 1000, Key = key, KeyStrength = strength, Sampling = sampling,
            });
            foreach (var p in composed)
            {
                var estimated = MusicKey.Estimate(p.Notes.Select(n => n.Pitch));
                scaleFit += p.Notes.Count >= 2 ? PieceFeatures.Of(p.Notes).Scalars["scale fit"] / count : 0;
                if (estimated == key) hits++;
                else if (estimated == key.Relative) relatives++;
            }
        }
        return new KeyControlResult(strength, count, hits, relatives, scaleFit, clock.Elapsed.TotalSeconds);
    }
}
