using System.CommandLine;
using System.Globalization;
using MusicGen.Kernels;
using MusicGen.Midi;
using MusicGen.Model;

namespace MusicGen.Cli.Commands;

/// <summary><c>musicgen generate</c>: new piano music from a checkpoint (or the embedded default model).</summary>
public static class GenerateCommand
{
    /// <summary>--model: which embedded model (pop, the default, or classical); --checkpoint takes a file instead.</summary>
    public static Option<string?> ModelOption() => new("--model", "-m")
    {
        Description = "An embedded model: pop (default; trained on POP909, MIT) or classical (trained on ASAP's piano performances, CC BY-NC-SA 4.0)",
    };

    public static Command Build()
    {
        var checkpoint = new Option<string?>("--checkpoint", "-c") { Description = "A .safetensors checkpoint or a run directory (its best model); default: an embedded model (--model)" };
        var modelName = ModelOption();
        var primer = new Option<string?>("--primer") { Description = "A MIDI file to continue (at least the model's window; any length for an every-step model); default: a triad (or arpeggio) in --key or in a key drawn from the seed, one per piece" };
        var primerBars = new Option<int?>("--primer-bars") { Description = "Read only the first N bars of --primer" };
        var primerNotes = new Option<int?>("--primer-notes") { Description = "Read only the first N notes of --primer" };
        var includePrimer = new Option<bool>("--include-primer") { Description = "Write the primer, then the continuation, in one file (a marker and the PNG's red line show where the model takes over)" };
        var notes = new Option<int?>("--notes", "-n") { Description = "Notes to generate per piece (default 200)" };
        var seconds = new Option<double?>("--seconds", "-s") { Description = "Generate this many seconds per piece instead of a note count" };
        var bars = new Option<int?>("--bars", "-b") { Description = "Generate this many bars per piece (the last note may ring past the last bar line)" };
        var bpm = new Option<double?>("--bpm") { Description = "Tempo of the written file (default: the primer's, else the training corpus' median for a beats-mode model, else 120)" };
        var key = new Option<string?>("--key", "-k") { Description = "Start in this key and steer towards it, for example C, F#, Bb, Am or \"D minor\"; the file carries its key signature" };
        var keyStrength = new Option<float>("--key-strength") { Description = "How hard --key steers pitch (0: only the primer is in the key)", DefaultValueFactory = _ => ComposeRequest.DefaultKeyStrength };
        var meter = new Option<string?>("--meter") { Description = "Beats-mode models without --primer: the meter, for example 3/4 (default 4/4)" };
        var samplingFlags = new SamplingFlags();
        var seed = new Option<long?>("--seed") { Description = "Seed for reproducible output (default: random, printed)" };
        var count = new Option<int>("--count") { Description = "Pieces to generate in one batched pass (files NAME-1.mid ...)", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out", "-o") { Description = "Output MIDI file", DefaultValueFactory = _ => "song.mid" };
        var wav = new Option<bool>("--wav") { Description = "Also render WAV audio with FluidSynth (if installed)" };
        var png = new Option<bool>("--png") { Description = "Also draw a piano-roll PNG" };
        var device = DevicesCommand.DeviceOption("cpu");
        var cmd = new Command("generate", "Compose new piano music and write it as MIDI (optionally WAV and a piano-roll PNG)")
        {
            checkpoint, modelName, primer, primerBars, primerNotes, includePrimer, notes, seconds, bars, bpm, key, keyStrength, meter, seed, count, output, wav, png, device,
        };
        samplingFlags.AddTo(cmd);
        cmd.SetAction(p => Cli.Run(() =>
        {
            if (new Option[] { notes, seconds, bars }.Count(o => p.GetResult(o) is { Implicit: false }) > 1) return Cli.Error("give one of --notes, --seconds and --bars");
            if ((p.GetValue(primerBars) is not null || p.GetValue(primerNotes) is not null || p.GetValue(includePrimer)) && p.GetValue(primer) is null)
                return Cli.Error("--primer-bars, --primer-notes and --include-primer need --primer FILE");
            MusicKey? askedKey = null;
            if (p.GetValue(key) is string keyText)
            {
                if (!MusicKey.TryParse(keyText, out var k)) return Cli.Error($"--key '{keyText}': write {MusicKey.AcceptedForms}");
                askedKey = k;
            }
            Meter? askedMeter = null;
            if (p.GetValue(meter) is string meterText)
            {
                try { askedMeter = Meter.Parse(meterText); }
                catch (FormatException e) { return Cli.Error($"--{e.Message}"); }
            }
            var sampling = samplingFlags.Read(p); // bad values refused before the model is loaded; the model's defaults below
            string outPath = p.GetValue(output)!;
            if (!outPath.EndsWith(".mid", StringComparison.OrdinalIgnoreCase) && !outPath.EndsWith(".midi", StringComparison.OrdinalIgnoreCase))
                return Cli.Error($"--out '{outPath}' should end in .mid");
            if (Cli.CannotWrite(outPath, "--out") is string whyNot) return Cli.Error(whyNot); // before generating, not after
            if (p.GetValue(seed) is < 0) return Cli.Error($"--seed must be 0 or more (got {p.GetValue(seed)})");
            ulong seedValue = p.GetValue(seed) is long sv ? (ulong)sv : (ulong)Random.Shared.NextInt64(1, 1L << 40);
            int c = p.GetValue(count);
            var request = new ComposeRequest
            {
                Notes = p.GetValue(notes) ?? 200, Seconds = p.GetValue(seconds), Bars = p.GetValue(bars), Count = c, Seed = seedValue, Sampling = sampling,
                Bpm = p.GetValue(bpm), Key = askedKey, KeyStrength = p.GetValue(keyStrength), Meter = askedMeter, IncludePrimer = p.GetValue(includePrimer),
            };
            request.Validate(); // bad numbers are refused before the model is loaded

            using var backend = Devices.Create(DevicesCommand.Warned(p.GetValue(device)!));
            var (model, source) = LoadModel(p.GetValue(checkpoint), backend, p.GetValue(modelName));
            using (model)
            {
                sampling = samplingFlags.Read(p, model.Config);
                request = request with { Sampling = sampling };
                if (p.GetValue(primer) is string primerPath)
                {
                    if (!File.Exists(primerPath)) return Cli.Error($"--primer '{primerPath}': no such file");
                    Primer read;
                    try { read = Primer.FromFile(primerPath, model.Config, p.GetValue(primerBars), p.GetValue(primerNotes)); }
                    catch (MidiFormatException e) { return Cli.Error($"--primer '{primerPath}': {e.Message}"); }
                    if (read.Rows.Length < Generator.MinPrimer(model.Config))
                        return Cli.Error($"--primer '{primerPath}' gives {read.Rows.Length} notes; the model needs at least {Generator.MinPrimer(model.Config)} to start from");
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"primer: {read.Rows.Length} notes, {read.Bars} of {read.FileBars} bar(s) of {primerPath}; {read.Meter}, {read.Bpm:F0} bpm, {read.Key}{(askedKey is { } ak && ak != read.Key ? $" (moved into {ak})" : "")}"));
                    request = request with { Primer = read };
                }

                var started = DateTime.UtcNow;
                var pieces = Composer.Compose(model, request);
                double elapsed = (DateTime.UtcNow - started).TotalSeconds;
                Console.WriteLine($"model: {source}; seed {seedValue}");
                int failures = 0;
                for (int i = 0; i < pieces.Count; i++)
                {
                    var piece = pieces[i];
                    var outNotes = piece.Notes;
                    string path = c == 1 ? outPath : Path.Combine(Path.GetDirectoryName(outPath) ?? "", $"{Path.GetFileNameWithoutExtension(outPath)}-{i + 1}{Path.GetExtension(outPath)}");
                    MidiWriter.WriteFile(path, outNotes, piece.File);
                    double barSeconds = piece.File.Meter.BarBeats * 60 / piece.File.BeatsPerMinute;
                    double end = outNotes.Count > 0 ? outNotes.Max(x => x.End) : 0;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{path}: {outNotes.Count} notes ({piece.PrimerNotes} of them the primer's), {end:F1} s, {Math.Ceiling((outNotes.Count > 0 ? outNotes.Max(x => x.Start) : 0) / barSeconds + 1e-9):F0} bars of {piece.File.Meter} at {piece.File.BeatsPerMinute:F0} bpm, {piece.Key}, {outNotes.Select(x => x.Pitch).Distinct().Count()} distinct pitches, longest same-pitch run {LongestRun(outNotes)}"));
                    if (p.GetValue(png))
                    {
                        string pngPath = Path.ChangeExtension(path, ".png");
                        PianoRoll.SavePng(pngPath, outNotes, $"{Path.GetFileName(path)} (seed {seedValue}, {SamplingTitle(sampling)})",
                            takeoverSeconds: piece.TakeoverSeconds, barSeconds: model.Config.Beats ? barSeconds : 0);
                        Console.WriteLine($"{pngPath}: piano roll");
                    }
                    if (p.GetValue(wav))
                    {
                        if (AudioRenderer.Missing(out var fluidsynth, out var soundFont) is string why) { Console.Error.WriteLine($"musicgen: {why}"); failures++; }
                        else
                        {
                            string wavPath = Path.ChangeExtension(path, ".wav");
                            AudioRenderer.Render(path, wavPath, fluidsynth, soundFont);
                            Console.WriteLine($"{wavPath}: audio");
                        }
                    }
                }
                int total = pieces.Sum(x => x.Generated);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{total} notes in {elapsed:F2} s ({total / Math.Max(elapsed, 1e-9):F0} notes/s)"));
                return failures == 0 ? Cli.Ok : Cli.Failed;
            }
        }));
        return cmd;
    }

