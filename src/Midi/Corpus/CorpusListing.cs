using System.Globalization;
using System.IO.Hashing;
using System.Text;

namespace MusicGen.Midi.Corpus;

public enum Split : byte { Train = 0, Validation = 1, Test = 2 }

/// <summary>Percentages for the folder split (MAESTRO brings its own). Written "90/5/5".</summary>
public readonly record struct SplitRatios(double Train, double Validation, double Test)
{
    public static SplitRatios Default { get; } = new(90, 5, 5);

    public static SplitRatios Parse(string text)
    {
        var parts = text.Split('/');
        if (parts.Length != 3 || !parts.All(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 0 && double.IsFinite(v)))
            throw new FormatException($"split '{text}' is not three non-negative numbers like 90/5/5");
        var v = parts.Select(p => double.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        if (v.Sum() <= 0 || v[0] <= 0) throw new FormatException($"split '{text}' needs a positive training share");
        return new SplitRatios(v[0], v[1], v[2]);
    }

    /// <summary>Deterministic split of a relative path: a 64-bit hash of its bytes mapped onto the shares.</summary>
    public Split Assign(string relativePath)
    {
        ulong h = XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(relativePath));
        double u = (h >> 11) * (1.0 / (1UL << 53)) * (Train + Validation + Test);
        return u < Train ? Split.Train : u < Train + Validation ? Split.Validation : Split.Test;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Train}/{Validation}/{Test}");
}

/// <param name="RelativePath">Path below the corpus root with '/' separators: the file's identity in the cache.</param>
public sealed record CorpusFile(string RelativePath, string FullPath, Split Split);

/// <summary>
/// The MIDI files of a corpus and their split. Two layouts:
/// a folder searched recursively for .mid/.midi in any letter case (ADL Piano MIDI, POP909, your own),
/// split by a hash of each relative path; or a MAESTRO folder, recognised by its CSV
/// (maestro-v*.csv or maestro-sample.csv), whose split and midi_filename columns are used as given;
/// or an ASAP folder, recognised by its metadata.csv (columns folder and midi_performance): its performances,
/// split by a hash of the piece's folder, so that every performance of one piece lands in the same split and
/// nothing of a test piece is trained on. ASAP's quantised score files (midi_score.mid) are kept apart: they are
/// not performances (no dynamics, exact timing) and would give the score of a test piece to training otherwise.
/// </summary>
public sealed record CorpusListing(string Root, string Kind, IReadOnlyList<CorpusFile> Files, IReadOnlyList<(string RelativePath, string Reason)> Missing)
{
    public static CorpusListing Discover(string dataPath, SplitRatios ratios)
    {
        if (!Directory.Exists(dataPath))
            throw new DirectoryNotFoundException(File.Exists(dataPath) ? $"'{dataPath}' is a file, not a corpus folder" : $"no such folder: '{dataPath}'");
        string root = Path.GetFullPath(dataPath);
        string? csv = FindMaestroCsv(root);
        if (csv is not null) return FromMaestroCsv(root, csv);
        string asap = Path.Combine(root, "metadata.csv");
        if (File.Exists(asap) && IsAsapMetadata(asap)) return FromAsapMetadata(root, asap, ratios);
        return FromFolder(root, ratios);
    }

    static bool IsAsapMetadata(string path)
    {
        using var reader = new StreamReader(path);
        var header = reader.ReadLine()?.Split(',').Select(h => h.Trim()).ToArray() ?? [];
        return header.Contains("folder") && header.Contains("midi_performance");
    }

