using MusicGen.Kernels;
using MusicGen.Kernels.Ops;

namespace MusicGen.Model;

/// <summary>The shape of an <see cref="LstmStack"/>.</summary>
/// <param name="Input">I: features per time step of the stack's input.</param>
/// <param name="Hidden">H: units per direction.</param>
/// <param name="Layers">Stacked layers; layer l &gt; 0 reads layer l-1's output.</param>
/// <param name="Bidirectional">Each layer runs a forward and a reverse direction and concatenates them (D = 2H).</param>
/// <param name="LayerNorm">Layer norm over each layer's output, before dropout.</param>
/// <param name="Dropout">Dropout probability on each layer's output in training (0: none).</param>
/// <param name="WeightDrop">DropConnect on the recurrent weights W_hh in training (AWD-LSTM's weight drop; 0: none): each
/// training forward drops entries of every W_hh with this probability, one mask for all the steps of that forward.</param>
/// <param name="LockedDropout">The output dropout draws one mask per row and feature for all the time steps of a forward
/// (variational dropout, AWD-LSTM's locked dropout) instead of one per element.</param>
/// <param name="Residual">Every layer above the first adds its input to its output (a residual connection around the
/// layer: y = Dropout(LayerNorm(LSTM(x))) + x), so a deep stack starts close to a shallow one.</param>
public readonly record struct LstmStackShape(int Input, int Hidden, int Layers, bool Bidirectional, bool LayerNorm, float Dropout, float WeightDrop = 0, bool LockedDropout = false, bool Residual = false)
{
    /// <summary>Whether layer <paramref name="layer"/> adds its input to its output (the first layer never does: its input is the model's, of another width).</summary>
    public bool ResidualAt(int layer) => Residual && layer > 0;
    public int Directions => Bidirectional ? 2 : 1;
    /// <summary>D: features per step of a layer's output (H, or 2H when bidirectional).</summary>
    public int Output => Hidden * Directions;
    /// <summary>Features per step of layer <paramref name="layer"/>'s input.</summary>
    public int InputOf(int layer) => layer == 0 ? Input : Output;
}

/// <summary>
/// What generation carries from step to step: the hidden and cell state of every layer of a unidirectional stack,
/// per batch row (H[layer], C[layer]: [B,H] each).
/// </summary>
public sealed class LstmState(Tensor[] h, Tensor[] c) : IDisposable
{
    public Tensor[] H { get; } = h;
    public Tensor[] C { get; } = c;
    /// <summary>A model with attention also carries the values and keys of its last steps (<see cref="AttentionLayer"/>).</summary>
    public AttentionMemory? Attention { get; init; }
    public void Dispose() { foreach (var t in H.Concat(C)) t.Dispose(); Attention?.Dispose(); }
}

/// <summary>
/// The recurrent body every model here shares: N stacked LSTM layers, each of one or two directions, each layer
/// followed by layer norm and dropout (PyTorch's nn.LSTM with a norm and dropout after every layer):
///
///   x[T,B,I] -> for each layer l:
///                 h_fwd[T,B,H] = LSTM(input)            (and h_rev = reverse LSTM(input), concatenated: [T*B,2H];
///                                                        in training with weight drop, each LSTM runs on W_hh * mask)
///                 y = LayerNorm(h)                      (if on)
///                 y = Dropout(y)                        (in training, if p &gt; 0; locked: one mask [B,D] for all T steps)
///                 y = y + input                         (residual, layers l &gt; 0: the input has the output's width D)
///                 input = y
///            -> output[T*B,D]
///
/// Parameters are declared into the model's <see cref="ParameterBuffer.Layout"/> under PyTorch's names
/// (lstm.weight_ih_l{k}[_reverse], lstm.weight_hh_..., lstm.bias_ih_..., lstm.bias_hh_..., then norm.{k}.weight and
/// norm.{k}.bias), so a checkpoint loads into PyTorch by name. The models put their own layers (an embedding before,
/// the heads after) around it.
///
/// <see cref="Forward"/> records in the <see cref="Workspace"/> what it did (training or not, the dropout seed, call
/// counter and shard, whether every step ran); <see cref="Backward"/> replays that record and takes none of it again.
/// </summary>
public sealed class LstmStack
{
    readonly int[] _first;                // per layer: the index of its first direction's weight_ih (the other tensors follow)
    readonly int[] _norm;                 // per layer: the index of its norm weight (its bias follows), or -1
    LstmWeights[][] _weights = [], _grads = [];  // [layer][direction], bound by Bind
    Parameter?[] _gain = [], _bias = [];

