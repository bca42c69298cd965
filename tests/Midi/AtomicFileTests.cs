using MusicGen.Midi;
using MusicGen.Tests.Corpus;

namespace MusicGen.Tests.Midi;

public class AtomicFileTests
{
    [Fact]
    public void Writes_whole_files_and_cleans_only_the_temp_files_of_dead_processes()
    {
        using var dir = new TempDir();
        AtomicFile.Write(dir["a.bin"], s => s.Write([1, 2, 3]));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(dir["a.bin"]));
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(dir["a.bin"], _ => throw new InvalidOperationException("boom")));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(dir["a.bin"]));          // the old content survives a failed write
        Assert.Single(Directory.GetFiles(dir.Path));                        // and no temp file is left

        dir.Write("last.safetensors.tmp-2147483647-0123abcd", [9]);         // no process has that id: an orphan
        dir.Write($"best.safetensors.tmp-{Environment.ProcessId}-4567ef", [9]); // ours, still running: in use
        dir.Write("notes.tmp-x-1", [9]);                                    // not our naming: left alone
        Assert.Equal(1, AtomicFile.DeleteOrphans(dir.Path));
        Assert.False(File.Exists(dir["last.safetensors.tmp-2147483647-0123abcd"]));
        Assert.True(File.Exists(dir[$"best.safetensors.tmp-{Environment.ProcessId}-4567ef"]));
        Assert.True(File.Exists(dir["notes.tmp-x-1"]));
        Assert.Equal(0, AtomicFile.DeleteOrphans(dir["missing"]));
    }
}
