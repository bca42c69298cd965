using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;

namespace MusicGen.Model.Frames;

/// <summary>The optimizer: Adam, or RAdam (rectified Adam, Liu et al. 2020: the setup of the RRU paper's polyphonic results).</summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<OptimizerKind>))]
public enum OptimizerKind { Adam, RAdam }

/// <summary>
/// How an epoch's training pieces are cut into batches. A batch is padded to its longest piece and every row of it is
/// computed, so batches of very different lengths waste most of their work (MuseData's random batches of 8 are 32 %
/// real frames; sorted by length they are 95 %).
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<BatchOrder>))]
public enum BatchOrder
{
    /// <summary>A fresh shuffle of all pieces each epoch, cut into consecutive batches.</summary>
    Random,
    /// <summary>
    /// Batches of similar length: each epoch the pieces are sorted by their length times a random factor in [0.9, 1.1),
    /// cut into batches, and the batches shuffled, so batch contents still change from epoch to epoch.
    /// </summary>
    Length,
}

/// <summary>How a frame model is trained. Stored in its checkpoints; a resumed run reuses it.</summary>
public sealed record FrameTrainOptions
{
    public int Epochs { get; init; } = 100;
    /// <summary>Pieces per batch (each a whole chorale, padded to the longest in the batch).</summary>
    public int BatchSize { get; init; } = 8;
    public float LearningRate { get; init; } = 2e-3f;
    /// <summary>Cosine decay over all epochs' steps from the learning rate down to this fraction of it.</summary>
    public float MinLearningRateFraction { get; init; } = 0.05f;
    public float MaxGradNorm { get; init; } = 1f;
    public float WeightDecay { get; init; }
    /// <summary>Adam (default) or RAdam; both with global-norm clipping and L2 weight decay.</summary>
    public OptimizerKind Optimizer { get; init; }
    /// <summary>Each training piece is transposed by a random shift in [-N, N] semitones that keeps it on the keyboard (0: off).</summary>
    public int Transpose { get; init; }
    /// <summary>Stop when the validation NLL has not improved for this many epochs (0: never).</summary>
    public int Patience { get; init; } = 20;
    public ulong Seed { get; init; } = 1;
    /// <summary>
    /// Polyak averaging (an exponential moving average of the weights): after every step
    /// average = decay * average + (1 - decay) * weights; validation and best.safetensors use the average (0: off).
    /// </summary>
    public float AverageDecay { get; init; }
    /// <summary>
    /// Truncated backpropagation through time: a batch longer than this many frames is trained in windows of it, one
    /// optimizer step each, the LSTM state carried from window to window (RRU's 200-frame windows); 0: whole pieces.
    /// A multiple of 8 (the padding quantum). Memory then grows with the window, not with the longest piece.
    /// </summary>
    public int Window { get; init; }
    /// <summary>How pieces are grouped into batches (<see cref="BatchOrder"/>); Random by default.</summary>
    public BatchOrder Batching { get; init; }
    /// <summary>Also save last.safetensors within an epoch when this many minutes have passed since the last save (0: only at epochs' ends).</summary>
    public double CheckpointMinutes { get; init; } = 10;

    public void Validate()
    {
        if (Window < 0 || Window % FrameBatch.StepQuantum != 0) throw new ArgumentException($"window {Window} must be 0 (whole pieces) or a positive multiple of {FrameBatch.StepQuantum}");
        if (Epochs < 1) throw new ArgumentException($"epochs must be at least 1 (got {Epochs})");
        if (BatchSize is < 1 or > 4096) throw new ArgumentException($"batch size {BatchSize} outside 1..4096");
        if (!(LearningRate > 0)) throw new ArgumentException($"learning rate must be positive (got {LearningRate})");
        if (!(MinLearningRateFraction is >= 0 and <= 1)) throw new ArgumentException($"minimum learning-rate fraction {MinLearningRateFraction} outside [0, 1]");
        if (Transpose is < 0 or > 24) throw new ArgumentException($"transpose {Transpose} outside 0..24");
        if (Patience < 0) throw new ArgumentException($"patience must be 0 (never stop early) or more (got {Patience})");
        if (!(CheckpointMinutes >= 0)) throw new ArgumentException($"checkpoint minutes must be 0 (off) or more (got {CheckpointMinutes})");
        if (!(AverageDecay is >= 0 and < 1)) throw new ArgumentException($"average decay {AverageDecay} outside [0, 1)");
    }