    /// <summary>Declares the stack's parameters into <paramref name="layout"/>, in checkpoint order.</summary>
    public LstmStack(ParameterBuffer.Layout layout, LstmStackShape shape)
    {
        Shape = shape;
        int H = shape.Hidden;
        _first = new int[shape.Layers];
        _norm = new int[shape.Layers];
        for (int l = 0; l < shape.Layers; l++)
        {
            for (int d = 0; d < shape.Directions; d++)
            {
                string suffix = $"l{l}" + (d == 1 ? "_reverse" : "");
                int ih = layout.Add($"lstm.weight_ih_{suffix}", 4 * H, shape.InputOf(l));
                if (d == 0) _first[l] = ih;
                layout.Add($"lstm.weight_hh_{suffix}", 4 * H, H); layout.Add($"lstm.bias_ih_{suffix}", 4 * H); layout.Add($"lstm.bias_hh_{suffix}", 4 * H);
            }
            _norm[l] = shape.LayerNorm ? layout.Add($"norm.{l}.weight", shape.Output) : -1;
            if (shape.LayerNorm) layout.Add($"norm.{l}.bias", shape.Output);
        }
    }

    public LstmStackShape Shape { get; }

    /// <summary>Points the stack at its parameters once the model's buffer is allocated from the layout.</summary>
    public void Bind(ParameterBuffer parameters)
    {
        int layers = Shape.Layers;
        _weights = new LstmWeights[layers][]; _grads = new LstmWeights[layers][];
        _gain = new Parameter?[layers]; _bias = new Parameter?[layers];
        for (int l = 0; l < layers; l++)
        {
            _weights[l] = new LstmWeights[Shape.Directions];
            _grads[l] = new LstmWeights[Shape.Directions];
            for (int d = 0; d < Shape.Directions; d++)
            {
                int i = _first[l] + 4 * d;
                var (wih, whh, bih, bhh) = (parameters[i], parameters[i + 1], parameters[i + 2], parameters[i + 3]);
                _weights[l][d] = new LstmWeights(wih.Value, whh.Value, bih.Value, bhh.Value);
                _grads[l][d] = new LstmWeights(wih.Grad, whh.Grad, bih.Grad, bhh.Grad);
            }
            if (_norm[l] >= 0) { _gain[l] = parameters[_norm[l]]; _bias[l] = parameters[_norm[l] + 1]; }
        }
    }

    /// <summary>A zero state for <paramref name="batch"/> rows (unidirectional stacks only: a bidirectional one re-reads its whole window).</summary>
    public LstmState NewState(Backend backend, int batch)
    {
        if (Shape.Bidirectional) throw new ArgumentException("a bidirectional model cannot carry its state forward: it re-reads the whole window");
        return new LstmState(
            Enumerable.Range(0, Shape.Layers).Select(_ => backend.Allocate(batch, Shape.Hidden)).ToArray(),
            Enumerable.Range(0, Shape.Layers).Select(_ => backend.Allocate(batch, Shape.Hidden)).ToArray());
    }

    /// <summary>The dropout call counter of layer <paramref name="layer"/> in the forward numbered <paramref name="counter"/> (the training step): one formula for forward and backward.
    /// Counters counter*64 + 0..47 are the stack's; a model may use the ones above for dropout of its own (an input dropout).</summary>
    public static uint DropoutCall(uint counter, int layer) => counter * 64 + (uint)layer;