    /// <summary>The model from --checkpoint (a file, or a run directory's best/last), or the embedded one named by --model (default: pop).</summary>
    /// <summary>The model that --checkpoint or --model names (<see cref="BuiltInModels.LoadModel"/>), with the flags' names in its errors.</summary>
    public static (MusicModel Model, string Source) LoadModel(string? checkpoint, Backend backend, string? embedded = null)
    {
        if (checkpoint is not null && embedded is not null) throw new ArgumentException("give --checkpoint or --model, not both");
        return BuiltInModels.LoadModel(checkpoint, embedded, backend);
    }

    /// <summary>The sampling a piano roll's title names: the pitch's, and any head drawn other than as predicted.</summary>
    static string SamplingTitle(SamplingOptions s)
    {
        var parts = new List<string> { string.Create(CultureInfo.InvariantCulture, $"T={s.Temperature}, top-p={s.TopP}") };
        foreach (var (head, h) in new[] { ("step", s.Step), ("duration", s.Duration), ("velocity", s.Velocity) })
        {
            if (h.Temperature != 1f) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{head} T={h.Temperature}"));
            if (h.TopP != 1f) parts.Add(string.Create(CultureInfo.InvariantCulture, $"{head} top-p={h.TopP}"));
        }
        return string.Join(", ", parts);
    }

    /// <summary>The longest run of consecutive notes with the same pitch: the one-note loop detector.</summary>
    public static int LongestRun(IReadOnlyList<Note> notes)
    {
        int best = notes.Count > 0 ? 1 : 0, run = 1;
        for (int i = 1; i < notes.Count; i++)
        {
            run = notes[i].Pitch == notes[i - 1].Pitch ? run + 1 : 1;
            best = Math.Max(best, run);
        }
        return best;
    }
}
