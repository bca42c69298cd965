using System.Numerics.Tensors;
using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// The glue the model needs between the big ops, each with its backward:
/// axpy/scale, bias add, concatenation of the two LSTM directions, selection of one time step, and the
/// embedding lookup. Each is a few lines; the point is that nothing here is hidden.
/// </summary>
public static class Glue
{
    // ---------------------------------------------------------------- axpy

    /// <summary>y[yOff..+n) += alpha * x[xOff..+n). (The backward of a copy, of a step selection, of a residual add.)</summary>
    public static void Axpy(Backend backend, float alpha, Tensor x, int xOff, Tensor y, int yOff, int n)
    {
        Backend.Check(x, xOff, n, "x"); Backend.Check(y, yOff, n, "y");
        if (n == 0) return;
        switch (backend)
        {
            case ManagedBackend:
            {
                var ys = ManagedBackend.Of(y).Span(yOff, n);
                TensorPrimitives.MultiplyAdd(ManagedBackend.Of(x).Span(xOff, n), alpha, ys, ys);
                return;
            }
            case IlgpuBackend gpu:
            {
                var k = gpu.Kernel("glue.axpy", a => a.LoadAutoGroupedStreamKernel<Index1D, float, ArrayView<float>, ArrayView<float>>(AxpyKernel));
                k(n, alpha, IlgpuBackend.Of(x).Slice(xOff, n), IlgpuBackend.Of(y).Slice(yOff, n));
                return;
            }
            default: throw Backend.NotImplemented("Glue.Axpy", backend);
        }
    }

    // x[N] y[N] -> y += alpha x; one thread per element.
    static void AxpyKernel(Index1D i, float alpha, ArrayView<float> x, ArrayView<float> y) => y[i] += alpha * x[i];

    // ---------------------------------------------------------------- bias add (backward: Elementwise.SumRowsForward)

    /// <summary>y[R,N] += bias[N] broadcast over rows.</summary>
    public static void AddBias(Backend backend, Tensor y, Tensor bias, int rows, int n)
    {
        Backend.Check(y, 0, rows * n, "y"); Backend.Check(bias, 0, n, "bias");
        switch (backend)
        {
            case ManagedBackend:
            {
                var Y = ManagedBackend.Of(y); var b = ManagedBackend.Of(bias).Span(0, n);
                for (int r = 0; r < rows; r++) { var row = Y.Span(r * n, n); TensorPrimitives.Add(row, b, row); }
                return;
            }
            case IlgpuBackend gpu:
            {
                var k = gpu.Kernel("glue.addbias", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int>(AddBiasKernel));
                k(rows * n, IlgpuBackend.Of(y).Slice(0, rows * n), IlgpuBackend.Of(bias).Slice(0, n), n);
                return;
            }
            default: throw Backend.NotImplemented("Glue.AddBias", backend);
        }
    }

    // y[R,N] bias[N] -> y += bias; one thread per element.
    static void AddBiasKernel(Index1D i, ArrayView<float> y, ArrayView<float> bias, int n) => y[i] += bias[i % n];

    // ---------------------------------------------------------------- concatenation of two directions

    /// <summary>a[R,Na], b[R,Nb] -> y[R,Na+Nb] (forward half first, as PyTorch's bidirectional output).</summary>
    public static void ConcatForward(Backend backend, Tensor a, Tensor b, Tensor y, int rows, int na, int nb)
        => ConcatRun(backend, a, b, y, rows, na, nb, backward: false);

    /// <summary>dy[R,Na+Nb] -> da[R,Na] (+=), db[R,Nb] (+=).</summary>
    public static void ConcatBackward(Backend backend, Tensor dy, Tensor da, Tensor db, int rows, int na, int nb)
        => ConcatRun(backend, da, db, dy, rows, na, nb, backward: true);

    static void ConcatRun(Backend backend, Tensor a, Tensor b, Tensor y, int rows, int na, int nb, bool backward)
    {
        Backend.Check(a, 0, rows * na, "a"); Backend.Check(b, 0, rows * nb, "b"); Backend.Check(y, 0, rows * (na + nb), "y");
        switch (backend)
        {
            case ManagedBackend:
            {
                ManagedTensor A = ManagedBackend.Of(a), B = ManagedBackend.Of(b), Y = ManagedBackend.Of(y);
                int w = na + nb;
                for (int r = 0; r < rows; r++)
                {
                    if (!backward)
                    {
                        A.Span(r * na, na).CopyTo(Y.Span(r * w, na));
                        B.Span(r * nb, nb).CopyTo(Y.Span(r * w + na, nb));
                    }
                    else
                    {
                        var ra = A.Span(r * na, na); TensorPrimitives.Add(ra, Y.Span(r * w, na), ra);
                        var rb = B.Span(r * nb, nb); TensorPrimitives.Add(rb, Y.Span(r * w + na, nb), rb);
                    }
                }
                return;
            }
            case IlgpuBackend gpu:
            {
                var k = gpu.Kernel("glue.concat", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int>(ConcatKernel));
                k(rows * (na + nb), IlgpuBackend.Of(a).Slice(0, rows * na), IlgpuBackend.Of(b).Slice(0, rows * nb), IlgpuBackend.Of(y).Slice(0, rows * (na + nb)), na, nb, backward ? 1 : 0);
                return;
            }
            default: throw Backend.NotImplemented(backward ? "Glue.ConcatBackward" : "Glue.ConcatForward", backend);
        }
    }

