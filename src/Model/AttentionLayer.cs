using MusicGen.Kernels;
using MusicGen.Kernels.Ops;

namespace MusicGen.Model;

/// <summary>
/// Attention over the network's own past outputs, after Magenta's Attention RNN: at every step the top LSTM layer's
/// output y_t asks which of the last <see cref="ModelConfig.AttentionSpan"/> outputs matter, and the heads read y_t beside
/// their weighted sum (the context), so a motif from bars ago can be looked up instead of held in the cell state.
///
///   keys = Y Wk^T [T*B, A]    queries = Y Wq^T [T*B, A]               (two GEMMs)
///   ctx  = AdditiveAttention(values = Y, keys, queries, v) [T*B, H]    (<see cref="AdditiveAttention"/>)
///   out  = [Y, ctx] [T*B, 2H]                                          (what the heads read)
///
/// Parameters: attention.keys.weight [A, H], attention.queries.weight [A, H], attention.v [A].
/// In training a window attends within itself. In generation the model carries an <see cref="AttentionMemory"/> beside its
/// LSTM state: the values and keys of the last span notes, so each new note is still one step.
/// </summary>
public sealed class AttentionLayer
{
    readonly int _keys;
    Parameter _wk = null!, _wq = null!, _v = null!;

    public AttentionLayer(ParameterBuffer.Layout layout, int hidden, int size, int span)
    {
        Hidden = hidden; Size = size; Span = span;
        _keys = layout.Add("attention.keys.weight", size, hidden);
        layout.Add("attention.queries.weight", size, hidden);
        layout.Add("attention.v", size);
    }

    public int Hidden { get; }
    public int Size { get; }
    public int Span { get; }

    public void Bind(ParameterBuffer p) { _wk = p[_keys]; _wq = p[_keys + 1]; _v = p[_keys + 2]; }

    /// <summary>The values and keys of the last <see cref="Span"/> steps of each of B sequences, oldest first: what generation carries.</summary>
    public AttentionMemory NewMemory(Backend backend, int batch) => new(backend.Allocate(Span * batch * Hidden), backend.Allocate(Span * batch * Size), batch);

    /// <summary>Activations and gradients for one (batch, steps) shape.</summary>
    public sealed class Workspace : IDisposable
    {
        public Workspace(Backend be, AttentionLayer a, int batch, int steps)
        {
            int rows = batch * steps, S = (a.Span + steps) * batch;
            Tensor A(int n) { var t = be.Allocate(n); _all.Add(t); return t; }
            Keys = A(rows * a.Size); Queries = A(rows * a.Size); DKeys = A(rows * a.Size); DQueries = A(rows * a.Size);
            Alpha = A(rows * a.Span); De = A(rows * a.Span); Ctx = A(rows * a.Hidden); DCtx = A(rows * a.Hidden);
            AllValues = A(S * a.Hidden); AllKeys = A(S * a.Size);
            Batch = batch; Steps = steps;
        }

        readonly List<Tensor> _all = [];
        public int Batch { get; }
        public int Steps { get; }
        /// <summary>Past steps the last forward attended to before the window (0 in training).</summary>
        public int Past { get; internal set; }
        /// <summary>Keys, Queries [T*B, A]; Alpha, De [T*B, span]; Ctx [T*B, H]; and their gradients.</summary>
        public Tensor Keys, Queries, DKeys, DQueries, Alpha, De, Ctx, DCtx;
        /// <summary>Generation: the memory's values and keys followed by the window's [(past + T) * B, H or A].</summary>
        public Tensor AllValues, AllKeys;
        public void Dispose() { foreach (var t in _all) t.Dispose(); }
    }

    AdditiveAttention.Shape Shape(Workspace ws, int past) => new(ws.Steps, ws.Batch, Hidden, Size, Span, past);

