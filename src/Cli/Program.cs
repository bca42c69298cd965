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
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            // One line, not a page of usage: the first problem and where to look.
            string verb = parsed.CommandResult.Command == root ? "" : " " + parsed.CommandResult.Command.Name;
            return Cli.Error($"{parsed.Errors[0].Message} (see `musicgen{verb} --help`)");
        }
        return parsed.Invoke();
    }

    /// <summary>The whole command tree (public so tests can drive the CLI in-process).</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("MusicGen: learn to compose piano music from MIDI with (bidirectional) LSTM networks on hand-written kernels.");
        root.Add(GenerateCommand.Build());
        root.Add(PrepareCommand.Build());
        root.Add(TrainCommand.Build());
        root.Add(EvaluateCommand.Build());
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
