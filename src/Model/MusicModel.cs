using MusicGen.Kernels;
using MusicGen.Kernels.Ops;

namespace MusicGen.Model;

/// <summary>
/// The network: [pitch embedding] -> N stacked (bi)LSTM layers, each followed by layer norm and dropout
/// (<see cref="LstmStack"/>, shared with the frame model) -> the output at the last time step (or at every step, <see cref="ModelConfig.EveryStep"/>) -> the heads:
///   categorical (default): one Linear D->K whose K logits are 128 pitches, then the step, duration (and velocity)
///     bins (<see cref="NoteBins"/>), each group its own softmax -> <see cref="CategoricalLoss"/>;
///   regression (the original design): a pitch head (Linear D->128) and a regression head (Linear D->2 or 3:
///     step, duration[, velocity]) -> <see cref="MultiHeadLoss"/>.
///
/// Every forward and backward pass is spelled out below in terms of the kernels in MusicGen.Kernels.Ops;
/// there is no autograd. Tensor names follow PyTorch (nn.LSTM: lstm.weight_ih_l{k}[_reverse] ...), so a
/// checkpoint loads into PyTorch by name.
/// </summary>
public sealed class MusicModel : IDisposable
{
    public const int Pitches = MultiHeadLoss.Pitches;

    readonly Dictionary<(int Batch, int Steps), StepBuffers> _buffers = [];
    readonly LstmStack _stack;
    readonly Parameter _pitchW, _pitchB;          // categorical: all K logits; regression: the 128 pitch logits
    readonly Parameter? _regW, _regB;             // regression heads only
    readonly Parameter? _stepCondition;           // StepFirst: [StepBins, K] logit offsets per step bin
    readonly Parameter? _embedding;
    readonly AttentionLayer? _attention;
    readonly ParameterBuffer _params;

    public MusicModel(Backend backend, ModelConfig config)
    {
        config.Validate();
        Backend = backend;
        Config = config;
        // Declare every parameter (names follow PyTorch's nn.LSTM), then allocate them all in one flat buffer.
        var layout = new ParameterBuffer.Layout();
        int H = config.Hidden, D = config.LayerOutput;
        int embedding = config.Input == InputKind.Embedding ? layout.Add("embedding.weight", Pitches, config.EmbeddingDim) : -1;
        _stack = new LstmStack(layout, config.Stack);
        if (config.Attends) _attention = new AttentionLayer(layout, D, config.AttentionSize, config.AttentionSpan);
        int heads, stepCondition = -1, W = config.HeadWidth;
        if (config.Categorical)
        {
            heads = layout.Add("heads.weight", config.ClassCount, W); layout.Add("heads.bias", config.ClassCount);
            if (config.ConditionsOnStep) stepCondition = layout.Add("heads.step_condition", config.StepBins, config.ClassCount);
        }
        else
        {
            heads = layout.Add("pitch_head.weight", Pitches, W); layout.Add("pitch_head.bias", Pitches);
            layout.Add("regression_head.weight", config.RegressionHeads, W); layout.Add("regression_head.bias", config.RegressionHeads);
        }
        _params = new ParameterBuffer(backend, layout);

        if (embedding >= 0) _embedding = _params[embedding];
        _stack.Bind(_params);
        _attention?.Bind(_params);
        _pitchW = _params[heads]; _pitchB = _params[heads + 1];
        if (!config.Categorical) { _regW = _params[heads + 2]; _regB = _params[heads + 3]; }
        if (stepCondition >= 0) _stepCondition = _params[stepCondition];
    }

    public Backend Backend { get; }
    public ModelConfig Config { get; }

    /// <summary>Call after writing parameter values directly (loading a checkpoint), so cached weight transposes are redone.</summary>
    public void MarkWeightsChanged() => _params.MarkChanged();
    /// <summary>Every parameter, in checkpoint order: named views into <see cref="Flat"/>.</summary>
    public IReadOnlyList<Parameter> Parameters => _params.Parameters;
    /// <summary>The flat buffers holding all values, gradients and Adam moments.</summary>
    public ParameterBuffer Flat => _params;
    public long ParameterCount => _params.ParameterCount;

