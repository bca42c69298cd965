using System.Text.Json;
using System.Text.Json.Serialization;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;

namespace MusicGen.Model.Frames;

/// <summary>How a frame model's output gives the probability of the next frame's keys.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<FrameOutput>))]
public enum FrameOutput
{
    /// <summary>88 independent yes/no outputs given the history (the published LSTM rows).</summary>
    Bernoulli,
    /// <summary>The keys one after another, each given the history and the keys below it: RNN-NADE (<see cref="Kernels.Ops.Nade"/>).</summary>
    Nade,
}

/// <summary>The network of a frame model. Stored in its checkpoints.</summary>
public sealed record FrameConfig
{
    public int Layers { get; init; } = 2;
    public int Hidden { get; init; } = 256;
    /// <summary>Dropout on each layer's output (before the next layer and before the head).</summary>
    public float Dropout { get; init; } = 0.3f;
    /// <summary>Dropout on the input frame itself (a corrupted history the model must see through).</summary>
    public float InputDropout { get; init; }
    /// <summary>DropConnect on each layer's recurrent weights W_hh in training (AWD-LSTM's weight drop; 0: none).</summary>
    public float WeightDrop { get; init; }
    /// <summary>The output dropout draws one mask per piece and feature for every frame of a forward (variational, AWD-LSTM's locked dropout).</summary>
    public bool LockedDropout { get; init; }
    /// <summary>Every layer above the first adds its input to its output (a residual connection; needs 2 layers or more).</summary>
    public bool Residual { get; init; }
    public bool LayerNorm { get; init; } = true;
    /// <summary>The output: independent Bernoullis per key, or NADE over the keys (checkpoints from before NADE read as Bernoulli).</summary>
    public FrameOutput Output { get; init; } = FrameOutput.Bernoulli;
    /// <summary>With the NADE output: its hidden units (Boulanger-Lewandowski et al. used 150).</summary>
    public int NadeHidden { get; init; } = 150;
    [JsonIgnore] public bool IsNade => Output == FrameOutput.Nade;
    [JsonIgnore] public int Keys => FrameCorpus.Keys;
    /// <summary>The recurrent body: unidirectional layers reading the 88 keys.</summary>
    [JsonIgnore] public LstmStackShape Stack => new(Keys, Hidden, Layers, Bidirectional: false, LayerNorm, Dropout, WeightDrop, LockedDropout, Residual);

    public void Validate()
    {
        if (Layers < 1 || Layers > 16) throw new ArgumentException($"layers {Layers} outside 1..16");
        if (Hidden < 1 || Hidden > 8192) throw new ArgumentException($"hidden size {Hidden} outside 1..8192");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"dropout {Dropout} outside [0, 1)");
        if (!(InputDropout >= 0 && InputDropout < 1)) throw new ArgumentException($"input dropout {InputDropout} outside [0, 1)");
        if (!(WeightDrop >= 0 && WeightDrop < 1)) throw new ArgumentException($"weight drop {WeightDrop} outside [0, 1)");
        if (Residual && Layers < 2) throw new ArgumentException("residual connections go round the layers above the first: they need 2 layers or more");
        if (!Enum.IsDefined(Output)) throw new ArgumentException($"unknown frame output {Output}");
        if (IsNade && (NadeHidden < 1 || NadeHidden > 4096)) throw new ArgumentException($"NADE hidden units {NadeHidden} outside 1..4096");
    }

    /// <summary>Parameters of the network this config describes.</summary>
    public long ParameterCount()
    {
        long H = Hidden, p = 0;
        for (int l = 0; l < Layers; l++) p += 4 * H * ((l == 0 ? Keys : H) + H) + 8 * H + (LayerNorm ? 2 * H : 0);
        p += Keys * (H + 1);
        // NADE: its hidden biases from the LSTM (N x H + N), W [88,N] and V [88,N].
        if (IsNade) p += (long)NadeHidden * (H + 1) + 2L * NadeHidden * Keys;
        return p;
    }

    /// <summary>
    /// A training run's memory, roughly, in bytes, when its batches of <paramref name="batch"/> pieces are at most
    /// <paramref name="steps"/> frames long: each parameter five times (value, gradient, two Adam moments, an average),
    /// and for each of the <see cref="FrameModel.MaxCachedShapes"/> buffer sets a model keeps, per layer the saved gates,
    /// states and their gradients (with weight drop, the dropped W_hh and its gradient), and the frames, targets and logits with their gradients.
    /// </summary>
    public long TrainingBytes(int batch, int steps)
    {
        long rows = (long)steps * batch, H = Hidden;
        long perLayer = rows * (4 * H * 2 + H * 3) + rows * H * 7 + (WeightDrop > 0 ? 8 * H * H : 0); // weight drop: W_hh' and its gradient
        long frames = rows * Keys * 6;
        if (IsNade) frames += rows * NadeHidden * 2 + rows * Keys * (NadeHidden * 2L + 1); // c, dc; hidden, dA; d
        return 4 * (ParameterCount() * 5 + FrameModel.MaxCachedShapes * (Layers * perLayer + frames));
    }

    public string ToJson() => JsonSerializer.Serialize(this);
    public static FrameConfig FromJson(string json) => JsonSerializer.Deserialize<FrameConfig>(json) ?? throw new InvalidDataException("empty frame config");
}

