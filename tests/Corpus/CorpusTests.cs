using MusicGen.Midi;
using MusicGen.Midi.Corpus;
using MusicGen.Tests.Midi;

namespace MusicGen.Tests.Corpus;

/// <summary>A temp folder deleted at the end of the test.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("mg-test-").FullName;
    public string this[string relative] => System.IO.Path.Combine(Path, relative);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }

    public string Write(string relative, byte[] bytes)
    {
        var full = this[relative];
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, bytes);
        return full;
    }
}

public class CorpusTests
{
    static byte[] Song(int pitch, int count = 20) => new SmfBuilder().AddTrack(t =>
    {
        for (int i = 0; i < count; i++) t.On(0, pitch + i % 12).Off(120, pitch + i % 12);
    }).Build();

    [Fact]
    public void Folder_is_searched_recursively_for_mid_and_midi_in_any_case_and_other_files_are_ignored()
    {
        using var dir = new TempDir();
        dir.Write("Jazz/Artist/a.mid", Song(60));
        dir.Write("Jazz/b.MIDI", Song(62));
        dir.Write("c.Mid", Song(64));
        dir.Write("notes.txt", "x"u8.ToArray());
        dir.Write("cover.jpg", [1, 2, 3]);
        var listing = CorpusListing.Discover(dir.Path, SplitRatios.Default);
        Assert.Equal(["Jazz/Artist/a.mid", "Jazz/b.MIDI", "c.Mid"], listing.Files.Select(f => f.RelativePath));
    }

    [Fact]
    public void Folder_split_is_deterministic_and_follows_the_ratios()
    {
        var ratios = SplitRatios.Parse("80/10/10");
        var paths = Enumerable.Range(0, 20_000).Select(i => $"genre{i % 7}/song{i}.mid").ToList();
        var splits = paths.Select(ratios.Assign).ToList();
        Assert.Equal(splits, paths.Select(ratios.Assign));
        Assert.InRange(splits.Count(s => s == Split.Train) / 20_000.0, 0.78, 0.82);
        Assert.InRange(splits.Count(s => s == Split.Validation) / 20_000.0, 0.09, 0.11);
        Assert.Throws<FormatException>(() => SplitRatios.Parse("90/10"));
        Assert.Throws<FormatException>(() => SplitRatios.Parse("0/50/50"));
    }

    [Fact]
    public void Maestro_csv_split_is_used_with_quoted_commas_in_titles()
    {
        using var dir = new TempDir();
        dir.Write("2004/x.midi", Song(60));
        dir.Write("2004/y.midi", Song(62));
        dir.Write("2006/z.midi", Song(64));
        File.WriteAllText(dir["maestro-v3.0.0.csv"],
            "canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration\n" +
            "Bach,\"Prelude, Fugue \"\"No. 1\"\"\",train,2004,2004/x.midi,2004/x.wav,10\n" +
            "Liszt,Etude,validation,2004,2004/y.midi,2004/y.wav,10\n" +
            "Chopin,\"Ballade\nNo. 1\",test,2006,2006/z.midi,2006/z.wav,10\n" +
            "Ravel,Gone,train,2006,2006/missing.midi,x.wav,10\n");
        var listing = CorpusListing.Discover(dir.Path, SplitRatios.Default);
        Assert.Equal("maestro", listing.Kind);
        Assert.Equal([Split.Train, Split.Validation, Split.Test], listing.Files.Select(f => f.Split));
        Assert.Equal("2006/missing.midi", Assert.Single(listing.Missing).RelativePath);
    }

