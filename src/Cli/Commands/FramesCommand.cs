using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using MusicGen.Kernels;
using MusicGen.Midi;
using MusicGen.Model;
using MusicGen.Model.Frames;

namespace MusicGen.Cli.Commands;

/// <summary>
/// <c>musicgen frames train|evaluate|generate</c>: polyphonic frame models (88 keys per frame, each an independent
/// Bernoulli, or all of them jointly with NADE), the models of the JSB Chorales benchmark. See docs/POLYPHONIC.md.
/// </summary>
public static class FramesCommand
{
    public static Command Build()
    {
        var cmd = new Command("frames", "Frame models of polyphonic music (88 keys per frame, e.g. the JSB Chorales benchmark): train, evaluate, generate");
        cmd.Add(Train());
        cmd.Add(Evaluate());
        cmd.Add(Generate());
        cmd.Add(Show());
        return cmd;
    }

    static Option<T> Opt<T>(string name, T value, string description) => new(name) { Description = description, DefaultValueFactory = _ => value };

    static Option<string> DataOption(bool required) => new("--data", "-d")
    {
        Description = "A frames JSON file {\"train\"|\"valid\"|\"test\": [piece: [frame: [MIDI pitches]]]}, e.g. jsb-chorales-quarter.json",
        Required = required,
    };