    /// <summary>
    /// PyTorch's initialisation: LSTM and linear weights U(-1/sqrt(fan), 1/sqrt(fan)); the forget-gate bias
    /// (b_ih, rows H..2H) set to 1 so early training remembers; layer-norm gain 1, bias 0; embedding U(-0.5, 0.5).
    /// </summary>
    public void Initialize(ulong seed)
    {
        TrainingCore.InitializeLikePyTorch(Backend, Parameters, seed, Config.Hidden,
            constant: p => p == _stepCondition ? 0f : null, // zeros: training starts from the independent heads
            bound: p => p.Name.StartsWith("lstm.", StringComparison.Ordinal) ? 1f / MathF.Sqrt(Config.Hidden)
                : p.Name.StartsWith("embedding", StringComparison.Ordinal) ? 0.5f
                : 1f / MathF.Sqrt(Config.LayerOutput));
        _params.MarkChanged();
        _params.ZeroMoments();
    }

    // ------------------------------------------------------------------ buffers per batch size

    /// <summary>Activations, gradients and scratch for one (batch, steps) shape: the stack's workspace and the model's own; allocated once, reused every step.</summary>
    sealed class StepBuffers : IDisposable
    {
        public StepBuffers(Backend be, ModelConfig c, LstmStackShape stack, AttentionLayer? attention, int batch, int steps)
        {
            int T = steps, B = batch, D = c.LayerOutput, rows = T * B;
            var all = new List<IDisposable>();
            Tensor A(params int[] s) { var t = be.Allocate(s); all.Add(t); return t; }
            Stack = new LstmStack.Workspace(be, stack, batch, steps); all.Add(Stack);
            X = A(T, B, c.InputSize); DX = A(T, B, c.InputSize);
            if (c.Input == InputKind.Embedding) { Ids = A(rows); Cont = A(rows, c.Continuous); Emb = A(rows, c.EmbeddingDim); DEmb = A(rows, c.EmbeddingDim); DCont = A(rows, c.Continuous); }
            Last = A(B, D); DLast = A(B, D);
            int heads = c.HeadRows(B, T);
            Logits = A(heads, c.ClassCount); Reg = A(heads, c.RegressionHeads); Targets = A(heads, 1 + c.RegressionHeads);
            DLogits = A(heads, c.ClassCount); DReg = A(heads, c.RegressionHeads); RowLoss = A(heads, 1 + c.RegressionHeads);
            if (attention is not null) { Attention = new AttentionLayer.Workspace(be, attention, batch, steps); all.Add(Attention); Attended = A(rows, c.HeadWidth); DAttended = A(rows, c.HeadWidth); }
            _all = all;
        }

        readonly List<IDisposable> _all;
        public LstmStack.Workspace Stack { get; }
        /// <summary>StepFirst: the logits already hold the offsets of the targets' step bins (added once per forward, by the loss).</summary>
        public bool Conditioned;
        /// <summary>X, DX: the stack's input [T,B,I] and its gradient. Last/DLast: the top layer's last step [B,D] (what the heads read without
        /// EveryStep). Logits..RowLoss: [HeadRows, ...] (Logits, DLogits: [HeadRows, ClassCount]; Reg, DReg: used by regression heads only).</summary>
        public Tensor X, DX, Last, DLast, Logits, Reg, Targets, DLogits, DReg, RowLoss;
        /// <summary>What the heads read: Last [B,D], or with EveryStep the top layer's whole output [T*B,D]. Not owned.</summary>
        public Tensor HeadInput = null!;
        public Tensor? Ids, Cont, Emb, DEmb, DCont;
        /// <summary>With attention: its workspace, and the heads' input [T*B, 2H] (the output beside its context) with its gradient.</summary>
        public AttentionLayer.Workspace? Attention;
        public Tensor? Attended, DAttended;
        public void Dispose() { foreach (var d in _all) d.Dispose(); }
    }

    StepBuffers Buffers(int batch, int steps)
    {
        if (!_buffers.TryGetValue((batch, steps), out var b)) _buffers[(batch, steps)] = b = new StepBuffers(Backend, Config, _stack.Shape, _attention, batch, steps);
        return b;
    }

    /// <summary>A zero state for <paramref name="batch"/> rows (unidirectional models only): what generation carries from note to note
    /// (with attention, also an empty memory of past outputs).</summary>
    /// <param name="attentionMemory">False: the LSTM's state alone, as training carries it from window to window
    /// (<see cref="TrainOptions.CarryState"/>; training attends within its window).</param>
    public LstmState NewState(int batch, bool attentionMemory = true)
    {
        var state = _stack.NewState(Backend, batch);
        return _attention is null || !attentionMemory ? state : new LstmState(state.H, state.C) { Attention = _attention.NewMemory(Backend, batch) };
    }

    // ------------------------------------------------------------------ forward

