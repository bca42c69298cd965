using System.Diagnostics;

namespace MusicGen.Tests.Cli;

/// <summary>Runs the real `musicgen` executable (copied beside the tests) as a child process.</summary>
public static class CliRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>
    /// Runs an MPI job: <c>mpiexec -n ranks dotnet musicgen.dll args</c>, or with <paramref name="perRank"/> one
    /// argument list per rank (MPMD: <c>mpiexec -n 1 ... : -n 1 ...</c>). Each rank runs on one thread.
    /// </summary>
    public static Result Mpi(int ranks, string[] args, string[][]? perRank = null, IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo("mpiexec") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        string dll = Path.Combine(AppContext.BaseDirectory, "musicgen.dll");
        var lists = perRank ?? Enumerable.Repeat(args, ranks).Take(1).ToArray();
        for (int i = 0; i < lists.Length; i++)
        {
            if (i > 0) psi.ArgumentList.Add(":");
            foreach (var a in new[] { "-n", perRank is null ? $"{ranks}" : "1", "-env", "MUSICGEN_THREADS", "1", "dotnet", dll }.Concat(lists[i])) psi.ArgumentList.Add(a);
        }
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException("the MPI job did not finish (a rank waiting for one that died?)"); }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Whether `mpiexec` is on the PATH.</summary>
    public static bool HasMpiexec { get; } = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => File.Exists(Path.Combine(d, "mpiexec")));

    public static Result Run(params string[] args) => RunWithEnvironment(new Dictionary<string, string>(), args);

    public static Result RunWithEnvironment(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var (k, v) in env) psi.Environment[k] = v;
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "musicgen.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException("musicgen did not finish"); }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