    /// <summary>The dropout op's step block for a layer output of <paramref name="batch"/> rows: B*D when the mask is locked across time, else 0.</summary>
    public int DropoutStepBlock(int batch) => Shape.LockedDropout ? batch * Shape.Output : 0;

    /// <summary>The weight-drop call counter of layer <paramref name="layer"/>'s direction <paramref name="direction"/> in the
    /// forward numbered <paramref name="counter"/>: counter*64 + 16 + 2*layer + direction, within the stack's 0..47.</summary>
    public static uint WeightDropCall(uint counter, int layer, int direction) => counter * 64 + 16 + (uint)(2 * layer + direction);

    /// <summary>Activations, gradients and scratch of the stack for one (batch, steps) shape: allocated once, reused every step.</summary>
    public sealed class Workspace : IDisposable
    {
        public Workspace(Backend be, LstmStackShape c, int batch, int steps)
        {
            (Steps, Batch) = (steps, batch);
            int T = steps, B = batch, H = c.Hidden, D = c.Output, rows = T * B;
            Tensor A(params int[] s) { var t = be.Allocate(s); _all.Add(t); return t; }
            Lstm = new LstmWorkspace[c.Layers][];
            Cat = new Tensor[c.Layers]; Normed = new Tensor[c.Layers]; Dropped = new Tensor[c.Layers]; Mean = new Tensor[c.Layers]; Rstd = new Tensor[c.Layers];
            Top = new Tensor[c.Layers]; Sum = new Tensor[c.Layers];
            DOut = new Tensor[c.Layers]; DNormed = new Tensor[c.Layers]; DPreNorm = new Tensor[c.Layers]; DH = new Tensor[c.Layers][]; DInputReverse = new Tensor[c.Layers];
            DroppedWhh = new Tensor[c.Layers][]; DDroppedWhh = new Tensor[c.Layers][];
            for (int l = 0; l < c.Layers; l++)
            {
                Lstm[l] = new LstmWorkspace[c.Directions];
                DH[l] = new Tensor[c.Directions];
                DroppedWhh[l] = new Tensor[c.Directions]; DDroppedWhh[l] = new Tensor[c.Directions];
                for (int d = 0; d < c.Directions; d++)
                {
                    Lstm[l][d] = new LstmWorkspace(be, T, B, c.InputOf(l), H); _all.Add(Lstm[l][d]);
                    DH[l][d] = A(T, B, H);
                    if (c.WeightDrop > 0) { DroppedWhh[l][d] = A(4 * H, H); DDroppedWhh[l][d] = A(4 * H, H); }
                }
                if (c.Bidirectional) Cat[l] = A(rows, D);
                if (c.LayerNorm) { Normed[l] = A(rows, D); Mean[l] = A(rows); Rstd[l] = A(rows); DPreNorm[l] = A(rows, D); }
                if (c.Dropout > 0) { Dropped[l] = A(rows, D); DNormed[l] = A(rows, D); }
                if (c.ResidualAt(l)) Sum[l] = A(rows, D);
                DOut[l] = A(rows, D);
                if (c.Directions == 2) DInputReverse[l] = A(T, B, c.InputOf(l));
            }
            Zero = A(B, H);
            if (!c.Bidirectional)
            {
                InitialH = new Tensor[c.Layers]; InitialC = new Tensor[c.Layers];
                for (int l = 0; l < c.Layers; l++) { InitialH[l] = A(B, H); InitialC[l] = A(B, H); }
            }
        }

