using MusicGen.Kernels.Backends;
using MusicGen.Kernels.Ops;

namespace MusicGen.Kernels;

/// <summary>One row of the self-test table.</summary>
public sealed record SelfTestResult(string Op, string Shape, double MaxAbsError, double Tolerance, bool Passed, string? Error = null);

/// <summary>
/// Runs every op on a device and on the managed backend with the same inputs and compares the outputs:
/// |device - managed| &lt;= 1e-4 + 1e-3 |managed| per element. This is how a machine without the .NET SDK
/// (the GPU machine) is verified: `musicgen selftest --device cuda`. The managed backend itself is proven
/// against double-precision references in the test suite.
/// </summary>
public static class SelfTest
{
    const double Atol = 1e-4, Rtol = 1e-3;

    /// <param name="tiny">Small shapes only (ILGPU's CPU simulator is very slow).</param>
    public static List<SelfTestResult> Run(Backend device, bool tiny)
    {
        using var reference = new ManagedBackend();
        var results = new List<SelfTestResult>();
        foreach (var (op, shape, body) in Cases(tiny, device))
        {
            try
            {
                var expected = body(reference);
                var actual = body(device);
                double worst = 0, tol = 0;
                bool ok = true;
                foreach (var (name, e) in expected)
                {
                    var a = actual[name];
                    for (int i = 0; i < e.Length; i++)
                    {
                        double err = Math.Abs(a[i] - e[i]), allowed = Atol + Rtol * Math.Abs(e[i]);
                        if (!(err <= allowed)) ok = false; // NaN fails too
                        if (!(err <= worst)) { worst = err; tol = allowed; }
                    }
                }
                results.Add(new SelfTestResult(op, shape, worst, tol == 0 ? Atol : tol, ok));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                results.Add(new SelfTestResult(op, shape, double.NaN, Atol, false, $"{e.GetType().Name}: {e.Message}"));
            }
        }
        return results;
    }

    delegate Dictionary<string, float[]> Case(Backend backend);

