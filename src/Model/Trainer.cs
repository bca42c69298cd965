using MusicGen.Midi;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Midi.Corpus;

namespace MusicGen.Model;

/// <summary>Everything about a training run that is not the model. Stored in checkpoints (resume reuses it).</summary>
public sealed record TrainOptions
{
    public int Epochs { get; init; } = 10;
    public int BatchSize { get; init; } = 64;
    public float LearningRate { get; init; } = 0.005f;
    /// <summary>Cosine decay from the learning rate down to this fraction of it, after a linear warm-up.</summary>
    public float MinLearningRateFraction { get; init; } = 0.1f;
    public int WarmupSteps { get; init; } = 100;
    public float WeightDecay { get; init; }
    public float MaxGradNorm { get; init; } = 1f;
    /// <summary>Stop when validation loss has not improved for this many epochs (0: never).</summary>
    public int Patience { get; init; } = 3;
    /// <summary>Random transposition of training windows within +-N semitones (0: off).</summary>
    public int Transpose { get; init; } = 5;
    /// <summary>Use every Nth training window (1: all). A quicker epoch on a big corpus.</summary>
    public int Stride { get; init; } = 1;
    /// <summary>Train on this fraction of the training split's files (1: all), chosen by a hash of their paths (<see cref="Windows.FilePosition"/>).</summary>
    public double TrainFraction { get; init; } = 1;
    /// <summary>Validate on every Nth validation window (1: all).</summary>
    public int ValidationStride { get; init; } = 1;
    /// <summary>
    /// Also score the model on training windows after each epoch, as validation is scored (no dropout, no
    /// transposition; as many windows as validation reads, spread evenly): train and validation curves side by side.
    /// </summary>
    public bool TrainEvaluation { get; init; }
    public ulong Seed { get; init; } = 1;
    public int CheckpointEvery { get; init; } = 500;
    /// <summary>Also checkpoint when this many minutes have passed since the last save (0: off), so a slow step costs no more than that.</summary>
    public double CheckpointMinutes { get; init; } = 10;
    public int LogEvery { get; init; } = 50;
    /// <summary>
    /// Truncated backpropagation through time over whole pieces: each batch row reads its piece's next window and starts
    /// from the LSTM state the row's last window ended in (zeros at a piece's start), so training sees a state that has
    /// read the piece from its beginning, as generation does (<see cref="WindowStreams"/>). Unidirectional every-step
    /// models; the windows of a piece are consecutive, so <see cref="Stride"/> stays 1.
    /// </summary>
    public bool CarryState { get; init; }

    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"epochs must be at least 1 (got {Epochs})");
        if (BatchSize < 1 || BatchSize > 65536) throw new ArgumentException($"batch size {BatchSize} outside 1..65536");
        if (!(LearningRate > 0)) throw new ArgumentException($"learning rate must be positive (got {LearningRate})");
        if (Transpose < 0 || Transpose > 24) throw new ArgumentException($"transpose {Transpose} outside 0..24");
        if (Stride < 1) throw new ArgumentException($"stride must be at least 1 (got {Stride})");
        if (CarryState && Stride != 1) throw new SettingException("stride", $"{Stride} cannot be used with carry-state: a piece's windows are read one after another, each once an epoch");
        if (!(TrainFraction > 0 && TrainFraction <= 1)) throw new ArgumentException($"train fraction {TrainFraction} outside (0, 1]");
        if (ValidationStride < 1) throw new ArgumentException($"validation stride must be at least 1 (got {ValidationStride})");
        if (CheckpointEvery < 1 || LogEvery < 1) throw new ArgumentException("checkpoint and log intervals must be positive");
        if (!(CheckpointMinutes >= 0)) throw new ArgumentException($"checkpoint minutes must be 0 (off) or more (got {CheckpointMinutes})");
    }

    public string ToJson() => JsonSerializer.Serialize(this);
    public static TrainOptions FromJson(string json) => JsonSerializer.Deserialize<TrainOptions>(json) ?? throw new InvalidDataException("empty train options");
}

/// <summary>A progress report after each step.</summary>
public readonly record struct TrainProgress(int Epoch, int Epochs, int Batch, int BatchesPerEpoch, int Step, float Loss, double NotesPerSecond, float LearningRate);

/// <summary>What one epoch's validation found.</summary>
public sealed record EpochReport(int Epoch, int Step, double TrainLoss, double ValidationLoss, double ValidationPitchNll, double ValidationPitchAccuracy,
    double BigramNll, double BigramAccuracy, double NotesPerSecond, double Seconds, bool Improved);