    static CorpusListing FromAsapMetadata(string root, string csvPath, SplitRatios ratios)
    {
        var rows = Csv.Read(File.ReadAllText(csvPath));
        var header = rows[0];
        int folderCol = header.FindIndex(h => h.Trim() == "folder"), fileCol = header.FindIndex(h => h.Trim() == "midi_performance");
        var files = new List<CorpusFile>();
        var missing = new List<(string, string)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var row in rows.Skip(1))
        {
            if (row.Count == 1 && row[0].Length == 0) continue; // blank line
            if (row.Count <= Math.Max(folderCol, fileCol)) throw new FormatException($"metadata.csv: a row has {row.Count} columns, fewer than the header");
            string relative = row[fileCol].Trim().Replace('\\', '/'), piece = row[folderCol].Trim().Replace('\\', '/').TrimEnd('/');
            if (relative.Length == 0 || !seen.Add(relative)) continue;
            if (relative.Contains("..")) { missing.Add((relative, "path leaves the corpus folder")); continue; }
            string full = Path.Combine(root, relative);
            if (File.Exists(full)) files.Add(new CorpusFile(relative, full, ratios.Assign(piece)));
            else missing.Add((relative, "listed in metadata.csv but missing"));
        }
        files.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        return new CorpusListing(root, "asap", files, missing);
    }

    static string? FindMaestroCsv(string root) =>
        Directory.EnumerateFiles(root, "*.csv", SearchOption.TopDirectoryOnly)
            .Where(f => Path.GetFileName(f).StartsWith("maestro", StringComparison.OrdinalIgnoreCase))
            .OrderByDescending(f => Path.GetFileName(f), StringComparer.OrdinalIgnoreCase)
            .FirstOrDefault();

    static CorpusListing FromFolder(string root, SplitRatios ratios)
    {
        var files = MidiFilesUnder(root)
            .Select(f => RelativeOf(root, f))
            .OrderBy(r => r, StringComparer.Ordinal)
            .Select(r => new CorpusFile(r, Path.Combine(root, r), ratios.Assign(r)))
            .ToList();
        return new CorpusListing(root, "folder", files, []);
    }

    static CorpusListing FromMaestroCsv(string root, string csvPath)
    {
        var rows = Csv.Read(File.ReadAllText(csvPath));
        if (rows.Count == 0) throw new FormatException($"{Path.GetFileName(csvPath)} is empty");
        var header = rows[0];
        int splitCol = header.FindIndex(h => h.Trim() == "split");
        int fileCol = header.FindIndex(h => h.Trim() == "midi_filename");
        if (splitCol < 0 || fileCol < 0) throw new FormatException($"{Path.GetFileName(csvPath)} has no 'split' and 'midi_filename' columns");
        var files = new List<CorpusFile>();
        var missing = new List<(string, string)>();
        foreach (var row in rows.Skip(1))
        {
            if (row.Count == 1 && row[0].Length == 0) continue; // blank line
            if (row.Count <= Math.Max(splitCol, fileCol)) throw new FormatException($"{Path.GetFileName(csvPath)}: a row has {row.Count} columns, fewer than the header");
            string relative = row[fileCol].Replace('\\', '/');
            Split split = row[splitCol].Trim().ToLowerInvariant() switch
            {
                "train" => Split.Train,
                "validation" or "valid" => Split.Validation,
                "test" => Split.Test,
                var s => throw new FormatException($"{Path.GetFileName(csvPath)}: unknown split '{s}' for {relative}"),
            };
            if (relative.Contains("..")) { missing.Add((relative, "path leaves the corpus folder")); continue; }
            string full = Path.Combine(root, relative);
            if (File.Exists(full)) files.Add(new CorpusFile(relative, full, split));
            else missing.Add((relative, "listed in the CSV but missing"));
        }
        files.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));
        return new CorpusListing(root, "maestro", files, missing);
    }

    static string RelativeOf(string root, string file) => Path.GetRelativePath(root, file).Replace('\\', '/');

    /// <summary>
    /// The .mid/.midi files (any letter case) below <paramref name="root"/>, following symbolic links but reading each
    /// real folder and each real file once: a link loop (sub/loop -> ..) or a second link to the same place adds nothing.
    /// Real paths win over links: folders reached through a link are read after every other folder, and in a folder
    /// its plain files come before its links.
    /// </summary>
    static IEnumerable<string> MidiFilesUnder(string root)
    {
        var folders = new HashSet<string>(StringComparer.Ordinal);
        var files = new HashSet<string>(StringComparer.Ordinal);
        var plain = new Stack<(string Path, string Real)>();   // depth first, in name order
        var linked = new Queue<(string Path, string Real)>();  // afterwards
        plain.Push((root, Real(root, Path.GetFullPath(root))));
        while (plain.Count > 0 || linked.Count > 0)
        {
            var (dir, real) = plain.Count > 0 ? plain.Pop() : linked.Dequeue();
            if (!folders.Add(real)) continue;
            string[] entries;
            try { entries = Directory.GetFileSystemEntries(dir); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            Array.Sort(entries, StringComparer.Ordinal);
            var subfolders = new List<(string, string)>();
            foreach (bool links in new[] { false, true })
                foreach (string entry in entries)
                {
                    if (IsLink(entry) != links) continue;
                    string realEntry = Real(entry, Path.Combine(real, Path.GetFileName(entry)));
                    if (Directory.Exists(entry)) { if (links) linked.Enqueue((entry, realEntry)); else subfolders.Add((entry, realEntry)); }
                    else if (IsMidi(entry) && files.Add(realEntry)) yield return entry;
                }
            for (int i = subfolders.Count - 1; i >= 0; i--) plain.Push(subfolders[i]);
        }
    }

    static bool IsLink(string path)
    {
        try { return (Directory.Exists(path) ? new DirectoryInfo(path) : (FileSystemInfo)new FileInfo(path)).LinkTarget is not null; }
        catch (IOException) { return false; }
    }

    static bool IsMidi(string f) => Path.GetExtension(f).Equals(".mid", StringComparison.OrdinalIgnoreCase) || Path.GetExtension(f).Equals(".midi", StringComparison.OrdinalIgnoreCase);

    /// <summary>Where a path really is: its final link target if it is a link, else its place under its parent's real path.</summary>
    static string Real(string path, string underRealParent)
    {
        try
        {
            FileSystemInfo info = Directory.Exists(path) ? new DirectoryInfo(path) : new FileInfo(path);
            return info.LinkTarget is null ? underRealParent : Path.GetFullPath(info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? underRealParent);
        }
        catch (IOException) { return underRealParent; } // a broken or looping link: keep its own path
    }
}

/// <summary>A small RFC 4180 CSV reader (quoted fields, doubled quotes, commas and newlines inside quotes).</summary>
public static class Csv
{
    public static List<List<string>> Read(string text)
    {
        var rows = new List<List<string>>();
        var row = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { row.Add(field.ToString()); field.Clear(); }
            else if (c == '\n' || c == '\r')
            {
                if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
                row.Add(field.ToString()); field.Clear();
                rows.Add(row); row = [];
            }
            else field.Append(c);
        }
        if (field.Length > 0 || row.Count > 0) { row.Add(field.ToString()); rows.Add(row); }
        return rows;
    }
}
