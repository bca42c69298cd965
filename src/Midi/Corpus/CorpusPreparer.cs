using System.Diagnostics;

namespace MusicGen.Midi.Corpus;

public sealed record PrepareOptions
{
    public MidiReadOptions Read { get; init; } = MidiReadOptions.Default;
    public SplitRatios Ratios { get; init; } = SplitRatios.Default;
    /// <summary>Parse every file even when the cache says it is unchanged.</summary>
    public bool Force { get; init; }
    public int MaxParallelism { get; init; } = Environment.ProcessorCount;
    /// <summary>Write no cache when any file was skipped (prepare --strict fails then, and leaves no half-corpus behind).</summary>
    public bool Strict { get; init; }
    /// <summary>Beats: read onsets and durations in beats from the tempo map, on the grid of <see cref="BeatFeatures"/>, with each note's place in its bar.</summary>
    public TimeUnit Time { get; init; } = TimeUnit.Seconds;
}

/// <summary>What <see cref="CorpusPreparer.Prepare"/> did.</summary>
/// <param name="Parsed">Files parsed in this run.</param>
/// <param name="Reused">Files taken unchanged (same path, size and mtime) from the previous cache.</param>
/// <param name="Written">False when the cache on disk was already up to date.</param>
/// <param name="CacheNote">Why a previous cache was not used, if there was one; null otherwise.</param>
public sealed record PrepareResult(NoteCorpus Corpus, string CachePath, int Parsed, int Reused, bool Written, string? CacheNote, TimeSpan Elapsed);

/// <summary>
/// Turns a corpus folder into a <see cref="NoteCorpus"/> cache: list the files, reuse every file whose
/// path, size and modification time match the previous cache, parse the rest in parallel, write the
/// cache atomically. A file that cannot be read becomes a <see cref="SkippedEntry"/> with its reason.
/// </summary>
public static class CorpusPreparer
{
    /// <summary>
    /// The default cache file for a corpus folder: &lt;cacheDir&gt;/&lt;folder name&gt;-&lt;hash of its full path&gt;[-sustain][-drums]
    /// [-split-A-B-C].mgcache. Every reading option that changes the notes or the split is in the name, so caches read
    /// differently never share a file (nor overwrite each other).
    /// </summary>
    public static string DefaultCachePath(string dataPath, string cacheDir, MidiReadOptions? read = null, SplitRatios? ratios = null, TimeUnit time = TimeUnit.Seconds)
    {
        string root = Path.GetFullPath(dataPath).TrimEnd(Path.DirectorySeparatorChar);
        string name = Path.GetFileName(root);
        if (name.Length == 0) name = "corpus";
        uint hash = (uint)System.IO.Hashing.XxHash32.HashToUInt32(System.Text.Encoding.UTF8.GetBytes(root));
        string options = (read?.Sustain == true ? "-sustain" : "") + (read?.IncludeDrums == true ? "-drums" : "") + (time == TimeUnit.Beats ? "-beats" : "")
            + (ratios is { } r && r != SplitRatios.Default ? "-split-" + r.ToString().Replace('/', '-') : "");
        return Path.Combine(cacheDir, $"{name}-{hash:x8}{options}.mgcache");
    }

