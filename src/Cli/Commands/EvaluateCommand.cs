using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using MusicGen.Kernels;
using MusicGen.Midi.Corpus;
using MusicGen.Model;
using MusicGen.Model.Music;

namespace MusicGen.Cli.Commands;

/// <summary>
/// <c>musicgen evaluate</c>: how well a model predicts the note after each window of a corpus split, against
/// the bigram floor on the same windows. The same numbers training reports per epoch, for any checkpoint.
/// </summary>
public static class EvaluateCommand
{
    public static Command Build()
    {
        var checkpoint = new Option<string?>("--checkpoint", "-c") { Description = "A checkpoint or run directory (default: an embedded model, --model)" };
        var modelName = GenerateCommand.ModelOption();
        var data = new Option<string>("--data", "-d") { Description = "A prepared cache (.mgcache) or a MIDI folder (prepared into ./cache first)", Required = true };
        var sustain = new Option<bool>("--sustain") { Description = "When --data is a MIDI folder: read it with the sustain pedal (as the model's training corpus was, if it was)" };
        var split = new Option<string?>("--split") { Description = "train, validation (or valid) or test (default: validation; with --music: test)" };
        var window = new Option<int?>("--window") { Description = "Notes of context per prediction (default: the model's own window)" };
        var batch = new Option<int>("--batch") { Description = "Windows per forward pass", DefaultValueFactory = _ => 256 };
        var stride = new Option<int>("--stride") { Description = "Score every Nth window of the split (with --whole-pieces: every Nth piece; 1: all; a quicker, evenly spread estimate)", DefaultValueFactory = _ => 1 };
        var whole = new Option<bool>("--whole-pieces") { Description = "Score every note of each piece given all the notes before it in the piece: the pieces read note by note with the state carried, as generation reads them (unidirectional models)" };
        var device = DevicesCommand.DeviceOption("cpu");
        var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var music = new Option<bool>("--music") { Description = "Compare the music itself: generated pieces (or --generated) against segments of the split, feature by feature" };
        var generated = new Option<string?>("--generated") { Description = "With --music: a folder of MIDI files to compare instead of generating" };
        var count = new Option<int>("--count") { Description = "With --music: pieces per draw, and real segments drawn (one per file: at most the split's files)", DefaultValueFactory = _ => 64 };
        var notes = new Option<int>("--notes") { Description = "With --music: notes per piece and per real segment", DefaultValueFactory = _ => 200 };
        var seeds = new Option<int>("--seeds") { Description = "With --music: draws (each a sampling seed and a fresh draw of real segments) to average over", DefaultValueFactory = _ => 3 };
        var seed = new Option<long>("--seed") { Description = "With --music: the first draw's seed", DefaultValueFactory = _ => 1 };
        var png = new Option<string?>("--png") { Description = "With --music: draw a real segment's piano roll above a generated piece's, to this PNG file" };
        var keys = new Option<bool>("--keys") { Description = "Measure --key: compose --count pieces of --notes notes in the 24 keys in turn and count how many come out in the asked key (Krumhansl-Kessler estimate)" };
        var keyStrength = new Option<float>("--key-strength") { Description = "With --keys: the steering strength measured", DefaultValueFactory = _ => ComposeRequest.DefaultKeyStrength };
        var samplingFlags = new SamplingFlags();
        var cmd = new Command("evaluate", "Pitch NLL, accuracy and loss of a model on a corpus split, next to the bigram baseline; or, with --music, the musical statistics of its output against real music")
        {
            checkpoint, modelName, data, sustain, split, window, batch, stride, whole, device, json, music, generated, count, notes, seeds, seed, png, keys, keyStrength,
        };
        data.Required = false; // --keys needs no corpus
        samplingFlags.AddTo(cmd);
        cmd.SetAction(p => Cli.Run(() =>
        {
            if (p.GetValue(keys))
            {
                if (p.GetValue(music)) return Cli.Error("give --keys or --music, not both");
                using var be = Devices.Create(DevicesCommand.Warned(p.GetValue(device)!));
                var (m, from) = GenerateCommand.LoadModel(p.GetValue(checkpoint), be, p.GetValue(modelName));
                using (m)
                {
                    if (p.GetValue(count) is < 1 or > 4096) return Cli.Error($"--count must be in 1..4096 (got {p.GetValue(count)})");
                    if (p.GetValue(notes) is < 10 or > 10_000) return Cli.Error($"--notes must be in 10..10000 (got {p.GetValue(notes)})");
                    if (p.GetValue(seed) < 0) return Cli.Error($"--seed must be 0 or more (got {p.GetValue(seed)})");
                    var k = KeyControl.Measure(m, p.GetValue(count), p.GetValue(notes), p.GetValue(keyStrength), (ulong)p.GetValue(seed), samplingFlags.Read(p, m.Config));
                    if (p.GetValue(json))
                        Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                        {
                            ["model"] = from, ["key_strength"] = k.Strength, ["pieces"] = k.Pieces, ["notes"] = p.GetValue(notes), ["seed"] = p.GetValue(seed),
                            ["hits"] = k.Hits, ["hit_rate"] = Math.Round(k.HitRate, 4), ["relatives"] = k.Relatives, ["relative_rate"] = Math.Round(k.RelativeRate, 4), ["scale_fit"] = Math.Round(k.ScaleFit, 4), ["seconds"] = Math.Round(k.Seconds, 2),
                        }));
                    else
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{from}: --key-strength {k.Strength}: {k.Hits} of {k.Pieces} pieces in the asked key ({k.HitRate:P1}); {k.Relatives} in its relative major/minor ({k.RelativeRate:P1}); scale fit {k.ScaleFit:F3}; {k.Seconds:F1} s"));
                    return Cli.Ok;
                }
            }
            if (p.GetValue(data) is null) return Cli.Error("give --data (a prepared cache or a MIDI folder)");
            if (p.GetValue(music))
            {
                samplingFlags.Read(p); // bad values refused before any work; the model's own defaults apply once it is loaded
                return MusicEvaluation.Run(new MusicEvaluation.Request(p.GetValue(checkpoint), p.GetValue(modelName), p.GetValue(data)!, p.GetValue(sustain), p.GetValue(split) ?? "test", p.GetValue(generated),
                    p.GetValue(count), p.GetValue(notes), p.GetValue(seeds), p.GetValue(seed) >= 0 ? (ulong)p.GetValue(seed) : throw new ArgumentException($"--seed must be 0 or more (got {p.GetValue(seed)})"), p.GetValue(png), p.GetValue(json), p.GetValue(device)!,
                    config => samplingFlags.Read(p, config)));
            }
            if (p.GetValue(generated) is not null || p.GetValue(png) is not null) return Cli.Error("--generated and --png need --music");
            var which = (p.GetValue(split) ?? "validation").ToLowerInvariant() switch
            {
                "train" => Split.Train, "validation" or "valid" => Split.Validation, "test" => Split.Test,
                var s => throw new ArgumentException($"--split '{s}': choose train, validation or test"),
            };
            if (p.GetValue(batch) is < 1 or > 65536) return Cli.Error($"--batch must be in 1..65536 (got {p.GetValue(batch)})");
            if (p.GetValue(window) is int w0 && w0 is < 1 or > 4096) return Cli.Error($"--window must be in 1..4096 (got {w0})");
            if (p.GetValue(whole) && p.GetValue(window) is not null) return Cli.Error("--whole-pieces reads each piece from its start: give no --window");
            using var backend = Devices.Create(DevicesCommand.Warned(p.GetValue(device)!));
            var (model, source) = GenerateCommand.LoadModel(p.GetValue(checkpoint), backend, p.GetValue(modelName));
            using (model)
            {
                var (corpus, _) = TrainCommand.LoadCorpus(p.GetValue(data)!, sustain: p.GetValue(sustain), quiet: true, model.Config.Time);
                if (p.GetValue(whole))
                {
                    var w = WholePieceEvaluation.Run(model, corpus, which, Math.Min(p.GetValue(batch), 4096), p.GetValue(stride));
                    if (w.Notes == 0) return Cli.Error($"the {which.ToString().ToLowerInvariant()} split has no piece of two notes or more");
                    var wf = new Dictionary<string, object>
                    {
                        ["model"] = source, ["split"] = which.ToString().ToLowerInvariant(), ["context"] = "whole pieces", ["pieces"] = w.Pieces, ["notes"] = w.Notes, ["stride"] = p.GetValue(stride),
                        ["pitch_nll"] = Math.Round(w.PitchNll, 4), ["pitch_perplexity"] = Math.Round(Math.Exp(w.PitchNll), 2), ["pitch_accuracy"] = Math.Round(w.PitchAccuracy, 4), ["seconds"] = Math.Round(w.Seconds, 2),
                        // The NLL by how many notes of the piece came before each note: does a long memory help or drift?
                        ["pitch_nll_by_context"] = w.ByContext.Where(b => b.Notes > 0).ToDictionary(b => b.Name, b => (object)new Dictionary<string, object> { ["notes"] = b.Notes, ["pitch_nll"] = Math.Round(b.PitchNll, 4) }),
                    };
                    if (p.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(wf, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping })); // "512+", not "512\u002B"
                    else foreach (var (key, value) in wf) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{key,-22} {value}"));
                    return Cli.Ok;
                }
                var config = model.Config with { SeqLen = p.GetValue(window) ?? model.Config.SeqLen };
                if (p.GetValue(stride) < 1) return Cli.Error($"--stride must be at least 1 (got {p.GetValue(stride)})");
                var windows = new MusicGen.Model.Windows(corpus, which, config, stride: p.GetValue(stride));
                if (windows.Count == 0) return Cli.Error($"the {which.ToString().ToLowerInvariant()} split has no window of {config.SeqLen + 1} notes");
                var started = DateTime.UtcNow;
                var headMeans = new double[1 + config.RegressionHeads];
                var (loss, nll, accuracy) = Trainer.Validate(model, windows, p.GetValue(batch), headMeans);
                double seconds = (DateTime.UtcNow - started).TotalSeconds;
                var (bigramNll, bigramAccuracy) = new Bigram(corpus, Split.Train).Evaluate(windows, config.SeqLen);
                var fields = new Dictionary<string, object>
                {
                    ["model"] = source, ["split"] = which.ToString().ToLowerInvariant(), ["window"] = config.SeqLen, ["windows"] = windows.Count, ["stride"] = p.GetValue(stride),
                    ["loss"] = Math.Round(loss, 4), ["pitch_nll"] = Math.Round(nll, 4), ["pitch_perplexity"] = Math.Round(Math.Exp(nll), 2),
                    ["pitch_accuracy"] = Math.Round(accuracy, 4), ["bigram_pitch_nll"] = Math.Round(bigramNll, 4), ["bigram_pitch_accuracy"] = Math.Round(bigramAccuracy, 4),
                    ["heads"] = config.Categorical ? (config.ConditionsOnStep ? "categorical, step first" : "categorical") : "regression",
                    [config.Categorical ? "step_nll" : "step_loss"] = Math.Round(headMeans[1], 4),
                    [config.Categorical ? "duration_nll" : "duration_loss"] = Math.Round(headMeans[2], 4),
                    ["seconds"] = Math.Round(seconds, 2),
                };
                if (config.Velocity) fields[config.Categorical ? "velocity_nll" : "velocity_loss"] = Math.Round(headMeans[3], 4);
                if (config.Categorical) fields["note_nll"] = Math.Round(headMeans.Sum(), 4); // -log P(pitch, step, duration, velocity) under the model
                if (p.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(fields));
                else foreach (var (key, value) in fields) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{key,-22} {value}"));
            }
            return Cli.Ok;
        }));
        return cmd;
    }
}
