using MusicGen.Midi;
using MusicGen.Midi.Corpus;

namespace MusicGen.Tests.Corpus;

public class NoteCacheTests
{
    static NoteCorpus Sample() => new()
    {
        Root = "/data/x", Kind = "folder", Sustain = true, IncludeDrums = false,
        Files = [new CorpusEntry("a.mid", Split.Train, 100, 5, 0, 2, 3.5f), new CorpusEntry("é/b.mid", Split.Test, 200, 6, 2, 1, 1.25f)],
        Skipped = [new SkippedEntry("bad.mid", 0, 7, "empty file (0 bytes)")],
        Notes = [new NoteRow(60, 0, 0.5f, 80), new NoteRow(62, 0.25f, 0.5f, 81), new NoteRow(64, 0, 1, 90)],
    };

    static string Saved(TempDir dir)
    {
        var path = dir["c.mgcache"];
        Sample().Save(path);
        return path;
    }

    [Fact]
    public void Round_trip_is_exact()
    {
        using var dir = new TempDir();
        var loaded = NoteCorpus.Load(Saved(dir));
        var s = Sample();
        Assert.Equal(s.Files, loaded.Files);
        Assert.Equal(s.Skipped, loaded.Skipped);
        Assert.Equal(s.Notes, loaded.Notes);
        Assert.Equal((s.Root, s.Kind, s.Sustain, s.IncludeDrums), (loaded.Root, loaded.Kind, loaded.Sustain, loaded.IncludeDrums));
        Assert.Equal([62f, 0.25f], loaded.NotesOf(loaded.Files[0])[1] is var r ? new[] { r.Pitch, r.Step } : []);
    }

    [Fact]
    public void Truncated_cache_is_refused()
    {
        using var dir = new TempDir();
        var path = Saved(dir);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);
        Assert.Contains("truncated", Assert.Throws<InvalidDataException>(() => NoteCorpus.Load(path)).Message);
        File.WriteAllBytes(path, bytes[..40]);
        Assert.Throws<InvalidDataException>(() => NoteCorpus.Load(path));
    }

    [Fact]
    public void Any_flipped_byte_is_refused()
    {
        using var dir = new TempDir();
        var path = Saved(dir);
        var bytes = File.ReadAllBytes(path);
        for (int i = 0; i < bytes.Length; i++)
        {
            if (i >= 64 && i < 96) continue; // the header's reserved zero bytes carry no meaning
            var broken = (byte[])bytes.Clone();
            broken[i] ^= 0x10;
            File.WriteAllBytes(path, broken);
            Assert.Throws<InvalidDataException>(() => NoteCorpus.Load(path));
        }
    }

    [Fact]
    public void Other_format_version_is_refused_with_its_number()
    {
        using var dir = new TempDir();
        var path = Saved(dir);
        var bytes = File.ReadAllBytes(path);
        bytes[8] = 99;
        File.WriteAllBytes(path, bytes);
        Assert.Contains("version 99", Assert.Throws<InvalidDataException>(() => NoteCorpus.Load(path)).Message);
    }

    [Fact]
    public void Not_a_cache_is_refused()
    {
        using var dir = new TempDir();
        var path = dir["x.mgcache"];
        File.WriteAllBytes(path, new byte[200]);
        Assert.Contains("magic", Assert.Throws<InvalidDataException>(() => NoteCorpus.Load(path)).Message);
    }

    [Fact]
    public void A_corrupt_cache_is_rebuilt_by_prepare_with_a_note()
    {
        using var dir = new TempDir();
        dir.Write("data/a.mid", new Midi.SmfBuilder().AddTrack(t => t.On(0, 60).Off(100, 60)).Build());
        var cache = dir["c.mgcache"];
        File.WriteAllBytes(cache, new byte[300]);
        var r = CorpusPreparer.Prepare(dir["data"], cache);
        Assert.True(r.Written);
        Assert.Contains("rebuilt", r.CacheNote);
        Assert.Single(NoteCorpus.Load(cache).Files);
    }
}