    static Command Train()
    {
        var c = new FrameConfig();
        var t = new FrameTrainOptions();
        var data = DataOption(required: false);
        var output = new Option<string?>("--out", "-o") { Description = "The run directory (new runs, with --data)" };
        var resume = new Option<string?>("--resume") { Description = "Continue the run in this directory from its last epoch (with --data: the same file)" };
        var device = DevicesCommand.DeviceOption("cpu");
        var epochs = new Option<int?>("--epochs") { Description = $"Epochs (default {t.Epochs}; with --resume: the new total)" };
        var batch = Opt("--batch", t.BatchSize, "Pieces per batch");
        var lr = Opt("--lr", t.LearningRate, "Peak learning rate (cosine decay to --min-lr-fraction of it over all epochs)");
        var minLr = Opt("--min-lr-fraction", t.MinLearningRateFraction, "The learning rate at the end, as a fraction of --lr");
        var layers = Opt("--layers", c.Layers, "Stacked LSTM layers");
        var hidden = Opt("--hidden", c.Hidden, "Hidden units per layer");
        var dropout = Opt("--dropout", c.Dropout, "Dropout after each layer");
        var inputDropout = Opt("--input-dropout", c.InputDropout, "Dropout on the input frame's keys");
        var weightDrop = Opt("--weight-drop", c.WeightDrop, "DropConnect on each layer's recurrent weights W_hh, one mask per batch (AWD-LSTM's weight drop; 0: off)");
        var lockedDropout = new Option<bool>("--locked-dropout") { Description = "--dropout draws one mask per piece and feature for all the frames of a batch (variational dropout, AWD-LSTM's locked dropout), not one per frame" };
        var residual = new Option<bool>("--residual") { Description = "Every layer above the first adds its input to its output (a residual connection round the layer; needs --layers 2 or more)" };
        var noNorm = new Option<bool>("--no-layer-norm") { Description = "No layer norm after each layer" };
        var transpose = Opt("--transpose", t.Transpose, "Transpose each training piece by a random shift within +-N semitones (0: off)");
        var clip = Opt("--clip", t.MaxGradNorm, "Global gradient-norm clip (0: off)");
        var wd = Opt("--weight-decay", t.WeightDecay, "AdamW weight decay");
        var patience = Opt("--patience", t.Patience, "Early stop after this many epochs without validation improvement (0: never)");
        var seed = Opt("--seed", 1L, "The one seed behind initialisation, shuffling, transposition and dropout");
        var optimizer = new Option<OptimizerKind>("--optimizer") { Description = "adam, or radam (rectified Adam, as the RRU paper's polyphonic setup)", DefaultValueFactory = _ => t.Optimizer };
        var batching = new Option<BatchOrder>("--batching")
        {
            Description = "How pieces make batches: random (a fresh shuffle each epoch), or length (pieces of similar length together, the batches shuffled: far less padding on corpora of varied lengths)",
            DefaultValueFactory = _ => t.Batching, HelpName = "random|length",
        };
        var everyMinutes = Opt("--checkpoint-minutes", t.CheckpointMinutes, "Also save last.safetensors within an epoch when this many minutes have passed since the last save (0: only at epochs' ends)");
        var window = Opt("--window", t.Window, "Train (and validate) pieces longer than N frames in windows of N, a multiple of 8, the LSTM state carried across: truncated backpropagation through time (0: whole pieces)");
        var average = Opt("--average", t.AverageDecay, "Polyak averaging: keep an exponential moving average of the weights with this decay per step (e.g. 0.99) and validate and keep it (0: off)");
        var outputKind = new Option<FrameOutput>("--head")
        {
            Description = "How the next frame's keys are predicted: bernoulli (each key alone, given the history) or nade (key by key, each also given the keys below it: RNN-NADE, an exact joint likelihood); default bernoulli",
            HelpName = "bernoulli|nade",
        };
        var nadeHidden = Opt("--nade-hidden", c.NadeHidden, "With --head nade: NADE's hidden units");
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Only the summary, no line per epoch" };
        var cmd = new Command("train", "Train a frame model: each frame's 88 keys predict the next frame's; validation NLL after every epoch picks best.safetensors")
        {
            data, output, resume, device, epochs, batch, lr, minLr, layers, hidden, dropout, inputDropout, weightDrop, lockedDropout, residual, noNorm, outputKind, nadeHidden, transpose, clip, wd, patience, seed, average, window, optimizer, batching, everyMinutes, quiet,
        };
        // What a run keeps from its first start: none of these may be given with --resume (they would be silently ignored).
        Option[] fixedAtStart = [batch, lr, minLr, layers, hidden, dropout, inputDropout, weightDrop, lockedDropout, residual, noNorm, outputKind, nadeHidden, transpose, clip, wd,
            patience, seed, average, window, optimizer, batching, everyMinutes];
        cmd.SetAction(p => Cli.Run(() =>
        {
            string? resumeDir = p.GetValue(resume), dataPath = p.GetValue(data), outDir = p.GetValue(output);
            if (resumeDir is null && (dataPath is null || outDir is null)) return Cli.Error("give --data and --out for a new run, or --resume RUN_DIR");
            if (resumeDir is not null && outDir is not null) return Cli.Error("--out is for new runs; --resume continues in its own directory");
            if (resumeDir is not null && fixedAtStart.FirstOrDefault(o => p.GetResult(o) is { Implicit: false }) is { } fixedOption)
                return Cli.Error($"{fixedOption.Name} cannot change on --resume: a run keeps the network and options it started with (only --epochs, --device, --data and --quiet apply)");
            if (resumeDir is not null && !File.Exists(Path.Combine(resumeDir, FrameTrainer.Last))) return Cli.Error($"'{resumeDir}' has no {FrameTrainer.Last} to resume");
            if (p.GetValue(seed) < 0) return Cli.Error($"--seed must be 0 or more (got {p.GetValue(seed)})");
            if (resumeDir is not null && dataPath is null)
                dataPath = SafeTensors.Load(Path.Combine(resumeDir, FrameTrainer.Last)).Metadata.GetValueOrDefault("corpus_path") ?? throw new InvalidDataException("the checkpoint does not say what data it was trained on; give --data");
            var corpus = FrameCorpus.Load(dataPath!);
            foreach (var needed in new[] { "train", "valid" })
                if (corpus.Split(needed).Length == 0) return Cli.Error($"'{dataPath}': the {needed} split has no pieces (training needs both train and valid)");
            string runDir = resumeDir ?? outDir!;
            using var backend = Devices.Create(DevicesCommand.Warned(p.GetValue(device)!));
            using var cts = new CancellationTokenSource();
            void Stop(PosixSignalContext s) { s.Cancel = true; if (!cts.IsCancellationRequested) { cts.Cancel(); Console.Error.WriteLine($"musicgen: {s.Signal} received: stopping after this batch and saving"); } }
            using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            bool q = p.GetValue(quiet);
            var lines = new Cli.ProgressLines(TimeSpan.FromMinutes(1)); // a line a minute within an epoch
            var trainer = new FrameTrainer(backend, corpus, runDir)
            {
                OnBatch = b => { if (!q && lines.Due()) Console.WriteLine(FormattableString.Invariant($"epoch {b.Epoch + 1}/{b.Epochs}: batch {b.Batch}/{b.Batches} ({b.Batch / (double)b.Batches:P0}), train NLL {b.Nll:F3}, {b.FramesPerSecond:F0} frames/s")); },
                OnEpoch = r => { if (!q) Console.WriteLine(FormattableString.Invariant($"epoch {r.Epoch}/{r.Epochs}: train NLL {r.TrainNll:F3} | validation NLL {r.ValidationNll:F3}{(r.Improved ? " *best*" : "")} | lr {r.LearningRate:G3} | {r.Seconds:F1} s")); },
            };
            var clock = System.Diagnostics.Stopwatch.StartNew();
            TrainingState state;
            if (resumeDir is not null) state = trainer.Resume(p.GetValue(epochs), cts.Token);
            else
            {
                var config = new FrameConfig { Layers = p.GetValue(layers), Hidden = p.GetValue(hidden), Dropout = p.GetValue(dropout), InputDropout = p.GetValue(inputDropout), WeightDrop = p.GetValue(weightDrop), LockedDropout = p.GetValue(lockedDropout), Residual = p.GetValue(residual),
                    LayerNorm = !p.GetValue(noNorm), Output = p.GetResult(outputKind) is { Implicit: false } ? p.GetValue(outputKind) : c.Output, NadeHidden = p.GetValue(nadeHidden) };
                if (p.GetResult(nadeHidden) is { Implicit: false } && !config.IsNade) return Cli.Error("--nade-hidden needs --head nade");
                config.Validate();
                var options = new FrameTrainOptions
                {
                    Epochs = p.GetValue(epochs) ?? t.Epochs, BatchSize = p.GetValue(batch), LearningRate = p.GetValue(lr), MinLearningRateFraction = p.GetValue(minLr),
                    MaxGradNorm = p.GetValue(clip), WeightDecay = p.GetValue(wd), Transpose = p.GetValue(transpose), Patience = p.GetValue(patience), Seed = (ulong)p.GetValue(seed),
                    AverageDecay = p.GetValue(average), Window = p.GetValue(window), CheckpointMinutes = p.GetValue(everyMinutes), Optimizer = p.GetValue(optimizer),
                    Batching = p.GetValue(batching),
                };
                // Refuse what cannot fit before any work: batches are as long as their longest piece (rounded up to 8).
                int longest = new[] { "train", "valid" }.SelectMany(corpus.Split).Select(piece => piece.Length).DefaultIfEmpty(1).Max();
                options.Validate();
                int padded = (longest + 7) / 8 * 8, steps = options.Window > 0 ? Math.Min(padded, options.Window) : padded;
                // Validation reads batches of 32 pieces, in the same windows.
                long need = Math.Max(config.TrainingBytes(options.BatchSize, steps), config.TrainingBytes(32, steps)), have = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
                if (need > have * 0.8)
                    return Cli.Error(FormattableString.Invariant(
                        $"this network needs about {need / 1e9:F1} GB to train at --batch {options.BatchSize} on pieces of up to {longest} frames, and {have / 1e9:F1} GB is available: use a smaller --hidden, --layers, --batch or --window"));
                Console.WriteLine($"frame model: {config.Layers} x LSTM {config.Hidden}{(config.Residual ? " (residual)" : "")}, {(config.IsNade ? $"NADE output of {config.NadeHidden}" : "Bernoulli output")}, {config.ParameterCount():N0} parameters, on {backend.Name}; {corpus.Split("train").Length} training pieces");
                state = trainer.Train(config, options, cts.Token);
            }
            Console.WriteLine(FormattableString.Invariant($"{(cts.IsCancellationRequested ? "stopped" : state.Finished ? "finished" : "stopped")} after epoch {state.Epoch} ({clock.Elapsed.TotalSeconds:F0} s this session): best validation NLL {state.BestValidationLoss:F3} at epoch {state.BestEpoch}; {Path.Combine(runDir, FrameTrainer.Best)}"));
            if (cts.IsCancellationRequested) Console.WriteLine($"saved at epoch {state.Epoch + 1}, batch {state.Batch}; continue with --resume {runDir}");
            return cts.IsCancellationRequested ? Cli.Interrupted : Cli.Ok;
        }));
        return cmd;
    }