/// <summary>Data-parallel ranks disagree (different arguments or data, or weights that drifted apart): no rank may go on.</summary>
public sealed class DataParallelMismatchException(string message) : Exception(message);

/// <summary>Training diverged: the message names the step. The last good checkpoint is left as it was.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>
/// The training loop. Everything random derives from the seed and the position (epoch, batch, step): the
/// shuffle from (seed, epoch), transpositions from (seed, epoch, window), dropout from (seed, step). So a run
/// resumed from any checkpoint continues exactly as if it had never stopped.
/// Run directory: last.safetensors (+ the last.optim.SAVEID.safetensors it names), best.safetensors, metrics.jsonl.
/// </summary>
public sealed class Trainer
{
    public const string Last = RunFolder.Last, Best = RunFolder.Best, Metrics = RunFolder.Metrics;
    static JsonSerializerOptions StateJson => TrainingCore.StateJson;

    readonly Backend _backend;
    readonly NoteCorpus _corpus;
    readonly string _runDir, _corpusPath, _fingerprint;
    RunFolder Folder => new(_runDir, writes: Root);

    public Trainer(Backend backend, NoteCorpus corpus, string corpusPath, string runDir)
    {
        _backend = backend;
        _corpus = corpus;
        _corpusPath = Path.GetFullPath(corpusPath);
        _runDir = runDir;
        _fingerprint = Fingerprint(corpus);
    }

    /// <summary>
    /// Data-parallel training (null: one process). Every rank runs this same trainer on its shard of each global batch
    /// (<see cref="Shards"/>); one all-reduce per step sums the shards' gradients, weighted so the result is the
    /// gradient of the mean over the whole batch; every rank then takes the same Adam step. Rank 0 alone writes
    /// checkpoints and metrics and reports progress. See docs/SCALE.md.
    /// </summary>
    public IDataParallel? Parallel { get; init; }
    bool Root => Parallel is null || Parallel.Rank == 0;
    /// <summary>Seconds this epoch spent exchanging gradients (copy out, all-reduce, copy back): metrics.jsonl's exchange_ms_per_step.</summary>
    double _exchangeSeconds;

    public Action<TrainProgress>? OnStep { get; init; }
    public Action<EpochReport>? OnEpoch { get; init; }
    public Action<string>? OnMessage { get; init; }
    /// <summary>An epoch's training is done and its scoring begins: (epoch from 1, validation windows, training windows scored too).</summary>
    public Action<int, int, int>? OnValidation { get; init; }

    /// <summary>
    /// A hash of the corpus' content: the reading options, each file's path, split and note count, and every note (and
    /// bar place): a resumed run must see the same data. File times play no part, so a copy of the same files (a
    /// re-provisioned data folder, a cache rebuilt from it) resumes.
    /// </summary>
    public static string Fingerprint(NoteCorpus c)
    {
        var h = new System.IO.Hashing.XxHash3();
        h.Append(System.Text.Encoding.UTF8.GetBytes($"{c.Sustain}|{c.IncludeDrums}|{c.Notes.Length}" + (c.Time == TimeUnit.Beats ? "|beats" : "")));
        foreach (var f in c.Files) h.Append(System.Text.Encoding.UTF8.GetBytes($"{f.RelativePath}|{f.Split}|{f.NoteCount}\n"));
        h.Append(System.Runtime.InteropServices.MemoryMarshal.AsBytes(c.Notes.AsSpan()));
        if (c.Places is { } places) h.Append(System.Runtime.InteropServices.MemoryMarshal.AsBytes(places.AsSpan()));
        return h.GetCurrentHashAsUInt64().ToString("x16");
    }

    /// <summary>
    /// The fingerprint that checkpoints written before <see cref="Fingerprint"/> (metadata without
    /// <c>corpus_fingerprint_kind</c>) carry: the files' paths, sizes, modification times and splits. Such a run resumes
    /// only while its files keep their times.
    /// </summary>
    public static string FileTimeFingerprint(NoteCorpus c)
    {
        var h = new System.IO.Hashing.XxHash3();
        h.Append(System.Text.Encoding.UTF8.GetBytes($"{c.Sustain}|{c.IncludeDrums}|{c.Notes.Length}" + (c.Time == TimeUnit.Beats ? "|beats" : "")));
        foreach (var f in c.Files) h.Append(System.Text.Encoding.UTF8.GetBytes($"{f.RelativePath}|{f.Size}|{f.ModifiedTicks}|{f.Split}|{f.NoteCount}\n"));
        return h.GetCurrentHashAsUInt64().ToString("x16");
    }

