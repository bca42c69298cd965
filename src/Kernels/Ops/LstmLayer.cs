using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>One LSTM direction's parameters, in PyTorch nn.LSTM layout (gate blocks i, f, g, o along 4H).</summary>
/// <param name="Wih">[4H, I] input weights.</param>
/// <param name="Whh">[4H, H] recurrent weights.</param>
/// <param name="Bih">[4H] input bias.</param>
/// <param name="Bhh">[4H] recurrent bias.</param>
public sealed record LstmWeights(Tensor Wih, Tensor Whh, Tensor Bih, Tensor Bhh) : IDisposable
{
    public static LstmWeights Allocate(Backend backend, int input, int hidden) => new(
        backend.Allocate(4 * hidden, input), backend.Allocate(4 * hidden, hidden), backend.Allocate(4 * hidden), backend.Allocate(4 * hidden));

    public void Dispose() { Wih.Dispose(); Whh.Dispose(); Bih.Dispose(); Bhh.Dispose(); }
}

/// <summary>
/// What forward saves for backward, and backward's scratch: allocated once per (T, B, I, H) and reused
/// every step, so the training loop allocates nothing.
/// </summary>
public sealed class LstmWorkspace : IDisposable
{
    public LstmWorkspace(Backend backend, int steps, int batch, int input, int hidden)
    {
        (Steps, Batch, Input, Hidden) = (steps, batch, input, hidden);
        Gates = backend.Allocate(steps, batch, 4 * hidden);
        C = backend.Allocate(steps, batch, hidden);
        H = backend.Allocate(steps, batch, hidden);
        DGates = backend.Allocate(steps, batch, 4 * hidden);
        WhhT = backend.Allocate(hidden, 4 * hidden);
        WihT = backend.Allocate(input, 4 * hidden);
        DhRec = backend.Allocate(batch, hidden);
        DcCarry = backend.Allocate(batch, hidden);
        DBias = backend.Allocate(4 * hidden);
    }

    public int Steps { get; }
    public int Batch { get; }
    public int Input { get; }
    public int Hidden { get; }
    /// <summary>[T,B,4H] gate activations i, f, g, o of every step.</summary>
    public Tensor Gates { get; }
    /// <summary>[T,B,H] cell states.</summary>
    public Tensor C { get; }
    /// <summary>[T,B,H] hidden states: the layer's output, in time order for both directions.</summary>
    public Tensor H { get; }
    public Tensor DGates { get; }
    /// <summary>[H,4H] W_hh transposed once per forward, so each step's recurrent GEMM reads it row by row.</summary>
    public Tensor WhhT { get; }
    /// <summary>[I,4H] W_ih transposed, for the input projection.</summary>
    public Tensor WihT { get; }
    public Tensor DhRec { get; }
    public Tensor DcCarry { get; }
    /// <summary>[4H] the column sums of DGates over all steps: the gradient of either bias (b_ih and b_hh get the same).</summary>
    public Tensor DBias { get; }
    /// <summary>Managed backend, where the packed GEMM runs the per-step recurrent product: W_hh^T packed once per forward
    /// (kept while the weights do not change), so no step packs it again.</summary>
    internal PackedGemm.PackedMatrix? PackedWhhT { get; set; }

    /// <summary>What the last <see cref="LstmLayer.Forward"/> ran on, recorded for <see cref="LstmLayer.Backward"/> to replay
    /// (as llm.c's backward reads what its forward saved): the weights, the direction, the input sequence and initial state,
    /// and whether it ran every step. Backward takes none of these again, so it cannot be given different ones.</summary>
    public LstmWeights? Weights { get; internal set; }
    public bool Reverse { get; internal set; }
    public Tensor? X { get; internal set; }
    public Tensor? H0 { get; internal set; }
    public Tensor? C0 { get; internal set; }
    /// <summary>False after a forward of only the first steps (inference): no backward may follow it.</summary>
    public bool Complete { get; internal set; }

