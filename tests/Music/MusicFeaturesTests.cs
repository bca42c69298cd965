using MusicGen.Midi;
using MusicGen.Model.Music;
using MusicGen.Tests.Model;

namespace MusicGen.Tests.Music;

/// <summary>The per-piece musical features on pieces whose answers are known by hand, and the set-against-set overlaps.</summary>
public class MusicFeaturesTests
{
    /// <summary>Four C-major block chords (C-E-G), each 0.5 s long, one every 0.5 s, at velocities 60, 70, 80, 90 (written top down).</summary>
    static List<Note> BlockChords()
    {
        var notes = new List<Note>();
        for (int c = 0; c < 4; c++)
            foreach (int p in new[] { 67, 64, 60 })
                notes.Add(new Note(p, 60 + 10 * c, 0.5 * c, 0.5 * c + 0.5, 0, 0));
        return notes;
    }

    [Fact]
    public void Block_chords_have_the_chord_fraction_onset_count_rate_and_key_worked_out_by_hand()
    {
        var f = PieceFeatures.Of(BlockChords());
        var s = f.Scalars;
        Assert.Equal(8 / 11.0, s["chord fraction"], 12);           // 11 successive pairs, 8 within a chord
        Assert.Equal(3, s["notes sounding per onset"], 12);         // the previous chord has ended at each new onset
        Assert.Equal(11 / 1.5, s["notes per second"], 12);          // 11 gaps over 1.5 s from the first onset to the last
        Assert.Equal(0, s["duration sd/mean"], 12);
        Assert.Equal(7, s["pitch range"]);
        Assert.Equal(3, s["distinct pitches"]);
        Assert.Equal(Math.Log2(3), s["pitch-class entropy"], 12);
        Assert.Equal(1, s["scale fit"], 12);
        Assert.Equal(0, s["same-pitch fraction"], 12);               // read bottom up: C E G C E G ..., never the same twice
        Assert.Equal(1, s["longest same-pitch run"]);
        Assert.Equal(Math.Sqrt(125), s["velocity sd"], 9);           // 60..90 in steps of 10, three notes each
        // Intervals +4 +3 -7 repeat: of the 8 interval 4-grams, the first 3 are new and the other 5 repeat them.
        Assert.Equal(5 / 8.0, s["repeated interval 4-grams"], 12);
        Assert.Equal((0, false), (f.Tonic, f.Minor));
        Assert.Equal([4.0, 0, 0, 0, 4, 0, 0, 4, 0, 0, 0, 0], f.Histograms["key-relative pitch classes"]);
        Assert.Equal(8, f.Histograms["step histogram"][0]);         // the chord bin
        Assert.Equal(3, f.Histograms["step histogram"][8]);         // 0.5 s: the [0.4, 0.57) bin
        Assert.Equal(4, f.Histograms["interval histogram"][12 + 4]);
        Assert.Equal(4, f.Histograms["interval histogram"][12 + 3]);
        Assert.Equal(3, f.Histograms["interval histogram"][12 - 7]);
    }

    [Fact]
    public void Held_notes_count_at_later_onsets_and_keys_are_found_in_any_transposition()
    {
        // A bass note held 2 s under four melody notes: 2 notes sound at each of the 4 onsets (the bass starts with the first).
        var notes = new List<Note> { new(36, 80, 0, 2, 0, 0) };
        for (int i = 0; i < 4; i++) notes.Add(new Note(60 + 2 * i, 80, 0.5 * i, 0.5 * i + 0.4, 0, 0));
        Assert.Equal(2, PieceFeatures.Of(notes).Scalars["notes sounding per onset"], 12);

        // A minor scale's profile, transposed to every tonic, is found as that tonic's minor key.
        double[] aMinor = [3, 0, 2, 1, 2, 0, 0, 1, 0, 5, 0, 2];     // A C E heavy, no F#, no C#
        for (int t = 0; t < 12; t++)
        {
            var rotated = Enumerable.Range(0, 12).Select(k => aMinor[((k - t) % 12 + 12) % 12]).ToArray();
            Assert.Equal(((9 + t) % 12, true), PieceFeatures.Key(rotated));
        }
        Assert.Throws<ArgumentException>(() => PieceFeatures.Of([new Note(60, 80, 0, 1, 0, 0)]));
    }