/// <summary>
/// A frame model: at each time step it reads one frame (88 keys, 0 or 1) and gives, for each key, the probability
/// that it sounds in the next frame, every key an independent Bernoulli given the history (the output model of the
/// published JSB Chorales LSTM results).
///   x[T,B,88] -> N unidirectional LSTM layers, each followed by layer norm and dropout -> Linear H->88 = logits[T*B,88]
///   loss = binary cross-entropy of the logits against the next frames, summed over keys, averaged over real frames
///          (<see cref="BinaryCrossEntropy"/>; padding after a shorter piece in the batch has weight 0).
/// With the NADE output (<see cref="FrameOutput.Nade"/>) the head's logits are NADE's key biases d, a second Linear
/// H->N gives its hidden biases c, and <see cref="Nade"/> turns them, with the real next frame, into each key's
/// log-odds given the keys below it; the same binary cross-entropy of those is then the frame's exact NLL.
/// Rows are time-major (row = t*B + b), like the LSTM's [T,B,H]. Every pass is written out below in the ops of
/// MusicGen.Kernels.Ops, as in <see cref="MusicModel"/>; names follow PyTorch's nn.LSTM.
/// </summary>
public sealed class FrameModel : IDisposable
{
    /// <summary>Buffer sets by shape, most recently used first; at most <see cref="MaxCachedShapes"/>.</summary>
    readonly List<((int Batch, int Steps) Shape, Buffers Buffers)> _buffers = [];
    readonly LstmStack _stack;
    readonly Parameter _headW, _headB;
    readonly Parameter? _nadeCondW, _nadeCondB, _nadeW, _nadeV; // NADE: hidden biases from the LSTM, W [88,N], V [88,N]
    readonly ParameterBuffer _params;

    public FrameModel(Backend backend, FrameConfig config)
    {
        config.Validate();
        Backend = backend;
        Config = config;
        // Declare every parameter, then allocate them all in one flat buffer (ParameterBuffer).
        var layout = new ParameterBuffer.Layout();
        int H = config.Hidden;
        _stack = new LstmStack(layout, config.Stack);
        int head = layout.Add("head.weight", config.Keys, H); layout.Add("head.bias", config.Keys);
        int nade = -1;
        if (config.IsNade)
        {
            int N = config.NadeHidden;
            nade = layout.Add("nade.hidden_bias.weight", N, H); layout.Add("nade.hidden_bias.bias", N);
            layout.Add("nade.W", config.Keys, N); layout.Add("nade.V", config.Keys, N);
        }
        _params = new ParameterBuffer(backend, layout);

        _stack.Bind(_params);
        _headW = _params[head]; _headB = _params[head + 1];
        if (nade >= 0) { _nadeCondW = _params[nade]; _nadeCondB = _params[nade + 1]; _nadeW = _params[nade + 2]; _nadeV = _params[nade + 3]; }
    }

    public Backend Backend { get; }
    public FrameConfig Config { get; }

    /// <summary>Call after writing parameter values directly (loading a checkpoint), so cached weight transposes are redone.</summary>
    public void MarkWeightsChanged() => _params.MarkChanged();
    /// <summary>Every parameter, in checkpoint order: named views into <see cref="Flat"/>.</summary>
    public IReadOnlyList<Parameter> Parameters => _params.Parameters;
    /// <summary>The flat buffers holding all values, gradients and Adam moments.</summary>
    public ParameterBuffer Flat => _params;
    public long ParameterCount => _params.ParameterCount;

    /// <summary>
    /// PyTorch's initialisation (LSTM and linear weights U(-1/sqrt(H), 1/sqrt(H)), forget-gate bias 1, layer norm 1
    /// and 0), except the head's bias: the log-odds of a key sounding in a frame of a four-voice texture (4 of 88), so
    /// training starts from a sensible base rate instead of a coin toss per key.
    /// </summary>
    public void Initialize(ulong seed)
    {
        float baseRate = MathF.Log(4f / (Config.Keys - 4));
        TrainingCore.InitializeLikePyTorch(Backend, Parameters, seed, Config.Hidden,
            constant: p => p == _headB ? baseRate : null, bound: _ => 1f / MathF.Sqrt(Config.Hidden));
        _params.MarkChanged();
        _params.ZeroMoments();
    }