    [Fact]
    public async Task Link_loops_and_second_links_add_nothing_and_a_fifo_is_skipped_not_waited_on()
    {
        using var dir = new TempDir();
        dir.Write("a/one.mid", Song(60));
        dir.Write("b/two.MID", Song(62));
        Directory.CreateSymbolicLink(dir["a/loop"], "..");              // a loop back to the root
        Directory.CreateSymbolicLink(dir["again"], dir["b"]);            // a second way to the same folder
        File.CreateSymbolicLink(dir["a/same.mid"], dir["a/one.mid"]);    // a second name for the same file
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [dir["pipe.mid"]])!) mkfifo.WaitForExit();
        var listing = CorpusListing.Discover(dir.Path, SplitRatios.Default);
        Assert.Equal(["a/one.mid", "b/two.MID", "pipe.mid"], listing.Files.Select(f => f.RelativePath));

        var prepare = Task.Run(() => CorpusPreparer.Prepare(dir.Path, dir["c.mgcache"]));
        Assert.Same(prepare, await Task.WhenAny(prepare, Task.Delay(TimeSpan.FromSeconds(60)))); // else it waited on the FIFO
        var r = await prepare;
        Assert.Equal(2, r.Corpus.Files.Count);
        Assert.Contains("not a regular file", Assert.Single(r.Corpus.Skipped).Reason);
    }

    [Fact]
    public void Merged_corpora_keep_each_files_notes_and_split_and_load_back_even_when_a_part_lists_fewer_files()
    {
        using var dir = new TempDir();
        var a = MusicGen.Tests.Model.TrainerTests.TinyCorpus(files: 4, notesPerFile: 30);
        var b = MusicGen.Tests.Model.TrainerTests.TinyCorpus(files: 3, notesPerFile: 20);
        // b lists only its last two files (as when files of one part are left out): its notes array still holds all three.
        var bPart = new NoteCorpus { Root = b.Root, Kind = b.Kind, Sustain = b.Sustain, IncludeDrums = b.IncludeDrums, Files = b.Files.Skip(1).ToList(), Skipped = b.Skipped, Notes = b.Notes };
        var merged = NoteCorpus.Merge([("a", a), ("b", bPart)]);
        merged.Save(dir["m.mgcache"]);
        var loaded = NoteCorpus.Load(dir["m.mgcache"]);
        Assert.Equal(6, loaded.Files.Count);
        Assert.Equal(4 * 30 + 2 * 20, loaded.Notes.Length);
        Assert.Equal(a.Files.Select(f => f.Split).Concat(b.Files.Skip(1).Select(f => f.Split)), loaded.Files.Select(f => f.Split));
        Assert.Equal(["a/", "a/", "a/", "a/", "b/", "b/"], loaded.Files.Select(f => f.RelativePath[..2]));
        Assert.Equal(b.NotesOf(b.Files[2]).ToArray(), loaded.NotesOf(loaded.Files[5]).ToArray());
        Assert.Throws<ArgumentException>(() => NoteCorpus.Merge([("a", a), ("a", b)]));
    }

    [Fact]
    public void Cache_names_carry_every_reading_option_so_differently_read_caches_never_share_a_file()
    {
        string plain = CorpusPreparer.DefaultCachePath("/data/asap", "cache");
        Assert.Equal(plain, CorpusPreparer.DefaultCachePath("/data/asap/", "cache", new MidiReadOptions(), SplitRatios.Default));
        var names = new[]
        {
            plain,
            CorpusPreparer.DefaultCachePath("/data/asap", "cache", new MidiReadOptions { Sustain = true }),
            CorpusPreparer.DefaultCachePath("/data/asap", "cache", new MidiReadOptions { IncludeDrums = true }),
            CorpusPreparer.DefaultCachePath("/data/asap", "cache", new MidiReadOptions { Sustain = true, IncludeDrums = true }),
            CorpusPreparer.DefaultCachePath("/data/asap", "cache", null, new SplitRatios(80, 10, 10)),
            CorpusPreparer.DefaultCachePath("/other/asap", "cache"),
        };
        Assert.Equal(names.Length, names.Distinct().Count());
        Assert.EndsWith("-sustain.mgcache", names[1]);
    }

    [Fact]
    public void Asap_metadata_lists_performances_split_by_piece_and_keeps_score_files_apart()
    {
        using var dir = new TempDir();
        var header = "composer,title,folder,xml_score,midi_score,midi_performance,performance_annotations\n";
        var rows = new List<string>();
        for (int piece = 0; piece < 40; piece++)
        {
            string folder = $"Composer{piece % 3}/Work/Piece{piece}";
            dir.Write($"{folder}/midi_score.mid", Song(60));
            for (int perf = 0; perf < 3; perf++)
            {
                dir.Write($"{folder}/Player{perf}.mid", Song(60 + perf));
                rows.Add($"C,T,{folder},{folder}/xml_score.musicxml,{folder}/midi_score.mid,{folder}/Player{perf}.mid,x.txt");
            }
        }
        rows.Add("C,T,Gone/Piece,x,Gone/Piece/midi_score.mid,Gone/Piece/Missing.mid,x");
        File.WriteAllText(dir["metadata.csv"], header + string.Join("\n", rows) + "\n");
        var listing = CorpusListing.Discover(dir.Path, new SplitRatios(60, 20, 20));
        Assert.Equal("asap", listing.Kind);
        Assert.Equal(120, listing.Files.Count);
        Assert.DoesNotContain(listing.Files, f => f.RelativePath.EndsWith("midi_score.mid"));
        Assert.Equal("Gone/Piece/Missing.mid", Assert.Single(listing.Missing).RelativePath);
        // Every piece's performances share one split, and all three splits are used.
        var byPiece = listing.Files.GroupBy(f => f.RelativePath[..f.RelativePath.LastIndexOf('/')]);
        Assert.All(byPiece, g => Assert.Single(g.Select(f => f.Split).Distinct()));
        Assert.Equal(3, listing.Files.Select(f => f.Split).Distinct().Count());
    }

    [SharedDataFact]
    public void Shared_asap_reads_every_performance_with_no_piece_in_two_splits()
    {
        var listing = CorpusListing.Discover(SharedData.Asap, SplitRatios.Default);
        Assert.Equal("asap", listing.Kind);
        Assert.Equal(1067, listing.Files.Count);
        Assert.Empty(listing.Missing);
        Assert.DoesNotContain(listing.Files, f => f.RelativePath.EndsWith("midi_score.mid"));
        var byPiece = listing.Files.GroupBy(f => f.RelativePath[..f.RelativePath.LastIndexOf('/')]);
        Assert.All(byPiece, g => Assert.Single(g.Select(f => f.Split).Distinct()));
        Assert.Contains(listing.Files, f => f.Split == Split.Test);
    }

    [SharedDataFact]
    public void Shared_maestro_sample_uses_its_csv_split_40_5_7()
    {
        using var dir = new TempDir();
        var r = CorpusPreparer.Prepare(SharedData.MaestroSample, dir["m.mgcache"], new PrepareOptions { Read = new MidiReadOptions { Sustain = true } });
        Assert.Equal("maestro", r.Corpus.Kind);
        Assert.Equal(40, r.Corpus.Files.Count(f => f.Split == Split.Train));
        Assert.Equal(5, r.Corpus.Files.Count(f => f.Split == Split.Validation));
        Assert.Equal(7, r.Corpus.Files.Count(f => f.Split == Split.Test));
        Assert.Empty(r.Corpus.Skipped);
    }

    [SharedDataFact]
    public void Shared_pop909_prepares_all_909_files_and_the_cache_loads_back_identically()
    {
        using var dir = new TempDir();
        string cache = dir["pop.mgcache"];
        var r = CorpusPreparer.Prepare(SharedData.Pop909, cache);
        Assert.Equal(909, r.Corpus.Files.Count);
        Assert.Empty(r.Corpus.Skipped);
        Assert.InRange(r.Corpus.Notes.Length, 1_400_000, 1_700_000);
        Assert.All(r.Corpus.Notes, n => Assert.True(n.Pitch is >= 0 and <= 127 && n.Step >= 0 && n.Duration > 0 && n.Velocity is >= 1 and <= 127));

        var loaded = NoteCorpus.Load(cache);
        Assert.Equal(r.Corpus.Files, loaded.Files);
        Assert.Equal(r.Corpus.Notes, loaded.Notes);

        var again = CorpusPreparer.Prepare(SharedData.Pop909, cache);
        Assert.False(again.Written);
        Assert.Equal(0, again.Parsed);
        Assert.Equal(909, again.Reused);
    }

    [Fact]
    public void Only_changed_files_are_parsed_again_and_bad_files_are_reported_with_reasons()
    {
        using var dir = new TempDir();
        var data = System.IO.Path.Combine(dir.Path, "data");
        dir.Write("data/a.mid", Song(60));
        dir.Write("data/b.mid", Song(62));
        dir.Write("data/empty.mid", []);
        dir.Write("data/text.mid", "not midi at all"u8.ToArray());
        File.CreateSymbolicLink(dir["data/dangling.mid"], dir["nowhere.mid"]);
        string cache = dir["out/data.mgcache"];

        var first = CorpusPreparer.Prepare(data, cache);
        Assert.Equal(2, first.Corpus.Files.Count);
        Assert.Equal(3, first.Corpus.Skipped.Count);
        Assert.Contains(first.Corpus.Skipped, s => s.RelativePath == "empty.mid" && s.Reason.Contains("empty"));
        Assert.Contains(first.Corpus.Skipped, s => s.RelativePath == "text.mid" && s.Reason.Contains("not a MIDI file"));
        Assert.Contains(first.Corpus.Skipped, s => s.RelativePath == "dangling.mid" && s.Reason.Contains("unreadable"));

        dir.Write("data/b.mid", Song(70, count: 30));
        File.SetLastWriteTimeUtc(dir["data/b.mid"], DateTime.UtcNow.AddMinutes(1));
        var second = CorpusPreparer.Prepare(data, cache);
        Assert.True(second.Written);
        Assert.Equal(1, second.Parsed); // b.mid only: the dangling link has size -1 both times
        Assert.Equal(30, second.Corpus.Files.Single(f => f.RelativePath == "b.mid").NoteCount);
        Assert.Equal(70, second.Corpus.NotesOf(second.Corpus.Files.Single(f => f.RelativePath == "b.mid"))[0].Pitch);
    }

    [Fact]
    public void A_folder_without_midi_gives_an_empty_corpus_and_a_missing_folder_throws()
    {
        using var dir = new TempDir();
        dir.Write("readme.txt", "x"u8.ToArray());
        var r = CorpusPreparer.Prepare(dir.Path, dir["c.mgcache"]);
        Assert.Empty(r.Corpus.Files);
        Assert.Throws<DirectoryNotFoundException>(() => CorpusListing.Discover(dir["nope"], SplitRatios.Default));
    }
}
