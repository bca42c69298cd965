using MusicGen.Midi.Corpus;

namespace MusicGen.Model;

/// <summary>
/// The floor any model must beat: P(next pitch | previous pitch) from the training split's consecutive
/// notes, add-one smoothed. Evaluated on the same windows as the network (previous = the window's last
/// input note, next = its label).
/// </summary>
public sealed class Bigram
{
    readonly double[,] _logProb = new double[128, 128];
    readonly int[] _argmax = new int[128];

    public Bigram(NoteCorpus corpus, Split split)
    {
        var counts = new long[128, 128];
        foreach (var f in corpus.Files)
        {
            if (f.Split != split) continue;
            var notes = corpus.NotesOf(f);
            for (int i = 1; i < notes.Length; i++) counts[(int)notes[i - 1].Pitch, (int)notes[i].Pitch]++;
        }
        for (int a = 0; a < 128; a++)
        {
            double total = 128; // add-one
            for (int b = 0; b < 128; b++) total += counts[a, b];
            int best = 0;
            for (int b = 0; b < 128; b++)
            {
                _logProb[a, b] = Math.Log((counts[a, b] + 1) / total);
                if (counts[a, b] > counts[a, best]) best = b;
            }
            _argmax[a] = best;
        }
    }

    /// <summary>Mean negative log-likelihood (nats) and accuracy of the labels of <paramref name="windows"/>.</summary>
    public (double Nll, double Accuracy) Evaluate(Windows windows, int seqLen)
    {
        if (windows.Count == 0) return (double.NaN, double.NaN);
        double nll = 0;
        long hits = 0;
        foreach (int start in windows.Starts)
        {
            int prev = (int)windows.Notes[start + seqLen - 1].Pitch, next = (int)windows.Notes[start + seqLen].Pitch;
            nll -= _logProb[prev, next];
            if (_argmax[prev] == next) hits++;
        }
        return (nll / windows.Count, hits / (double)windows.Count);
    }
}