    public void Dispose() { Gates.Dispose(); C.Dispose(); H.Dispose(); DGates.Dispose(); DhRec.Dispose(); DcCarry.Dispose(); DBias.Dispose(); WhhT.Dispose(); WihT.Dispose(); PackedWhhT?.Dispose(); }
}

/// <summary>
/// Gradients a layer's backward gives back for its inputs; null = not wanted.
/// </summary>
/// <param name="Dx">[T,B,I] gradient of the input sequence, accumulated (+=): a layer below may add more to it.</param>
/// <param name="Dh0">[B,H] gradient of the initial hidden state, overwritten.</param>
/// <param name="Dc0">[B,H] gradient of the initial cell state, overwritten.</param>
public readonly record struct LstmInputGrads(Tensor? Dx = null, Tensor? Dh0 = null, Tensor? Dc0 = null);

/// <summary>Gradient reaching a layer's final state (h and c at its last step) from outside the output sequence.</summary>
/// <param name="Dh">[B,H] of the final hidden state.</param>
/// <param name="Dc">[B,H] of the final cell state.</param>
public readonly record struct LstmFinalStateGrad(Tensor Dh, Tensor Dc);

/// <summary>
/// An LSTM layer over a whole sequence, one direction (reverse = the backward half of a bidirectional
/// layer: it reads t = T-1 .. 0 and its output at t summarises x[t..T-1]).
///
/// Forward:  W_ih^T, W_hh^T made once                       (so every GEMM streams rows)
///           gates[T*B,4H] = x[T*B,I] W_ih^T                 (one GEMM for all steps)
///           per step: gates[t] += h_prev W_hh^T             (one small GEMM)
///                     fused cell kernel -> c[t], h[t]      (biases added there)
///           (on an ILGPU device, the two per-step launches are one: LstmRecurrence)
/// Backward: per step (reverse order of forward): fused cell-gradient kernel -> dgates[t], dc carry;
///           dh_rec = dgates[t] W_hh                         (one small GEMM)
///           (on an ILGPU device, one launch per step: the product for dh_rec moves into the next step's launch)
///           then, batched over time: dW_ih += dgates^T x, dW_hh += dgates^T h_prev, db += sum dgates,
///           dx += dgates W_ih.
/// Forward records what it ran on in the workspace (<see cref="LstmWorkspace.Weights"/> ..); Backward replays that record.
/// </summary>
public static class LstmLayer
{
    /// <summary>
    /// x[T,B,I], h0[B,H], c0[B,H] -> ws.H[T,B,H] (and ws.Gates, ws.C saved). Final state: <see cref="FinalIndex"/>.
    /// The weights are first transposed into ws.WihT/ws.WhhT, unless the caller says they already hold the
    /// transposes of these exact weights (<paramref name="transposesCurrent"/>: generation, where weights never change).
    /// <paramref name="steps"/> &lt; T runs only the first steps of this direction's order (t = 0.. forward, t = T-1..
    /// reverse) and leaves the other steps of ws.H/ws.C/ws.Gates as they were: inference that needs only the reverse
    /// half's output at T-1 (one step) uses it. Backward refuses to follow such a forward.
    /// </summary>
    public static void Forward(Backend be, LstmWorkspace ws, LstmWeights w, bool reverse, Tensor x, Tensor h0, Tensor c0, bool transposesCurrent = false, int steps = -1)
    {
        int T = ws.Steps, B = ws.Batch, I = ws.Input, H = ws.Hidden;
        int n = steps < 0 ? T : Math.Min(steps, T), first = reverse ? T - n : 0; // the time steps run: first .. first+n-1
        (ws.Weights, ws.Reverse, ws.X, ws.H0, ws.C0, ws.Complete) = (w, reverse, x, h0, c0, n == T);
        if (!transposesCurrent)
        {
            Glue.Transpose(be, w.Wih, ws.WihT, 4 * H, I);
            Glue.Transpose(be, w.Whh, ws.WhhT, 4 * H, H);
        }
        var gates = MatrixView.Of(ws.Gates, T * B, 4 * H);
        var whhT = MatrixView.Of(ws.WhhT, H, 4 * H);
        // gates[first..first+n) = x[first..first+n) W_ih^T: all the steps run, in one product.
        Gemm.Forward(be, MatrixView.RowsOf(x, first * B, n * B, I), MatrixView.Of(ws.WihT, I, 4 * H), MatrixView.RowsOf(ws.Gates, first * B, n * B, 4 * H));
        // How this backend runs the recurrence, chosen here once (every other backend runs the plain GEMM + cell path):
        //   ILGPU: IlgpuBackend.RecurrenceFor: one launch per step (the fused warp-per-unit kernel, or the tiled GEMM with
        //   the cell on its outputs), or the GEMM + cell pair;
        //   managed: the recurrent product h_prev[B,H] W_hh^T[H,4H] with W_hh^T packed once for all steps.
        var (cpu, gpu) = (be as ManagedBackend, be as IlgpuBackend);
        var recurrence = gpu?.RecurrenceFor(H) ?? RecurrenceKernel.Unfused;
        bool packed = cpu is not null && Gemm.UsesPacked(B, 4 * H, H);
        if (packed && (!transposesCurrent || ws.PackedWhhT is null))
        {
            ws.PackedWhhT?.Dispose();
            ws.PackedWhhT = PackedGemm.PackB(cpu!, whhT);
        }
        for (int s = 0; s < n; s++)
        {
            int t = reverse ? T - 1 - s : s, prev = reverse ? t + 1 : t - 1;
            var (hPrev, hPrevOff) = s == 0 ? (h0, 0) : (ws.H, prev * B * H);
            var (cPrev, cPrevOff) = s == 0 ? (c0, 0) : (ws.C, prev * B * H);
            if (recurrence == RecurrenceKernel.Fused)
            {
                // One launch: the recurrent product and the cell (LstmRecurrence).
                LstmRecurrence.StepForward(gpu!, B, H, ws.Gates, t * B * 4 * H, hPrev, hPrevOff, w.Whh, w.Bih, w.Bhh, cPrev, cPrevOff, ws.C, t * B * H, ws.H, t * B * H);
                continue;
            }
            if (recurrence == RecurrenceKernel.Tiled)
            {
                // One launch: the recurrent product as GEMM tiles, the cell on its outputs (LstmTileStep).
                LstmTileStep.StepForward(gpu!, B, H, ws.Gates, t * B * 4 * H, hPrev, hPrevOff, w.Whh, w.Bih, w.Bhh, cPrev, cPrevOff, ws.C, t * B * H, ws.H, t * B * H);
                continue;
            }
            // gates[t] += h_prev W_hh^T
            var hPrevRows = new MatrixView(hPrev, hPrevOff, B, H, H);
            var gatesAtT = MatrixView.RowsOf(ws.Gates, t * B, B, 4 * H);
            if (packed) PackedGemm.RunPacked(cpu!, hPrevRows, ws.PackedWhhT!, gatesAtT);
            else Gemm.Forward(be, hPrevRows, whhT, gatesAtT, beta: 1f);
            LstmCell.StepForward(be, B, H, ws.Gates, t * B * 4 * H, w.Bih, w.Bhh, cPrev, cPrevOff, ws.C, t * B * H, ws.H, t * B * H);
        }
    }

