using System.CommandLine;
using System.Globalization;
using MusicGen.Midi;
using MusicGen.Midi.Corpus;
using Spectre.Console;

namespace MusicGen.Cli.Commands;

/// <summary><c>musicgen prepare</c>: MIDI collection -> binary note cache, with a summary table.</summary>
public static class PrepareCommand
{
    public static Command Build()
    {
        var data = new Option<string?>("--data", "-d") { Description = "Corpus folder: any tree of .mid/.midi files, a MAESTRO folder with its CSV, or an ASAP folder with its metadata.csv" };
        var merge = new Option<string[]>("--merge")
        {
            Description = "Instead of --data: prepared caches (.mgcache) to merge into one mixed corpus (each file keeps its split); written to --out",
            AllowMultipleArgumentsPerToken = true,
        };
        var output = new Option<string>("--out", "-o") { Description = "Folder for the cache file", DefaultValueFactory = _ => "cache" };
        var sustain = new Option<bool>("--sustain") { Description = "Hold notes while the sustain pedal (CC64) is down (for performance data such as MAESTRO)" };
        var drums = new Option<bool>("--include-drums") { Description = "Keep channel-10 percussion notes (left out by default)" };
        var split = new Option<string>("--split") { Description = "Train/validation/test percentages for a plain folder (MAESTRO uses its CSV)", DefaultValueFactory = _ => "90/5/5" };
        var strict = new Option<bool>("--strict") { Description = "Exit non-zero if any file is skipped" };
        var force = new Option<bool>("--force") { Description = "Parse every file again even if the cache is up to date" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar or table; one summary line" };
        var time = TimeOption();

        var command = new Command("prepare", "Read a MIDI collection into a compact note cache that training and evaluation load without re-parsing")
        {
            data, merge, output, sustain, drums, split, strict, force, quiet, time,
        };
        command.SetAction(parse => Cli.Run(() => parse.GetValue(merge) is { Length: > 0 } caches
            ? (parse.GetValue(data) is null ? Merge(caches, parse.GetValue(output)!) : Cli.Error("give --data or --merge, not both"))
            : parse.GetValue(data) is null ? Cli.Error("give --data FOLDER (or --merge CACHE...)") : Execute(
            parse.GetValue(data)!, parse.GetValue(output)!, parse.GetValue(split)!,
            new MidiReadOptions { Sustain = parse.GetValue(sustain), IncludeDrums = parse.GetValue(drums) },
            parse.GetValue(strict), parse.GetValue(force), parse.GetValue(quiet), parse.GetValue(time))));
        return command;
    }

    /// <summary>The --time option of prepare and train.</summary>
    public static Option<TimeUnit> TimeOption() => new("--time")
    {
        Description = "seconds: performance timing (any MIDI); beats: onsets and durations in beats on a 1/12-beat grid, with the bar position (scores and sequencer files, such as POP909)",
        DefaultValueFactory = _ => TimeUnit.Seconds,
    };

    /// <summary>The smallest fraction of onsets on the beat grid for which --time beats accepts a corpus.</summary>
    public const double MinOnGrid = 0.9;

    /// <summary>The refusal of --time beats for a corpus whose onsets are not on a beat grid (performance recordings), or null when it has one.</summary>
    public static string? OffGridRefusal(NoteCorpus corpus) => corpus.Time == TimeUnit.Beats && corpus.OnGridFraction < MinOnGrid
        ? string.Create(CultureInfo.InvariantCulture, $"--time beats: only {corpus.OnGridFraction:P1} of the onsets lie on a 1/12-beat grid (at least {MinOnGrid:P0} needed; performance recordings have no grid): use --time seconds")
        : null;

    static int Execute(string dataPath, string outDir, string splitText, MidiReadOptions read, bool strict, bool force, bool quiet, TimeUnit time)
    {
        if (!Directory.Exists(dataPath))
            return Cli.Error(File.Exists(dataPath) ? $"--data '{dataPath}' is a file; give the folder that holds the MIDI files" : $"--data '{dataPath}': no such folder");
        var options = new PrepareOptions { Read = read, Ratios = SplitRatios.Parse(splitText), Force = force, Strict = strict, Time = time };
        string cachePath = CorpusPreparer.DefaultCachePath(dataPath, outDir, read, options.Ratios, time);

        PrepareResult result;
        if (Cli.Interactive(quiet))
        {
            result = null!;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("Reading MIDI");
                    result = CorpusPreparer.Prepare(dataPath, cachePath, options, new SyncProgress(task));
                });
        }
        else
        {
            result = CorpusPreparer.Prepare(dataPath, cachePath, options);
        }

