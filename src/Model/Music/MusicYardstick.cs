using MusicGen.Midi;
using MusicGen.Midi.Corpus;

namespace MusicGen.Model.Music;

/// <summary>A piece to score: its notes, and its grid when it is in beats (a bar line at time 0).</summary>
public sealed record ScoredPiece(List<Note> Notes, PieceGrid? Grid = null);

/// <summary>One feature's line: the means, and over the draws the mean and standard deviation of the model's overlap with
/// real music and of real music's overlap with other real music.</summary>
public sealed record YardstickRow(string Name, bool IsHistogram, bool IsHeadline, double RealMean, double ModelMean,
    double ModelOverlap, double ModelOverlapSd, double RealOverlap, double RealOverlapSd);

/// <summary>What <see cref="MusicYardstick.Run"/> measured.</summary>
public sealed record YardstickResult(
    IReadOnlyList<YardstickRow> Rows, int PiecesPerDraw, int Draws, Split Reference, Split Baseline,
    (double Mean, double Sd) ModelHeadline, (double Mean, double Sd) ModelAll, (double Mean, double Sd) RealHeadline, (double Mean, double Sd) RealAll,
    double RealDiversity, double ModelDiversity, IReadOnlyList<string> Warnings, ScoredPiece FirstReal, ScoredPiece FirstModel);

/// <summary>
/// The musical yardstick of <c>evaluate --music</c>: a model's pieces against real held-out music, feature by feature,
/// with real music against real music measured the same way for scale. Overlaps after Yang &amp; Lerch (2018)
/// (<see cref="MusicComparison"/>).
///
/// One draw: n segments of the reference split (n distinct files, one random segment each: no song gives two segments)
/// as the reference; against it, n model pieces (the candidate), and n segments of the baseline split drawn the same way
/// (real against real). Both comparisons use the same reference segments, the same n and the same sampler; every draw
/// draws again with the next seed, and each overlap is reported as its mean +- standard deviation over the draws.
/// n is the asked count, or fewer when a split has fewer long-enough files (a warning says so).
/// </summary>
public static class MusicYardstick
{
    /// <summary>Below this many pieces per set, an overlap is too noisy to steer by: the result warns.</summary>
    public const int FewestToJudge = 30;