    /// <summary>Activations, gradients and scratch for one (batch, steps) shape: the stack's workspace and the head's; allocated once, reused.</summary>
    sealed class Buffers : IDisposable
    {
        public Buffers(Backend be, FrameConfig c, LstmStackShape stack, int B, int T)
        {
            int K = c.Keys, rows = T * B;
            Tensor A(params int[] s) { var t = be.Allocate(s); _all.Add(t); return t; }
            Stack = new LstmStack.Workspace(be, stack, B, T); _all.Add(Stack);
            X = A(T, B, K); XDropped = A(T, B, K); Targets = A(rows, K); Weights = A(rows);
            Logits = A(rows, K); DLogits = A(rows, K); RowLoss = A(rows);
            if (c.IsNade)
            {
                int N = c.NadeHidden;
                KeyBias = A(rows, K); HiddenBias = A(rows, N); DHiddenBias = A(rows, N); NadeHidden = A(rows * K * N); NadeDA = A(rows * K * N);
            }
        }

        readonly List<IDisposable> _all = [];
        public LstmStack.Workspace Stack { get; }
        /// <summary>X: the input frames [T,B,88]; XDropped: after input dropout; Targets [T*B,88] the next frames; Weights [T*B] 1 real, 0 padding.</summary>
        public Tensor X, XDropped, Targets, Weights, Logits, DLogits, RowLoss;
        /// <summary>NADE only: the key biases d [T*B,88] (the head's output), the hidden biases c and dc [T*B,N], hidden and dA [T*B,88,N].</summary>
        public Tensor? KeyBias, HiddenBias, DHiddenBias, NadeHidden, NadeDA;
        public void Dispose() { foreach (var d in _all) d.Dispose(); }
    }

    /// <summary>
    /// The most buffer sets kept. A batch of frames is as long as its longest piece (rounded up to 8), so a corpus of
    /// pieces of many lengths meets many shapes (MuseData's training split: 156); keeping one set per shape forever
    /// grew a run to 24 GB and the kernel killed it. Four cover a training batch, a validation batch and the
    /// generation shapes; an older set is freed when a fifth shape comes.
    /// </summary>
    public const int MaxCachedShapes = 4;

    /// <summary>How many buffer sets are allocated now (at most <see cref="MaxCachedShapes"/>).</summary>
    public int CachedShapes => _buffers.Count;

    Buffers For(int batch, int steps)
    {
        int i = _buffers.FindIndex(x => x.Shape == (batch, steps));
        Buffers b;
        if (i >= 0) { b = _buffers[i].Buffers; _buffers.RemoveAt(i); }
        else
        {
            if (_buffers.Count == MaxCachedShapes)
            {
                // Free the least recently used set, and its memory now: windowed training meets a new shape (its last
                // window's length) almost every batch, and the managed backend's arrays would otherwise wait for the GC.
                _buffers[^1].Buffers.Dispose();
                _buffers.RemoveAt(_buffers.Count - 1);
                Backend.ReclaimDisposed();
            }
            b = new Buffers(Backend, Config, _stack.Shape, batch, steps);
        }
        _buffers.Insert(0, ((batch, steps), b));
        return b;
    }

    /// <summary>A zero state of every layer for <paramref name="batch"/> pieces: what generation carries from frame to frame.</summary>
    public LstmState NewState(int batch) => _stack.NewState(Backend, batch);

