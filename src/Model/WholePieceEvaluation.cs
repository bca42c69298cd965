using MusicGen.Midi;
using MusicGen.Midi.Corpus;

namespace MusicGen.Model;

/// <summary>What <see cref="WholePieceEvaluation.Run"/> measured: the mean pitch NLL (nats) and accuracy over every scored
/// note, and the NLL by how many notes of its piece came before a note (<see cref="WholePieceEvaluation.ContextBands"/>).</summary>
public sealed record WholePieceScore(double PitchNll, double PitchAccuracy, long Notes, int Pieces, double Seconds, IReadOnlyList<ContextBand> ByContext);

/// <summary>The notes scored with at least <paramref name="From"/> and fewer than <paramref name="To"/> notes before them in their piece.</summary>
public sealed record ContextBand(int From, int To, long Notes, double PitchNll)
{
    public string Name => To == int.MaxValue ? $"{From}+" : $"{From}-{To - 1}";
}

/// <summary>
/// The pitch of every note of a split's pieces predicted from all the notes before it in its piece: each piece is read
/// note by note with the model's state carried (with attention, its memory of past outputs too), as generation reads a
/// piece, so nothing is forgotten at a window's edge. Notes 2..L of a piece of L notes are scored.
///
///   pieces, longest first, in batches of B:  for t = 0 .. longest-2:  input note t of each piece (a piece that has
///   ended repeats its last input, unscored)  ->  one step of the model  ->  -log P(note t+1's pitch)
///
/// Unidirectional models only (a bidirectional one reads its window both ways and carries nothing).
/// </summary>
public static class WholePieceEvaluation
{
    /// <summary>Where the context bands start: a note with n notes before it falls in the last band that starts at or below n.</summary>
    public static readonly int[] ContextBands = [1, 32, 128, 512];

    public static WholePieceScore Run(MusicModel model, NoteCorpus corpus, Split split, int batchSize = 64, int stride = 1)
    {
        var c = model.Config;
        if (c.Bidirectional) throw new SettingException("whole-pieces", "needs a unidirectional model: a bidirectional one reads each window both ways and carries no state from note to note");
        if (corpus.Time != c.Time) throw new ArgumentException($"the model counts time in {c.Time.ToString().ToLowerInvariant()} and the corpus in {corpus.Time.ToString().ToLowerInvariant()}");
        if (batchSize < 1) throw new SettingException("batch", $"must be at least 1 (got {batchSize})");
        if (stride < 1) throw new SettingException("stride", $"must be at least 1 (got {stride})");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        // Every stride-th piece of the split with at least two notes, longest first (so a batch's rows end close together).
        var pieces = corpus.Files.Where(f => f.Split == split && f.NoteCount >= 2).Where((_, i) => i % stride == 0).OrderByDescending(f => f.NoteCount).ToArray();
        var notes = corpus.Notes;
        var stepTable = model.StepConditionTable();
        int K = c.ClassCount;
        double nll = 0;
        long scored = 0, hits = 0;
        var bandNll = new double[ContextBands.Length];
        var bandNotes = new long[ContextBands.Length];
        for (int first = 0; first < pieces.Length; first += batchSize)
        {
            var group = pieces.AsSpan(first, Math.Min(batchSize, pieces.Length - first)).ToArray();
            int B = group.Length, longest = group[0].NoteCount;
            var batch = new Batch(c, B, steps: 1);
            using var state = model.NewState(B);
            for (int t = 0; t + 1 < longest; t++)
            {
                for (int b = 0; b < B; b++)
                {
                    var f = group[b];
                    int at = (int)f.FirstNote + Math.Min(t, f.NoteCount - 2); // an ended piece repeats its last input
                    batch.SetInput(b, notes, (int)f.FirstNote, at, 0, c, corpus.Places is null ? default : corpus.Places[at]);
                    batch.SetTarget(b, notes[at + 1], 0, c);
                }
                model.Forward(batch, training: false, state: state);
                var (logits, _) = model.Outputs(B, 1);
                for (int b = 0; b < B; b++)
                {
                    if (t + 1 >= group[b].NoteCount) continue;
                    int target = (int)notes[(int)group[b].FirstNote + t + 1].Pitch;
                    var row = logits.AsSpan(b * K, K);
                    var (rowNll, best) = stepTable is null ? PitchNll(row[..MusicModel.Pitches], target) : Trainer.MarginalPitch(row, stepTable, c.StepBins, target);
                    nll += rowNll;
                    if (best == target) hits++;
                    scored++;
                    int band = Array.FindLastIndex(ContextBands, from => from <= t + 1); // t + 1 notes came before the target
                    bandNll[band] += rowNll; bandNotes[band]++;
                }
            }
        }
        var bands = ContextBands.Select((from, i) => new ContextBand(from, i + 1 < ContextBands.Length ? ContextBands[i + 1] : int.MaxValue, bandNotes[i],
            bandNotes[i] > 0 ? bandNll[i] / bandNotes[i] : double.NaN)).ToList();
        return new WholePieceScore(scored > 0 ? nll / scored : double.NaN, scored > 0 ? hits / (double)scored : double.NaN, scored, pieces.Length, clock.Elapsed.TotalSeconds, bands);
    }

    /// <summary>-log softmax(logits)[target] in double precision, and the argmax.</summary>
    static (double Nll, int Best) PitchNll(ReadOnlySpan<float> logits, int target)
    {
        double max = double.NegativeInfinity;
        int best = 0;
        for (int j = 0; j < logits.Length; j++) if (logits[j] > max) { max = logits[j]; best = j; }
        double sum = 0;
        foreach (float v in logits) sum += Math.Exp(v - max);
        return (Math.Log(sum) - (logits[target] - max), best);
    }
}