    // a[R,Na] b[R,Nb] <-> y[R,Na+Nb]; one thread per element of y. Forward copies; backward accumulates into a, b.
    static void ConcatKernel(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y, int na, int nb, int backward)
    {
        int w = na + nb, r = i / w, j = i - r * w;
        if (j < na) { if (backward != 0) a[r * na + j] += y[i]; else y[i] = a[r * na + j]; }
        else { if (backward != 0) b[r * nb + j - na] += y[i]; else y[i] = b[r * nb + j - na]; }
    }

    // ---------------------------------------------------------------- one time step of a sequence

    /// <summary>x[T,B,F] -> y[B,F] = x[t]. (Backward: <see cref="SelectStepBackward"/>.)</summary>
    public static void SelectStepForward(Backend backend, Tensor x, int t, int rowsPerStep, Tensor y)
        => Elementwise.Copy(backend, x, t * rowsPerStep, y, 0, rowsPerStep);

    /// <summary>dy[B,F] -> dx[t] += dy (the other steps get nothing).</summary>
    public static void SelectStepBackward(Backend backend, Tensor dy, int t, int rowsPerStep, Tensor dx)
        => Axpy(backend, 1f, dy, 0, dx, t * rowsPerStep, rowsPerStep);

    // ---------------------------------------------------------------- the two ends of a bidirectional output

    /// <summary>
    /// x[T,B,2H] (forward half, reverse half) -> y[B,2H] = (x[T-1, b, :H], x[0, b, H:]): each direction's output after
    /// it has read the whole window. What the heads of a bidirectional model read (ModelConfig.BidirectionalHeads).
    /// </summary>
    public static void SelectEndsForward(Backend backend, Tensor x, Tensor y, int T, int B, int H)
        => EndsRun(backend, x, y, T, B, H, backward: false);

    /// <summary>dy[B,2H] -> dx[T-1, b, :H] += dy[b, :H], dx[0, b, H:] += dy[b, H:] (every other element untouched).</summary>
    public static void SelectEndsBackward(Backend backend, Tensor dy, Tensor dx, int T, int B, int H)
        => EndsRun(backend, dx, dy, T, B, H, backward: true);

    static void EndsRun(Backend backend, Tensor x, Tensor y, int T, int B, int H, bool backward)
    {
        Backend.Check(x, 0, T * B * 2 * H, "x"); Backend.Check(y, 0, B * 2 * H, "y");
        switch (backend)
        {
            case ManagedBackend:
            {
                Span<float> X = ManagedBackend.Of(x).Span(), Y = ManagedBackend.Of(y).Span();
                for (int i = 0; i < B * 2 * H; i++) EndsElement(X, Y, i, T, B, H, backward);
                return;
            }
            case IlgpuBackend gpu:
            {
                var k = gpu.Kernel("glue.ends", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(EndsKernel));
                k(B * 2 * H, IlgpuBackend.Of(x).Slice(0, T * B * 2 * H), IlgpuBackend.Of(y).Slice(0, B * 2 * H), T, B, H, backward ? 1 : 0);
                return;
            }
            default: throw Backend.NotImplemented("Glue.SelectEnds", backend);
        }
    }

    /// <summary>Element i of y[B,2H] and where it lives in x[T,B,2H]: row T-1 for the forward half, row 0 for the reverse.</summary>
    static int EndsSource(int i, int T, int B, int H)
    {
        int w = 2 * H, b = i / w, j = i - b * w;
        int t = j < H ? T - 1 : 0;
        return (t * B + b) * w + j;
    }

    static void EndsElement(Span<float> x, Span<float> y, int i, int T, int B, int H, bool backward)
    {
        int src = EndsSource(i, T, B, H);
        if (backward) x[src] += y[i]; else y[i] = x[src];
    }