    /// <summary>Whether a checkpoint's metadata was written for this corpus (by content; by file times for older checkpoints).</summary>
    public static bool SameCorpus(IReadOnlyDictionary<string, string> meta, NoteCorpus corpus) =>
        meta.GetValueOrDefault("corpus_fingerprint_kind") == "content"
            ? meta.GetValueOrDefault("corpus_fingerprint") == Fingerprint(corpus)
            : meta.GetValueOrDefault("corpus_fingerprint") == FileTimeFingerprint(corpus);

    /// <summary>Starts a new run in an empty (or absent) run directory.</summary>
    public TrainOutcome Train(ModelConfig config, TrainOptions options, CancellationToken cancel = default)
    {
        options.Validate();
        Folder.StartNew($"use --resume {_runDir} to continue it or choose another --out");
        using var model = new MusicModel(_backend, config);
        model.Initialize(options.Seed);
        return Run(model, options, TrainingState.Start, cancel);
    }

    /// <summary>Why a run directory cannot be resumed: it never reached a checkpoint, or it is not a run directory.</summary>
    public static string MissingCheckpoint(string runDir) =>
        File.Exists(Path.Combine(runDir, "metrics.jsonl"))
            ? $"the run in '{runDir}' stopped before its first checkpoint (one is saved every --checkpoint-every steps, every --checkpoint-minutes minutes and at each epoch's end): nothing to resume; start it again with --out"
            : $"no checkpoint to resume in '{runDir}' (expected {Last})";

    /// <summary>The epoch count of a run that has finished (its last checkpoint says so); null while it can still go on.</summary>
    public static int? FinishedEpochs(string runDir)
    {
        var (_, file) = Checkpoint.Read(Path.Combine(runDir, Last));
        return file.Metadata.TryGetValue("state", out var json) && TrainingState.FromJson(json) is { Finished: true } state ? state.Epoch : null;
    }

    /// <summary>Continues the run in the run directory from its last checkpoint (optionally with a new epoch count).</summary>
    public TrainOutcome Resume(int? epochs, CancellationToken cancel = default)
    {
        string last = Path.Combine(_runDir, Last);
        if (!File.Exists(last)) throw new FileNotFoundException(MissingCheckpoint(_runDir));
        var (model, file) = Checkpoint.Load(last, _backend);
        using (model)
        {
            var optimizer = Checkpoint.LoadOptimizer(last, file, model);
            var meta = file.Metadata;
            if (!SameCorpus(meta, _corpus))
                throw new InvalidDataException(meta.GetValueOrDefault("corpus_fingerprint_kind") == "content"
                    ? "the corpus differs from the one this run was trained on (fingerprint mismatch); give the same corpus"
                    : "the corpus differs from the one this run was trained on, or its files' modification times changed (this checkpoint predates content fingerprints, so the times count); give the same corpus");
            var options = TrainOptions.FromJson(meta["train_options"]);
            if (epochs is int e) options = options with { Epochs = e };
            options.Validate();
            var state = TrainingState.FromJson(meta["state"]);
            if (Root)
            {
                // Drops metrics written after the checkpoint (by a run that was killed), so the file reads as one uninterrupted run.
                int orphans = Folder.TrimAfterCheckpoint(o => o["kind"]!.GetValue<string>() == "epoch" ? o["epoch"]!.GetValue<int>() <= state.Epoch : o["step"]!.GetValue<int>() <= state.Step);
                if (orphans > 0) OnMessage?.Invoke($"removed {orphans} half-written temp file(s) left by an interrupted run");
                OnMessage?.Invoke($"resuming at epoch {state.Epoch + 1}, batch {state.Batch}, step {state.Step}");
            }
            return Run(model, options, state with { Finished = false }, cancel, optimizer);
        }
    }

    /// <param name="saved">On resume: the optimizer file, which also holds a carried state (<see cref="TrainOptions.CarryState"/>).</param>
    TrainOutcome Run(MusicModel model, TrainOptions o, TrainingState state, CancellationToken cancel, SafeTensors.File? saved = null)
    {
        using var run = new NoteRun(this, model, o, state, saved);
        return TrainingLoop.Run(run, state, cancel).Outcome;
    }

