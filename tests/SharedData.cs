namespace MusicGen.Tests;

/// <summary>The real corpora in ../shared/data, read in place (never copied into the repository).</summary>
public static class SharedData
{
    public static string Root { get; } = FindRoot();
    public static string Pop909 => Path.Combine(Root, "pop909");
    public static string MaestroSample => Path.Combine(Root, "maestro-sample");
    public static string Asap => Path.Combine(Root, "asap");

    /// <summary>The repository's root (the folder holding MusicGen.sln), found by walking up from the test binaries.</summary>
    public static string RepositoryRoot { get; } = FindUp(d => File.Exists(Path.Combine(d, "MusicGen.sln"))) ?? throw new DirectoryNotFoundException("MusicGen.sln not found above the test binaries");

    static string? FindUp(Func<string, bool> match)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (match(dir.FullName)) return dir.FullName;
        return null;
    }

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "data");
            if (Directory.Exists(Path.Combine(candidate, "pop909"))) return candidate;
        }
        throw new DirectoryNotFoundException("../shared/data not found above the test binaries");
    }
}