    /// <summary>
    /// Runs the network on one batch already laid out by <see cref="Windows.Fill"/> or <see cref="Batch.SetInput"/> (host arrays, uploaded here).
    /// training: dropout on (its mask is drawn from (seed, dropoutCounter)). Leaves logits and regression outputs on the device.
    /// </summary>
    /// <param name="state">Unidirectional models only: the initial (h, c) of every layer, replaced by the final ones afterwards.</param>
    /// <param name="shard">Data-parallel training: which rows of the whole batch this batch is, so dropout draws the whole batch's masks for them.</param>
    public void Forward(Batch batch, bool training, uint seed = 0, uint dropoutCounter = 0, LstmState? state = null, BatchShard? shard = null)
    {
        var c = Config;
        var s = Buffers(batch.Size, batch.Steps);
        int T = batch.Steps, B = batch.Size, D = c.LayerOutput, rows = T * B;
        Upload(batch, s);
        s.Conditioned = false;

        if (c.Input == InputKind.Embedding)
        {
            Glue.EmbeddingForward(Backend, s.Ids!, _embedding!.Value, s.Emb!, rows, Pitches, c.EmbeddingDim);
            Glue.ConcatForward(Backend, s.Emb!, s.Cont!, s.X, rows, c.EmbeddingDim, c.Continuous);
        }
        // Inference shortcut for the old reading (BidirectionalHeads "last"): only t = T-1 feeds the heads, and the
        // top layer's reverse half computes it first, from x[T-1] and a zero state: one step instead of T. With the
        // default "ends" reading the reverse half's output at t = 0 is read, after the whole window: no shortcut.
        _stack.Forward(Backend, s.Stack, s.X, _params.Version, new LstmStack.ForwardOptions(training, seed, dropoutCounter,
            shard is { } sh ? DropoutShard.Rows(sh.First, B, sh.Total, D) : null, state, TopReverseLastStepOnly: !training && !c.EveryStep && !c.ReadsEnds));
        Tensor input = s.Stack.Output;
        // Heads on the last step [B,D], on each direction's end (forward at T-1, reverse at 0), or on every step
        // [T*B,D] (rows are time-major, like the targets); with attention, on every step beside its context [T*B,2D].
        int n = c.HeadRows(B, T);
        if (_attention is not null)
        {
            if (training && state?.Attention is { Count: > 0 }) throw new InvalidOperationException("training attends within its window: give no carried attention memory");
            _attention.Forward(Backend, s.Attention!, input, s.Attended!, state?.Attention);
            s.HeadInput = s.Attended!;
        }
        else if (c.EveryStep) s.HeadInput = input;
        else
        {
            if (c.ReadsEnds) Glue.SelectEndsForward(Backend, input, s.Last, T, B, c.Hidden);
            else Glue.SelectStepForward(Backend, input, T - 1, B * D, s.Last);
            s.HeadInput = s.Last;
        }
        int K = c.ClassCount, W = c.HeadWidth;
        Gemm.Forward(Backend, MatrixView.Of(s.HeadInput, n, W), MatrixView.Of(_pitchW.Value, K, W).T, MatrixView.Of(s.Logits, n, K)); // logits = in W^T
        Glue.AddBias(Backend, s.Logits, _pitchB.Value, n, K);
        if (_regW is null) return;
        Gemm.Forward(Backend, MatrixView.Of(s.HeadInput, n, W), MatrixView.Of(_regW.Value, c.RegressionHeads, W).T, MatrixView.Of(s.Reg, n, c.RegressionHeads));
        Glue.AddBias(Backend, s.Reg, _regB!.Value, n, c.RegressionHeads);
    }

    void Upload(Batch batch, StepBuffers s)
    {
        if (Config.Input == InputKind.Embedding)
        {
            Backend.CopyFromHost(batch.Ids, s.Ids!);
            Backend.CopyFromHost(batch.Continuous, s.Cont!);
        }
        else Backend.CopyFromHost(batch.Inputs, s.X);
        Backend.CopyFromHost(batch.Targets, s.Targets);
    }