    /// <summary>The learning rate at optimizer step <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>.</summary>
    public float LearningRateAt(int step, int totalSteps) => TrainingCore.Cosine(LearningRate, MinLearningRateFraction, step, totalSteps);

    public string ToJson() => JsonSerializer.Serialize(this);
    public static FrameTrainOptions FromJson(string json) => JsonSerializer.Deserialize<FrameTrainOptions>(json) ?? throw new InvalidDataException("empty frame training options");
}

/// <summary>A progress report after each batch: its NLL per predicted frame and the frames it predicted per second.</summary>
public readonly record struct FrameProgress(int Epoch, int Epochs, int Batch, int Batches, int Step, double Nll, double FramesPerSecond);

/// <summary>One epoch's numbers.</summary>
public sealed record FrameEpochReport(int Epoch, int Epochs, int Step, double TrainNll, double ValidationNll, float LearningRate, double Seconds, bool Improved);

/// <summary>
/// Trains a <see cref="FrameModel"/> on a <see cref="FrameCorpus"/>: each epoch every training piece once, in an order
/// drawn from (seed, epoch), each transposed by a shift drawn from (seed, epoch, piece); dropout from (seed, step).
/// Adam with global-norm clipping and a cosine learning rate; the validation NLL after every epoch picks best.safetensors.
/// Run directory: last.safetensors and the optimizer file it names (the checkpoint pair, <see cref="Checkpoint.WritePair"/>;
/// written after every epoch and every CheckpointMinutes within one), best.safetensors (the model alone), metrics.jsonl (one line per epoch).
/// </summary>
public sealed class FrameTrainer(Backend backend, FrameCorpus corpus, string runDir)
{
    public const string Format = "musicgen-frames-1", Last = RunFolder.Last, Best = RunFolder.Best, Metrics = RunFolder.Metrics;
    readonly RunFolder _folder = new(runDir);
    readonly FrameCorpus _corpus = corpus;

    public Action<FrameEpochReport>? OnEpoch { get; init; }
    public Action<FrameProgress>? OnBatch { get; init; }

    /// <summary>Starts a new run in an empty (or absent) directory.</summary>
    public TrainingState Train(FrameConfig config, FrameTrainOptions options, CancellationToken cancel = default)
    {
        config.Validate(); options.Validate();
        _folder.StartNew("resume it or choose another output folder");
        using var model = new FrameModel(backend, config);
        model.Initialize(options.Seed);
        return Run(model, options, TrainingState.Start, cancel);
    }

    /// <summary>Continues the run in the directory from its last epoch; <paramref name="epochs"/> (optional) is the new total.</summary>
    public TrainingState Resume(int? epochs = null, CancellationToken cancel = default)
    {
        var (model, file) = Load(_folder.LastPath, backend, withOptimizer: true);
        using (model)
        {
            var options = FrameTrainOptions.FromJson(file.Metadata["options"]);
            if (epochs is int e) options = options with { Epochs = e };
            options.Validate();
            var state = TrainingState.FromJson(file.Metadata["state"]);
            if (file.Metadata.GetValueOrDefault("corpus") != Fingerprint(_corpus))
                throw new ArgumentException($"the data differs from the data this run was trained on ({file.Metadata.GetValueOrDefault("corpus_path")})");
            _folder.TrimAfterCheckpoint(line => line["Epoch"]?.GetValue<int>() <= state.Epoch); // metrics of an epoch after the checkpoint
            return Run(model, options, state with { Finished = false }, cancel);
        }
    }

    static JsonSerializerOptions StateJson => TrainingCore.StateJson;

    TrainingState Run(FrameModel model, FrameTrainOptions o, TrainingState state, CancellationToken cancel)
    {
        if (o.AverageDecay > 0) model.StartAverage(); // a resumed run has loaded its average already
        return TrainingLoop.Run(new FrameRun(this, model, o), state, cancel).State;
    }

    /// <summary>A frame model's score after an epoch: the validation NLL per frame (the training NLL without a validation split).</summary>
    sealed record FrameScores(double Score) : IEpochScores;