    /// <summary>A note model's scores after an epoch: validation loss, pitch NLL and accuracy (and the training windows', scored alike, when asked).</summary>
    sealed record NoteScores(double Score, double ValidationLoss, double PitchNll, double PitchAccuracy, double TrainEvalLoss, double TrainEvalPitchNll) : IEpochScores;

    /// <summary>One run of a note model, as the shared <see cref="TrainingLoop"/> drives it: windows, batches, data-parallel exchange, metrics.</summary>
    sealed class NoteRun : ITrainingRun<NoteScores>, IDisposable
    {
        readonly Trainer _t;
        readonly MusicModel _model;
        readonly TrainOptions _o;
        readonly Windows _train, _valid;
        readonly Windows? _trainScored;
        readonly (double Nll, double Accuracy) _bigram;
        readonly int _batchesPerEpoch, _totalSteps, _shardFirst, _shardRows;
        readonly float[]? _exchange;
        readonly Batch _batch;
        readonly AdamConfig _adam;
        readonly uint _seed32;
        int[] _order = []; // this epoch's windows, shuffled and strided
        // Carrying the state (TrainOptions.CarryState): the streams, this epoch's plan, and the state each row carries.
        readonly WindowStreams? _streams;
        readonly LstmState? _carried;
        StreamStep[][] _plan = [];

        public NoteRun(Trainer trainer, MusicModel model, TrainOptions o, TrainingState state, SafeTensors.File? saved)
        {
            _t = trainer; _model = model; _o = o;
            var c = model.Config;
            _train = new Windows(trainer._corpus, Split.Train, c, o.TrainFraction);
            _valid = new Windows(trainer._corpus, Split.Validation, c, stride: o.ValidationStride);
            // Training windows scored like validation (TrainEvaluation): about as many, spread evenly over the training files used.
            _trainScored = o.TrainEvaluation && _valid.Count > 0
                ? new Windows(trainer._corpus, Split.Train, c, o.TrainFraction, Math.Max(1, _train.Count / _valid.Count)) : null;
            if (_train.Count < o.BatchSize)
            {
                var pieces = trainer._corpus.Files.Where(f => f.Split == Split.Train).ToList();
                int longEnough = pieces.Count(f => f.NoteCount > c.SeqLen), longest = pieces.Select(f => f.NoteCount).DefaultIfEmpty(0).Max();
                throw new ArgumentException($"the training split has {_train.Count} windows of {c.SeqLen + 1} notes, fewer than one batch of {o.BatchSize} " +
                    $"({longEnough} of its {pieces.Count} pieces have {c.SeqLen + 1} notes or more; the longest has {longest}): use a shorter window or a smaller batch");
            }
            if (_valid.Count == 0 && trainer.Root) trainer.OnMessage?.Invoke("warning: no validation windows; early stopping is off and 'best' follows the training loss");
            _bigram = new Bigram(trainer._corpus, Split.Train).Evaluate(_valid, c.SeqLen);
            _batchesPerEpoch = (_train.Count + o.Stride - 1) / o.Stride / o.BatchSize;
            if (o.CarryState)
            {
                if (c.Bidirectional || !c.EveryStep)
                    throw new SettingException("carry-state", "needs a unidirectional model that predicts at every step (--unidirectional --every-step): a bidirectional one re-reads its window, and one label per window leaves most notes unread");
                if (trainer.Parallel is not null) throw new SettingException("carry-state", "is not available with --distributed");
                _streams = new WindowStreams(_train);
                if (_streams.Windows < o.BatchSize)
                    throw new SettingException("carry-state", $"needs a stream per batch row: the training split has {_streams.Windows} consecutive windows of {c.SeqLen + 1} notes, fewer than --batch {o.BatchSize}");
                _batchesPerEpoch = _streams.BatchesPerEpoch(o.BatchSize);
                _carried = model.NewState(o.BatchSize, attentionMemory: false);
                if (saved is not null) LoadCarried(saved);
            }
            _totalSteps = _batchesPerEpoch * o.Epochs;
            // Data parallel: this rank's rows of each global batch, the weight of its gradient in the sum over ranks, and one
            // buffer for everything a step exchanges: the flat gradient buffer (ParameterBuffer.Grads), the head losses, and a
            // stop flag (so a Ctrl-C on any rank stops every rank at the same step).
            var parallel = trainer.Parallel;
            (_shardFirst, _shardRows) = parallel is null ? (0, o.BatchSize) : Shards.Of(o.BatchSize, parallel.Rank, parallel.Size);
            if (_shardRows == 0) throw new ArgumentException($"a batch of {o.BatchSize} over {parallel!.Size} ranks leaves rank {parallel.Rank} no window; use a batch of at least {parallel.Size}");
            if (parallel is not null)
            {
                _exchange = new float[model.Flat.Count + 1 + c.RegressionHeads + 1];
                trainer.CheckRanksAgree(model, o, state);
            }
            _batch = new Batch(c, _shardRows);
            _adam = new AdamConfig(o.LearningRate, WeightDecay: o.WeightDecay, Decoupled: true, MaxGradNorm: o.MaxGradNorm);
            _seed32 = (uint)(o.Seed ^ (o.Seed >> 32));
        }

