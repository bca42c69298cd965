using MusicGen.Midi;

namespace MusicGen.Model.Frames;

/// <summary>
/// Samples pieces from a frame model, one frame at a time, carrying the LSTM state: the primer's frames are read
/// first, then each new frame is drawn key by key, key k sounding with probability sigmoid(logit_k / temperature)
/// (with the NADE output, logit_k given the keys already drawn below it), and fed back as the next input. Several pieces are drawn side by side as one batch.
/// </summary>
public static class FrameGenerator
{
    /// <summary>A C-major chord in four voices (C3 G3 E4 C5): the primer when none is given.</summary>
    public static readonly int[] DefaultPrimer = [48, 55, 64, 72];

    /// <summary>
    /// Returns <paramref name="count"/> pieces, each the primer's frames followed by <paramref name="frames"/> sampled
    /// frames (MIDI pitches per frame). Deterministic for a seed.
    /// </summary>
    public static List<int[][]> Sample(FrameModel model, IReadOnlyList<int[]> primer, int frames, int count, float temperature, ulong seed)
    {
        if (primer.Count < 1) throw new ArgumentException("the primer needs at least one frame");
        if (frames < 1) throw new ArgumentException($"frames must be at least 1 (got {frames})");
        if (count < 1) throw new ArgumentException($"count must be at least 1 (got {count})");
        if (!(temperature > 0)) throw new ArgumentException($"temperature must be positive (got {temperature})");
        int K = FrameCorpus.Keys, B = count;
        var pieces = Enumerable.Range(0, B).Select(_ => new List<int[]>(primer)).ToArray();
        using var state = model.NewState(B);
        foreach (var t in state.H.Concat(state.C)) Kernels.Ops.Elementwise.Fill(model.Backend, t, 0f);
        var x = new float[B * K];
        // One generator for the whole run. SplitMix is a struct: a method group of it would box a fresh copy at every
        // call site and replay the same numbers, so the draws go through this one delegate (one boxed copy, advancing).
        Func<double> uniform = new SplitMix(seed).NextDouble;
        // Read the primer (all but its last frame) one frame at a time, then from its last frame on, sample.
        for (int i = 0; i < primer.Count - 1; i++)
        {
            for (int b = 0; b < B; b++) FrameCorpus.Roll(primer[i], 0, x.AsSpan(b * K, K));
            model.Forward(B, 1, x, default, default, training: false, state: state);
        }
        for (int b = 0; b < B; b++) FrameCorpus.Roll(primer[^1], 0, x.AsSpan(b * K, K));
        var nadeWeights = model.Config.IsNade ? model.NadeWeights() : default;
        int N = model.Config.NadeHidden;
        for (int f = 0; f < frames; f++)
        {
            model.Forward(B, 1, x, default, default, training: false, state: state);
            Array.Clear(x);
            if (model.Config.IsNade)
            {
                // NADE: each piece's keys drawn one after another, each given the keys below it (Nade.Sample).
                var (keyBias, hiddenBias) = model.NadeBiases(B, 1);
                for (int b = 0; b < B; b++)
                    Kernels.Ops.Nade.Sample(keyBias.AsSpan(b * K, K), hiddenBias.AsSpan(b * N, N), nadeWeights.W, nadeWeights.V, K, N, temperature, uniform, x.AsSpan(b * K, K));
            }
            else
            {
                var logits = model.Logits(B, 1);
                for (int b = 0; b < B; b++)
                    for (int k = 0; k < K; k++)
                        if (uniform() < 1 / (1 + Math.Exp(-logits[b * K + k] / temperature))) x[b * K + k] = 1f;
            }
            for (int b = 0; b < B; b++)
                pieces[b].Add(Enumerable.Range(0, K).Where(k => x[b * K + k] != 0).Select(k => FrameCorpus.LowestPitch + k).ToArray());
        }
        return pieces.Select(p => p.ToArray()).ToList();
    }

    /// <summary>
    /// Frames as notes: each frame lasts <paramref name="frameSeconds"/>; a key held over consecutive frames is one
    /// note (the frames cannot tell a held note from a repeated one; holding reads as a chorale is sung).
    /// </summary>
    public static List<Note> ToNotes(IReadOnlyList<int[]> frames, double frameSeconds = 0.5, int velocity = 80)
    {
        var notes = new List<Note>();
        var start = new Dictionary<int, int>(); // pitch -> frame it started
        for (int f = 0; f <= frames.Count; f++)
        {
            var now = f < frames.Count ? frames[f].ToHashSet() : [];
            foreach (var (pitch, s) in start.ToArray())
                if (!now.Contains(pitch)) { notes.Add(new Note(pitch, velocity, s * frameSeconds, f * frameSeconds, 0, 0)); start.Remove(pitch); }
            foreach (int p in now) start.TryAdd(p, f);
        }
        return notes.OrderBy(n => n.Start).ThenBy(n => n.Pitch).ToList();
    }
}