    /// <summary>One run of a frame model, as the shared <see cref="TrainingLoop"/> drives it: batches of whole pieces, each in windows.</summary>
    sealed class FrameRun(FrameTrainer trainer, FrameModel model, FrameTrainOptions o) : ITrainingRun<FrameScores>
    {
        readonly int[][][] _train = trainer._corpus.Split("train");
        readonly int[][][]? _valid = trainer._corpus.Splits.ContainsKey("valid") ? trainer._corpus.Split("valid") : null;
        readonly AdamConfig _adam = new(o.LearningRate, WeightDecay: o.WeightDecay, MaxGradNorm: o.MaxGradNorm, Rectified: o.Optimizer == OptimizerKind.RAdam);
        readonly uint _seed = (uint)(o.Seed ^ (o.Seed >> 32));
        // Optimizer steps of the whole run (the schedule's length): one per batch, or, with windows, one per window that holds a predicted frame.
        readonly int _totalSteps = Enumerable.Range(0, o.Epochs).Sum(e => StepsInEpoch(trainer._corpus.Split("train"), o, e));
        int[] _order = []; // this epoch's order of the training pieces

        public int Epochs => o.Epochs;
        public int Patience => o.Patience;
        public bool HasValidation => _valid is not null;

        public int StartEpoch(int epoch)
        {
            _order = EpochOrder(_train, o, epoch);
            return (_train.Length + o.BatchSize - 1) / o.BatchSize;
        }

        public BatchOutcome TrainBatch(int epoch, int b, TrainingState state, CancellationToken cancel)
        {
            long started = Stopwatch.GetTimestamp();
            var idx = _order.Skip(b * o.BatchSize).Take(o.BatchSize).ToArray();
            var pieces = idx.Select(i => _train[i]).ToArray();
            var shifts = idx.Select(i => Shift(_train[i], o, epoch, i)).ToArray();
            var batch = FrameBatch.From(pieces, shifts);
            int B = batch.Size, K = FrameCorpus.Keys, window = o.Window > 0 && batch.Steps > o.Window ? o.Window : batch.Steps;
            // Whole pieces: one window. Longer batches: consecutive windows, the state carried across (zeros at the start).
            using var carried = window < batch.Steps ? model.NewState(B) : null;
            double nll = 0, frames = 0;
            int step = state.Step;
            for (int t0 = 0; t0 < Windows(batch.Steps, pieces, window) * window; t0 += window)
            {
                int T = Math.Min(window, batch.Steps - t0);
                var weights = batch.Weights.AsSpan(t0 * B, T * B);
                double windowFrames = 0;
                foreach (float w in weights) windowFrames += w;
                model.Forward(B, T, batch.Inputs.AsSpan(t0 * B * K, T * B * K), batch.Targets.AsSpan(t0 * B * K, T * B * K), weights,
                    training: true, _seed, (uint)step, carried);
                var (sum, n) = model.Loss(B, T, windowFrames);
                TrainingCore.CheckFinite(sum, 0, $"step {step + 1} (epoch {epoch + 1}); '{trainer._folder.LastPath}' holds the last good checkpoint");
                nll += sum; frames += n;
                model.Backward(B, T);
                model.OptimizerStep(_adam with { LearningRate = o.LearningRateAt(step, _totalSteps) }, step + 1);
                if (o.AverageDecay > 0) model.UpdateAverage(o.AverageDecay);
                step++;
            }
            trainer.OnBatch?.Invoke(new FrameProgress(epoch, o.Epochs, b + 1, (_train.Length + o.BatchSize - 1) / o.BatchSize, step, nll / Math.Max(frames, 1),
                frames / Math.Max(Stopwatch.GetElapsedTime(started).TotalSeconds, 1e-9)));
            return new BatchOutcome(nll, frames, step - state.Step, cancel.IsCancellationRequested);
        }

        public bool CheckpointDue(TrainingState state, TimeSpan sinceLastSave) => o.CheckpointMinutes > 0 && sinceLastSave.TotalMinutes >= o.CheckpointMinutes;

        public FrameScores Score(int epoch, double trainLoss)
        {
            if (_valid is null) return new FrameScores(trainLoss);
            if (o.AverageDecay > 0) model.SwapAverage(); // validate the averaged weights (best.safetensors keeps them)
            try { return new FrameScores(Evaluate(model, _valid, window: o.Window).Nll); }
            finally { if (o.AverageDecay > 0) model.SwapAverage(); }
        }

        public void RecordEpoch(EpochEnd<FrameScores> end)
        {
            var report = new FrameEpochReport(end.State.Epoch, o.Epochs, end.State.Step, end.TrainLoss, end.Scores.Score,
                o.LearningRateAt(Math.Max(0, end.State.Step - 1), _totalSteps), end.Seconds, end.Improved);
            trainer._folder.AppendMetrics(report);
            trainer.OnEpoch?.Invoke(report);
        }