        public int Epochs => _o.Epochs;
        public int Patience => _o.Patience;
        public bool HasValidation => _valid.Count > 0;
        public int StartEpoch(int epoch)
        {
            if (_streams is not null) _plan = _streams.Plan(_o.BatchSize, _o.Seed, epoch, _o.Transpose);
            else _order = _train.Shuffled(_o.Seed, epoch).Where((_, i) => i % _o.Stride == 0).ToArray();
            _t._exchangeSeconds = 0;
            return _batchesPerEpoch;
        }
        /// <summary>Notes predicted per second of a step, over the whole (global) batch.</summary>
        double NotesPerSecond(double seconds) => _batch.TargetRows * (_o.BatchSize / (double)_shardRows) / Math.Max(seconds, 1e-9);

        public BatchOutcome TrainBatch(int epoch, int b, TrainingState state, CancellationToken cancel)
        {
            long t0 = Stopwatch.GetTimestamp();
            int step = state.Step + 1;
            float lr = LearningRate(_o, step, _totalSteps);
            if (_carried is not null) FillCarried(_plan[b]);
            else _train.Fill(_batch, _order.AsSpan(b * _o.BatchSize + _shardFirst, _shardRows), w => _train.Shift(w, _o.Transpose, _o.Seed, epoch));
            var parallel = _t.Parallel;
            _model.Forward(_batch, training: true, _seed32, (uint)step, _carried, shard: parallel is null ? null : new BatchShard(_shardFirst, _o.BatchSize));
            var heads = _model.Backward(_batch);
            // Data parallel: every rank stops at the same step, when any rank asked to (the flag travels in the exchange).
            bool stopAll = parallel is not null && _t.AllReduce(_model, heads, _exchange!, _shardRows / (float)_o.BatchSize, cancel.IsCancellationRequested);
            float loss = MultiHeadLoss.Total(_model.Config.Loss, heads);
            TrainingCore.CheckFinite(loss, _model.GradNorm2(), $"step {step} (epoch {epoch + 1}, batch {b})");
            _model.OptimizerStep(_adam with { LearningRate = lr }, step);

            double notesPerSecond = NotesPerSecond(Stopwatch.GetElapsedTime(t0).TotalSeconds);
            if (_t.Root) _t.OnStep?.Invoke(new TrainProgress(epoch, _o.Epochs, b + 1, _batchesPerEpoch, step, loss, notesPerSecond, lr));
            if (step % _o.LogEvery == 0)
                _t.Folder.AppendMetrics(new JsonObject
                {
                    ["kind"] = "step", ["epoch"] = epoch + 1, ["step"] = step, ["loss"] = loss, ["loss_pitch"] = heads[0], ["loss_step"] = heads[1],
                    ["loss_duration"] = heads[2], ["loss_velocity"] = heads.Length > 3 ? heads[3] : null, ["lr"] = lr, ["notes_per_s"] = Math.Round(notesPerSecond, 1),
                });
            return new BatchOutcome(loss, 1, 1, parallel is null ? cancel.IsCancellationRequested : stopAll);
        }

        public bool CheckpointDue(TrainingState state, TimeSpan sinceLastSave) =>
            state.Step % _o.CheckpointEvery == 0 || (_o.CheckpointMinutes > 0 && sinceLastSave.TotalMinutes >= _o.CheckpointMinutes);

        public NoteScores Score(int epoch, double trainLoss)
        {
            if (_t.Root) _t.OnValidation?.Invoke(epoch + 1, _valid.Count, _trainScored?.Count ?? 0);
            var (valLoss, valNll, valAcc) = Validate(_model, _valid, _o.BatchSize);
            var (trainEvalLoss, trainEvalNll, _) = _trainScored is null ? (double.NaN, double.NaN, double.NaN) : Validate(_model, _trainScored, _o.BatchSize);
            return new NoteScores(_valid.Count > 0 ? valLoss : trainLoss, valLoss, valNll, valAcc, trainEvalLoss, trainEvalNll);
        }