    /// <summary>The time index whose h and c are the final state: T-1 forward, 0 reverse.</summary>
    public static int FinalIndex(LstmWorkspace ws, bool reverse) => reverse ? 0 : ws.Steps - 1;

    /// <summary>
    /// Backward of the last <see cref="Forward"/> on <paramref name="ws"/> (its weights, direction, input and initial
    /// state, as recorded): dh[T,B,H] (gradient of the output sequence) and, when given, <paramref name="final"/> (of the
    /// final state; else 0) -> grads (+=), and the input gradients <paramref name="into"/> asks for.
    /// </summary>
    public static void Backward(Backend be, LstmWorkspace ws, LstmWeights grads, Tensor dh, LstmInputGrads into = default, LstmFinalStateGrad? final = null)
    {
        if (ws.Weights is not { } w || ws.X is not { } x || ws.H0 is not { } h0 || ws.C0 is not { } c0)
            throw new InvalidOperationException("LSTM backward before any forward on this workspace");
        if (!ws.Complete) throw new InvalidOperationException("LSTM backward after a forward of only the first steps (inference): run a full forward first");
        bool reverse = ws.Reverse;
        int T = ws.Steps, B = ws.Batch, I = ws.Input, H = ws.Hidden, n = B * H;
        if (final is { } f) { Elementwise.Copy(be, f.Dh, 0, ws.DhRec, 0, n); Elementwise.Copy(be, f.Dc, 0, ws.DcCarry, 0, n); }
        else { Elementwise.Fill(be, ws.DhRec, 0f); Elementwise.Fill(be, ws.DcCarry, 0f); }

        // The backend's recurrence, chosen as in Forward (fused on ILGPU where faster, W_hh packed on the managed backend).
        var (cpu, gpu) = (be as ManagedBackend, be as IlgpuBackend);
        var recurrence = gpu?.RecurrenceFor(H) ?? RecurrenceKernel.Unfused;
        var whh = MatrixView.Of(w.Whh, 4 * H, H);
        var dhRec = MatrixView.Of(ws.DhRec, B, H);
        MatrixView DGatesAt(int t) => MatrixView.RowsOf(ws.DGates, t * B, B, 4 * H);
        // Managed backend: dh_rec[B,H] = dgates[t][B,4H] W_hh[4H,H] with W_hh packed once for all steps.
        using var packedWhh = cpu is not null && Gemm.UsesPacked(B, H, 4 * H) ? PackedGemm.PackB(cpu, whh) : null;
        // Managed backend: the bias gradient is summed step by step, right after each step's dgates rows are written and
        // while they are still in cache, instead of in two passes over all T*B rows at the end (one per bias).
        if (cpu is not null) Elementwise.Fill(be, ws.DBias, 0f);
        int tNext = -1; // the step processed just before (fused: its recurrence is computed at the start of the next launch)
        for (int s = T - 1; s >= 0; s--)
        {
            int t = reverse ? T - 1 - s : s, prev = reverse ? t + 1 : t - 1;
            var (cPrev, cPrevOff) = s == 0 ? (c0, 0) : (ws.C, prev * B * H);
            if (recurrence == RecurrenceKernel.Fused)
            {
                LstmRecurrence.StepBackward(gpu!, B, H, ws.Gates, t * B * 4 * H, ws.C, t * n, cPrev, cPrevOff, dh, t * n,
                    tNext < 0 ? null : ws.DGates, tNext * B * 4 * H, ws.WhhT, ws.DhRec, ws.DcCarry, ws.DGates, t * B * 4 * H);
                tNext = t;
                continue;
            }
            if (recurrence == RecurrenceKernel.Tiled && tNext >= 0)
            {
                // One launch: dhRec = dgates[tNext] W_hh as GEMM tiles, the cell gradient on its outputs (LstmTileStep).
                LstmTileStep.StepBackward(gpu!, B, H, ws.Gates, t * B * 4 * H, ws.C, t * n, cPrev, cPrevOff, dh, t * n, ws.DGates, tNext * B * 4 * H, w.Whh, ws.DcCarry, ws.DGates, t * B * 4 * H);
                tNext = t;
                continue;
            }
            if (recurrence == RecurrenceKernel.Tiled)
            {
                // The first processed step: its recurrent gradient is the caller's (ws.DhRec), so the plain cell kernel.
                LstmCell.StepBackward(be, B, H, ws.Gates, t * B * 4 * H, ws.C, t * n, cPrev, cPrevOff, dh, t * n, ws.DhRec, ws.DcCarry, ws.DGates, t * B * 4 * H);
                tNext = t;
                continue;
            }
            LstmCell.StepBackward(be, B, H, ws.Gates, t * B * 4 * H, ws.C, t * n, cPrev, cPrevOff, dh, t * n, ws.DhRec, ws.DcCarry, ws.DGates, t * B * 4 * H);
            if (cpu is not null) Elementwise.SumRowsForward(be, ws.DGates, B, 4 * H, ws.DBias, xOff: t * B * 4 * H);
            // dh_rec = dgates[t] W_hh (overwritten: it is the next step's recurrent gradient)
            if (packedWhh is not null)
            {
                Elementwise.Fill(be, ws.DhRec, 0f);
                PackedGemm.RunPacked(cpu!, DGatesAt(t), packedWhh, dhRec);
            }
            else Gemm.Forward(be, DGatesAt(t), whh, dhRec);
        }
        // Fused and tiled: the last processed step's recurrence (the gradient reaching h0) has not been computed yet.
        if (recurrence is RecurrenceKernel.Fused or RecurrenceKernel.Tiled && into.Dh0 is not null) Gemm.Forward(be, DGatesAt(tNext), whh, dhRec);
        if (into.Dh0 is { } dh0) Elementwise.Copy(be, ws.DhRec, 0, dh0, 0, n);
        if (into.Dc0 is { } dc0) Elementwise.Copy(be, ws.DcCarry, 0, dc0, 0, n);

        // Weight gradients, batched over time.
        var dGates = MatrixView.Of(ws.DGates, T * B, 4 * H);
        var xs = MatrixView.Of(x, T * B, I);
        Gemm.Forward(be, dGates.T, xs, MatrixView.Of(grads.Wih, 4 * H, I), beta: 1f);                 // dW_ih += dgates^T x
        // dW_hh += dgates[t]^T h_prev(t): the steps with a previous step in ws.H form one contiguous run.
        var dWhh = MatrixView.Of(grads.Whh, 4 * H, H);
        int firstWithPrev = reverse ? 0 : 1;       // time index of the first such dgates row block
        int firstPrev = reverse ? 1 : 0;           // time index of its h_prev
        if (T > 1)
            Gemm.Forward(be, MatrixView.RowsOf(ws.DGates, firstWithPrev * B, (T - 1) * B, 4 * H).T, MatrixView.RowsOf(ws.H, firstPrev * B, (T - 1) * B, H), dWhh, beta: 1f);
        int first = reverse ? T - 1 : 0;           // the step whose h_prev is h0
        Gemm.Forward(be, DGatesAt(first).T, MatrixView.Of(h0, B, H), dWhh, beta: 1f);
        // db_ih += sum dgates, db_hh += sum dgates (both biases get the same gradient). Managed: the sum made step by
        // step above, added to each. ILGPU: one column-sum launch per bias (two launches; fewer than fill + sum + two adds).
        if (cpu is not null)
        {
            Glue.Axpy(be, 1f, ws.DBias, 0, grads.Bih, 0, 4 * H);
            Glue.Axpy(be, 1f, ws.DBias, 0, grads.Bhh, 0, 4 * H);
        }
        else
        {
            Elementwise.SumRowsForward(be, ws.DGates, T * B, 4 * H, grads.Bih);
            Elementwise.SumRowsForward(be, ws.DGates, T * B, 4 * H, grads.Bhh);
        }
        if (into.Dx is { } dx) Gemm.Forward(be, dGates, MatrixView.Of(w.Wih, 4 * H, I), MatrixView.Of(dx, T * B, I), beta: 1f); // dx += dgates W_ih
    }
}
