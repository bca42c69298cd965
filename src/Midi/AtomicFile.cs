namespace MusicGen.Midi;

/// <summary>Writes a file so that a crash never leaves it half-written: write a temp file beside it, flush, rename.</summary>
public static class AtomicFile
{
    public static void Write(string path, Action<Stream> write)
    {
        string full = Path.GetFullPath(path);
        string? dir = Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        string temp = full + $".tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>
    /// Deletes the temp files in <paramref name="directory"/> left by processes that were killed mid-write
    /// ("NAME.tmp-PID-GUID" whose PID is no longer running). Returns how many were deleted.
    /// </summary>
    public static int DeleteOrphans(string directory)
    {
        if (!Directory.Exists(directory)) return 0;
        int deleted = 0;
        foreach (var file in Directory.EnumerateFiles(directory, "*.tmp-*"))
        {
            string tail = file[(file.LastIndexOf(".tmp-", StringComparison.Ordinal) + 5)..];
            int dash = tail.IndexOf('-');
            if (dash <= 0 || !int.TryParse(tail.AsSpan(0, dash), out int pid) || IsRunning(pid)) continue;
            try { File.Delete(file); deleted++; }
            catch (IOException) { }
        }
        return deleted;
    }

    static bool IsRunning(int pid)
    {
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }
}