        readonly List<IDisposable> _all = [];
        public int Steps { get; }
        public int Batch { get; }
        /// <summary>[layer][direction]: each direction's LSTM record (weights, input, gates, c, h).</summary>
        public LstmWorkspace[][] Lstm { get; }
        /// <summary>Per layer [T*B, D]: the directions concatenated (bidirectional), after layer norm, after dropout (each null when unused).</summary>
        public Tensor[] Cat { get; }
        public Tensor[] Normed { get; }
        public Tensor[] Dropped { get; }
        public Tensor[] Mean { get; }
        public Tensor[] Rstd { get; }
        /// <summary>Residual stacks, per layer l &gt; 0 [T*B, D]: the layer's output plus its input (null when unused).</summary>
        public Tensor[] Sum { get; }
        /// <summary>Per layer, the tensor holding its output: whichever stage wrote last. Not owned.</summary>
        public Tensor[] Top { get; }
        /// <summary>Per layer [T*B, D]: the gradient of its output. The caller writes the top layer's (<see cref="DOutput"/>); the stack fills the others.</summary>
        public Tensor[] DOut { get; }
        public Tensor[] DNormed { get; }
        public Tensor[] DPreNorm { get; }
        public Tensor[][] DH { get; }
        /// <summary>With weight drop, [layer][direction] [4H,H]: the W_hh a training forward ran on (W_hh * mask), and the gradient
        /// backward finds for it before the mask takes it back to W_hh (null without weight drop).</summary>
        public Tensor[][] DroppedWhh { get; }
        public Tensor[][] DDroppedWhh { get; }
        /// <summary>Bidirectional layers: the reverse direction's gradient of the layer input [T,B,I], added to the forward's after both ran.</summary>
        public Tensor[] DInputReverse { get; }
        /// <summary>[B,H] zeros: the initial state when none is carried.</summary>
        public Tensor Zero { get; }
        /// <summary>Unidirectional stacks, per layer [B,H]: a copy of the carried state a forward started from. The carried
        /// state itself is overwritten with the final one, and backward still needs the initial one (W_hh's gradient at the
        /// first step is dgates^T h0).</summary>
        public Tensor[]? InitialH { get; }
        public Tensor[]? InitialC { get; }

        /// <summary>The stack's output [T*B, D] after the last forward.</summary>
        public Tensor Output => Top[^1];
        /// <summary>Where the caller writes the gradient of <see cref="Output"/> before <see cref="Backward"/>.</summary>
        public Tensor DOutput => DOut[^1];

        /// <summary>What the last forward did that backward must repeat: whether dropout ran, its seed, call counter and shard.</summary>
        public bool Training { get; internal set; }
        public uint DropoutSeed { get; internal set; }
        public uint DropoutCounter { get; internal set; }
        public DropoutShard DropoutRows { get; internal set; } = DropoutShard.Whole;
        /// <summary>The last forward skipped work backward needs (the inference shortcut): no backward may follow it.</summary>
        public bool Partial { get; internal set; }
        /// <summary>The weights version whose transposes the LSTM workspaces hold (-1: none yet).</summary>
        internal long TransposedAt = -1;

        public void Dispose() { foreach (var d in _all) d.Dispose(); }
    }

    /// <summary>The options of one forward pass beyond the input.</summary>
    /// <param name="Training">Dropout on (drawn from <paramref name="Seed"/> and <paramref name="Counter"/>).</param>
    /// <param name="DropoutRows">Data-parallel training: which rows of the whole batch these are, so dropout draws the whole batch's masks for them.</param>
    /// <param name="State">Unidirectional stacks only: the initial (h, c) of every layer, replaced by the final ones afterwards (generation).</param>
    /// <param name="TopReverseLastStepOnly">Inference shortcut: the top layer's reverse direction runs only its first step (t = T-1), all a
    /// reader of the last step needs. No backward may follow.</param>
    public readonly record struct ForwardOptions(bool Training = false, uint Seed = 0, uint Counter = 0, DropoutShard? DropoutRows = null,
        LstmState? State = null, bool TopReverseLastStepOnly = false);