        public void RecordEpoch(EpochEnd<NoteScores> end)
        {
            var (state, s) = (end.State, end.Scores);
            int steps = (int)end.TrainLossCount; // this epoch's steps (one loss each), a resumed epoch's included
            var report = new EpochReport(state.Epoch, state.Step, end.TrainLoss, s.ValidationLoss, s.PitchNll, s.PitchAccuracy, _bigram.Nll, _bigram.Accuracy,
                steps * NotesPerSecond(end.TrainSeconds), end.Seconds, end.Improved);
            if (_t.Parallel is not null) _t.CheckRanksAgree(_model, _o, state with { Finished = false });
            _t.Folder.AppendMetrics(new JsonObject
            {
                ["kind"] = "epoch", ["epoch"] = state.Epoch, ["step"] = state.Step, ["train_loss"] = Num(end.TrainLoss), ["val_loss"] = Num(s.ValidationLoss),
                ["val_pitch_nll"] = Num(s.PitchNll), ["val_pitch_acc"] = Num(s.PitchAccuracy), ["train_eval_loss"] = Num(s.TrainEvalLoss), ["train_eval_pitch_nll"] = Num(s.TrainEvalPitchNll),
                ["bigram_pitch_nll"] = Num(_bigram.Nll), ["bigram_pitch_acc"] = Num(_bigram.Accuracy),
                ["lr"] = LearningRate(_o, state.Step, _totalSteps), ["notes_per_s"] = Math.Round(report.NotesPerSecond, 1), ["seconds"] = Math.Round(end.Seconds, 2),
                ["train_seconds"] = Math.Round(end.TrainSeconds, 3),
                ["ranks"] = _t.Parallel?.Size ?? 1, ["exchange_ms_per_step"] = _t.Parallel is null || steps == 0 ? null : Math.Round(_t._exchangeSeconds * 1000 / steps, 3),
            });
            if (_t.Root) _t.OnEpoch?.Invoke(report);
        }

        public void Save(string file, TrainingState state, bool withOptimizer) => _t.Save(_model, file, _o, state, withOptimizer, withOptimizer ? Carried() : null);

        /// <summary>Fills the batch with the plan's windows, and starts the carried state from zeros in every row that begins a piece.</summary>
        void FillCarried(StreamStep[] rows)
        {
            int H = _model.Config.Hidden;
            for (int r = 0; r < rows.Length; r++)
                if (rows[r].StartsPiece)
                    foreach (var t in _carried!.H.Concat(_carried.C)) Elementwise.Fill(_model.Backend, t, 0f, r * H, H);
            Span<int> windows = stackalloc int[rows.Length], shifts = stackalloc int[rows.Length];
            for (int r = 0; r < rows.Length; r++) (windows[r], shifts[r]) = (rows[r].Window, rows[r].Shift);
            _train.Fill(_batch, windows, shifts);
        }

        /// <summary>The carried state as tensors of the optimizer file (carry.h.LAYER, carry.c.LAYER: [B,H]), so a resume within an epoch goes on from it.</summary>
        List<(string, int[], float[])>? Carried() => _carried is null ? null :
            [.. _carried.H.Select((t, l) => ($"carry.h.{l}", new[] { _o.BatchSize, _model.Config.Hidden }, _model.Backend.Download(t))),
             .. _carried.C.Select((t, l) => ($"carry.c.{l}", new[] { _o.BatchSize, _model.Config.Hidden }, _model.Backend.Download(t)))];

        void LoadCarried(SafeTensors.File saved)
        {
            for (int l = 0; l < _carried!.H.Length; l++)
                foreach (var (name, t) in new[] { ($"carry.h.{l}", _carried.H[l]), ($"carry.c.{l}", _carried.C[l]) })
                {
                    if (!saved.Tensors.TryGetValue(name, out var v) || v.Data.Length != t.Length)
                        throw new InvalidDataException($"the checkpoint carries the state from window to window but its optimizer file lacks or mis-sizes '{name}'");
                    _model.Backend.CopyFromHost(v.Data, t);
                }
        }

        public void Dispose() => _carried?.Dispose();

        public void Interrupted(TrainingState state) { if (_t.Root) _t.OnMessage?.Invoke($"interrupted: saved at step {state.Step}; continue with --resume {_t._runDir}"); }