        public void Save(string file, TrainingState state, bool withOptimizer) => trainer.Save(Path.Combine(trainer._folder.Path, file), model, o, state, withOptimizer,
            file == Best ? new() { ["valid_nll"] = state.BestValidationLoss.ToString("R", CultureInfo.InvariantCulture), ["epoch"] = state.BestEpoch.ToString(CultureInfo.InvariantCulture) } : []);

        public void Interrupted(TrainingState state) { }

        public void StoppedEarly(TrainingState state) { }
    }

    /// <summary>Windows of a batch of <paramref name="steps"/> (padded) frames that hold a predicted frame: its longest piece's.</summary>
    static int Windows(int steps, int[][][] pieces, int window) => window >= steps ? 1 : (pieces.Max(p => p.Length - 1) + window - 1) / window;

    /// <summary>Optimizer steps in <paramref name="epoch"/>: its batches, each counted in windows (the learning-rate schedule's length).</summary>
    static int StepsInEpoch(int[][][] train, FrameTrainOptions o, int epoch)
    {
        var order = EpochOrder(train, o, epoch);
        int steps = 0;
        for (int first = 0; first < train.Length; first += o.BatchSize)
        {
            var pieces = order.Skip(first).Take(o.BatchSize).Select(i => train[i]).ToArray();
            int padded = FrameBatch.StepsFor(pieces), window = o.Window > 0 && padded > o.Window ? o.Window : padded;
            steps += Windows(padded, pieces, window);
        }
        return steps;
    }

    /// <summary>
    /// The epoch's order of the training pieces, read in consecutive batches of <see cref="FrameTrainOptions.BatchSize"/>:
    /// a shuffle (<see cref="BatchOrder.Random"/>), or batches of similar length in a shuffled order (<see cref="BatchOrder.Length"/>).
    /// Drawn from (seed, epoch) alone, so a resumed run sees the same batches.
    /// </summary>
    public static int[] EpochOrder(int[][][] train, FrameTrainOptions o, int epoch)
    {
        var shuffled = Shuffle(train.Length, o.Seed, epoch);
        if (o.Batching == BatchOrder.Random) return shuffled;
        // Sort by length, jittered by a factor in [0.9, 1.1) per piece and epoch (ties and near-ties change partners).
        var rng = new SplitMix((o.Seed ^ 0xB5AD4ECEDA1CE2A9UL) * 0x9E3779B97F4A7C15UL + (ulong)epoch + 1);
        var key = new double[train.Length];
        for (int i = 0; i < train.Length; i++) key[i] = train[i].Length * (0.9 + 0.2 * rng.NextDouble());
        var sorted = Enumerable.Range(0, train.Length).OrderBy(i => key[i]).ThenBy(i => i).ToArray();
        // Cut into full batches from the longest down, and visit them in a shuffled order. Batches are read as consecutive
        // runs of the order, so the remainder (the shortest pieces, fewer than a batch) comes last.
        int remainder = train.Length % o.BatchSize, full = train.Length / o.BatchSize;
        var batchOrder = Shuffle(full, o.Seed + 0x2545F4914F6CDD1DUL, epoch);
        var order = new int[train.Length];
        int at = 0;
        foreach (int b in batchOrder)
            for (int i = remainder + b * o.BatchSize; i < remainder + (b + 1) * o.BatchSize; i++) order[at++] = sorted[i];
        for (int i = 0; i < remainder; i++) order[at++] = sorted[i];
        return order;
    }

    /// <summary>A Fisher-Yates shuffle of 0..n-1 drawn from (seed, epoch).</summary>
    static int[] Shuffle(int n, ulong seed, int epoch)
    {
        var rng = new SplitMix(seed * 0x9E3779B97F4A7C15UL + (ulong)epoch + 1);
        var order = Enumerable.Range(0, n).ToArray();
        for (int i = n - 1; i > 0; i--) { int j = rng.NextInt(i + 1); (order[i], order[j]) = (order[j], order[i]); }
        return order;
    }

    /// <summary>Piece <paramref name="index"/>'s transposition in <paramref name="epoch"/>: uniform over the shifts within ±Transpose that keep it on the keyboard.</summary>
    static int Shift(int[][] piece, FrameTrainOptions o, int epoch, int index)
    {
        if (o.Transpose == 0) return 0;
        var (lo, hi) = FrameCorpus.TranspositionRange(piece, o.Transpose);
        if (hi < lo) return 0;
        var rng = new SplitMix((o.Seed + 0x632BE59BD9B4E019UL) ^ ((ulong)epoch << 32) ^ (ulong)index);
        return lo + rng.NextInt(hi - lo + 1);
    }