    // x[T,B,2H] <-> y[B,2H]; one thread per element of y. Forward copies; backward accumulates into x (each element of x
    // is the source of at most one element of y, so no two threads write the same place).
    static void EndsKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, int T, int B, int H, int backward)
    {
        int src = EndsSource(i, T, B, H);
        if (backward != 0) x[src] += y[i]; else y[i] = x[src];
    }

    // ---------------------------------------------------------------- transpose

    /// <summary>x[R,N] -> y[N,R] = x^T. (Its backward is a transpose of the gradient.)</summary>
    public static void Transpose(Backend backend, Tensor x, Tensor y, int rows, int cols)
    {
        Backend.Check(x, 0, rows * cols, "x"); Backend.Check(y, 0, rows * cols, "y");
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                float[] X = ManagedBackend.Of(x).Array, Y = ManagedBackend.Of(y).Array;
                int xo = ManagedBackend.Of(x).Offset, yo = ManagedBackend.Of(y).Offset; // views start at their Offset
                const int tile = 32; // tiles keep both the reads and the strided writes within cache
                int tilesR = (rows + tile - 1) / tile;
                cpu.For(tilesR, (long)tile * cols, tr =>
                {
                    int r0 = tr * tile, r1 = Math.Min(rows, r0 + tile);
                    for (int c0 = 0; c0 < cols; c0 += tile)
                    {
                        int c1 = Math.Min(cols, c0 + tile);
                        for (int r = r0; r < r1; r++)
                            for (int col = c0; col < c1; col++) Y[yo + col * rows + r] = X[xo + r * cols + col];
                    }
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var k = gpu.Kernel("glue.transpose", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int>(TransposeKernel));
                k(rows * cols, IlgpuBackend.Of(x).Slice(0, rows * cols), IlgpuBackend.Of(y).Slice(0, rows * cols), rows, cols);
                return;
            }
            default: throw Backend.NotImplemented("Glue.Transpose", backend);
        }
    }

    // x[R,N] -> y[N,R]; one thread per element of y.
    static void TransposeKernel(Index1D i, ArrayView<float> x, ArrayView<float> y, int rows, int cols)
    {
        int col = i / rows, r = i - col * rows;
        y[i] = x[r * cols + col];
    }

    // ---------------------------------------------------------------- embedding

    /// <summary>ids[N] (integers stored as floats), table[V,E] -> y[N,E] = table[ids[n]].</summary>
    public static void EmbeddingForward(Backend backend, Tensor ids, Tensor table, Tensor y, int n, int vocab, int dim)
    {
        Backend.Check(ids, 0, n, "ids"); Backend.Check(table, 0, vocab * dim, "table"); Backend.Check(y, 0, n * dim, "y");
        IndexCheck.Column(backend, ids, n, 1, 0, vocab, "embedding id");
        switch (backend)
        {
            case ManagedBackend:
            {
                ManagedTensor I = ManagedBackend.Of(ids), W = ManagedBackend.Of(table), Y = ManagedBackend.Of(y);
                for (int r = 0; r < n; r++)
                {
                    int id = (int)I.Span(r, 1)[0];
                    W.Span(id * dim, dim).CopyTo(Y.Span(r * dim, dim));
                }
                return;
            }
            case IlgpuBackend gpu:
            {
                var k = gpu.Kernel("glue.embedding.forward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(EmbeddingForwardKernel));
                k(n * dim, IlgpuBackend.Of(ids).Slice(0, n), IlgpuBackend.Of(table).Slice(0, vocab * dim), IlgpuBackend.Of(y).Slice(0, n * dim), vocab, dim);
                return;
            }
            default: throw Backend.NotImplemented("Glue.EmbeddingForward", backend);
        }
    }

    // ids[N] table[V,E] -> y[N,E]; one thread per output element (ids were checked before the launch: IndexCheck).
    static void EmbeddingForwardKernel(Index1D i, ArrayView<float> ids, ArrayView<float> table, ArrayView<float> y, int vocab, int dim)
    {
        int r = i / dim, e = i - r * dim, id = (int)ids[r];
        if (id < 0 || id >= vocab) id = 0;
        y[i] = table[id * dim + e];
    }

    /// <summary>dy[N,E] -> dtable[V,E] += scatter-add by ids (rows summed in order: deterministic, no atomics).</summary>
    public static void EmbeddingBackward(Backend backend, Tensor ids, Tensor dy, Tensor dtable, int n, int vocab, int dim)
    {
        Backend.Check(ids, 0, n, "ids"); Backend.Check(dtable, 0, vocab * dim, "dtable"); Backend.Check(dy, 0, n * dim, "dy");
        IndexCheck.Column(backend, ids, n, 1, 0, vocab, "embedding id");
        switch (backend)
        {
            case ManagedBackend:
            {
                ManagedTensor I = ManagedBackend.Of(ids), D = ManagedBackend.Of(dtable), DY = ManagedBackend.Of(dy);
                for (int r = 0; r < n; r++)
                {
                    int id = (int)I.Span(r, 1)[0];
                    var row = D.Span(id * dim, dim);
                    TensorPrimitives.Add(row, DY.Span(r * dim, dim), row);
                }
                return;
            }
            case IlgpuBackend gpu:
            {
                var k = gpu.Kernel("glue.embedding.backward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(EmbeddingBackwardKernel));
                k(vocab * dim, IlgpuBackend.Of(ids).Slice(0, n), IlgpuBackend.Of(dy).Slice(0, n * dim), IlgpuBackend.Of(dtable).Slice(0, vocab * dim), n, dim);
                return;
            }
            default: throw Backend.NotImplemented("Glue.EmbeddingBackward", backend);
        }
    }

    // ids[N] dy[N,E] -> dtable[V,E] (+=); one thread per table element, scanning the ids in order.
    static void EmbeddingBackwardKernel(Index1D i, ArrayView<float> ids, ArrayView<float> dy, ArrayView<float> dtable, int n, int dim)
    {
        int v = i / dim, e = i - v * dim;
        float s = 0;
        for (int r = 0; r < n; r++) if ((int)ids[r] == v) s += dy[r * dim + e];
        dtable[i] += s;
    }
}