    /// <param name="candidates">The model's (or a folder's) n pieces for a draw's seed.</param>
    public static YardstickResult Run(NoteCorpus corpus, Split reference, int count, int notes, int draws, ulong seed,
        Func<int, ulong, IReadOnlyList<ScoredPiece>> candidates, Action<string>? progress = null)
    {
        if (count < 2) throw new SettingException("count", $"must be at least 2 (got {count})");
        if (draws < 1) throw new SettingException("seeds", $"must be at least 1 (got {draws})");
        var baseline = reference == Split.Validation ? Split.Test : Split.Validation;
        var warnings = new List<string>();
        int available = Math.Min(LongFiles(corpus, reference, notes), LongFiles(corpus, baseline, notes));
        if (available < 2) throw new ArgumentException($"the {Name(reference)} and {Name(baseline)} splits need at least 2 files of {notes} notes or more each");
        int n = Math.Min(count, available);
        if (n < count)
            warnings.Add($"{n} segments per draw, not {count}: the {Name(LongFiles(corpus, reference, notes) <= LongFiles(corpus, baseline, notes) ? reference : baseline)} split has only {n} files of {notes} notes or more, and no file gives two segments");
        if (n < FewestToJudge)
            warnings.Add($"only {n} pieces per set: too few to judge by (at least {FewestToJudge}); differences of a few hundredths are noise");

        var modelRuns = new List<List<FeatureComparison>>();
        var realRuns = new List<List<FeatureComparison>>();
        double realDiversity = 0, modelDiversity = 0;
        ScoredPiece? firstReal = null, firstModel = null;
        for (int d = 0; d < draws; d++)
        {
            ulong drawSeed = seed + (ulong)d;
            progress?.Invoke($"draw {d + 1} of {draws} (seed {drawSeed}): {n} real {Name(reference)} segments, {n} {Name(baseline)} segments, {n} candidate pieces");
            var real = RealSegments(corpus, reference, n, notes, drawSeed);
            var other = RealSegments(corpus, baseline, n, notes, drawSeed ^ 0x5A5A5A5A5A5A5A5AUL);
            var model = candidates(n, drawSeed);
            if (model.Count < 2) throw new ArgumentException("the candidate set needs at least 2 pieces");
            var realFeatures = Features(real);
            var modelFeatures = Features(model);
            modelRuns.Add(MusicComparison.Compare(realFeatures, modelFeatures));
            realRuns.Add(MusicComparison.Compare(realFeatures, Features(other)));
            realDiversity += MusicComparison.Diversity(realFeatures) / draws;
            modelDiversity += MusicComparison.Diversity(modelFeatures) / draws;
            firstReal ??= real[0];
            firstModel ??= model[0];
        }

        var rows = modelRuns[0].Select((x, k) =>
        {
            var (m, ms) = MeanSd(modelRuns.Select(r => r[k].Overlap));
            var (rr, rs) = MeanSd(realRuns.Select(r => r[k].Overlap));
            return new YardstickRow(x.Name, x.IsHistogram, MusicComparison.Headline.Contains(x.Name),
                realRuns.Average(r => r[k].ReferenceMean), modelRuns.Average(r => r[k].CandidateMean), m, ms, rr, rs);
        }).ToList();
        return new YardstickResult(rows, n, draws, reference, baseline,
            MeanSd(modelRuns.Select(r => MusicComparison.Means(r).Headline)), MeanSd(modelRuns.Select(r => MusicComparison.Means(r).All)),
            MeanSd(realRuns.Select(r => MusicComparison.Means(r).Headline)), MeanSd(realRuns.Select(r => MusicComparison.Means(r).All)),
            realDiversity, modelDiversity, warnings, firstReal!, firstModel!);
    }

    static List<PieceFeatures> Features(IReadOnlyList<ScoredPiece> pieces) => pieces.Select(p => PieceFeatures.Of(p.Notes, p.Grid)).ToList();

    static int LongFiles(NoteCorpus corpus, Split split, int notes) => corpus.Files.Count(f => f.Split == split && f.NoteCount >= notes);

    static string Name(Split s) => s.ToString().ToLowerInvariant();

