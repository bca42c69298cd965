using System.CommandLine;
using System.Runtime.InteropServices;
using MusicGen.Cli.Serve;

namespace MusicGen.Cli.Commands;

/// <summary><c>musicgen serve</c>: the local web page (<see cref="WebServer"/>); this only binds the options.</summary>
public static class ServeCommand
{
    public static Command Build()
    {
        var d = new ServeOptions();
        var port = new Option<int>("--port", "-p") { Description = "The port to listen on", DefaultValueFactory = _ => d.Port };
        var host = new Option<string>("--host") { Description = "The address to listen on (the default serves this machine only; 0.0.0.0 serves the network)", DefaultValueFactory = _ => d.Host };
        var checkpoints = new Option<string[]>("--checkpoint", "-c") { Description = "Also offer this checkpoint (a .safetensors file or a run directory); repeat for more", AllowMultipleArgumentsPerToken = false };
        var device = DevicesCommand.DeviceOption("cpu");
        var cmd = new Command("serve", "A local web page: compose with the embedded models (or your checkpoints), hear it in the browser, continue your own MIDI, and watch the LSTM's gates while it composes")
        {
            port, host, checkpoints, device,
        };
        cmd.SetAction(p => Cli.Run(() =>
        {
            var options = new ServeOptions { Port = p.GetValue(port), Host = p.GetValue(host)!, Checkpoints = p.GetValue(checkpoints) ?? [], Device = DevicesCommand.Warned(p.GetValue(device)!) };
            using var stop = new CancellationTokenSource();
            void Stop(PosixSignalContext s) { s.Cancel = true; stop.Cancel(); }
            using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            var server = WebServer.StartAsync(options, Console.WriteLine).GetAwaiter().GetResult();
            try { server.WaitForShutdownAsync(stop.Token).GetAwaiter().GetResult(); }
            finally { server.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
            Console.WriteLine("stopped");
            return Cli.Ok;
        }));
        return cmd;
    }
}
