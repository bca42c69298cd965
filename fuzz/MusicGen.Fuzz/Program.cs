using System.Text;
using MusicGen.Midi;
using MusicGen.Midi.Corpus;
using MusicGen.Model;
using SharpFuzz;

// One fuzz target per parser of untrusted bytes. Each may refuse its input only with the exception its contract
// names (a reason for the user); any other exception, a hang or a crash is a bug that AFL++ records.
//   dotnet MusicGen.Fuzz.dll midi|safetensors|cache|csv        (run under afl-fuzz by fuzz/run.sh)
//   dotnet MusicGen.Fuzz.dll TARGET --replay FILE...         (run inputs once, outside AFL: what a crash did)
string target = args.Length > 0 ? args[0] : throw new ArgumentException("give a target: midi, safetensors, cache or csv");
Action<byte[]> body = target switch
{
    "midi" => bytes => { try { MidiReader.Read(bytes); } catch (MidiFormatException) { } },
    "safetensors" => bytes => { try { SafeTensors.Load(new MemoryStream(bytes, writable: false)); } catch (InvalidDataException) { } },
    "cache" => bytes => { try { NoteCorpus.Load(new MemoryStream(bytes, writable: false)); } catch (InvalidDataException) { } },
    "csv" => bytes => Csv.Read(Encoding.UTF8.GetString(bytes)), // any text is some CSV: nothing may be thrown
    _ => throw new ArgumentException($"unknown target '{target}'"),
};
if (args.Length > 1 && args[1] == "--replay")
{
    foreach (var file in args.Skip(2)) { body(File.ReadAllBytes(file)); Console.WriteLine($"{file}: ok"); }
    return;
}
Fuzzer.OutOfProcess.Run(stream =>
{
    using var ms = new MemoryStream();
    stream.CopyTo(ms);
    body(ms.ToArray());
});