    static IEnumerable<(string Op, string Shape, Case Body)> Cases(bool tiny, Backend device)
    {
        var gemmShapes = tiny ? new[] { (7, 5, 3), (17, 18, 19) } : [(7, 5, 3), (640, 512, 3), (64, 512, 128), (512, 512, 512)];
        foreach (var (m, n, k) in gemmShapes)
            foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false) })
                yield return ($"gemm {(ta ? 'T' : 'N')}{(tb ? 'T' : 'N')}", $"m={m} n={n} k={k}", be => Gemm(be, m, n, k, ta, tb));

        var lstmShapes = tiny ? new[] { (5, 3, 3, 7) } : [(5, 3, 3, 7), (10, 64, 3, 128), (10, 64, 256, 128)];
        foreach (var (T, B, I, H) in lstmShapes)
            foreach (bool reverse in new[] { false, true })
                yield return ($"lstm fwd+bwd{(reverse ? " reverse" : "")}", $"T={T} B={B} I={I} H={H}", be => Lstm(be, T, B, I, H, reverse, Backends.RecurrenceKernel.Unfused));
        // The one-launch recurrences (a kernel per step on ILGPU devices; the managed backend has only one path): the fused
        // warp-per-unit kernel, and the tiled GEMM with the cell on its outputs.
        var (fT, fB, fI, fH) = lstmShapes[^1];
        foreach (var recurrence in new[] { Backends.RecurrenceKernel.Fused, Backends.RecurrenceKernel.Tiled })
            foreach (bool reverse in new[] { false, true })
                yield return ($"lstm fwd+bwd {recurrence.ToString().ToLowerInvariant()}{(reverse ? " reverse" : "")}", $"T={fT} B={fB} I={fI} H={fH}", be => Lstm(be, fT, fB, fI, fH, reverse, recurrence));

        int rows = tiny ? 5 : 640, feat = tiny ? 7 : 256, batch = tiny ? 3 : 64, count = tiny ? 301 : 1 << 20;
        yield return ("layernorm fwd+bwd", $"R={rows} N={feat}", be => LayerNormCase(be, rows, feat));
        yield return ("dropout fwd+bwd", $"N={count} p=0.3", be => DropoutCase(be, count));
        yield return ("loss (3 heads, huber)", $"B={batch}", be => LossCase(be, batch, 3, true));
        yield return ("loss (2 heads, mse+pressure)", $"B={batch}", be => LossCase(be, batch, 2, false));
        int catRows = tiny ? 3 : 2048;
        yield return ("loss (categorical, 4 groups)", $"N={catRows} K=288", be => CategoricalCase(be, catRows));
        yield return ("loss (binary cross-entropy, 88 keys)", $"N={catRows} K=88", be => BceCase(be, catRows));
        yield return ("step conditioning fwd+bwd", $"N={catRows} K=288", be => ConditioningCase(be, catRows));
        yield return ("adamw + clip", $"N={count}", be => AdamCase(be, count));
        var attention = tiny ? new AdditiveAttention.Shape(5, 3, 4, 6, 3, 2) : new AdditiveAttention.Shape(64, 64, 256, 128, 32, 0);
        yield return ("additive attention fwd+bwd", $"T={attention.T} B={attention.B} H={attention.H} A={attention.A} span={attention.Span} past={attention.Past}", be => AttentionCase(be, attention));
        var nade = tiny ? new Nade.Shape(5, 6, 4) : new Nade.Shape(2048, 88, 150);
        yield return ("nade fwd+bwd", $"R={nade.Rows} K={nade.Keys} N={nade.Hidden}", be => NadeCase(be, nade));
        yield return ("concat + embedding + bias + ends", $"R={rows}", be => GlueCase(be, rows));
        // Where the device has TF32 tensor cores: its TF32 GEMM against the managed GEMM of the same inputs rounded to TF32
        // (the products are then exact on both; only the order of the float32 sums differs).
        if (device is IlgpuBackend gpu && Tf32Gemm.Supported(gpu))
            foreach (var (m, n, k) in tiny ? new[] { (17, 18, 19) } : [(640, 512, 3), (512, 512, 512), (256, 2048, 512)])
                foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false) })
                    yield return ($"gemm tf32 {(ta ? 'T' : 'N')}{(tb ? 'T' : 'N')}", $"m={m} n={n} k={k}", be => GemmTf32(be, m, n, k, ta, tb));
    }

    static Dictionary<string, float[]> GemmTf32(Backend be, int m, int n, int k, bool ta, bool tb)
    {
        var (aHost, bHost) = (Rand(m * k, 1), Rand(k * n, 2));
        if (be is ManagedBackend)
            for (int i = 0; i < aHost.Length || i < bHost.Length; i++)
            {
                if (i < aHost.Length) aHost[i] = Tf32Gemm.RoundToTf32(aHost[i]);
                if (i < bHost.Length) bHost[i] = Tf32Gemm.RoundToTf32(bHost[i]);
            }
        var was = be.Precision;
        if (be is not ManagedBackend) be.UsePrecision(GemmPrecision.Tf32);
        try
        {
            using var a = be.Upload(aHost, m * k); using var b = be.Upload(bHost, k * n); using var c = be.Upload(Rand(m * n, 3), m * n);
            var va = ta ? MatrixView.Of(a, k, m).T : MatrixView.Of(a, m, k); var vb = tb ? MatrixView.Of(b, n, k).T : MatrixView.Of(b, k, n);
            Ops.Gemm.Forward(be, va, vb, MatrixView.Of(c, m, n), alpha: 0.5f, beta: 0.25f);
            return new() { ["C"] = be.Download(c) };
        }
        finally { be.UsePrecision(was); }
    }

    static float[] Rand(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((r.NextDouble() * 2 - 1) * scale);
        return a;
    }

    static Dictionary<string, float[]> Gemm(Backend be, int m, int n, int k, bool ta, bool tb)
    {
        using var a = be.Upload(Rand(m * k, 1), m * k); using var b = be.Upload(Rand(k * n, 2), k * n); using var c = be.Upload(Rand(m * n, 3), m * n);
        var va = ta ? MatrixView.Of(a, k, m).T : MatrixView.Of(a, m, k); var vb = tb ? MatrixView.Of(b, n, k).T : MatrixView.Of(b, k, n);
        Ops.Gemm.Forward(be, va, vb, MatrixView.Of(c, m, n), alpha: 0.5f, beta: 0.25f);
        return new() { ["C"] = be.Download(c) };
    }

    static Dictionary<string, float[]> Lstm(Backend be, int T, int B, int I, int H, bool reverse, Backends.RecurrenceKernel recurrence)
    {
        if (be is not Backends.IlgpuBackend gpu) return LstmRun(be, T, B, I, H, reverse);
        var was = gpu.Recurrence;
        gpu.Recurrence = recurrence;
        try { return LstmRun(be, T, B, I, H, reverse); }
        finally { gpu.Recurrence = was; }
    }

    static Dictionary<string, float[]> LstmRun(Backend be, int T, int B, int I, int H, bool reverse)
    {
        float s = 1f / MathF.Sqrt(H);
        using var w = new LstmWeights(be.Upload(Rand(4 * H * I, 4, s), 4 * H, I), be.Upload(Rand(4 * H * H, 5, s), 4 * H, H), be.Upload(Rand(4 * H, 6, s), 4 * H), be.Upload(Rand(4 * H, 7, s), 4 * H));
        using var g = LstmWeights.Allocate(be, I, H);
        using var ws = new LstmWorkspace(be, T, B, I, H);
        using var x = be.Upload(Rand(T * B * I, 8), T, B, I); using var h0 = be.Upload(Rand(B * H, 9), B, H); using var c0 = be.Upload(Rand(B * H, 10), B, H);
        using var dh = be.Upload(Rand(T * B * H, 11), T, B, H); using var dx = be.Allocate(T, B, I); using var dh0 = be.Allocate(B, H); using var dc0 = be.Allocate(B, H);
        LstmLayer.Forward(be, ws, w, reverse, x, h0, c0);
        LstmLayer.Backward(be, ws, g, dh, new LstmInputGrads(dx, dh0, dc0));
        return new()
        {
            ["h"] = be.Download(ws.H), ["c"] = be.Download(ws.C), ["dW_ih"] = be.Download(g.Wih), ["dW_hh"] = be.Download(g.Whh),
            ["db"] = be.Download(g.Bih), ["dx"] = be.Download(dx), ["dh0"] = be.Download(dh0), ["dc0"] = be.Download(dc0),
        };
    }

    static Dictionary<string, float[]> LayerNormCase(Backend be, int R, int N)
    {
        using var x = be.Upload(Rand(R * N, 12, 2f), R, N); using var gain = be.Upload(Rand(N, 13), N); using var bias = be.Upload(Rand(N, 14), N);
        using var y = be.Allocate(R, N); using var mean = be.Allocate(R); using var rstd = be.Allocate(R);
        using var dy = be.Upload(Rand(R * N, 15), R, N); using var dx = be.Allocate(R, N); using var dg = be.Allocate(N); using var db = be.Allocate(N);
        LayerNorm.Forward(be, R, N, x, gain, bias, y, mean, rstd);
        LayerNorm.Backward(be, R, N, dy, x, gain, mean, rstd, dx, dg, db);
        return new() { ["y"] = be.Download(y), ["dx"] = be.Download(dx), ["dgain"] = be.Download(dg), ["dbias"] = be.Download(db) };
    }

    static Dictionary<string, float[]> AttentionCase(Backend be, AdditiveAttention.Shape s)
    {
        int S = s.S;
        using var values = be.Upload(Rand(S * s.B * s.H, 40), S * s.B * s.H); using var keys = be.Upload(Rand(S * s.B * s.A, 41), S * s.B * s.A);
        using var queries = be.Upload(Rand(s.T * s.B * s.A, 42), s.T * s.B * s.A); using var v = be.Upload(Rand(s.A, 43), s.A);
        using var alpha = be.Allocate(s.T * s.B * s.Span); using var ctx = be.Allocate(s.T * s.B * s.H);
        using var dctx = be.Upload(Rand(s.T * s.B * s.H, 44), s.T * s.B * s.H); using var de = be.Allocate(s.T * s.B * s.Span);
        using var dvalues = be.Allocate(S * s.B * s.H); using var dkeys = be.Allocate(S * s.B * s.A); using var dqueries = be.Allocate(s.T * s.B * s.A); using var dv = be.Allocate(s.A);
        AdditiveAttention.Forward(be, s, values, keys, queries, v, alpha, ctx);
        AdditiveAttention.Backward(be, s, dctx, values, keys, queries, v, alpha, de, dvalues, dkeys, dqueries, dv);
        return new()
        {
            ["alpha"] = be.Download(alpha), ["ctx"] = be.Download(ctx), ["dvalues"] = be.Download(dvalues), ["dkeys"] = be.Download(dkeys),
            ["dqueries"] = be.Download(dqueries), ["dv"] = be.Download(dv),
        };
    }

    static Dictionary<string, float[]> DropoutCase(Backend be, int n)
    {
        using var x = be.Upload(Rand(n, 16), n); using var y = be.Allocate(n); using var dx = be.Allocate(n);
        Dropout.Forward(be, x, y, n, 0.3f, 1234, 5);
        Dropout.Backward(be, x, dx, n, 0.3f, 1234, 5);
        return new() { ["y"] = be.Download(y), ["dx"] = be.Download(dx) };
    }

    static Dictionary<string, float[]> LossCase(Backend be, int B, int R, bool huber)
    {
        var targets = new float[B * (1 + R)];
        var rt = Rand(B * (1 + R), 17);
        for (int b = 0; b < B; b++)
            for (int k = 0; k <= R; k++) targets[b * (1 + R) + k] = k == 0 ? (b * 37) % 128 : rt[b * (1 + R) + k];
        using var l = be.Upload(Rand(B * 128, 18, 3f), B, 128); using var y = be.Upload(Rand(B * R, 19), B, R); using var t = be.Upload(targets, B, 1 + R);
        using var dl = be.Allocate(B, 128); using var dy = be.Allocate(B, R); using var rows = be.Allocate(B, 1 + R);
        MultiHeadLoss.ForwardBackward(be, B, new LossConfig(0.5f, 1f, 2f, 0.25f, R, huber), l, y, t, dl, dy, rows);
        return new() { ["dlogits"] = be.Download(dl), ["dreg"] = be.Download(dy), ["rowLoss"] = be.Download(rows) };
    }

    static readonly CategoricalGroups Groups = CategoricalGroups.From([128, 64, 64, 32], [1f, 0.5f, 0.5f, 0.25f]);

    /// <summary>Targets [N,4] of the default categorical heads: a class per group.</summary>
    static float[] CategoricalTargets(int N)
    {
        var t = new float[N * 4];
        for (int r = 0; r < N; r++) for (int g = 0; g < 4; g++) t[r * 4 + g] = (r * 37 + g * 11) % Groups.Size(g);
        return t;
    }

    static Dictionary<string, float[]> CategoricalCase(Backend be, int N)
    {
        int K = Groups.Width;
        using var l = be.Upload(Rand(N * K, 24, 3f), N, K); using var t = be.Upload(CategoricalTargets(N), N, 4);
        using var dl = be.Allocate(N, K); using var rows = be.Allocate(N, 4);
        CategoricalLoss.ForwardBackward(be, N, Groups, l, t, dl, rows);
        return new() { ["dlogits"] = be.Download(dl), ["rowLoss"] = be.Download(rows) };
    }

    static Dictionary<string, float[]> BceCase(Backend be, int N)
    {
        const int K = 88;
        var targets = Rand(N * K, 29).Select(v => v > 0.6f ? 1f : 0f).ToArray(); // about one key in five on
        var weights = Enumerable.Range(0, N).Select(r => r % 3 == 2 ? 0f : 1f).ToArray(); // some padding rows
        using var l = be.Upload(Rand(N * K, 30, 6f), N, K); using var t = be.Upload(targets, N, K); using var w = be.Upload(weights, N);
        using var dl = be.Allocate(N, K); using var rows = be.Allocate(N);
        BinaryCrossEntropy.ForwardBackward(be, N, K, 1f / N, l, t, w, dl, rows);
        return new() { ["dlogits"] = be.Download(dl), ["rowLoss"] = be.Download(rows) };
    }

    static Dictionary<string, float[]> NadeCase(Backend be, Nade.Shape s)
    {
        int R = s.Rows, K = s.Keys, N = s.Hidden;
        var keys = Rand(R * K, 50).Select(v => v > 0.6f ? 1f : 0f).ToArray();
        using var d = be.Upload(Rand(R * K, 51), R * K); using var c = be.Upload(Rand(R * N, 52), R * N); using var v = be.Upload(keys, R * K);
        using var W = be.Upload(Rand(N * K, 53), N * K); using var V = be.Upload(Rand(K * N, 54), K * N);
        using var hidden = be.Allocate(R * K * N); using var z = be.Allocate(R * K); using var dz = be.Upload(Rand(R * K, 55), R * K);
        using var dA = be.Allocate(R * K * N); using var dc = be.Allocate(R * N); using var dW = be.Allocate(N * K); using var dV = be.Allocate(K * N);
        Nade.Forward(be, s, d, c, v, W, V, hidden, z);
        Nade.Backward(be, s, dz, v, W, V, hidden, dA, dc, dW, dV);
        return new() { ["z"] = be.Download(z), ["dc"] = be.Download(dc), ["dW"] = be.Download(dW), ["dV"] = be.Download(dV) };
    }

    static Dictionary<string, float[]> ConditioningCase(Backend be, int N)
    {
        int K = Groups.Width;
        using var l = be.Upload(Rand(N * K, 25), N, K); using var t = be.Upload(CategoricalTargets(N), N, 4); using var w = be.Upload(Rand(64 * K, 26), 64, K);
        using var d = be.Upload(Rand(N * K, 27), N, K); using var dw = be.Upload(Rand(64 * K, 28), 64, K);
        ClassConditioning.Forward(be, l, t, w, N, K, 4, 1, 128, 64);
        ClassConditioning.Backward(be, d, t, dw, N, K, 4, 1, 128, 64);
        return new() { ["logits"] = be.Download(l), ["dtable"] = be.Download(dw) };
    }

    static Dictionary<string, float[]> AdamCase(Backend be, int n)
    {
        using var p = be.Upload(Rand(n, 20), n); using var g = be.Upload(Rand(n, 21), n); using var m = be.Allocate(n); using var v = be.Allocate(n);
        using var norm2 = be.Allocate(1); using var partials = be.Allocate((n + 4095) / 4096);
        var cfg = new AdamConfig(LearningRate: 0.01f, WeightDecay: 0.01f, MaxGradNorm: 1f);
        for (int t = 1; t <= 3; t++)
        {
            Elementwise.Fill(be, norm2, 0f);
            Adam.SumSquares(be, g, n, partials, norm2);
            Adam.Step(be, p, g, m, v, n, cfg, t, norm2);
        }
        return new() { ["param"] = be.Download(p), ["m"] = be.Download(m), ["v"] = be.Download(v), ["norm2"] = be.Download(norm2) };
    }

    static Dictionary<string, float[]> GlueCase(Backend be, int R)
    {
        const int Na = 5, Nb = 4, V = 128, E = 8;
        using var a = be.Upload(Rand(R * Na, 22), R, Na); using var b = be.Upload(Rand(R * Nb, 23), R, Nb); using var y = be.Allocate(R, Na + Nb);
        using var bias = be.Upload(Rand(Na + Nb, 24), Na + Nb);
        Glue.ConcatForward(be, a, b, y, R, Na, Nb);
        Glue.AddBias(be, y, bias, R, Na + Nb);
        Glue.ConcatBackward(be, y, a, b, R, Na, Nb);
        var ids = Rand(R, 25).Select(v => MathF.Floor((v + 1) * 63.9f)).ToArray();
        using var tids = be.Upload(ids, R); using var table = be.Upload(Rand(V * E, 26), V, E); using var emb = be.Allocate(R, E); using var dtable = be.Allocate(V, E);
        Glue.EmbeddingForward(be, tids, table, emb, R, V, E);
        Glue.EmbeddingBackward(be, tids, emb, dtable, R, V, E);
        // The two ends of a bidirectional output: x[T,B,2H] -> y[B,2H], and back.
        const int T = 4, H = 3; int B = Math.Max(1, R / T);
        using var seq = be.Upload(Rand(T * B * 2 * H, 27), T, B, 2 * H); using var ends = be.Allocate(B, 2 * H);
        Glue.SelectEndsForward(be, seq, ends, T, B, H);
        Glue.SelectEndsBackward(be, ends, seq, T, B, H);
        return new() { ["concat"] = be.Download(y), ["da"] = be.Download(a), ["db"] = be.Download(b), ["emb"] = be.Download(emb), ["dtable"] = be.Download(dtable), ["ends"] = be.Download(ends), ["dseq"] = be.Download(seq) };
    }
}