    [Fact]
    public void Overlap_is_one_for_the_same_sample_near_zero_for_disjoint_ones_and_symmetric()
    {
        var r = new SplitMixRandom(5);
        double[] a = Enumerable.Range(0, 64).Select(_ => r.Normal()).ToArray();
        double[] b = Enumerable.Range(0, 64).Select(_ => r.Normal()).ToArray();
        Assert.Equal(1, MusicComparison.KdeOverlap(a, a), 3);
        Assert.InRange(MusicComparison.KdeOverlap(a, b), 0.75, 1);                          // two draws of one distribution
        Assert.InRange(MusicComparison.KdeOverlap(a, b.Select(x => x + 20).ToArray()), 0, 1e-6); // far apart
        Assert.Equal(MusicComparison.KdeOverlap(a, b), MusicComparison.KdeOverlap(b, a), 9);
        // Shifted by one standard deviation: two unit normals overlap by 2 Phi(-1/2) = 0.617; the estimate is near it.
        Assert.InRange(MusicComparison.KdeOverlap(a, b.Select(x => x + 1).ToArray()), 0.45, 0.78);
        Assert.Equal(1, MusicComparison.KdeOverlap([3, 3, 3], [3, 3]));                     // one value on both sides
        Assert.Equal(0.5, MusicComparison.Intersection([1, 1, 0], [0, 5, 5]), 12);
        Assert.Equal(1, MusicComparison.Intersection([2, 4], [1, 2]), 12);                  // normalised first
    }

    [Fact]
    public void A_set_compared_with_itself_overlaps_fully_and_real_segments_are_seeded_one_per_file()
    {
        var corpus = TrainerTests.TinyCorpus(files: 14);
        var segments = MusicYardstick.RealSegments(corpus, MusicGen.Midi.Corpus.Split.Train, 12, 20, seed: 4);
        Assert.All(segments, s => Assert.Equal(20, s.Notes.Count));
        Assert.Equal(segments.Select(s => s.Notes[5]), MusicYardstick.RealSegments(corpus, MusicGen.Midi.Corpus.Split.Train, 12, 20, seed: 4).Select(s => s.Notes[5]));
        var features = segments.Select(s => PieceFeatures.Of(s.Notes)).ToList();
        var rows = MusicComparison.Compare(features, features);
        Assert.Equal(17, rows.Count);
        Assert.All(rows, x => Assert.True(x.Overlap > 0.999, $"{x.Name}: {x.Overlap}"));
        Assert.Equal(9, rows.Count(x => MusicComparison.Headline.Contains(x.Name)));
        Assert.Throws<ArgumentException>(() => MusicYardstick.RealSegments(corpus, MusicGen.Midi.Corpus.Split.Train, 4, 1000, seed: 1));
        // 13 training files: 13 segments can come from distinct files, 14 cannot.
        Assert.Equal(13, MusicYardstick.RealSegments(corpus, MusicGen.Midi.Corpus.Split.Train, 13, 20, seed: 2).Count);
        Assert.Throws<ArgumentException>(() => MusicYardstick.RealSegments(corpus, MusicGen.Midi.Corpus.Split.Train, 14, 20, seed: 2));
    }

    [Fact]
    public void The_longest_exact_repeat_is_the_longest_motif_that_comes_back_whole()
    {
        Assert.Equal(0, PieceFeatures.LongestRepeat([1, 2, 3, 4, 5]));
        Assert.Equal(3, PieceFeatures.LongestRepeat([2, 2, -4, 9, 2, 2, -4, 7]));   // 2 2 -4 comes back
        Assert.Equal(3, PieceFeatures.LongestRepeat([0, 0, 0, 0, 0, 0, 0]));       // a repeated note: two halves of 3, not overlapping runs of 6
        // As a fraction of the piece: 8 notes whose 4 intervals repeat, of 9 notes.
        var notes = new[] { 60, 62, 64, 60, 60, 62, 64, 60, 61 }.Select((p, i) => new Note(p, 80, 0.5 * i, 0.5 * i + 0.4, 0, 0)).ToList();
        Assert.Equal(4 / 9.0, PieceFeatures.Of(notes).Scalars["longest exact repeat"], 12);
    }

