// Composes 8 bars in D minor at 90 bpm with the built-in pop model and writes them to a MIDI file, with the library
// alone (no command line parsing, no musicgen executable). Run it from the repository root:
//   dotnet run --project examples/Compose -c Release -- dminor.mid
using MusicGen.Kernels;
using MusicGen.Midi;
using MusicGen.Model;

string output = args.Length > 0 ? args[0] : "dminor.mid";

// A backend runs the kernels: "cpu" (managed SIMD), or "cuda", "opencl", "ilgpu-cpu".
using var backend = Devices.Create("cpu");
var (model, _) = BuiltInModels.Load("pop", backend);
using (model)
{
    // Sampling left unset: the model's measured defaults (docs/DEFAULT_MODEL.md), as `musicgen generate` uses.
    var request = new ComposeRequest { Bars = 8, Bpm = 90, Key = MusicKey.Parse("Dm"), Seed = 7 };
    var piece = Composer.Compose(model, request)[0];
    MidiWriter.WriteFile(output, piece.Notes, piece.File); // tempo, meter and key signature included
    Console.WriteLine($"{output}: {piece.Notes.Count} notes in {piece.Key}, {piece.Notes.Max(n => n.End):F1} s");
}
