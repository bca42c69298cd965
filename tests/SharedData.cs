namespace MusicGen.Tests;

/// <summary>
/// The real corpora in ../shared/data, read in place (never copied into the repository). They are looked for only
/// where the README puts them: a folder named shared beside the repository's root. Tests that need them are marked
/// <see cref="SharedDataFactAttribute"/> and are skipped, with the reason, where the folder is absent.
/// </summary>
public static class SharedData
{
    /// <summary>The repository's root (the folder holding MusicGen.sln), found by walking up from the test binaries.</summary>
    public static string RepositoryRoot { get; } = FindUp(d => File.Exists(Path.Combine(d, "MusicGen.sln"))) ?? throw new DirectoryNotFoundException("MusicGen.sln not found above the test binaries");

    /// <summary>../shared/data beside the repository, or null where it is absent.</summary>
    public static string? Root { get; } = Directory.Exists(Path.Combine(RepositoryRoot, "..", "shared", "data", "pop909"))
        ? Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "data")) : null;

    public static bool Available => Root is not null;

    public static string Pop909 => Corpus("pop909");
    public static string MaestroSample => Corpus("maestro-sample");
    public static string Asap => Corpus("asap");
    /// <summary>The JSB Chorales frames file (quarter-note frames, the Boulanger-Lewandowski split).</summary>
    public static string JsbChorales => Path.Combine(Corpus("jsb-chorales"), "jsb-chorales-quarter.json");

    static string Corpus(string name) => Path.Combine(Root ?? throw new InvalidOperationException(Missing), name);

    public const string Missing = "../shared/data is not beside the repository (where the README puts the shared corpora)";

    static string? FindUp(Func<string, bool> match)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (match(dir.FullName)) return dir.FullName;
        return null;
    }
}

/// <summary>A fact that reads the shared corpora: skipped, with the reason, where ../shared/data is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute() { if (!SharedData.Available) Skip = SharedData.Missing; }
}