    [Fact]
    public void A_piece_in_beats_reports_its_grid_and_downbeats()
    {
        // 90 bpm, 4/4: quarter notes, one a sixteenth-triplet after the downbeat (2 grid units: on the grid), the last 0.36 of a unit off it.
        double beat = 60 / 90.0;
        double[] beats = [0, 1, 2, 3, 4, 4 + 1 / 6.0, 5.5, 6.03];
        var notes = beats.Select((b, i) => new Note(60 + i, 80, b * beat, b * beat + 0.2, 0, 0)).ToList();
        var f = PieceFeatures.Of(notes, new PieceGrid(90, 4));
        Assert.Equal(7 / 8.0, f.Scalars["onsets on the grid"], 12);
        Assert.Equal(2 / 8.0, f.Scalars["notes on downbeats"], 12);
        Assert.False(PieceFeatures.Of(notes).Scalars.ContainsKey("onsets on the grid"));
    }

    [Fact]
    public void The_yardstick_scores_real_against_real_as_it_scores_the_candidate()
    {
        var corpus = TrainerTests.TinyCorpus(files: 40);
        // 40 files, the last one validation: 39 train. The yardstick compares validation with test, so give it a corpus whose
        // held-out splits are large enough: relabel files alternately.
        var files = corpus.Files.Select((f, i) => f with { Split = i % 2 == 0 ? MusicGen.Midi.Corpus.Split.Validation : MusicGen.Midi.Corpus.Split.Test }).ToList();
        var held = new MusicGen.Midi.Corpus.NoteCorpus { Root = "/tiny", Kind = "folder", Sustain = false, IncludeDrums = false, Files = files, Skipped = [], Notes = corpus.Notes };
        // Candidate: real test segments themselves, drawn like the baseline: it must score like real against real.
        var result = MusicYardstick.Run(held, MusicGen.Midi.Corpus.Split.Validation, count: 30, notes: 20, draws: 3, seed: 5,
            (n, seed) => MusicYardstick.RealSegments(held, MusicGen.Midi.Corpus.Split.Test, n, 20, seed ^ 0x5A5A5A5A5A5A5A5AUL));
        Assert.Equal(20, result.PiecesPerDraw);                       // 20 files per held-out split, one segment each
        Assert.Contains(result.Warnings, w => w.Contains("20 segments per draw, not 30"));
        Assert.Contains(result.Warnings, w => w.Contains("too few to judge"));
        Assert.Equal(result.RealAll.Mean, result.ModelAll.Mean, 12);
        Assert.All(result.Rows, r => Assert.Equal(r.RealOverlap, r.ModelOverlap, 12));
        Assert.True(result.ModelAll.Sd >= 0 && result.Draws == 3);
    }

    [Fact]
    public void Diversity_is_zero_for_copies_of_one_piece_and_grows_when_pieces_differ()
    {
        var chords = PieceFeatures.Of(BlockChords());
        Assert.Equal(0, MusicComparison.Diversity([chords, chords, chords]), 12);
        // A scale of single notes a quarter-second apart shares nothing with the chords' steps or intervals.
        var scale = PieceFeatures.Of([.. new[] { 60, 62, 64, 65, 67, 69, 71, 72 }.Select((p, i) => new Note(p, 80, 0.25 * i, 0.25 * i + 0.2, 0, 0))]);
        double two = MusicComparison.Diversity([chords, scale]);
        // Worked out here, independently of MusicComparison: each histogram's total-variation distance between the pair
        // (half the L1 distance of the normalised histograms), averaged over the four histograms.
        static double TotalVariation(double[] p, double[] q) => 0.5 * p.Zip(q, (x, y) => Math.Abs(x / p.Sum() - y / q.Sum())).Sum();
        double expected = MusicComparison.DiversityHistograms.Average(h => TotalVariation(chords.Histograms[h], scale.Histograms[h]));
        Assert.Equal(expected, two, 12);
        Assert.InRange(two, 0.3, 1);
        // Three pieces: the mean over the three pairs (two of which are chords-vs-scale, one chords-vs-chords).
        Assert.Equal(2 * two / 3, MusicComparison.Diversity([chords, scale, chords]), 12);
        Assert.True(double.IsNaN(MusicComparison.Diversity([chords])));
    }

    /// <summary>A seeded normal generator (Box-Muller over SplitMix64).</summary>
    sealed class SplitMixRandom(ulong seed)
    {
        MusicGen.Model.SplitMix _rng = new(seed);
        public double Normal() => Math.Sqrt(-2 * Math.Log(1 - _rng.NextDouble())) * Math.Cos(2 * Math.PI * _rng.NextDouble());
    }
}