    public static PrepareResult Prepare(string dataPath, string cachePath, PrepareOptions? options = null, IProgress<(int Done, int Total)>? progress = null)
    {
        options ??= new PrepareOptions();
        var clock = Stopwatch.StartNew();
        var listing = CorpusListing.Discover(dataPath, options.Ratios);

        // Previous cache: usable when it is valid and was made with the same reading options.
        NoteCorpus? previous = null;
        string? cacheNote = null;
        if (File.Exists(cachePath) && !options.Force)
        {
            try
            {
                previous = NoteCorpus.Load(cachePath);
                if (previous.Sustain != options.Read.Sustain || previous.IncludeDrums != options.Read.IncludeDrums || previous.Time != options.Time)
                {
                    cacheNote = "previous cache was made with other --sustain/--include-drums/--time settings; rebuilt";
                    previous = null;
                }
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                cacheNote = $"previous cache not used ({e.Message}); rebuilt";
            }
        }
        var oldFiles = previous?.Files.ToDictionary(f => f.RelativePath, StringComparer.Ordinal) ?? [];
        var oldSkipped = previous?.Skipped.ToDictionary(f => f.RelativePath, StringComparer.Ordinal) ?? [];

        int n = listing.Files.Count;
        var results = new FileResult[n];
        var toParse = new List<int>();
        for (int i = 0; i < n; i++)
        {
            var file = listing.Files[i];
            var info = new FileInfo(file.FullPath);
            long size = info.Exists ? info.Length : -1, mtime = info.Exists ? info.LastWriteTimeUtc.Ticks : 0;
            if (oldFiles.TryGetValue(file.RelativePath, out var old) && old.Size == size && old.ModifiedTicks == mtime)
                results[i] = new FileResult(size, mtime, previous!.NotesOf(old).ToArray(), old.Seconds, null, Reused: true)
                {
                    Places = previous.Places is null ? null : previous.PlacesOf(old).ToArray(), Bpm = old.Bpm, OnGrid = old.OnGrid,
                };
            else if (oldSkipped.TryGetValue(file.RelativePath, out var bad) && bad.Size == size && bad.ModifiedTicks == mtime)
                results[i] = new FileResult(size, mtime, null, 0, bad.Reason, Reused: true);
            else
            {
                results[i] = new FileResult(size, mtime, null, 0, null, Reused: false);
                toParse.Add(i);
            }
        }

        int done = n - toParse.Count;
        progress?.Report((done, n));
        Parallel.ForEach(toParse, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.MaxParallelism) }, i =>
        {
            results[i] = ParseOne(listing.Files[i].FullPath, results[i], options.Read, options.Time);
            progress?.Report((Interlocked.Increment(ref done), n));
        });

        var entries = new List<CorpusEntry>();
        var skipped = new List<SkippedEntry>();
        long first = 0;
        for (int i = 0; i < n; i++)
        {
            var (file, r) = (listing.Files[i], results[i]);
            if (r.Rows is { Length: > 0 } rows)
            {
                entries.Add(new CorpusEntry(file.RelativePath, file.Split, r.Size, r.ModifiedTicks, first, rows.Length, r.Seconds, r.Bpm, r.OnGrid));
                first += rows.Length;
            }
            else skipped.Add(new SkippedEntry(file.RelativePath, r.Size, r.ModifiedTicks, r.Reason ?? "no notes"));
        }
        foreach (var (path, reason) in listing.Missing) skipped.Add(new SkippedEntry(path, -1, 0, reason));

        var notes = new NoteRow[first];
        var places = options.Time == TimeUnit.Beats ? new BarPlace[first] : null;
        int k = 0;
        foreach (var r in results)
            if (r.Rows is { Length: > 0 } rows)
            {
                rows.CopyTo(notes, k);
                if (places is not null) r.Places!.CopyTo(places, k);
                k += rows.Length;
            }

        var corpus = new NoteCorpus
        {
            Root = listing.Root, Kind = listing.Kind, Sustain = options.Read.Sustain, IncludeDrums = options.Read.IncludeDrums,
            Files = entries, Skipped = skipped, Notes = notes, Time = options.Time, Places = places,
        };
        bool unchanged = previous is not null && toParse.Count == 0 && SameIndex(previous, corpus);
        bool write = !unchanged && !(options.Strict && corpus.Skipped.Count > 0);
        if (write) corpus.Save(cachePath);
        return new PrepareResult(corpus, cachePath, toParse.Count, n - toParse.Count, write, cacheNote, clock.Elapsed);
    }

    readonly record struct FileResult(long Size, long ModifiedTicks, NoteRow[]? Rows, float Seconds, string? Reason, bool Reused)
    {
        public BarPlace[]? Places { get; init; }
        public float Bpm { get; init; }
        public float OnGrid { get; init; } = float.NaN;
    }

    static FileResult ParseOne(string path, FileResult stat, MidiReadOptions options, TimeUnit time)
    {
        try
        {
            if (time == TimeUnit.Beats)
            {
                var score = MidiReader.ReadScoreFile(path, options);
                if (score.Notes.Count == 0) return stat with { Reason = "no notes" };
                var grid = BeatFeatures.EstimateGrid(score);
                var (rows, places) = BeatFeatures.FromScore(score, grid);
                return stat with
                {
                    Rows = rows, Places = places, Seconds = (float)score.Notes.Max(n => n.End),
                    Bpm = (float)score.MedianBpm(), OnGrid = (float)BeatFeatures.OnGridFraction(score, grid),
                };
            }
            var notes = MidiReader.ReadFile(path, options);
            if (notes.Count == 0)
                return stat with
                {
                    Reason = !options.IncludeDrums && MidiReader.ReadFile(path, options with { IncludeDrums = true }).Count > 0
                        ? "only drum notes (channel 10); --include-drums keeps them" : "no notes",
                };
            return stat with { Rows = NoteFeatures.FromNotes(notes), Seconds = (float)notes.Max(n => n.End) };
        }
        catch (MidiFormatException e)
        {
            return stat with { Reason = e.Message };
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A bug of ours must not stop a corpus: the file is reported, not the process killed.
            return stat with { Reason = $"internal error: {e.GetType().Name}: {e.Message}" };
        }
    }

    static bool SameIndex(NoteCorpus a, NoteCorpus b) =>
        a.Root == b.Root && a.Kind == b.Kind
        && a.Files.SequenceEqual(b.Files)
        && a.Skipped.SequenceEqual(b.Skipped);
}