    /// <summary>
    /// Runs the network on frames x[T,B,88] (host, time-major), leaving logits [T*B,88] on the device. With targets
    /// [T*B,88] and weights [T*B] (host) the loss can follow. With the NADE output the logits need the targets (each
    /// key's log-odds given the real keys below it); without them only <see cref="NadeBiases"/> are made. training: dropout on, drawn from (seed, counter).
    /// state: the initial (h, c) of every layer, replaced by the final ones (generation); null: zeros.
    /// </summary>
    public void Forward(int batch, int steps, ReadOnlySpan<float> x, ReadOnlySpan<float> targets, ReadOnlySpan<float> weights, bool training,
        uint seed = 0, uint counter = 0, LstmState? state = null)
    {
        var c = Config;
        var s = For(batch, steps);
        int T = steps, B = batch, H = c.Hidden, rows = T * B;
        Backend.CopyFromHost(x, s.X);
        if (!targets.IsEmpty) Backend.CopyFromHost(targets, s.Targets);
        if (!weights.IsEmpty) Backend.CopyFromHost(weights, s.Weights);
        Tensor input = s.X;
        // Input dropout uses the call counter above the stack's (LstmStack.DropoutCall: counter * 64 + layer).
        if (training && c.InputDropout > 0) { Dropout.Forward(Backend, s.X, s.XDropped, rows * c.Keys, c.InputDropout, seed, counter * 64 + 63); input = s.XDropped; }
        _stack.Forward(Backend, s.Stack, input, _params.Version, new LstmStack.ForwardOptions(training, seed, counter, State: state));
        input = s.Stack.Output;
        // Head: logits[T*B,88] = top[T*B,H] W^T + b.
        if (!c.IsNade)
        {
            Gemm.Forward(Backend, MatrixView.Of(input, rows, H), MatrixView.Of(_headW.Value, c.Keys, H).T, MatrixView.Of(s.Logits, rows, c.Keys)); // logits = top W^T
            Glue.AddBias(Backend, s.Logits, _headB.Value, rows, c.Keys);
            return;
        }
        // NADE: key biases d[T*B,88] = top W^T + b and hidden biases c[T*B,N] = top Wc^T + bc, then the keys' log-odds.
        int N = c.NadeHidden;
        Gemm.Forward(Backend, MatrixView.Of(input, rows, H), MatrixView.Of(_headW.Value, c.Keys, H).T, MatrixView.Of(s.KeyBias!, rows, c.Keys)); // d = top W^T
        Glue.AddBias(Backend, s.KeyBias!, _headB.Value, rows, c.Keys);
        Gemm.Forward(Backend, MatrixView.Of(input, rows, H), MatrixView.Of(_nadeCondW!.Value, N, H).T, MatrixView.Of(s.HiddenBias!, rows, N)); // c = top Wc^T
        Glue.AddBias(Backend, s.HiddenBias!, _nadeCondB!.Value, rows, N);
        if (!targets.IsEmpty)
            Nade.Forward(Backend, new Nade.Shape(rows, c.Keys, N), s.KeyBias!, s.HiddenBias!, s.Targets, _nadeW!.Value, _nadeV!.Value, s.NadeHidden!, s.Logits);
    }

    /// <summary>NADE only: the last forward's key biases d [T*B,88] and hidden biases c [T*B,N] on the host (generation draws from them).</summary>
    public (float[] KeyBias, float[] HiddenBias) NadeBiases(int batch, int steps)
    {
        if (!Config.IsNade) throw new InvalidOperationException("not a NADE frame model");
        var s = For(batch, steps);
        return (Backend.Download(s.KeyBias!), Backend.Download(s.HiddenBias!));
    }

    /// <summary>NADE only: its weights W [88,N] and V [88,N] on the host.</summary>
    public (float[] W, float[] V) NadeWeights()
    {
        if (!Config.IsNade) throw new InvalidOperationException("not a NADE frame model");
        return (Backend.Download(_nadeW!.Value), Backend.Download(_nadeV!.Value));
    }

    /// <summary>The last forward's logits [T*B,88] on the host.</summary>
    public float[] Logits(int batch, int steps) => Backend.Download(For(batch, steps).Logits);

    /// <summary>
    /// The loss of the last forward: (the sum over real frames of each frame's NLL summed over keys, the number of
    /// real frames: the sum of the weights). Leaves dlogits for <see cref="Backward"/>, scaled so the gradient is of
    /// the mean per frame.
    /// </summary>
    public (double Nll, double Frames) Loss(int batch, int steps, double frames)
    {
        var s = For(batch, steps);
        int rows = batch * steps;
        BinaryCrossEntropy.ForwardBackward(Backend, rows, Config.Keys, (float)(1 / Math.Max(frames, 1)), s.Logits, s.Targets, s.Weights, s.DLogits, s.RowLoss);
        double sum = 0;
        foreach (float v in Backend.Download(s.RowLoss)) sum += v;
        return (sum, frames);
    }

    /// <summary>The last <see cref="Loss"/>'s NLL of each row [T*B] (row t*B + b: piece b's prediction at step t; 0 for padding), on the host.</summary>
    public float[] RowLosses(int batch, int steps) => Backend.Download(For(batch, steps).RowLoss);

