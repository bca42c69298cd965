using BenchmarkDotNet.Running;

namespace MusicGen.Bench;

/// <summary>
/// BenchmarkDotNet entry point. Run all or a filter, in Release:
///   dotnet run -c Release --project bench -- --filter '*Corpus*'
/// </summary>
public static class Program
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}

/// <summary>Finds ../shared/data from wherever the benchmark process runs.</summary>
public static class SharedData
{
    public static string Root { get; } = Find();

    static string Find()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data");
                if (Directory.Exists(Path.Combine(candidate, "pop909"))) return candidate;
            }
        throw new DirectoryNotFoundException("../shared/data not found");
    }
}
