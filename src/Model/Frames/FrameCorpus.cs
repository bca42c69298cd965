using System.Text.Json;

namespace MusicGen.Model.Frames;

/// <summary>
/// Polyphonic music as frames: each piece is a list of frames, each frame the set of piano keys sounding in it.
/// The format is the one of the JSB Chorales benchmark file (Boulanger-Lewandowski et al. 2012, as published by
/// czhuang/JSB-Chorales-dataset): a JSON object {"train"|"valid"|"test": [piece: [frame: [MIDI pitch, ...]]]}, one
/// frame per quarter note. A frame model sees each frame as 88 zeros and ones, MIDI 21 (A0) to 108 (C8).
/// </summary>
public sealed class FrameCorpus
{
    /// <summary>Keys per frame: the 88 of a piano.</summary>
    public const int Keys = 88;
    /// <summary>The MIDI pitch of key 0 (A0).</summary>
    public const int LowestPitch = 21;
    public const int HighestPitch = LowestPitch + Keys - 1;

    public FrameCorpus(IReadOnlyDictionary<string, int[][][]> splits, string source)
    {
        Splits = splits;
        Source = source;
    }

    /// <summary>The pieces of each split ("train", "valid", "test"): piece -> frame -> MIDI pitches.</summary>
    public IReadOnlyDictionary<string, int[][][]> Splits { get; }
    /// <summary>The file it was read from.</summary>
    public string Source { get; }

    /// <summary>A split's name as the frames files spell it: "validation" is "valid".</summary>
    public static string SplitName(string name) => name == "validation" ? "valid" : name;

    public int[][][] Split(string name) => Splits.TryGetValue(name, out var s) ? s
        : name == "validation" && Splits.TryGetValue("valid", out var v) ? v // the note verbs' name for the same split
        : throw new ArgumentException($"'{Source}' has no split '{name}' (it has {string.Join(", ", Splits.Keys)})");

    /// <summary>Reads a frames JSON file; a one-line reason for anything that is not one.</summary>
    public static FrameCorpus Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no frames file at '{path}'");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not JSON: {e.Message}"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"'{path}': expected an object of splits {{\"train\": [...], ...}}");
            var splits = new Dictionary<string, int[][][]>();
            foreach (var split in doc.RootElement.EnumerateObject())
            {
                if (split.Value.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"'{path}': split '{split.Name}' is not a list of pieces");
                var pieces = new List<int[][]>();
                int p = 0;
                foreach (var piece in split.Value.EnumerateArray())
                {
                    if (piece.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"'{path}': {split.Name} piece {p} is not a list of frames");
                    var frames = new List<int[]>();
                    int f = 0;
                    foreach (var frame in piece.EnumerateArray())
                    {
                        if (frame.ValueKind != JsonValueKind.Array) throw new InvalidDataException($"'{path}': {split.Name} piece {p} frame {f} is not a list of pitches");
                        var pitches = new List<int>();
                        foreach (var v in frame.EnumerateArray())
                        {
                            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || d != Math.Floor(d) || d < LowestPitch || d > HighestPitch)
                                throw new InvalidDataException($"'{path}': {split.Name} piece {p} frame {f}: '{v}' is not a piano pitch ({LowestPitch}..{HighestPitch})");
                            pitches.Add((int)d);
                        }
                        frames.Add(pitches.Distinct().Order().ToArray());
                        f++;
                    }
                    if (frames.Count < 2) throw new InvalidDataException($"'{path}': {split.Name} piece {p} has {frames.Count} frame(s); a piece needs at least 2 (one to read, one to predict)");
                    pieces.Add(frames.ToArray());
                    p++;
                }
                splits[split.Name] = pieces.ToArray();
            }
            if (!splits.ContainsKey("train")) throw new InvalidDataException($"'{path}' has no \"train\" split");
            return new FrameCorpus(splits, path);
        }
    }

    /// <summary>The semitone shifts s in [-max, max] that keep every note of <paramref name="piece"/> on the keyboard.</summary>
    public static (int Low, int High) TranspositionRange(int[][] piece, int max)
    {
        int lo = int.MaxValue, hi = int.MinValue;
        foreach (var f in piece) foreach (int p in f) { lo = Math.Min(lo, p); hi = Math.Max(hi, p); }
        if (lo == int.MaxValue) return (-max, max); // silence transposes anywhere
        return (Math.Max(-max, LowestPitch - lo), Math.Min(max, HighestPitch - hi));
    }

    /// <summary>Writes frame <paramref name="f"/> of a piece, shifted by <paramref name="shift"/> semitones, as 88 zeros and ones.</summary>
    public static void Roll(int[] frame, int shift, Span<float> keys)
    {
        keys.Clear();
        foreach (int p in frame)
        {
            int k = p + shift - LowestPitch;
            if (k < 0 || k >= Keys) throw new ArgumentOutOfRangeException(nameof(shift), $"pitch {p} shifted by {shift} leaves the keyboard");
            keys[k] = 1f;
        }
    }
}