    /// <summary>
    /// The benchmark's number: the negative log-likelihood in nats of every predicted frame (frames 1 .. L-1 of each
    /// piece, from a zero state at frame 0), summed over the 88 keys, averaged over all predicted frames of the split.
    /// Pieces are scored in batches sorted by length; a piece's result does not depend on its batch.
    /// </summary>
    /// <param name="window">When &gt; 0 (a multiple of 8): a batch longer than this is read in windows, the state carried
    /// across; the same numbers, with memory bounded by the window instead of the longest piece.</param>
    public static (double Nll, int Frames, int Pieces) Evaluate(FrameModel model, int[][][] pieces, int batchSize = 32, int window = 0)
    {
        var each = EvaluatePieces(model, pieces, batchSize, window);
        int frames = each.Sum(p => p.Frames);
        return (each.Sum(p => p.Nll) / frames, frames, pieces.Length);
    }

    /// <summary>
    /// Each piece's summed NLL (nats, over its predicted frames 1 .. L-1, from a zero state at frame 0) and its number
    /// of predicted frames, in the order of <paramref name="pieces"/>: what <see cref="Evaluate"/> averages, and what other
    /// papers' ways of averaging (<see cref="RruProtocol"/>) are computed from.
    /// </summary>
    public static (double Nll, int Frames)[] EvaluatePieces(FrameModel model, int[][][] pieces, int batchSize = 32, int window = 0)
    {
        var result = new (double Nll, int Frames)[pieces.Length];
        // Batches of similar length pad little; each row's loss goes back to its piece.
        var order = Enumerable.Range(0, pieces.Length).OrderBy(i => pieces[i].Length).ToArray();
        int K = FrameCorpus.Keys;
        for (int first = 0; first < order.Length; first += batchSize)
        {
            var members = order.Skip(first).Take(batchSize).ToArray();
            var group = members.Select(i => pieces[i]).ToArray();
            var batch = FrameBatch.From(group);
            int B = batch.Size, w = window > 0 && batch.Steps > window ? window : batch.Steps;
            using var carried = w < batch.Steps ? model.NewState(B) : null;
            for (int t0 = 0; t0 < Windows(batch.Steps, group, w) * w; t0 += w)
            {
                int T = Math.Min(w, batch.Steps - t0);
                model.Forward(B, T, batch.Inputs.AsSpan(t0 * B * K, T * B * K), batch.Targets.AsSpan(t0 * B * K, T * B * K), batch.Weights.AsSpan(t0 * B, T * B),
                    training: false, state: carried);
                model.Loss(B, T, 1);
                var rows = model.RowLosses(B, T); // row t*B + b
                for (int t = 0; t < T; t++)
                    for (int b = 0; b < B; b++) result[members[b]].Nll += rows[t * B + b];
            }
            foreach (int i in members) result[i].Frames = Math.Max(pieces[i].Length - 1, 0);
        }
        return result;
    }

    /// <summary>A hash of the pieces' content: a resumed run must train on the same data.</summary>
    public static string Fingerprint(FrameCorpus c)
    {
        var h = new System.IO.Hashing.XxHash3();
        foreach (var (name, pieces) in c.Splits.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            h.Append(System.Text.Encoding.UTF8.GetBytes(name));
            foreach (var p in pieces) { h.Append(BitConverter.GetBytes(p.Length)); foreach (var f in p) foreach (int k in f) h.Append(BitConverter.GetBytes(k)); }
        }
        return h.GetCurrentHashAsUInt64().ToString("x16");
    }