        var corpus = result.Corpus;
        WriteSkippedList(result);
        if (quiet) PrintLine(result);
        else PrintTable(result);

        if (corpus.Files.Count == 0)
            return Cli.Error($"no usable MIDI file in '{dataPath}' ({corpus.Skipped.Count} skipped)", Cli.Failed);
        if (time == TimeUnit.Beats)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"beat grid: {corpus.OnGridFraction:P1} of onsets within 1/48 beat of the 1/12-beat grid (uniformly random onsets: 50 %); median tempo {corpus.MedianBpm():F0} bpm"));
            if (OffGridRefusal(corpus) is { } refusal) return Cli.Error(refusal);
        }
        if (strict && corpus.Skipped.Count > 0)
            return Cli.Error($"--strict: {corpus.Skipped.Count} file(s) skipped; no cache written", Cli.Failed);
        return Cli.Ok;
    }

    static int Merge(string[] caches, string outDir)
    {
        var parts = new List<(string, NoteCorpus)>();
        foreach (var path in caches)
        {
            if (!File.Exists(path)) return Cli.Error($"--merge '{path}': no such cache file");
            var corpus = NoteCorpus.Load(path);
            // A part's name: its cache file's name without the path hash and reading options ("asap-8c58bd04-sustain.mgcache" -> "asap").
            string name = Path.GetFileNameWithoutExtension(path);
            var m = System.Text.RegularExpressions.Regex.Match(name, "^(.+?)-[0-9a-f]{8}(-.*)?$");
            if (m.Success) name = m.Groups[1].Value;
            parts.Add((name, corpus));
        }
        // ASAP's performances were cut from MAESTRO's recordings: a MAESTRO file that an ASAP part lists as a source is the
        // same performance, and could sit in another split there. Leave such files out of the other parts.
        var asapSources = parts.Where(p => p.Item2.Kind == "asap" && File.Exists(Path.Combine(p.Item2.Root, "metadata.csv")))
            .SelectMany(p => AsapMaestroSources(Path.Combine(p.Item2.Root, "metadata.csv"))).ToHashSet(StringComparer.OrdinalIgnoreCase);
        int dropped = 0;
        for (int i = 0; i < parts.Count; i++)
        {
            var (name, c) = parts[i];
            if (c.Kind == "asap" || asapSources.Count == 0) continue;
            var kept = c.Files.Where(f => !asapSources.Contains(Path.GetFileName(f.RelativePath))).ToList();
            dropped += c.Files.Count - kept.Count;
            parts[i] = (name, new NoteCorpus { Root = c.Root, Kind = c.Kind, Sustain = c.Sustain, IncludeDrums = c.IncludeDrums, Files = kept, Skipped = c.Skipped, Notes = c.Notes, Time = c.Time, Places = c.Places });
        }
        if (dropped > 0) Console.WriteLine($"left out {dropped} file(s) that ASAP's metadata.csv names as the MAESTRO source of its performances");
        var merged = NoteCorpus.Merge(parts);
        Directory.CreateDirectory(outDir);
        string id = System.IO.Hashing.XxHash32.HashToUInt32(System.Text.Encoding.UTF8.GetBytes(string.Join("|", caches.Select(Path.GetFullPath)))).ToString("x8");
        string cachePath = Path.Combine(outDir, $"merged-{id}.mgcache");
        merged.Save(cachePath);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{merged.Kind}: {merged.Files.Count} files, {merged.Notes.Length} notes, {merged.Hours:F2} h; train/validation/test files {Count(merged, Split.Train)}/{Count(merged, Split.Validation)}/{Count(merged, Split.Test)}; cache {cachePath}"));
        return Cli.Ok;
    }

    static IEnumerable<string> AsapMaestroSources(string metadataCsv)
    {
        var rows = Csv.Read(File.ReadAllText(metadataCsv));
        int col = rows[0].FindIndex(h => h.Trim() == "maestro_midi_performance");
        if (col < 0) yield break;
        foreach (var row in rows.Skip(1))
            if (row.Count > col && row[col].Trim().Length > 0) yield return Path.GetFileName(row[col].Trim().Replace('\\', '/'));
    }

    /// <summary>Progress reported on the worker thread straight into the Spectre task (it is thread-safe).</summary>
    sealed class SyncProgress(ProgressTask task) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) p)
        {
            task.MaxValue = Math.Max(1, p.Total);
            task.Value = p.Done;
        }
    }

    static string Num(long v) => v.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A skip reason's kind: the reason without its numbers, so one kind of problem is one row.</summary>
    public static string KindOf(string reason) => System.Text.RegularExpressions.Regex.Replace(reason, @"0x[0-9A-Fa-f]+|\d[\d,.]*", "#");

    /// <summary>Where the full list of skipped files is written: beside the cache, "&lt;cache&gt;.skipped.tsv".</summary>
    public static string SkippedListPath(string cachePath) => Path.ChangeExtension(cachePath, ".skipped.tsv");

    /// <summary>Writes every skipped file and its reason (tab-separated), or removes an old list when nothing was skipped.</summary>
    static void WriteSkippedList(PrepareResult r)
    {
        string path = SkippedListPath(r.CachePath);
        if (r.Corpus.Skipped.Count == 0) { if (File.Exists(path)) File.Delete(path); return; }
        AtomicFile.Write(path, stream =>
        {
            using var w = new StreamWriter(stream, leaveOpen: true);
            w.WriteLine("file\treason");
            foreach (var s in r.Corpus.Skipped.OrderBy(s => s.RelativePath, StringComparer.Ordinal)) w.WriteLine($"{s.RelativePath}\t{s.Reason.Replace('\t', ' ')}");
        });
    }

    static void PrintLine(PrepareResult r)
    {
        var c = r.Corpus;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{c.Files.Count} files read, {c.Skipped.Count} skipped, {c.Notes.Length} notes, {c.Hours:F2} h; train/validation/test files {Count(c, Split.Train)}/{Count(c, Split.Validation)}/{Count(c, Split.Test)}; cache {r.CachePath} ({(r.Written ? "written" : "up to date")}) in {r.Elapsed.TotalSeconds:F2} s"));
        if (r.CacheNote is not null) Console.WriteLine(r.CacheNote);
        if (c.Skipped.Count > 0)
        {
            foreach (var g in c.Skipped.GroupBy(s => KindOf(s.Reason)).OrderByDescending(g => g.Count()))
                Console.WriteLine($"skipped {g.Count()}: {g.Key} (e.g. {g.First().RelativePath})");
            Console.WriteLine($"every skipped file and its reason: {SkippedListPath(r.CachePath)}");
        }
    }

    static int Count(NoteCorpus c, Split s) => c.Files.Count(f => f.Split == s);

    static void PrintTable(PrepareResult r)
    {
        var c = r.Corpus;
        var console = AnsiConsole.Console;
        var table = new Table().Title($"[bold]{Markup.Escape(c.Root)}[/] ({c.Kind})").AddColumns("", "files", "notes", "hours");
        table.Columns[1].RightAligned(); table.Columns[2].RightAligned(); table.Columns[3].RightAligned();
        foreach (var split in new[] { Split.Train, Split.Validation, Split.Test })
        {
            var files = c.Files.Where(f => f.Split == split).ToList();
            table.AddRow(split.ToString().ToLowerInvariant(), Num(files.Count), Num(files.Sum(f => (long)f.NoteCount)),
                (files.Sum(f => (double)f.Seconds) / 3600).ToString("F2", CultureInfo.InvariantCulture));
        }
        table.AddRow("[bold]read[/]", $"[bold]{Num(c.Files.Count)}[/]", $"[bold]{Num(c.Notes.Length)}[/]", $"[bold]{c.Hours.ToString("F2", CultureInfo.InvariantCulture)}[/]");
        table.AddRow("skipped", Num(c.Skipped.Count), "", "");
        console.Write(table);

        if (c.Skipped.Count > 0)
        {
            // Grouped by kind: the reason with its numbers (offsets, lengths, bytes) taken out.
            var reasons = new Table().Title("Skipped files").AddColumns("kind of problem", "files", "for example");
            reasons.Columns[1].RightAligned();
            foreach (var g in c.Skipped.GroupBy(s => KindOf(s.Reason)).OrderByDescending(g => g.Count()))
                reasons.AddRow(Markup.Escape(g.Key), Num(g.Count()), Markup.Escape($"{g.First().RelativePath}: {g.First().Reason}"));
            console.Write(reasons);
            console.WriteLine($"every skipped file and its reason: {SkippedListPath(r.CachePath)}");
        }
        double seconds = r.Elapsed.TotalSeconds;
        console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"cache: {r.CachePath} ({(r.Written ? "written" : "already up to date")}); parsed {r.Parsed} file(s), reused {r.Reused}; {seconds:F2} s ({c.Notes.Length / Math.Max(seconds, 1e-9) / 1e6:F2}M notes/s)"));
        if (r.CacheNote is not null) console.WriteLine(r.CacheNote);
    }
}