    /// <summary>
    /// y [T*B, H] (the top layer's output) -> output [T*B, 2H] = [y, ctx]. With a memory, the window attends to its past
    /// steps too, and the memory then holds the last span steps including this window's.
    /// </summary>
    public void Forward(Backend be, Workspace ws, Tensor y, Tensor output, AttentionMemory? memory)
    {
        int B = ws.Batch, T = ws.Steps, rows = B * T, H = Hidden, A = Size;
        Gemm.Forward(be, MatrixView.Of(y, rows, H), MatrixView.Of(_wk.Value, A, H).T, MatrixView.Of(ws.Keys, rows, A)); // keys = Y Wk^T
        Gemm.Forward(be, MatrixView.Of(y, rows, H), MatrixView.Of(_wq.Value, A, H).T, MatrixView.Of(ws.Queries, rows, A));
        int past = memory?.Count ?? 0;
        Tensor values = y, keys = ws.Keys;
        if (past > 0)
        {
            if (memory!.Batch != B) throw new ArgumentException($"the attention memory holds {memory.Batch} sequences, the batch {B}");
            Elementwise.Copy(be, memory.Values, 0, ws.AllValues, 0, past * B * H);
            Elementwise.Copy(be, y, 0, ws.AllValues, past * B * H, rows * H);
            Elementwise.Copy(be, memory.Keys, 0, ws.AllKeys, 0, past * B * A);
            Elementwise.Copy(be, ws.Keys, 0, ws.AllKeys, past * B * A, rows * A);
            values = ws.AllValues; keys = ws.AllKeys;
        }
        ws.Past = past;
        AdditiveAttention.Forward(be, Shape(ws, past), values, keys, ws.Queries, _v.Value, ws.Alpha, ws.Ctx);
        Glue.ConcatForward(be, y, ws.Ctx, output, rows, H, H);
        if (memory is null) return;
        // Keep the last span steps (oldest first); the sources never overlap the memory.
        int total = past + T, kept = Math.Min(Span, total), from = total - kept;
        Elementwise.Copy(be, values, from * B * H, memory.Values, 0, kept * B * H);
        Elementwise.Copy(be, keys, from * B * A, memory.Keys, 0, kept * B * A);
        memory.Count = kept;
    }

    /// <summary>
    /// doutput [T*B, 2H] -> dy [T*B, H] (overwritten: the direct half, plus what flows back through the context, the keys
    /// and the queries), and the parameters' gradients (+=). Training only (a forward without memory).
    /// </summary>
    public void Backward(Backend be, Workspace ws, Tensor y, Tensor doutput, Tensor dy)
    {
        if (ws.Past != 0) throw new InvalidOperationException("attention backward needs a forward without memory (training attends within the window)");
        int B = ws.Batch, T = ws.Steps, rows = B * T, H = Hidden, A = Size;
        Elementwise.Fill(be, dy, 0f, 0, rows * H);
        Elementwise.Fill(be, ws.DCtx, 0f);
        Glue.ConcatBackward(be, doutput, dy, ws.DCtx, rows, H, H);
        Elementwise.Fill(be, ws.DKeys, 0f);
        Elementwise.Fill(be, ws.DQueries, 0f);
        AdditiveAttention.Backward(be, Shape(ws, 0), ws.DCtx, y, ws.Keys, ws.Queries, _v.Value, ws.Alpha, ws.De, dy, ws.DKeys, ws.DQueries, _v.Grad);
        // keys = Y Wk^T  ->  dWk += dkeys^T Y, dY += dkeys Wk (and the same for the queries).
        Gemm.Forward(be, MatrixView.Of(ws.DKeys, rows, A).T, MatrixView.Of(y, rows, H), MatrixView.Of(_wk.Grad, A, H), beta: 1f);
        Gemm.Forward(be, MatrixView.Of(ws.DKeys, rows, A), MatrixView.Of(_wk.Value, A, H), MatrixView.Of(dy, rows, H), beta: 1f);
        Gemm.Forward(be, MatrixView.Of(ws.DQueries, rows, A).T, MatrixView.Of(y, rows, H), MatrixView.Of(_wq.Grad, A, H), beta: 1f);
        Gemm.Forward(be, MatrixView.Of(ws.DQueries, rows, A), MatrixView.Of(_wq.Value, A, H), MatrixView.Of(dy, rows, H), beta: 1f);
    }
}

/// <summary>The values [span, B, H] and keys [span, B, A] of the last <see cref="Count"/> steps of B sequences, oldest first.</summary>
public sealed class AttentionMemory(Tensor values, Tensor keys, int batch) : IDisposable
{
    public Tensor Values { get; } = values;
    public Tensor Keys { get; } = keys;
    public int Batch { get; } = batch;
    /// <summary>Steps held (0 until the first forward; at most the span).</summary>
    public int Count { get; internal set; }
    public void Dispose() { Values.Dispose(); Keys.Dispose(); }
}