    /// <summary>
    /// Writes a checkpoint: with <paramref name="withOptimizer"/>, the pair every run folder holds (the model, and beside it
    /// the optimizer file of the same save: Adam's m.NAME and v.NAME, and average.NAME when averaging; see
    /// <see cref="Checkpoint.WritePair"/>). Without, the model alone: best.safetensors, which holds the averaged weights
    /// when averaging is on (the ones validated).
    /// </summary>
    void Save(string path, FrameModel model, FrameTrainOptions o, TrainingState state, bool withOptimizer, Dictionary<string, string> extra)
    {
        var be = model.Backend;
        bool averaged = !withOptimizer && model.Average is not null;
        var tensors = model.Parameters.Select(p => (p.Name, p.Shape, be.Download(averaged ? model.AverageOf(p) : p.Value))).ToList();
        var optimizer = withOptimizer ? Checkpoint.AdamMoments(model.Parameters, be) : null;
        if (optimizer is not null && model.Average is not null)
            optimizer.AddRange(model.Parameters.Select(p => ($"average.{p.Name}", p.Shape, be.Download(model.AverageOf(p)))));
        var meta = new Dictionary<string, string>(extra)
        {
            ["format"] = Format,
            ["config"] = model.Config.ToJson(),
            ["options"] = o.ToJson(),
            ["state"] = state.ToJson(),
            ["parameters"] = model.ParameterCount.ToString(CultureInfo.InvariantCulture),
            ["corpus"] = Fingerprint(_corpus),
            ["corpus_path"] = Path.GetFullPath(_corpus.Source),
            ["features"] = "input: the 88 keys (MIDI 21-108) of one frame as 0/1; output: " +
                (model.Config.IsNade ? $"a NADE over the 88 keys (hidden {model.Config.NadeHidden}), key by key upwards" : "88 independent Bernoulli logits") + " for the next frame",
        };
        Checkpoint.WritePair(path, tensors, meta, optimizer);
    }

    /// <summary>Whether a safetensors file is a frame model (a run folder: its best.safetensors).</summary>
    public static bool IsFrameCheckpoint(string path)
    {
        path = Directory.Exists(path) ? Path.Combine(path, Best) : path;
        if (!File.Exists(path)) return false;
        try { return SafeTensors.Load(path).Metadata.GetValueOrDefault("format") == Format; }
        catch (InvalidDataException) { return false; }
    }

    /// <summary>Builds the model a frame checkpoint describes (a run folder: its best.safetensors) and loads its weights (and Adam moments).</summary>
    public static (FrameModel Model, SafeTensors.File File) Load(string path, Backend backend, bool withOptimizer = false)
    {
        path = Directory.Exists(path) ? Path.Combine(path, Best) : path;
        if (!File.Exists(path)) throw new FileNotFoundException($"no frame checkpoint at '{path}'");
        var file = SafeTensors.Load(path);
        if (file.Metadata.GetValueOrDefault("format") != Format) throw new InvalidDataException($"'{path}' is not a frame-model checkpoint (format '{file.Metadata.GetValueOrDefault("format") ?? "none"}', expected {Format})");
        FrameConfig config;
        try { config = FrameConfig.FromJson(file.Metadata["config"]); config.Validate(); }
        catch (Exception e) when (e is JsonException or ArgumentException or KeyNotFoundException) { throw new InvalidDataException($"'{path}' has an invalid frame config: {e.Message}"); }
        var model = new FrameModel(backend, config);
        try
        {
            foreach (var p in model.Parameters) backend.CopyFromHost(Tensor(file, p.Name, p, path), p.Value);
            if (withOptimizer)
            {
                // The optimizer file of the pair; a checkpoint written before frame runs kept the pair holds the same
                // tensors in the model file itself, as adam.m.NAME, adam.v.NAME and average.NAME.
                bool pair = file.Metadata.ContainsKey("optimizer");
                var opt = pair ? Checkpoint.ReadOptimizer(path, file) : file;
                string moment = pair ? "" : "adam.";
                foreach (var p in model.Parameters)
                {
                    backend.CopyFromHost(Tensor(opt, $"{moment}m.{p.Name}", p, path), p.M);
                    backend.CopyFromHost(Tensor(opt, $"{moment}v.{p.Name}", p, path), p.V);
                }
                if (opt.Tensors.ContainsKey($"average.{model.Parameters[0].Name}"))
                {
                    model.StartAverage();
                    foreach (var p in model.Parameters) backend.CopyFromHost(Tensor(opt, $"average.{p.Name}", p, path), model.AverageOf(p));
                }
            }
            model.MarkWeightsChanged();
        }
        catch { model.Dispose(); throw; }
        return (model, file);
    }

    static float[] Tensor(SafeTensors.File file, string name, Parameter p, string path)
    {
        if (!file.Tensors.TryGetValue(name, out var t)) throw new InvalidDataException($"'{path}' has no tensor '{name}'");
        if (!t.Shape.SequenceEqual(p.Shape)) throw new InvalidDataException($"'{path}': '{name}' has shape [{string.Join(",", t.Shape)}], the config needs [{string.Join(",", p.Shape)}]");
        return t.Data;
    }
}
