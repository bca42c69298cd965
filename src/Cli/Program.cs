using System.CommandLine;
using MusicGen.Cli.Commands;

namespace MusicGen.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = BuildRoot();
        if (args.Length == 0)
        {
            root.Parse(["--help"]).Invoke();
            return Cli.BadInput;
        }
        // An unknown verb: say so, and suggest the nearest one (System.CommandLine would say "Required command was not provided").
        if (!args[0].StartsWith('-') && root.Subcommands.All(c => c.Name != args[0]))
        {
            var nearest = root.Subcommands.Select(c => c.Name).OrderBy(n => EditDistance(n, args[0])).First();
            string hint = EditDistance(nearest, args[0]) <= Math.Max(2, args[0].Length / 3) ? $"; did you mean '{nearest}'?" : "";
            return Cli.Error($"unknown command '{args[0]}'{hint} (commands: {string.Join(", ", root.Subcommands.Select(c => c.Name))}; see `musicgen --help`)");
        }
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line, not a page of usage: the first problem and where to look.
            // The whole path of the command that failed: `musicgen frames train --help`, not `musicgen train --help`.
            var names = new List<string>();
            for (var r = parsed.CommandResult; r is not null && r.Command != root; r = r.Parent as System.CommandLine.Parsing.CommandResult) names.Insert(0, r.Command.Name);
            string verb = names.Count == 0 ? "" : " " + string.Join(" ", names);
            // An unknown option says more than "Required command was not provided", which System.CommandLine lists first.
            var error = parsed.Errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? parsed.Errors[0];
            return Cli.Error($"{Plain(error.Message)} (see `musicgen{verb} --help`)");
        }
        return parsed.Invoke();
    }

    /// <summary>Levenshtein distance: how many single-letter edits turn one word into the other.</summary>
    public static int EditDistance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    /// <summary>System.CommandLine's "Cannot parse argument 'abc' for option '--seed' as expected type 'System.Nullable`1[System.Int64]'"
    /// in words a user reads: "--seed 'abc' is not a whole number".</summary>
    static string Plain(string message)
    {
        var m = System.Text.RegularExpressions.Regex.Match(message, @"^Cannot parse argument '(?<value>.*)' for option '(?<option>[^']+)' as expected type '(?<type>[^']+)'");
        // "Argument 'x' not recognized. Must be one of:\n\t'a'\n\t'b'" (AcceptOnlyFromAmong) on one line: "... Must be one of: 'a', 'b'".
        if (!m.Success) return System.Text.RegularExpressions.Regex.Replace(message.Trim(), @":?\s*\n\s*", m2 => m2.Value.StartsWith(':') ? ": " : ", ");
        string type = m.Groups["type"].Value;
        string what = type.Contains("Int", StringComparison.Ordinal) ? "a whole number"
            : type.Contains("Single", StringComparison.Ordinal) || type.Contains("Double", StringComparison.Ordinal) ? "a number"
            : type.Contains("Boolean", StringComparison.Ordinal) ? "true or false" : "a valid value";
        return $"{m.Groups["option"].Value} '{m.Groups["value"].Value}' is not {what}";
    }

    /// <summary>The whole command tree. (The tests run the real executable as a child process, CliRunner, to see true exit codes and stderr.)</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("MusicGen: learn to compose piano music from MIDI with (bidirectional) LSTM networks on hand-written kernels.");
        root.Add(GenerateCommand.Build());
        root.Add(PrepareCommand.Build());
        root.Add(TrainCommand.Build());
        root.Add(EvaluateCommand.Build());
        root.Add(FramesCommand.Build());
#if !NO_SERVE
        root.Add(ServeCommand.Build());
#endif
        root.Add(InfoCommand.Build());
        root.Add(ExportCommand.Build());
        root.Add(DevicesCommand.Build());
        root.Add(SelfTestCommand.Build());
        root.Add(BenchCommand.Build());
        root.Add(ProbeCommand.Build());
        root.Add(PlotCommand.Build());
        root.Add(KernelsCommand.Build());
        return root;
    }
}
