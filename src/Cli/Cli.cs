using MusicGen.Model;
using Spectre.Console;

namespace MusicGen.Cli;

/// <summary>Shared conventions of every verb: one-line errors on stderr and distinct exit codes.</summary>
public static class Cli
{
    public const int Ok = 0;
    /// <summary>The work ran but its result is not acceptable (nothing usable, --strict tripped, a check failed).</summary>
    public const int Failed = 1;
    /// <summary>Bad input: a missing path, a malformed value, a file that is not what it should be.</summary>
    public const int BadInput = 2;
    /// <summary>Something we did not expect (a bug, a device failure).</summary>
    public const int InternalError = 70;
    /// <summary>Stopped by Ctrl-C or SIGTERM after saving (128 + SIGINT, the shell's convention for an interrupted command).</summary>
    public const int Interrupted = 130;

    /// <summary>Thrown by a verb's helpers to end the verb with a one-line message and an exit code other than bad input's
    /// (for example <see cref="Failed"/>: the input was fine, but nothing usable came of it).</summary>
    public sealed class Stop(string message, int code) : Exception(message)
    {
        public int Code { get; } = code;
    }

    public static int Error(string message, int code = BadInput)
    {
        Console.Error.WriteLine($"musicgen: error: {message}");
        return code;
    }

    /// <summary>Runs a verb body, turning expected failures into a one-line message and exit code instead of a stack trace.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Stop stop)
        {
            return Error(stop.Message, stop.Code);
        }
        // A library setting out of range: the library names it in words, the CLI as the option that set it.
        catch (SettingException e)
        {
            return Error($"--{e.Setting} {e.Problem}");
        }
        // Bad input: the library throws ArgumentException (and FormatException, InvalidDataException) with a one-line reason.
        // ArgumentNullException and ArgumentOutOfRangeException are the framework's and our own invariant checks: a bug.
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or InvalidDataException
            or ArgumentException and not (ArgumentNullException or ArgumentOutOfRangeException))
        {
            return Error(e.Message);
        }
        catch (OutOfMemoryException)
        {
            return Error("out of memory: the model or batch does not fit here; try a smaller --hidden, --batch or --count", Failed);
        }
        catch (Exception e)
        {
            // A bug or an unexpected device failure: one line, with the type, and the whole exception (inner ones and stack
            // traces) written to a file for a bug report (MUSICGEN_TRACE=1 prints it here as well).
            if (Environment.GetEnvironmentVariable("MUSICGEN_TRACE") == "1") Console.Error.WriteLine(e);
            string? report = WriteCrashReport(e);
            return Error($"internal error ({e.GetType().Name}): {e.Message}" + (e.InnerException is { } inner ? $" ({inner.GetType().Name}: {inner.Message})" : "") +
                (report is null ? "" : $"; details in {report}"), InternalError);
        }
    }

    /// <summary>Writes the exception with its stack traces to a new file in the temp folder; its path, or null if it could not be written.</summary>
    static string? WriteCrashReport(Exception e)
    {
        try
        {
            string path = Path.Combine(Path.GetTempPath(), $"musicgen-error-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}.txt");
            File.WriteAllText(path, $"musicgen {typeof(Cli).Assembly.GetName().Version} on {Environment.OSVersion}, .NET {Environment.Version}\n" +
                $"command: {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}\n\n{e}\n");
            return path;
        }
        catch (Exception io) when (io is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>
    /// Checks, before any work, that a file can be written at <paramref name="path"/> (its folder exists or can be made,
    /// and a file can be created there); null if so, else a one-line reason naming the user's path.
    /// </summary>
    public static string? CannotWrite(string path, string option)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full)) return $"{option} '{path}' is a folder; give a file name";
        string? dir = Path.GetDirectoryName(full);
        if (dir is null) return $"{option} '{path}': no folder to write in";
        for (string? d = dir; d is not null; d = Path.GetDirectoryName(d))
            if (File.Exists(d)) return $"{option} '{path}': '{d}' is a file, not a folder";
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".musicgen-write-test-{Guid.NewGuid():N}");
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{option} '{path}': cannot write in '{dir}' ({e.Message})";
        }
    }

    /// <summary>Progress bars only for a person at a terminal; scripts and CI get the summary alone.</summary>
    /// <summary>
    /// Progress for output that is not a terminal (a log file, a pipe): <see cref="Due"/> says yes once every
    /// <paramref name="every"/>, so a long epoch still shows that it moves, without a line per step.
    /// </summary>
    public sealed class ProgressLines(TimeSpan every)
    {
        readonly System.Diagnostics.Stopwatch _since = System.Diagnostics.Stopwatch.StartNew();
        public bool Due()
        {
            if (_since.Elapsed < every) return false;
            _since.Restart();
            return true;
        }
    }

    public static bool Interactive(bool quiet) => !quiet && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
}