    /// <summary>
    /// x[T,B,I] -> ws.Output[T*B,D]. <paramref name="weightsVersion"/> says which weights these are: the LSTM
    /// workspaces keep their transposed weights while it stays the same (the caller bumps it whenever values change).
    /// </summary>
    public void Forward(Backend backend, Workspace ws, Tensor x, long weightsVersion, ForwardOptions options = default)
    {
        var c = Shape;
        int T = ws.Steps, B = ws.Batch, D = c.Output, rows = T * B;
        var state = options.State;
        if (state is not null && c.Bidirectional) throw new ArgumentException("a bidirectional model cannot carry its state forward");
        ws.Training = options.Training; ws.DropoutSeed = options.Seed; ws.DropoutCounter = options.Counter;
        ws.DropoutRows = options.DropoutRows ?? DropoutShard.Whole;
        ws.Partial = options.TopReverseLastStepOnly && c.Bidirectional && T > 1;
        // Weight drop gives every training forward its own W_hh, so the transposes are made again, and kept by no later forward.
        bool weightDrop = options.Training && c.WeightDrop > 0;
        bool transposesCurrent = ws.TransposedAt == weightsVersion && !weightDrop;
        ws.TransposedAt = weightDrop ? -1 : weightsVersion;
        Tensor input = x;
        for (int l = 0; l < c.Layers; l++)
        {
            var lstm = ws.Lstm[l];
            void Direction(int d)
            {
                int steps = ws.Partial && l == c.Layers - 1 && d == 1 ? 1 : T;
                var weights = _weights[l][d];
                if (weightDrop)
                {
                    // W_hh' [4H,H] = W_hh * mask / (1-p): the dropout op over the weight matrix, one mask for every step.
                    Dropout.Forward(backend, weights.Whh, ws.DroppedWhh[l][d], 4 * c.Hidden * c.Hidden, c.WeightDrop, options.Seed, WeightDropCall(options.Counter, l, d));
                    weights = weights with { Whh = ws.DroppedWhh[l][d] };
                }
                LstmLayer.Forward(backend, lstm[d], weights, reverse: d == 1, input, state is null ? ws.Zero : ws.InitialH![l], state is null ? ws.Zero : ws.InitialC![l], transposesCurrent, steps);
            }
            if (state is not null)
            {
                // The layer reads (and its backward re-reads) the copy; the carried state then takes the final one.
                Elementwise.Copy(backend, state.H[l], 0, ws.InitialH![l], 0, B * c.Hidden);
                Elementwise.Copy(backend, state.C[l], 0, ws.InitialC![l], 0, B * c.Hidden);
            }
            // The two directions of a layer are independent: a backend may run them side by side.
            if (c.Directions == 2) backend.RunIndependently(() => Direction(0), () => Direction(1));
            else Direction(0);
            if (state is not null)
            {
                Elementwise.Copy(backend, lstm[0].H, (T - 1) * B * c.Hidden, state.H[l], 0, B * c.Hidden);
                Elementwise.Copy(backend, lstm[0].C, (T - 1) * B * c.Hidden, state.C[l], 0, B * c.Hidden);
            }
            Tensor h = lstm[0].H;
            if (c.Bidirectional) { Glue.ConcatForward(backend, lstm[0].H, lstm[1].H, ws.Cat[l], rows, c.Hidden, c.Hidden); h = ws.Cat[l]; }
            if (c.LayerNorm) { LayerNorm.Forward(backend, rows, D, h, _gain[l]!.Value, _bias[l]!.Value, ws.Normed[l], ws.Mean[l], ws.Rstd[l]); h = ws.Normed[l]; }
            if (options.Training && c.Dropout > 0) { Dropout.Forward(backend, h, ws.Dropped[l], rows * D, c.Dropout, options.Seed, DropoutCall(options.Counter, l), ws.DropoutRows, DropoutStepBlock(B)); h = ws.Dropped[l]; }
            if (c.ResidualAt(l))
            {
                // y[T*B,D] = h + input: the layer's input (the layer below's output) goes round it.
                Elementwise.Copy(backend, h, 0, ws.Sum[l], 0, rows * D);
                Glue.Axpy(backend, 1f, input, 0, ws.Sum[l], 0, rows * D);
                h = ws.Sum[l];
            }
            ws.Top[l] = h;
            input = h;
        }
    }