    static Command Evaluate()
    {
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "A frame checkpoint, or a run directory (its best.safetensors)", Required = true };
        var data = DataOption(required: true);
        var split = Opt("--split", "valid", "The split to score: train, valid (or validation; what choices are made on) or test (only with --final)");
        var final = new Option<bool>("--final") { Description = "This is a final configuration: score the validation and the test split (the test split is scored for nothing else)" };
        var record = new Option<string?>("--record") { Description = "With --final: append the run's row to this TSV (dataset, output, seed, valid_nll, test_nll, parameters, seconds)" };
        var device = DevicesCommand.DeviceOption("cpu");
        var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var protocol = new Option<string>("--protocol")
        {
            Description = "frames: the benchmark's number (every predicted frame weighs the same); rru: also the number the RRU paper's released code reports " +
                "(200-frame windows each from a zero state, each window's mean, batches of 16; docs/POLYPHONIC.md)",
            DefaultValueFactory = _ => "frames",
        };
        protocol.AcceptOnlyFromAmong("frames", "rru");
        var cmd = new Command("evaluate", "The negative log-likelihood per frame (nats, summed over the 88 keys, averaged over every predicted frame of the split): the JSB Chorales benchmark's number")
        { checkpoint, data, split, final, record, device, json, protocol };
        cmd.SetAction(p => Cli.Run(() =>
        {
            string which = FrameCorpus.SplitName(p.GetValue(split)!);
            if (which == "test" && !p.GetValue(final))
                return Cli.Error("the test split is scored once, for a final configuration: choose on --split valid, then score the choice with --final");
            if (p.GetValue(record) is not null && !p.GetValue(final)) return Cli.Error("--record needs --final");
            var corpus = FrameCorpus.Load(p.GetValue(data)!);
            using var backend = Devices.Create(DevicesCommand.Warned(p.GetValue(device)!));
            var (model, file) = FrameTrainer.Load(p.GetValue(checkpoint)!, backend);
            using (model)
            {
                var splits = p.GetValue(final) ? new[] { "valid", "test" } : [which];
                var scores = splits.ToDictionary(sp => sp, sp => FrameTrainer.Evaluate(model, corpus.Split(sp)));
                bool rru = p.GetValue(protocol) == "rru";
                var rruScores = rru ? splits.ToDictionary(sp => sp, sp => RruProtocol.Score(model, corpus.Split(sp))) : null;
                foreach (var (sp, (nll, frames, count)) in scores)
                {
                    if (p.GetValue(json))
                    {
                        var row = new Dictionary<string, object>
                        {
                            ["split"] = sp, ["nll_per_frame"] = nll, ["frames"] = frames, ["pieces"] = count, ["parameters"] = model.ParameterCount,
                            ["config"] = JsonDocument.Parse(model.Config.ToJson()).RootElement,
                        };
                        if (rruScores is not null) { row["rru_nll"] = rruScores[sp].Nll; row["rru_windows"] = rruScores[sp].Windows; }
                        Console.WriteLine(JsonSerializer.Serialize(row));
                        continue;
                    }
                    Console.WriteLine(FormattableString.Invariant($"{sp}: NLL {nll:F4} nats per frame over {frames:N0} predicted frames of {count} pieces ({model.ParameterCount:N0} parameters)"));
                    if (rruScores is not null)
                        Console.WriteLine(FormattableString.Invariant(
                            $"{sp}: RRU protocol NLL {rruScores[sp].Nll:F4} (mean of {rruScores[sp].Windows} windows of at most {RruProtocol.Window} frames, each from a zero state, in batches of {RruProtocol.BatchSize})"));
                }
                if (p.GetValue(record) is string tsv)
                {
                    var options = FrameTrainOptions.FromJson(file.Metadata.GetValueOrDefault("options") ?? "{}");
                    // Training time: the epochs' seconds in the run folder's metrics, when the checkpoint is a run folder.
                    string metrics = Path.Combine(p.GetValue(checkpoint)!, "metrics.jsonl");
                    double seconds = File.Exists(metrics)
                        ? File.ReadLines(metrics).Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.TryGetProperty("Seconds", out _)).Sum(e => e.GetProperty("Seconds").GetDouble())
                        : double.NaN;
                    bool fresh = !File.Exists(tsv);
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(tsv))!);
                    using var w = File.AppendText(tsv);
                    if (fresh) w.WriteLine("dataset\toutput\tseed\tvalid_nll\ttest_nll\tparameters\tseconds");
                    w.WriteLine(FormattableString.Invariant(
                        $"{Path.GetFileNameWithoutExtension(p.GetValue(data))}\t{model.Config.Output.ToString().ToLowerInvariant()}\t{options.Seed}\t{scores["valid"].Nll:F4}\t{scores["test"].Nll:F4}\t{model.ParameterCount}\t{(double.IsNaN(seconds) ? "" : seconds.ToString("F1", System.Globalization.CultureInfo.InvariantCulture))}"));
                    Console.Error.WriteLine($"recorded in {tsv}");
                }
            }
            return Cli.Ok;
        }));
        return cmd;
    }

    static Command Show()
    {
        var data = DataOption(required: true);
        var split = Opt("--split", "test", "The split the piece is in");
        var piece = Opt("--piece", 0, "The piece's index in the split");
        var output = new Option<string>("--out", "-o") { Description = "The MIDI file to write", DefaultValueFactory = _ => "piece.mid" };
        var seconds = Opt("--frame-seconds", 0.5, "Seconds per frame in the MIDI file");
        var png = new Option<bool>("--png") { Description = "Also draw a piano-roll PNG beside the MIDI file" };
        var cmd = new Command("show", "Write a real piece of a frames file as MIDI (and a piano roll), to hear and see what the models learn from")
        { data, split, piece, output, seconds, png };
        cmd.SetAction(p => Cli.Run(() =>
        {
            var pieces = FrameCorpus.Load(p.GetValue(data)!).Split(p.GetValue(split)!);
            int i = p.GetValue(piece);
            if (i < 0 || i >= pieces.Length) return Cli.Error($"--piece {i}: the {p.GetValue(split)} split has {pieces.Length} pieces (0..{pieces.Length - 1})");
            if (!(p.GetValue(seconds) > 0)) return Cli.Error($"--frame-seconds must be positive (got {p.GetValue(seconds)})");
            string path = p.GetValue(output)!;
            if (Cli.CannotWrite(path, "--out") is string why) return Cli.Error(why);
            var notes = FrameGenerator.ToNotes(pieces[i], p.GetValue(seconds));
            MidiWriter.WriteFile(path, notes);
            Console.WriteLine(FormattableString.Invariant($"{path}: {p.GetValue(split)} piece {i}, {pieces[i].Length} frames, {notes.Count} notes"));
            if (p.GetValue(png))
            {
                string pngPath = Path.ChangeExtension(path, ".png");
                PianoRoll.SavePng(pngPath, notes, $"{p.GetValue(split)} piece {i} (real)");
                Console.WriteLine($"{pngPath}: piano roll");
            }
            return Cli.Ok;
        }));
        return cmd;
    }

    static Command Generate()
    {
        var checkpoint = new Option<string>("--checkpoint", "-c") { Description = "A frame checkpoint, or a run directory (its best.safetensors)", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "The MIDI file to write (with --count above 1: NAME-1.mid, NAME-2.mid, ...)", DefaultValueFactory = _ => "chorale.mid" };
        var frames = Opt("--frames", 64, "Frames to sample after the primer (quarter notes)");
        var count = Opt("--count", 1, "Pieces to sample");
        var temperature = Opt("--temperature", 1f, "Divides the logits before the sigmoid (below 1: more confident, fewer stray keys)");
        var seed = new Option<long?>("--seed") { Description = "Seed for reproducible output (default: random, printed), as generate's" };
        var data = DataOption(required: false);
        data.Description = "With --primer-piece: the frames file the primer comes from";
        var primerPiece = Opt("--primer-piece", -1, "Prime with the start of this piece of --primer-split in --data (-1: a C-major chord)");
        var primerSplit = Opt("--primer-split", "test", "The split of --primer-piece");
        var primerFrames = Opt("--primer-frames", 4, "How many frames of that piece to prime with");
        var seconds = Opt("--frame-seconds", 0.5, "Seconds per frame in the MIDI file (0.5: a quarter note at 120 bpm)");
        var png = new Option<bool>("--png") { Description = "Also draw a piano-roll PNG beside each MIDI file" };
        var device = DevicesCommand.DeviceOption("cpu");
        var cmd = new Command("generate", "Sample pieces from a frame model, frame by frame, to MIDI (and a piano-roll PNG)")
        { checkpoint, output, frames, count, temperature, seed, data, primerPiece, primerSplit, primerFrames, seconds, png, device };
        cmd.SetAction(p => Cli.Run(() =>
        {
            if (p.GetValue(seed) is < 0) return Cli.Error($"--seed must be 0 or more (got {p.GetValue(seed)})");
            ulong seedValue = p.GetValue(seed) is long sv ? (ulong)sv : (ulong)Random.Shared.NextInt64(1, 1L << 40);
            if (!(p.GetValue(seconds) > 0)) return Cli.Error($"--frame-seconds must be positive (got {p.GetValue(seconds)})");
            int[][] primer = [FrameGenerator.DefaultPrimer];
            string primerText = "a C-major chord";
            if (p.GetValue(primerPiece) >= 0)
            {
                if (p.GetValue(data) is not string path) return Cli.Error("--primer-piece needs --data (the frames file it comes from)");
                var pieces = FrameCorpus.Load(path).Split(p.GetValue(primerSplit)!);
                int i = p.GetValue(primerPiece);
                if (i >= pieces.Length) return Cli.Error($"--primer-piece {i}: the {p.GetValue(primerSplit)} split has {pieces.Length} pieces (0..{pieces.Length - 1})");
                if (p.GetValue(primerFrames) < 1) return Cli.Error("--primer-frames must be at least 1");
                primer = pieces[i].Take(p.GetValue(primerFrames)).ToArray();
                primerText = $"the first {primer.Length} frames of {p.GetValue(primerSplit)} piece {i}";
            }
            string outPath = p.GetValue(output)!;
            if (Cli.CannotWrite(outPath, "--out") is string why) return Cli.Error(why);
            using var backend = Devices.Create(DevicesCommand.Warned(p.GetValue(device)!));
            var (model, _) = FrameTrainer.Load(p.GetValue(checkpoint)!, backend);
            using (model)
            {
                var pieces = FrameGenerator.Sample(model, primer, p.GetValue(frames), p.GetValue(count), p.GetValue(temperature), seedValue);
                Console.WriteLine($"seed {seedValue}");
                for (int i = 0; i < pieces.Count; i++)
                {
                    string path = pieces.Count == 1 ? outPath : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath))!, $"{Path.GetFileNameWithoutExtension(outPath)}-{i + 1}{Path.GetExtension(outPath)}");
                    var notes = FrameGenerator.ToNotes(pieces[i], p.GetValue(seconds));
                    MidiWriter.WriteFile(path, notes);
                    double voices = pieces[i].Skip(primer.Length).Average(f => f.Length);
                    Console.WriteLine(FormattableString.Invariant($"{path}: {pieces[i].Length} frames ({primerText}, then {p.GetValue(frames)} sampled; {voices:F1} keys per sampled frame), {notes.Count} notes"));
                    if (p.GetValue(png))
                    {
                        string pngPath = Path.ChangeExtension(path, ".png");
                        PianoRoll.SavePng(pngPath, notes, FormattableString.Invariant($"{Path.GetFileName(path)} (frame model, seed {seedValue}, T={p.GetValue(temperature)})"));
                        Console.WriteLine($"{pngPath}: piano roll");
                    }
                }
            }
            return Cli.Ok;
        }));
        return cmd;
    }
}
