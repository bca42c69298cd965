using BenchmarkDotNet.Attributes;
using MusicGen.Midi;
using MusicGen.Midi.Corpus;
using NAudio.Midi;

namespace MusicGen.Bench;

/// <summary>
/// MIDI ingest over POP909 (909 files, ~1.53M notes), warm. The baseline is NAudio's parse alone
/// (what any NAudio-based reader must pay); ours adds the structural scan, the tempo map, note
/// pairing and features. Notes/s = notes / median.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 8)]
public class CorpusBenchmarks
{
    byte[][] _files = [];
    string _dir = "", _cache = "";

    [GlobalSetup]
    public void Setup()
    {
        var pop = Path.Combine(SharedData.Root, "pop909");
        _files = Directory.GetFiles(pop, "*.mid").Order().Select(File.ReadAllBytes).ToArray();
        _dir = Directory.CreateTempSubdirectory("mg-bench-").FullName;
        _cache = Path.Combine(_dir, "pop909.mgcache");
        CorpusPreparer.Prepare(pop, _cache);
        Console.WriteLine($"// pop909 notes: {NoteCorpus.Load(_cache).Notes.Length}");
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [Benchmark(Baseline = true, Description = "NAudio parse only, 1 thread")]
    public int NAudioParse()
    {
        int events = 0;
        foreach (var bytes in _files) events += new MidiFile(new MemoryStream(bytes, false), false).Events.Sum(t => t.Count);
        return events;
    }

    [Benchmark(Description = "MidiReader (scan+parse+tempo+notes), 1 thread")]
    public int ReadNotes()
    {
        int notes = 0;
        foreach (var bytes in _files) notes += MidiReader.Read(bytes).Count;
        return notes;
    }

    [Benchmark(Description = "prepare: files->cache, all cores, forced")]
    public int PrepareForced() => CorpusPreparer.Prepare(Path.Combine(SharedData.Root, "pop909"), _cache, new PrepareOptions { Force = true }).Corpus.Notes.Length;

    [Benchmark(Description = "load prepared cache")]
    public int LoadCache() => NoteCorpus.Load(_cache).Notes.Length;
}