    /// <summary>
    /// Backward of the last <see cref="Forward"/> on <paramref name="ws"/>: ws.DOutput[T*B,D] (written by the caller) ->
    /// every stack parameter's gradient (+=) and, when given, dx[T,B,I] (overwritten). Dropout repeats what the forward recorded.
    /// </summary>
    public void Backward(Backend backend, Workspace ws, Tensor? dx)
    {
        var c = Shape;
        if (ws.Partial) throw new InvalidOperationException("backward needs a forward with training: true (an inference forward skips work backward needs)");
        int T = ws.Steps, B = ws.Batch, D = c.Output, rows = T * B;
        for (int l = c.Layers - 1; l >= 0; l--)
        {
            Tensor dh = ws.DOut[l];
            if (ws.Training && c.Dropout > 0)
            {
                Elementwise.Fill(backend, ws.DNormed[l], 0f);
                Dropout.Backward(backend, dh, ws.DNormed[l], rows * D, c.Dropout, ws.DropoutSeed, DropoutCall(ws.DropoutCounter, l), ws.DropoutRows, DropoutStepBlock(B));
                dh = ws.DNormed[l];
            }
            if (c.LayerNorm)
            {
                Tensor preNorm = c.Bidirectional ? ws.Cat[l] : ws.Lstm[l][0].H;
                Elementwise.Fill(backend, ws.DPreNorm[l], 0f);
                LayerNorm.Backward(backend, rows, D, dh, preNorm, _gain[l]!.Value, ws.Mean[l], ws.Rstd[l], ws.DPreNorm[l], _gain[l]!.Grad, _bias[l]!.Grad);
                dh = ws.DPreNorm[l];
            }
            Tensor[] dDir;
            if (c.Bidirectional)
            {
                Elementwise.Fill(backend, ws.DH[l][0], 0f);
                Elementwise.Fill(backend, ws.DH[l][1], 0f);
                Glue.ConcatBackward(backend, dh, ws.DH[l][0], ws.DH[l][1], rows, c.Hidden, c.Hidden);
                dDir = ws.DH[l];
            }
            else dDir = [dh];

            // Each direction's backward replays what its forward recorded in ws.Lstm[l][d] (weights, direction, input, state).
            // With weight drop it finds the gradient of the W_hh it ran on, and the same mask takes that back to W_hh (+=).
            bool weightDrop = ws.Training && c.WeightDrop > 0;
            void DirectionBackward(int d, Tensor? dInputOfDirection)
            {
                var grads = _grads[l][d];
                if (weightDrop) { Elementwise.Fill(backend, ws.DDroppedWhh[l][d], 0f); grads = grads with { Whh = ws.DDroppedWhh[l][d] }; }
                LstmLayer.Backward(backend, ws.Lstm[l][d], grads, dDir[d], new LstmInputGrads(Dx: dInputOfDirection));
                if (weightDrop)
                    Dropout.Backward(backend, ws.DDroppedWhh[l][d], _grads[l][d].Whh, 4 * c.Hidden * c.Hidden, c.WeightDrop, ws.DropoutSeed, WeightDropCall(ws.DropoutCounter, l, d));
            }
            Tensor? dInput = l > 0 ? ws.DOut[l - 1] : dx;
            if (dInput is not null) Elementwise.Fill(backend, dInput, 0f);
            // Residual: the input went round the layer too, so it also receives the output's gradient unchanged.
            if (c.ResidualAt(l)) Glue.Axpy(backend, 1f, ws.DOut[l], 0, dInput!, 0, rows * D);
            if (c.Directions == 1)
                DirectionBackward(0, dInput);
            else
            {
                // The reverse direction's input gradient goes to its own buffer and is added afterwards, so the two directions
                // write nothing in common and may run side by side; the sum is the same whichever way they run.
                Tensor? dInputReverse = dInput is null ? null : ws.DInputReverse[l];
                if (dInputReverse is not null) Elementwise.Fill(backend, dInputReverse, 0f);
                void Direction(int d) => DirectionBackward(d, d == 0 ? dInput : dInputReverse);
                backend.RunIndependently(() => Direction(0), () => Direction(1));
                if (dInput is not null) Glue.Axpy(backend, 1f, dInputReverse!, 0, dInput, 0, dInput.Length);
            }
        }
    }
}