    /// <summary>
    /// What one LSTM layer computed at the last time step of the last forward, for batch row <paramref name="row"/>: the
    /// gate activations i, f, g, o [4H] and the cell state c [H] of its forward direction (the layer's own forward
    /// record, <see cref="LstmWorkspace.Gates"/> and <see cref="LstmWorkspace.C"/>; nothing is recomputed). What
    /// generation's trace shows of the network while it composes.
    /// </summary>
    public (float[] Gates, float[] Cell) LayerActivations(int layer, int batchSize, int steps, int row)
    {
        if (layer < 0 || layer >= Config.Layers) throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer} outside 0..{Config.Layers - 1}");
        if (row < 0 || row >= batchSize) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} outside 0..{batchSize - 1}");
        var ws = Buffers(batchSize, steps).Stack.Lstm[layer][0];
        int H = Config.Hidden, at = (steps - 1) * batchSize + row;
        var gates = new float[4 * H];
        var cell = new float[H];
        Backend.CopyToHost(ws.Gates, gates, at * 4 * H);
        Backend.CopyToHost(ws.C, cell, at * H);
        return (gates, cell);
    }

    /// <summary>
    /// Downloads the last forward's prediction after the whole window: logits [B, ClassCount] (the 128 pitch logits
    /// first, then a categorical model's bins) and regression [B,R] (empty for a categorical model).
    /// </summary>
    public (float[] Logits, float[] Regression) Outputs(int batchSize, int steps = 0)
    {
        int T = steps > 0 ? steps : Config.SeqLen, K = Config.ClassCount, first = Config.HeadRows(batchSize, T) - batchSize; // the last B rows
        int R = Config.Categorical ? 0 : Config.RegressionHeads;
        var s = Buffers(batchSize, T);
        var logits = new float[batchSize * K];
        var reg = new float[batchSize * R];
        Backend.CopyToHost(s.Logits, logits, first * K);
        Backend.CopyToHost(s.Reg, reg, first * R);
        return (logits, reg);
    }

    /// <summary>A step-first model's table of logit offsets [StepBins, ClassCount] on the host (what generation adds after drawing the step); null otherwise.</summary>
    public float[]? StepConditionTable() => _stepCondition is null ? null : Backend.Download(_stepCondition.Value);

    /// <summary>
    /// The loss op of the model's heads: per-row head losses into RowLoss, gradients into DLogits (and DReg).
    /// A step-first model first adds, to the other heads' logits, the offsets of each row's true step bin.
    /// </summary>
    void HeadLoss(StepBuffers s, int n)
    {
        var c = Config;
        if (_stepCondition is not null && !s.Conditioned)
        {
            ClassConditioning.Forward(Backend, s.Logits, s.Targets, _stepCondition.Value, n, c.ClassCount, 1 + c.RegressionHeads, 1, Pitches, c.StepBins);
            s.Conditioned = true;
        }
        if (c.Categorical) CategoricalLoss.ForwardBackward(Backend, n, c.Groups, s.Logits, s.Targets, s.DLogits, s.RowLoss);
        else MultiHeadLoss.ForwardBackward(Backend, n, Config.Loss, s.Logits, s.Reg, s.Targets, s.DLogits, s.DReg, s.RowLoss);
    }

    // ------------------------------------------------------------------ loss and backward

    /// <summary>
    /// Loss of the last forward against the batch's targets, and the gradient of every parameter (overwritten).
    /// Dropout repeats exactly what that forward recorded (on or off, seed, counter, shard). Returns the per-head mean
    /// losses [pitch, step, duration(, velocity)].
    /// </summary>
    public float[] Backward(Batch batch)
    {
        var c = Config;
        var s = Buffers(batch.Size, batch.Steps);
        if (s.Stack.Partial) throw new InvalidOperationException("backward needs a forward with training: true (an inference forward skips work backward needs)");
        int T = batch.Steps, B = batch.Size, D = c.HeadWidth, rows = T * B, R = c.RegressionHeads, n = c.HeadRows(B, T), K = c.ClassCount;
        _params.ZeroGrads();

        HeadLoss(s, n);
        // Heads: logits = in W^T + b  ->  dW += dlogits^T in, db += sum dlogits, din = dlogits W.
        // "in" is the last step [B,D] (its gradient DLast then lands at step T-1 of the top layer's output),
        // or with EveryStep the top layer's whole output [T*B,D] (its gradient is that output's gradient).
        // With attention, "in" is [output, context] [T*B,2D]: its gradient flows back through the attention into the output.
        Tensor dHeadInput = _attention is not null ? s.DAttended! : c.EveryStep ? s.Stack.DOutput : s.DLast;
        if (_stepCondition is not null)
            ClassConditioning.Backward(Backend, s.DLogits, s.Targets, _stepCondition.Grad, n, K, 1 + R, 1, Pitches, c.StepBins);
        Gemm.Forward(Backend, MatrixView.Of(s.DLogits, n, K).T, MatrixView.Of(s.HeadInput, n, D), MatrixView.Of(_pitchW.Grad, K, D), beta: 1f); // dW += dlogits^T in
        Elementwise.SumRowsForward(Backend, s.DLogits, n, K, _pitchB.Grad);
        Gemm.Forward(Backend, MatrixView.Of(s.DLogits, n, K), MatrixView.Of(_pitchW.Value, K, D), MatrixView.Of(dHeadInput, n, D));       // din = dlogits W
        if (_regW is not null)
        {
            Gemm.Forward(Backend, MatrixView.Of(s.DReg, n, R).T, MatrixView.Of(s.HeadInput, n, D), MatrixView.Of(_regW.Grad, R, D), beta: 1f);
            Elementwise.SumRowsForward(Backend, s.DReg, n, R, _regB!.Grad);
            Gemm.Forward(Backend, MatrixView.Of(s.DReg, n, R), MatrixView.Of(_regW.Value, R, D), MatrixView.Of(dHeadInput, n, D), beta: 1f);
        }
        if (_attention is not null) _attention.Backward(Backend, s.Attention!, s.Stack.Output, s.DAttended!, s.Stack.DOutput);
        if (!c.EveryStep)
        {
            // Only the last time step of the top layer feeds the heads (or, reading the ends, its forward half at T-1
            // and its reverse half at 0).
            Elementwise.Fill(Backend, s.Stack.DOutput, 0f);
            if (c.ReadsEnds) Glue.SelectEndsBackward(Backend, s.DLast, s.Stack.DOutput, T, B, c.Hidden);
            else Glue.SelectStepBackward(Backend, s.DLast, T - 1, B * D, s.Stack.DOutput);
        }

        // The stack replays what its forward recorded (dropout on or off, seed, counter, shard); the input's gradient is
        // wanted only when an embedding learns from it.
        _stack.Backward(Backend, s.Stack, c.Input == InputKind.Embedding ? s.DX : null);
        if (c.Input == InputKind.Embedding)
        {
            Elementwise.Fill(Backend, s.DEmb!, 0f);
            Elementwise.Fill(Backend, s.DCont!, 0f);
            Glue.ConcatBackward(Backend, s.DX, s.DEmb!, s.DCont!, rows, c.EmbeddingDim, c.Continuous);
            Glue.EmbeddingBackward(Backend, s.Ids!, s.DEmb!, _embedding!.Grad, rows, Pitches, c.EmbeddingDim);
        }
        return MultiHeadLoss.HeadLosses(Backend, s.RowLoss, n, 1 + R);
    }

    /// <summary>
    /// Per-head mean losses of the last forward's prediction after the whole window (the last B rows with
    /// EveryStep), without backpropagating: what validation scores, the same quantity for every kind of model.
    /// </summary>
    public float[] Loss(Batch batch)
    {
        int B = batch.Size, n = Config.HeadRows(B, batch.Steps), heads = 1 + Config.RegressionHeads;
        var s = Buffers(B, batch.Steps);
        HeadLoss(s, n);
        var rows = new float[B * heads];
        Backend.CopyToHost(s.RowLoss, rows, (n - B) * heads);
        var mean = new float[heads];
        for (int b = 0; b < B; b++)
            for (int k = 0; k < heads; k++) mean[k] += rows[b * heads + k];
        for (int k = 0; k < heads; k++) mean[k] /= B;
        return mean;
    }

    /// <summary>Squared global norm of all gradients (accumulated on the device, read back once).</summary>
    public float GradNorm2() => _params.GradNorm2();

    /// <summary>One Adam/AdamW step on every parameter (call <see cref="GradNorm2"/> first: clipping reads its result on the device).</summary>
    public void OptimizerStep(AdamConfig adam, int step) => _params.AdamStep(adam, step);

    public void Dispose()
    {
        foreach (var b in _buffers.Values) b.Dispose();
        _params.Dispose();
    }
}

/// <summary>Rows <paramref name="First"/> .. First + (the batch's size) - 1 of a whole batch of <paramref name="Total"/> rows: what one data-parallel rank holds.</summary>
public readonly record struct BatchShard(int First, int Total);

/// <summary>A tiny, fully specified PRNG (SplitMix64), so initialisation and shuffles never depend on the runtime's Random.</summary>
public struct SplitMix(ulong seed)
{
    ulong _state = seed;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));
    public int NextInt(int exclusiveMax) => (int)(NextDouble() * exclusiveMax);
}