    /// <summary>The gradient of every parameter (overwritten) from the dlogits <see cref="Loss"/> left, after a forward with training: true.</summary>
    public void Backward(int batch, int steps)
    {
        var c = Config;
        var s = For(batch, steps);
        int T = steps, B = batch, H = c.Hidden, K = c.Keys, rows = T * B;
        _params.ZeroGrads();
        // Head: dW = dlogits^T top, db = sum dlogits, dtop = dlogits W.
        Tensor top = s.Stack.Output;
        Gemm.Forward(Backend, MatrixView.Of(s.DLogits, rows, K).T, MatrixView.Of(top, rows, H), MatrixView.Of(_headW.Grad, K, H), beta: 1f); // dW += dlogits^T top
        Elementwise.SumRowsForward(Backend, s.DLogits, rows, K, _headB.Grad);
        Gemm.Forward(Backend, MatrixView.Of(s.DLogits, rows, K), MatrixView.Of(_headW.Value, K, H), MatrixView.Of(s.Stack.DOutput, rows, H)); // dtop = dlogits W
        if (c.IsNade)
        {
            // NADE: dd = dlogits (used above as the head's gradient); dc, dW, dV from the op; then the hidden biases' Linear.
            int N = c.NadeHidden;
            Nade.Backward(Backend, new Nade.Shape(rows, K, N), s.DLogits, s.Targets, _nadeW!.Value, _nadeV!.Value, s.NadeHidden!, s.NadeDA!, s.DHiddenBias!, _nadeW.Grad, _nadeV.Grad);
            Gemm.Forward(Backend, MatrixView.Of(s.DHiddenBias!, rows, N).T, MatrixView.Of(top, rows, H), MatrixView.Of(_nadeCondW!.Grad, N, H), beta: 1f); // dWc += dc^T top
            Elementwise.SumRowsForward(Backend, s.DHiddenBias!, rows, N, _nadeCondB!.Grad);
            Gemm.Forward(Backend, MatrixView.Of(s.DHiddenBias!, rows, N), MatrixView.Of(_nadeCondW.Value, N, H), MatrixView.Of(s.Stack.DOutput, rows, H), beta: 1f); // dtop += dc Wc
        }
        _stack.Backward(Backend, s.Stack, dx: null); // the input frames need no gradient; dropout replays the forward's record
    }

    // ------------------------------------------------------------------ weight averaging

    Tensor? _average;   // [Flat.Count]: the running average of Flat.Values
    Tensor? _swap;

    /// <summary>The running average of every parameter (the same flat layout as <see cref="ParameterBuffer.Values"/>), once <see cref="StartAverage"/> has run; else null.</summary>
    public Tensor? Average => _average;

    /// <summary>The running average of one parameter: a view of <see cref="Average"/>.</summary>
    public Tensor AverageOf(Parameter p) => Backend.View(_average ?? throw new InvalidOperationException("StartAverage first"), p.Offset, p.Shape);

    /// <summary>Starts an exponential moving average of the weights at their current values (Polyak averaging).</summary>
    public void StartAverage()
    {
        if (_average is not null) return;
        _average = Backend.Allocate(_params.Count);
        _swap = Backend.Allocate(_params.Count);
        Elementwise.Copy(Backend, _params.Values, 0, _average, 0, _params.Count);
    }

    /// <summary>After an optimizer step: average = decay * average + (1 - decay) * weights, as two axpys over the flat buffers (average += -(1-decay) average; += (1-decay) weights).</summary>
    public void UpdateAverage(float decay)
    {
        if (_average is null) throw new InvalidOperationException("StartAverage first");
        Glue.Axpy(Backend, -(1 - decay), _average, 0, _average, 0, _params.Count);
        Glue.Axpy(Backend, 1 - decay, _params.Values, 0, _average, 0, _params.Count);
    }

    /// <summary>Exchanges the weights and their averages (call again to swap back): validation and best.safetensors use the averaged weights.</summary>
    public void SwapAverage()
    {
        if (_average is null || _swap is null) throw new InvalidOperationException("StartAverage first");
        int n = _params.Count;
        Elementwise.Copy(Backend, _params.Values, 0, _swap, 0, n);
        Elementwise.Copy(Backend, _average, 0, _params.Values, 0, n);
        Elementwise.Copy(Backend, _swap, 0, _average, 0, n);
        _params.MarkChanged();
    }

    /// <summary>One Adam step on every parameter, clipping the global gradient norm as <paramref name="adam"/> says.</summary>
    public void OptimizerStep(AdamConfig adam, int step)
    {
        _params.ComputeGradNorm2();
        _params.AdamStep(adam, step);
    }

    public void Dispose()
    {
        foreach (var (_, b) in _buffers) b.Dispose();
        _params.Dispose();
        _average?.Dispose();
        _swap?.Dispose();
    }
}