        public void StoppedEarly(TrainingState state) { if (_t.Root) _t.OnMessage?.Invoke($"early stop: validation loss has not improved for {_o.Patience} epochs"); }
    }

    /// <summary>
    /// The step's exchange: this rank's gradients times its share of the batch (rows here / rows in the whole batch) and
    /// its head losses likewise, summed over ranks, so every rank ends with the gradient of the mean loss over the whole
    /// batch and the whole batch's head losses (written back into <paramref name="heads"/>). Returns whether any rank asked to stop.
    /// </summary>
    bool AllReduce(MusicModel model, float[] heads, float[] exchange, float share, bool stop)
    {
        long t0 = Stopwatch.GetTimestamp();
        int at = model.Flat.Count;
        _backend.CopyToHost(model.Flat.Grads, exchange.AsSpan(0, at)); // every gradient: one copy of the flat buffer
        if (share != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(exchange.AsSpan(0, at), share, exchange.AsSpan(0, at));
        for (int k = 0; k < heads.Length; k++) exchange[at + k] = heads[k] * share;
        exchange[^1] = stop ? 1 : 0;
        Parallel!.SumInPlace(exchange);
        _backend.CopyFromHost(exchange.AsSpan(0, at), model.Flat.Grads);
        for (int k = 0; k < heads.Length; k++) heads[k] = exchange[at + k];
        _exchangeSeconds += Stopwatch.GetElapsedTime(t0).TotalSeconds;
        return exchange[^1] > 0;
    }

    /// <summary>
    /// Refuses to go on unless every rank has the same model config, options, corpus, training state and weights
    /// (compared as one hash per rank): at the start, so mismatched launches fail at once, and after every epoch, so a
    /// silent divergence between ranks is caught before it is saved.
    /// </summary>
    void CheckRanksAgree(MusicModel model, TrainOptions o, TrainingState state)
    {
        var h = new System.IO.Hashing.XxHash3();
        h.Append(System.Text.Encoding.UTF8.GetBytes($"{model.Config.ToJson()}|{o.ToJson()}|{_fingerprint}|{state.Epoch}|{state.Batch}|{state.Step}"));
        h.Append(System.Runtime.InteropServices.MemoryMarshal.AsBytes(_backend.Download(model.Flat.Values).AsSpan()));
        long mine = (long)h.GetCurrentHashAsUInt64();
        var all = Parallel!.Gather(mine);
        for (int r = 0; r < all.Length; r++)
            if (all[r] != all[0])
                throw new DataParallelMismatchException($"rank {r} differs from rank 0 (model config, training options, corpus, position or weights) at step {state.Step}; every rank must be launched with the same arguments on the same data");
    }

    static double? Num(double v) => double.IsFinite(v) ? Math.Round(v, 6) : null;

    /// <summary>Linear warm-up, then cosine decay to MinLearningRateFraction of the peak at the last step.</summary>
    public static float LearningRate(TrainOptions o, int step, int totalSteps) =>
        TrainingCore.WarmupCosine(o.LearningRate, o.MinLearningRateFraction, o.WarmupSteps, step, totalSteps);

    /// <summary>
    /// Mean total loss, pitch NLL and pitch accuracy of the note after each window (no dropout, no transposition).
    /// The windows' length is theirs (<see cref="Windows.Config"/>): the model's own, or another for evaluation.
    /// </summary>
    /// <param name="headMeans">If given (length 1 + RegressionHeads), receives each head's mean loss: pitch, step, duration(, velocity);
    /// for categorical heads, each is that feature's NLL in nats.</param>
    public static (double Loss, double PitchNll, double PitchAccuracy) Validate(MusicModel model, Windows windows, int batchSize, double[]? headMeans = null)
    {
        if (headMeans is not null) Array.Clear(headMeans);
        if (windows.Count == 0) return (double.NaN, double.NaN, double.NaN);
        var c = windows.Config;
        if (c with { SeqLen = model.Config.SeqLen } != model.Config) throw new ArgumentException("the windows were cut for another model config");
        double loss = 0, nll = 0;
        long hits = 0;
        var all = Enumerable.Range(0, windows.Count).ToArray();
        Batch full = new(c, batchSize), tail = new(c, Math.Max(1, windows.Count % batchSize)); // made once, reused
        // A step-first model's pitch head is conditional on the step; its pitch NLL and accuracy are scored on the marginal
        // P(pitch) = sum_s P(step s) P(pitch | s), the same question every other model answers.
        var stepTable = model.StepConditionTable();
        for (int from = 0; from < windows.Count; from += batchSize)
        {
            int size = Math.Min(batchSize, windows.Count - from);
            var batch = size == batchSize ? full : tail;
            windows.Fill(batch, all.AsSpan(from, size));
            model.Forward(batch, training: false);
            var (logits, _) = model.Outputs(size, c.SeqLen); // before Loss: a step-first model's logits without the step offsets
            var heads = model.Loss(batch);
            loss += MultiHeadLoss.Total(c.Loss, heads) * size;
            if (headMeans is not null) for (int k = 0; k < headMeans.Length; k++) headMeans[k] += heads[k] * size / (double)windows.Count;
            int K = c.ClassCount; // the pitch logits are the first 128 of each row
            if (stepTable is null)
            {
                nll += heads[0] * size;
                for (int b = 0; b < size; b++)
                {
                    int best = 0;
                    for (int j = 1; j < MusicModel.Pitches; j++) if (logits[b * K + j] > logits[b * K + best]) best = j;
                    if (best == batch.TargetPitch(b, c)) hits++;
                }
            }
            else
                for (int b = 0; b < size; b++)
                {
                    var (rowNll, best) = MarginalPitch(logits.AsSpan(b * K, K), stepTable, c.StepBins, batch.TargetPitch(b, c));
                    nll += rowNll;
                    if (best == batch.TargetPitch(b, c)) hits++;
                }
        }
        return (loss / windows.Count, nll / windows.Count, hits / (double)windows.Count);
    }

    /// <summary>
    /// A step-first model's marginal pitch distribution for one row of logits [K] (pitch, step bins, ...):
    /// P(p) = sum_s softmax(step logits)_s * softmax(pitch logits + table[s, 0..128))_p. Returns -log P(target) and the argmax.
    /// Step bins with probability under 1e-9 are skipped (their share of P(p) is below that).
    /// </summary>
    public static (double Nll, int Best) MarginalPitch(ReadOnlySpan<float> row, float[] table, int stepBins, int target)
    {
        const int P = MusicModel.Pitches;
        int K = row.Length;
        var step = row.Slice(P, stepBins);
        double stepMax = double.NegativeInfinity, stepSum = 0;
        foreach (float v in step) stepMax = Math.Max(stepMax, v);
        foreach (float v in step) stepSum += Math.Exp(v - stepMax);
        Span<double> marginal = stackalloc double[P];
        marginal.Clear();
        Span<double> z = stackalloc double[P];
        for (int s = 0; s < stepBins; s++)
        {
            double ps = Math.Exp(step[s] - stepMax) / stepSum;
            if (ps < 1e-9) continue;
            double max = double.NegativeInfinity, sum = 0;
            for (int j = 0; j < P; j++) { z[j] = (double)row[j] + table[s * K + j]; max = Math.Max(max, z[j]); }
            for (int j = 0; j < P; j++) { z[j] = Math.Exp(z[j] - max); sum += z[j]; }
            for (int j = 0; j < P; j++) marginal[j] += ps * z[j] / sum;
        }
        int best = 0;
        for (int j = 1; j < P; j++) if (marginal[j] > marginal[best]) best = j;
        return (-Math.Log(Math.Max(marginal[target], 1e-300)), best);
    }

    void Save(MusicModel model, string name, TrainOptions o, TrainingState state, bool withOptimizer, List<(string, int[], float[])>? carried = null)
    {
        if (!Root) return; // rank 0 writes; the other ranks hold the same weights
        var meta = new Dictionary<string, string>
        {
            ["train_options"] = o.ToJson(),
            ["state"] = state.ToJson(),
            ["corpus_fingerprint"] = _fingerprint,
            ["corpus_fingerprint_kind"] = "content",
            ["corpus_path"] = _corpusPath,
            ["corpus_root"] = _corpus.Root, // the folder the cache was read from: resume rebuilds a deleted cache from it
            ["corpus_sustain"] = _corpus.Sustain ? "true" : "false",
            ["corpus_time"] = _corpus.Time.ToString().ToLowerInvariant(),
            ["backend"] = _backend.Kind,
            ["last_metrics"] = LastMetricsLine() ?? "",
        };
        Checkpoint.Save(Path.Combine(_runDir, name), model, meta, withOptimizer, carried: carried);
    }

    void AppendMetrics(JsonObject line) => Folder.AppendMetrics(line);

    string? LastMetricsLine() => Folder.LastMetricsLine(l => l.Contains("\"kind\":\"epoch\""));
}