    static (double Mean, double Sd) MeanSd(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double m = v.Average();
        return (m, v.Length > 1 ? Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / (v.Length - 1)) : 0);
    }

    /// <summary>
    /// <paramref name="count"/> segments of <paramref name="notes"/> consecutive notes, from <paramref name="count"/>
    /// distinct files of the split (drawn without replacement, seeded), one random start in each. A beats-mode corpus'
    /// segments are on their grid at their file's tempo, from the bar line before their first note; every segment is as
    /// a MIDI file holds it (<see cref="MidiWriter.AsWritten"/>), as generated pieces are.
    /// </summary>
    public static List<ScoredPiece> RealSegments(NoteCorpus corpus, Split split, int count, int notes, ulong seed)
    {
        var files = corpus.Files.Where(f => f.Split == split && f.NoteCount >= notes).ToArray();
        if (files.Length < count) throw new ArgumentException($"the {Name(split)} split has {files.Length} files of {notes} notes or more, fewer than {count}");
        var rng = new SplitMix(seed);
        for (int i = files.Length - 1; i > 0; i--)
        {
            int j = rng.NextInt(i + 1);
            (files[i], files[j]) = (files[j], files[i]);
        }
        var segments = new List<ScoredPiece>(count);
        foreach (var f in files.Take(count))
        {
            int start = (int)f.FirstNote + rng.NextInt(f.NoteCount - notes + 1);
            var rows = corpus.Notes.AsSpan(start, notes);
            if (corpus.Time == TimeUnit.Beats)
            {
                var place = corpus.Places![start];
                double bpm = f.Bpm > 0 ? f.Bpm : 120;
                var file = new MidiWriteOptions { BeatsPerMinute = bpm };
                segments.Add(new ScoredPiece(MidiWriter.AsWritten(BeatFeatures.ToNotes(rows, bpm, place.Position), file), new PieceGrid(bpm, place.BarBeats)));
            }
            else segments.Add(new ScoredPiece(MidiWriter.AsWritten(NoteFeatures.ToNotes(rows))));
        }
        return segments;
    }

    /// <summary>The tempo of each of <paramref name="count"/> pieces, drawn (seeded) from the training files' tempi: how a
    /// beats-mode model's pieces are played for the yardstick, so that their tempi vary as real songs' do.</summary>
    public static double[] TrainingTempi(NoteCorpus corpus, int count, ulong seed)
    {
        var tempi = corpus.Files.Where(f => f.Split == Split.Train && f.Bpm > 0).Select(f => (double)f.Bpm).ToArray();
        if (tempi.Length == 0) return Enumerable.Repeat(120.0, count).ToArray();
        var rng = new SplitMix(seed * 0x9E3779B97F4A7C15UL + 7);
        return Enumerable.Range(0, count).Select(_ => tempi[rng.NextInt(tempi.Length)]).ToArray();
    }

    /// <summary>
    /// A model's candidates for <see cref="Run"/>: for each draw, <c>n</c> pieces of <paramref name="notes"/> notes composed
    /// from the draw's seed with <paramref name="sampling"/> (null: the model's measured defaults). A beats-mode model's
    /// pieces are played at tempi drawn from the training songs' (<see cref="TrainingTempi"/>), so their tempi vary as real
    /// songs' do. <paramref name="composeSeconds"/> adds up the time spent composing.
    /// </summary>
    public static Func<int, ulong, IReadOnlyList<ScoredPiece>> FromModel(MusicModel model, NoteCorpus corpus, int notes, SamplingOptions? sampling,
        Action<double>? composeSeconds = null) => (n, seed) =>
    {
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        var pieces = Composer.Compose(model, new ComposeRequest { Notes = notes, Count = n, Seed = seed, Sampling = sampling });
        composeSeconds?.Invoke(System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds);
        if (!model.Config.Beats) return pieces.Select(p => new ScoredPiece(p.Notes)).ToList();
        var tempi = TrainingTempi(corpus, n, seed);
        return pieces.Select((p, i) =>
        {
            double scale = p.File.BeatsPerMinute / tempi[i];
            return new ScoredPiece(p.Notes.Select(x => x with { Start = x.Start * scale, End = x.End * scale }).ToList(), new PieceGrid(tempi[i], p.File.Meter.BarBeats));
        }).ToList();
    };

    /// <summary>
    /// The MIDI files (.mid, .midi) under <paramref name="folder"/>, in path order, as candidates: the first
    /// <paramref name="notes"/> notes of each. A file that cannot be read or has fewer than 2 notes is skipped, and
    /// <paramref name="skipped"/> says why.
    /// </summary>
    public static List<ScoredPiece> FromFolder(string folder, int notes, Action<string>? skipped = null)
    {
        var pieces = new List<ScoredPiece>();
        foreach (var f in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".mid", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".midi", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal))
        {
            try
            {
                var read = MidiReader.ReadFile(f).OrderBy(n => n.Start).ThenBy(n => n.Pitch).Take(notes).ToList();
                if (read.Count >= 2) pieces.Add(new ScoredPiece(read)); else skipped?.Invoke($"skipped {f}: fewer than 2 notes");
            }
            catch (MidiFormatException e) { skipped?.Invoke($"skipped {f}: {e.Message}"); }
        }
        return pieces;
    }
}
