using System.Runtime.InteropServices;
using System.CommandLine;
using System.Globalization;
using MusicGen.Kernels;
using MusicGen.Midi;
using MusicGen.Midi.Corpus;
using MusicGen.Model;
using Spectre.Console;

namespace MusicGen.Cli.Commands;

/// <summary><c>musicgen train</c>: a new run, or <c>--resume RUN_DIR</c>.</summary>
public static class TrainCommand
{
    public static Command Build()
    {
        var d = new ModelConfig();
        var t = new TrainOptions();
        var data = new Option<string?>("--data", "-d") { Description = "Required for a new run (with --out): a prepared cache (.mgcache) or a MIDI folder (prepared into ./cache first)" };
        var output = new Option<string?>("--out", "-o") { Description = "Required for a new run (with --data): the run directory for checkpoints and metrics" };
        var resume = new Option<string?>("--resume") { Description = "Instead of --data and --out: continue the run in this directory from its last checkpoint" };
        var device = DevicesCommand.DeviceOption("cpu");
        var precision = DevicesCommand.PrecisionOption();
        var epochs = new Option<int?>("--epochs") { Description = $"Epochs (default {t.Epochs}; with --resume: the new total)" };
        var batch = Opt("--batch", t.BatchSize, "Batch size");
        var lr = Opt("--lr", t.LearningRate, "Peak learning rate (warm-up, then cosine decay to 10%)");
        var seq = Opt("--seq", d.SeqLen, "Notes per window; the next note is the label");
        var layers = Opt("--layers", d.Layers, "Stacked LSTM layers");
        var hidden = Opt("--hidden", d.Hidden, "Hidden units per direction");
        var uni = new Option<bool>("--unidirectional") { Description = "Forward-only LSTM layers (default: bidirectional)" };
        var everyStep = new Option<bool>("--every-step") { Description = "With --unidirectional: every step of a window predicts its next note (T targets per window); generation can then start from any primer length" };
        var dropout = Opt("--dropout", d.Dropout, "Dropout after each layer");
        var weightDrop = Opt("--weight-drop", d.WeightDrop, "DropConnect on each layer's recurrent weights W_hh, one mask per batch (AWD-LSTM's weight drop; 0: off)");
        var lockedDropout = new Option<bool>("--locked-dropout") { Description = "--dropout draws one mask per window and feature for all its steps (variational dropout, AWD-LSTM's locked dropout), not one per step" };
        var residual = new Option<bool>("--residual") { Description = "Every layer above the first adds its input to its output (a residual connection round the layer; needs --layers 2 or more)" };
        var noNorm = new Option<bool>("--no-layer-norm") { Description = "No layer norm between layers" };
        var input = new Option<InputKind>("--input") { Description = "scalar (pitch/128, step, duration) or embedding (learned pitch embedding + step, duration)", DefaultValueFactory = _ => d.Input };
        var embDim = Opt("--embedding-dim", d.EmbeddingDim, "Pitch embedding size (--input embedding)");
        var noVelocity = new Option<bool>("--no-velocity") { Description = "No velocity input or head (generated notes take the primer's mean velocity)" };
        var heads = new Option<HeadKind>("--heads") { Description = "categorical (step, duration, velocity as sampled bins) or regression (the original design's predicted values)", DefaultValueFactory = _ => d.Heads };
        var stepBins = Opt("--step-bins", d.StepBins, "Categorical heads: step bins (the first means 'with the previous note')");
        var durationBins = Opt("--duration-bins", d.DurationBins, "Categorical heads: duration bins (log-spaced)");
        var velocityBins = Opt("--velocity-bins", d.VelocityBins, "Categorical heads: velocity bins");
        var biHeads = new Option<BidirectionalReading>("--bidirectional-heads")
        {
            Description = "Bidirectional models: ends (the heads read the forward direction at the last note and the reverse direction at the first, both after the whole window) or last (both at the last note: the original reading, whose reverse half has seen one note)",
            DefaultValueFactory = _ => BidirectionalReading.Ends,
        };
        var independent = new Option<bool>("--independent-heads") { Description = "Categorical heads: draw step, pitch, duration and velocity independently given the history (default: the step first, the other three conditioned on it)" };
        var lookback = new Option<LookbackKind>("--lookback")
        {
            Description = "Lookback inputs: each note also reads the notes at its place 1 and 2 bars ago (bars; needs --time beats) or N and 2N notes ago (notes, N from --lookback-notes), and the notes that followed them: none (default), bars or notes",
            DefaultValueFactory = _ => d.Lookback,
        };
        var lookbackNotes = Opt("--lookback-notes", d.LookbackNotes, "With --lookback notes: how many notes back the nearer lookback reads (the farther reads twice as many)");
        var attention = new Option<int>("--attention") { Description = "Attention over the top layer's last N outputs, N in 1..1024 (Magenta's Attention RNN); the heads read each output beside its context. Needs --unidirectional --every-step (default: none)" };
        var attentionSize = Opt("--attention-size", d.AttentionSize, "With --attention: the size of its keys and queries");
        var huber = new Option<bool>("--huber") { Description = "Regression heads: Huber instead of squared error for step/duration/velocity" };
        var pw = Opt("--pitch-weight", d.PitchWeight, "Loss weight of the pitch head");
        var sw = Opt("--step-weight", d.StepWeight, "Loss weight of the step head");
        var dw = Opt("--duration-weight", d.DurationWeight, "Loss weight of the duration head");
        var vw = Opt("--velocity-weight", d.VelocityWeight, "Loss weight of the velocity head");
        var transpose = Opt("--transpose", t.Transpose, "Random transposition of training windows, +-semitones (0: off)");
        var stride = Opt("--stride", t.Stride, "Use every Nth training window (a quicker epoch on a large corpus)");
        var fraction = Opt("--train-fraction", t.TrainFraction, "Train on this fraction of the training files (chosen by a hash of their paths: the same files every run, and 0.1's files are within 0.3's)");
        var valStride = Opt("--val-stride", t.ValidationStride, "Validate on every Nth validation window (a quicker validation)");
        var carry = new Option<bool>("--carry-state") { Description = "Truncated backpropagation through time over whole pieces: each batch row reads its piece's next window, starting from the LSTM state the last one ended in (needs --unidirectional --every-step; the pop preset is both)" };
        var trainEval = new Option<bool>("--train-eval") { Description = "After each epoch also score training windows as validation is scored (no dropout), for train-versus-validation curves" };
        var patience = Opt("--patience", t.Patience, "Early stop after this many epochs without validation improvement (0: never)");
        var clip = Opt("--clip", t.MaxGradNorm, "Global gradient-norm clip (0: off)");
        var wd = Opt("--weight-decay", t.WeightDecay, "AdamW weight decay");
        var seed = Opt("--seed", 1L, "The one seed behind initialisation, shuffling, transposition and dropout");
        var every = Opt("--checkpoint-every", t.CheckpointEvery, "Also checkpoint every N steps within an epoch");
        var everyMinutes = Opt("--checkpoint-minutes", t.CheckpointMinutes, "Also checkpoint when this many minutes have passed since the last save (0: off)");
        var logEvery = Opt("--log-every", t.LogEvery, "Write a step line to metrics.jsonl every N steps");
        var sustain = new Option<bool>("--sustain") { Description = "When --data is a MIDI folder: read it with the sustain pedal" };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar; one line per epoch" };
        var time = PrepareCommand.TimeOption();
        var preset = new Option<string?>("--preset")
        {
            Description = "Start from a shipped model's recipe; flags given beside it override it. " + string.Join("; ", TrainingPresets.Names.Select(n => $"{n}: {TrainingPresets.Describe(n)}")),
        };
        preset.AcceptOnlyFromAmong([.. TrainingPresets.Names]);
        var distributed = new Option<bool>("--distributed")
        {
            Description = "Data-parallel over MPI: launch as `mpiexec -n N musicgen train --distributed ...`; each rank trains on its shard of every batch, one all-reduce per step, rank 0 writes (MPICH-compatible MPI; docs/SCALE.md)",
        };

        var cmd = new Command("train", "Train the (bi)LSTM on a corpus; checkpoints to --out, resumable with --resume")
        {
            data, output, resume, device, precision, epochs, batch, lr, seq, layers, hidden, uni, everyStep, dropout, weightDrop, lockedDropout, residual, noNorm, input, embDim, noVelocity, heads, stepBins, durationBins, velocityBins, independent, biHeads, huber,
            lookback, lookbackNotes, attention, attentionSize, pw, sw, dw, vw, transpose, stride, fraction, valStride, trainEval, carry, patience, clip, wd, seed, every, everyMinutes, logEvery, sustain, quiet, preset, distributed, time,
        };
        // What a run keeps from its first start: none of these may be given with --resume (they would be silently ignored).
        Option[] fixedAtStart = [batch, lr, seq, layers, hidden, uni, everyStep, dropout, weightDrop, lockedDropout, residual, noNorm, input, embDim, noVelocity, heads, stepBins, durationBins, velocityBins,
            independent, biHeads, huber, lookback, lookbackNotes, attention, attentionSize, pw, sw, dw, vw, transpose, stride, fraction, valStride, trainEval, carry, patience, clip, wd, seed, every, everyMinutes, logEvery, preset, time];
        cmd.SetAction(p =>
        {
            if (!p.GetValue(distributed)) return Cli.Run(() => Body(p, null));
            // Data parallel: every rank runs the same body. A rank that fails must end the whole job (MPI_Abort), or the
            // others would wait for it forever in their next all-reduce; checkpoints are written atomically by rank 0,
            // so the last one stays intact.
            Mpi mpi;
            try { mpi = Mpi.Start(); }
            catch (Exception e) when (e is InvalidOperationException or DllNotFoundException or EntryPointNotFoundException) { return Cli.Error(e is InvalidOperationException ? e.Message : Mpi.Missing); }
            using (mpi)
            {
                int code = Cli.Run(() => Body(p, mpi));
                if (code is not (Cli.Ok or Cli.Interrupted) && mpi.Size > 1)
                {
                    Console.Error.WriteLine($"musicgen: rank {mpi.Rank} of {mpi.Size} failed (exit {code}): aborting every rank");
                    Mpi.Abort(code);
                }
                return code;
            }
        });
        return cmd;

        int Body(ParseResult p, Mpi? mpi)
        {
            bool isRoot = mpi is null || mpi.Rank == 0;
            var gemmPrecision = DevicesCommand.Precision(p.GetValue(precision)!);
            Devices.CheckPrecision(p.GetValue(device)!, gemmPrecision); // before any work: TF32 on a device without tensor cores
            string? resumeDir = p.GetValue(resume);
            if (resumeDir is null && (p.GetValue(data) is null || p.GetValue(output) is null))
                return Cli.Error("give --data and --out for a new run, or --resume RUN_DIR");
            if (resumeDir is not null && p.GetValue(output) is not null) return Cli.Error("--out is for new runs; --resume continues in its own directory");
            if (resumeDir is not null && fixedAtStart.FirstOrDefault(o => Given(p, o)) is { } fixedOption)
                return Cli.Error($"{fixedOption.Name} cannot change on --resume: a run keeps the network and options it started with (only --epochs, --device, --precision, --data, --sustain and --quiet apply)");
            string? dataPath = p.GetValue(data);
            if (resumeDir is not null && !File.Exists(Path.Combine(resumeDir, Trainer.Last))) return Cli.Error(Trainer.MissingCheckpoint(resumeDir));
            if (resumeDir is not null && Trainer.FinishedEpochs(resumeDir) is int finished && (p.GetValue(epochs) ?? finished) <= finished)
                return Cli.Error($"the run in '{resumeDir}' has finished its {finished} epoch(s); give --epochs with a larger total to train it further");
            if (resumeDir is not null && dataPath is null)
            {
                var (_, file) = Checkpoint.Read(Path.Combine(resumeDir, Trainer.Last));
                dataPath = file.Metadata.GetValueOrDefault("corpus_path") ?? throw new InvalidDataException("the checkpoint does not say which corpus it used; give --data");
                if (!File.Exists(dataPath))
                {
                    // The cache was deleted: read the corpus folder it came from again, as it was read then.
                    string? root = file.Metadata.GetValueOrDefault("corpus_root");
                    if (root is null || !Directory.Exists(root))
                        return Cli.Error($"the run's corpus cache '{dataPath}' is gone{(root is null ? "" : $" and so is its folder '{root}'")}; give --data with the corpus the run was trained on");
                    Console.Error.WriteLine($"musicgen: the run's cache '{dataPath}' is gone; reading '{root}' again");
                    var runTime = file.Metadata.GetValueOrDefault("corpus_time") == "beats" ? TimeUnit.Beats : TimeUnit.Seconds;
                    LoadCorpus(root, file.Metadata.GetValueOrDefault("corpus_sustain") == "true", quiet: true, runTime); // prepares cache/<name>
                    dataPath = CorpusPreparer.DefaultCachePath(root, "cache", new MidiReadOptions { Sustain = file.Metadata.GetValueOrDefault("corpus_sustain") == "true" }, time: runTime);
                }
            }
            bool q = p.GetValue(quiet) || !isRoot;
            // Several ranks given a MIDI folder: rank 0 prepares the cache, then the others read it (the all-gather is the barrier).
            if (mpi is { Size: > 1 } && !isRoot && Directory.Exists(dataPath)) mpi.Gather(0);
            // A resumed run reads its corpus as it did at the start.
            var timeMode = resumeDir is not null && Checkpoint.Read(Path.Combine(resumeDir, Trainer.Last)).File.Metadata.GetValueOrDefault("corpus_time") == "beats"
                ? TimeUnit.Beats : resumeDir is not null ? TimeUnit.Seconds
                : Given(p, time) || p.GetValue(preset) is null ? p.GetValue(time) : TrainingPresets.Get(p.GetValue(preset)!).Model.Time;
            var (corpus, cachePath) = LoadCorpus(dataPath!, p.GetValue(sustain), q, timeMode);
            if (corpus.Time != timeMode)
                return Cli.Error($"the cache '{dataPath}' counts time in {corpus.Time.ToString().ToLowerInvariant()}; give --time {corpus.Time.ToString().ToLowerInvariant()}, or prepare the corpus with --time {timeMode.ToString().ToLowerInvariant()}");
            if (PrepareCommand.OffGridRefusal(corpus) is { } refusal) return Cli.Error(refusal);
            if (mpi is { Size: > 1 } && isRoot && Directory.Exists(dataPath)) mpi.Gather(0);
            if (mpi is not null && isRoot) Console.WriteLine($"data parallel: {mpi.Size} rank(s), each {Shards.Of(p.GetValue(batch), 0, mpi.Size).Count} or fewer windows of every batch of {p.GetValue(batch)}");
            using var backend = Devices.Create(DevicesCommand.Warned(p.GetValue(device)!), gemmPrecision);
            using var cts = new CancellationTokenSource();
            // Ctrl-C (SIGINT) and SIGTERM (schedulers, `docker stop`) both stop after the current step and save.
            void Stop(PosixSignalContext c) { c.Cancel = true; if (!cts.IsCancellationRequested) { cts.Cancel(); Console.Error.WriteLine($"musicgen: {c.Signal} received: stopping after this step and saving..."); } }
            using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
            using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
            {
                return Run(backend, corpus, cachePath, resumeDir ?? p.GetValue(output)!, resumeDir is not null, q, cts.Token, p.GetValue(epochs), mpi, () =>
                {
                    // The preset (or the defaults) first; every flag the user gave overrides it.
                    var (pc, po) = p.GetValue(preset) is { } name ? TrainingPresets.Get(name) : (d, t);
                    T Pick<T>(Option<T> o, T fallback) => Given(p, o) ? p.GetValue(o)! : fallback;
                    bool Flag(Option<bool> o, bool fallback) => Given(p, o) ? p.GetValue(o) : fallback;
                    var config = new ModelConfig
                    {
                        SeqLen = Pick(seq, pc.SeqLen), Layers = Pick(layers, pc.Layers), Hidden = Pick(hidden, pc.Hidden), Bidirectional = !Flag(uni, !pc.Bidirectional), EveryStep = Flag(everyStep, pc.EveryStep),
                        Dropout = Pick(dropout, pc.Dropout), WeightDrop = Pick(weightDrop, pc.WeightDrop), LockedDropout = Flag(lockedDropout, pc.LockedDropout), Residual = Flag(residual, pc.Residual), LayerNorm = !Flag(noNorm, !pc.LayerNorm), Input = Pick(input, pc.Input)!, EmbeddingDim = Pick(embDim, pc.EmbeddingDim),
                        Velocity = !Flag(noVelocity, !pc.Velocity), Heads = Pick(heads, pc.Heads)!, StepBins = Pick(stepBins, pc.StepBins), DurationBins = Pick(durationBins, pc.DurationBins),
                        VelocityBins = Pick(velocityBins, pc.VelocityBins), StepFirst = !Flag(independent, !pc.StepFirst), BidirectionalHeads = Pick(biHeads, pc.BidirectionalHeads)!, Huber = Flag(huber, pc.Huber),
                        PitchWeight = Pick(pw, pc.PitchWeight), StepWeight = Pick(sw, pc.StepWeight), DurationWeight = Pick(dw, pc.DurationWeight), VelocityWeight = Pick(vw, pc.VelocityWeight),
                        Time = Pick(time, pc.Time), Lookback = Pick(lookback, pc.Lookback), LookbackNotes = Pick(lookbackNotes, pc.LookbackNotes),
                        AttentionSpan = Pick(attention, pc.AttentionSpan), AttentionSize = Pick(attentionSize, pc.AttentionSize),
                    };
                    if (Given(p, attention) && p.GetValue(attention) < 1)
                        throw new ArgumentException($"--attention must be 1..1024 notes (got {p.GetValue(attention)}); leave it out for no attention");
                    if (Given(p, attentionSize) && !config.Attends) throw new ArgumentException("--attention-size needs --attention N");
                    if (Given(p, lookbackNotes) && config.Lookback != LookbackKind.Notes)
                        throw new ArgumentException($"--lookback-notes needs --lookback notes (the model looks back by {config.Lookback.ToString().ToLowerInvariant()})");
                    if (config.Beats)
                        config = config with
                        {
                            // One bin per grid unit: steps up to 8 beats (two 4/4 bars), durations up to 8 beats; unless given.
                            StepBins = Pick(stepBins, pc.Beats ? pc.StepBins : TrainingPresets.BeatsStepBins), DurationBins = Pick(durationBins, pc.Beats ? pc.DurationBins : TrainingPresets.BeatsDurationBins),
                            Bpm = (float)Math.Round(corpus.MedianBpm()),
                        };
                    config.Validate();
                    // Refuse what cannot fit before allocating it, rather than failing deep inside the first step.
                    long need = config.TrainingBytes(p.GetValue(batch)), have = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
                    if (need > have * 0.8)
                        throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                            $"this network needs about {need / 1e9:F1} GB to train at --batch {p.GetValue(batch)} ({config.ParameterCount():N0} parameters), and {have / 1e9:F1} GB is available: use a smaller --hidden, --layers, --seq or --batch"));
                    var options = po with
                    {
                        Epochs = p.GetValue(epochs) ?? po.Epochs, BatchSize = Pick(batch, po.BatchSize), LearningRate = Pick(lr, po.LearningRate), Transpose = Pick(transpose, po.Transpose),
                        // With the state carried, a piece's windows are read one after another: a preset's stride gives way.
                        CarryState = Flag(carry, po.CarryState), Stride = Flag(carry, po.CarryState) && !Given(p, stride) ? 1 : Pick(stride, po.Stride), TrainFraction = Pick(fraction, po.TrainFraction), ValidationStride = Pick(valStride, po.ValidationStride), TrainEvaluation = Flag(trainEval, po.TrainEvaluation),
                        Patience = Pick(patience, po.Patience), MaxGradNorm = Pick(clip, po.MaxGradNorm), WeightDecay = Pick(wd, po.WeightDecay),
                        Seed = p.GetValue(seed) >= 0 ? (ulong)p.GetValue(seed) : throw new ArgumentException($"--seed must be 0 or more (got {p.GetValue(seed)})"),
                        CheckpointEvery = Pick(every, po.CheckpointEvery), CheckpointMinutes = Pick(everyMinutes, po.CheckpointMinutes), LogEvery = Pick(logEvery, po.LogEvery),
                    };
                    options.Validate();
                    return (config, options);
                });
            }
        }
    }

    static Option<T> Opt<T>(string name, T value, string description) => new(name) { Description = description, DefaultValueFactory = _ => value };

    /// <summary>Whether the user wrote <paramref name="option"/> on the command line (not its default).</summary>
    static bool Given(ParseResult p, Option option) => p.GetResult(option) is { Implicit: false };

    /// <summary>A .mgcache file is loaded; a folder is prepared (incrementally) into ./cache first.</summary>
    public static (NoteCorpus Corpus, string CachePath) LoadCorpus(string dataPath, bool sustain, bool quiet, TimeUnit time = TimeUnit.Seconds)
    {
        if (File.Exists(dataPath)) return (NoteCorpus.Load(dataPath), dataPath);
        if (!Directory.Exists(dataPath)) throw new ArgumentException($"--data '{dataPath}': no such file or folder");
        var read = new MidiReadOptions { Sustain = sustain };
        string cache = CorpusPreparer.DefaultCachePath(dataPath, "cache", read, time: time);
        var r = CorpusPreparer.Prepare(dataPath, cache, new PrepareOptions { Read = read, Time = time });
        if (!quiet)
            Console.WriteLine($"corpus: {r.Corpus.Files.Count} files ({r.Corpus.Files.Count(f => f.Split == Split.Train)} train, {r.Corpus.Files.Count(f => f.Split == Split.Validation)} validation), " +
                              $"{r.Corpus.Notes.Length:N0} notes, {r.Corpus.Skipped.Count} skipped; cache {cache}");
        // As prepare: the folder was fine, but nothing in it could be read (exit 1, not 2).
        if (r.Corpus.Files.Count == 0) throw new Cli.Stop($"no usable MIDI file in '{dataPath}' ({r.Corpus.Skipped.Count} skipped)", Cli.Failed);
        return (r.Corpus, cache);
    }

    static int Run(Backend backend, NoteCorpus corpus, string cachePath, string runDir, bool resuming, bool quiet, CancellationToken cancel, int? epochs,
        IDataParallel? parallel, Func<(ModelConfig, TrainOptions)> newRun)
    {
        bool isRoot = parallel is null || parallel.Rank == 0;
        bool interactive = Cli.Interactive(quiet);
        ProgressTask? task = null;
        var lines = new Cli.ProgressLines(TimeSpan.FromMinutes(1)); // when the output is not a terminal: a line a minute within an epoch
        var started = DateTime.UtcNow;
        void OnEpoch(EpochReport r)
        {
            var c = CultureInfo.InvariantCulture;
            string validation = double.IsNaN(r.ValidationLoss) ? "no validation windows (the split is empty or its files are shorter than a window)"
                : string.Create(c, $"validation loss {r.ValidationLoss:F4}, pitch NLL {r.ValidationPitchNll:F4} (bigram {r.BigramNll:F4}), pitch accuracy {r.ValidationPitchAccuracy:P1} (bigram {r.BigramAccuracy:P1})");
            string line = string.Create(c, $"epoch {r.Epoch}: train loss {r.TrainLoss:F4} | {validation} | {r.NotesPerSecond:F0} notes/s, {r.Seconds:F1} s{(r.Improved ? " *best*" : "")}");
            if (interactive) AnsiConsole.MarkupLine(Markup.Escape(line)); else Console.WriteLine(line);
        }
        var trainer = new Trainer(backend, corpus, cachePath, runDir)
        {
            Parallel = parallel,
            OnEpoch = OnEpoch,
            OnMessage = m => Console.WriteLine(m),
            OnValidation = (epoch, windows, trainWindows) =>
            {
                string what = string.Create(CultureInfo.InvariantCulture, $"epoch {epoch}: validating {windows:N0} windows{(trainWindows > 0 ? $" and {trainWindows:N0} training windows" : "")}");
                if (task is not null) task.Description = what;
                else if (!quiet) Console.WriteLine(what);
            },
            OnStep = s =>
            {
                if (task is null)
                {
                    if (!quiet && isRoot && lines.Due())
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"epoch {s.Epoch + 1}/{s.Epochs}: batch {s.Batch}/{s.BatchesPerEpoch} ({s.Batch / (double)s.BatchesPerEpoch:P0}), loss {s.Loss:F3}, {s.NotesPerSecond:F0} notes/s, lr {s.LearningRate:G3}"));
                    return;
                }
                task.MaxValue = (double)s.Epochs * s.BatchesPerEpoch;
                task.Value = (double)s.Epoch * s.BatchesPerEpoch + s.Batch;
                task.Description = string.Create(CultureInfo.InvariantCulture, $"epoch {s.Epoch + 1}/{s.Epochs} loss {s.Loss:F3} {s.NotesPerSecond:F0} notes/s");
            },
        };
        TrainOutcome outcome;
        try
        {
            if (interactive)
            {
                outcome = TrainOutcome.Completed;
                AnsiConsole.Progress().AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        task = ctx.AddTask("training");
                        outcome = resuming ? trainer.Resume(epochs, cancel) : Start(trainer, newRun, cancel);
                    });
            }
            else outcome = resuming ? trainer.Resume(epochs, cancel) : Start(trainer, newRun, cancel);
        }
        catch (TrainingDivergedException e)
        {
            return Cli.Error(e.Message, Cli.Failed);
        }
        catch (DataParallelMismatchException e)
        {
            return Cli.Error(e.Message);
        }
        if (isRoot) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{outcome.ToString().ToLowerInvariant()} in {(DateTime.UtcNow - started).TotalSeconds:F1} s; checkpoints in {runDir}"));
        return outcome == TrainOutcome.Interrupted ? Cli.Interrupted : Cli.Ok;
    }

    static TrainOutcome Start(Trainer trainer, Func<(ModelConfig, TrainOptions)> newRun, CancellationToken cancel)
    {
        var (config, options) = newRun();
        return trainer.Train(config, options, cancel);
    }
}
