using MathNet.Numerics.LinearAlgebra;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Tests.Kernels.Conformance;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Kernels;

/// <summary>Every non-LSTM op against the double reference, written once and run on each backend by the subclasses at the end.</summary>
public abstract class OpsConformance : BackendConformance
{
    [BackendFact]
    public void Layer_norm_forward_and_backward()
    {
        using var be = CreateBackend();
        var r = new Rand(21);
        int R = Size(640, 5), N = Size(256, 7);
        var x = r.Floats(R * N, 2f); var gain = r.Floats(N); var bias = r.Floats(N); var dy = r.Floats(R * N); var dx0 = r.Floats(R * N);
        var gx = Rand.Mat(x, R, N); var gg = Rand.Vec(gain); var gb = Rand.Vec(bias);
        var expectedY = RefOps.LayerNorm(gx, gg, gb);
        var (edx, edg, edb) = RefOps.LayerNormBackward(gx, gg, Rand.Mat(dy, R, N));

        using var tx = be.Upload(x, R, N); using var tg = be.Upload(gain, N); using var tb = be.Upload(bias, N);
        using var ty = be.Allocate(R, N); using var mean = be.Allocate(R); using var rstd = be.Allocate(R);
        LayerNorm.Forward(be, R, N, tx, tg, tb, ty, mean, rstd);
        Close.Matrix(be.Download(ty), expectedY, "y");

        using var tdy = be.Upload(dy, R, N); using var tdx = be.Upload(dx0, R, N); using var tdg = be.Allocate(N); using var tdb = be.Allocate(N);
        LayerNorm.Backward(be, R, N, tdy, tx, tg, mean, rstd, tdx, tdg, tdb);
        Close.Matrix(be.Download(tdx), edx + Rand.Mat(dx0, R, N), "dx (accumulated)");
        Close.All(be.Download(tdg), i => edg[i], "dgain", atol: 1e-4);
        Close.All(be.Download(tdb), i => edb[i], "dbias", atol: 1e-4);
    }

    [BackendFact]
    public void Additive_attention_forward_and_backward()
    {
        using var be = CreateBackend();
        foreach (var (T, B, H, A, span, past) in new[] { (Size(32, 5), Size(16, 3), Size(64, 4), Size(32, 6), Size(16, 3), 0), (3, 2, 5, 4, 4, 2) })
        {
            var r = new Rand(41);
            int S = past + T;
            var s = new AdditiveAttention.Shape(T, B, H, A, span, past);
            float[] values = r.Floats(S * B * H), keys = r.Floats(S * B * A), queries = r.Floats(T * B * A), v = r.Floats(A, 2f), dctx = r.Floats(T * B * H);
            float[] dvalues0 = r.Floats(S * B * H), dkeys0 = r.Floats(S * B * A), dqueries0 = r.Floats(T * B * A), dv0 = r.Floats(A);
            double[] D(float[] x) => x.Select(f => (double)f).ToArray();
            var (ealpha, ectx) = RefOps.Attention(D(values), D(keys), D(queries), D(v), T, B, H, A, span, past);
            var (edv, edk, edq, edvv) = RefOps.AttentionBackward(D(dctx), D(values), D(keys), D(queries), D(v), T, B, H, A, span, past);

            using var tv = be.Upload(values, S * B * H); using var tk = be.Upload(keys, S * B * A); using var tq = be.Upload(queries, T * B * A); using var tw = be.Upload(v, A);
            using var alpha = be.Allocate(T * B * span); using var ctx = be.Allocate(T * B * H);
            AdditiveAttention.Forward(be, s, tv, tk, tq, tw, alpha, ctx);
            Close.All(be.Download(alpha), i => ealpha[i], "alpha");
            Close.All(be.Download(ctx), i => ectx[i], "ctx");

            using var tdc = be.Upload(dctx, T * B * H); using var de = be.Allocate(T * B * span);
            using var tdv = be.Upload(dvalues0, S * B * H); using var tdk = be.Upload(dkeys0, S * B * A); using var tdq = be.Upload(dqueries0, T * B * A); using var tdw = be.Upload(dv0, A);
            AdditiveAttention.Backward(be, s, tdc, tv, tk, tq, tw, alpha, de, tdv, tdk, tdq, tdw);
            Close.All(be.Download(tdv), i => edv[i] + dvalues0[i], "dvalues (accumulated)");
            Close.All(be.Download(tdk), i => edk[i] + dkeys0[i], "dkeys (accumulated)");
            Close.All(be.Download(tdq), i => edq[i] + dqueries0[i], "dqueries (accumulated)");
            Close.All(be.Download(tdw), i => edvv[i] + dv0[i], "dv (accumulated)", atol: 1e-4);
        }
        using var small = be.Allocate(4);
        Assert.Throws<ArgumentOutOfRangeException>(() => AdditiveAttention.Forward(be, new AdditiveAttention.Shape(1, 1, 1, 1, 0, 0), small, small, small, small, small, small));
    }

    [BackendFact]
    public void Nade_forward_and_backward()
    {
        using var be = CreateBackend();
        foreach (var (R, K, N) in new[] { (Size(96, 4), Size(88, 7), Size(150, 5)), (3, 1, 2) })
        {
            var r = new Rand(61);
            var s = new Nade.Shape(R, K, N);
            float[] d = r.Floats(R * K), c = r.Floats(R * N), W = r.Floats(N * K), V = r.Floats(K * N), dz = r.Floats(R * K);
            float[] v = r.Floats(R * K).Select(x => x > 0.5f ? 1f : 0f).ToArray(); // about one key in four on
            for (int k = 0; k < K; k++) dz[(R - 1) * K + k] = 0; // a padding row: no gradient flows from it
            float[] dW0 = r.Floats(N * K), dV0 = r.Floats(K * N);
            double[] D(float[] x) => x.Select(f => (double)f).ToArray();
            var ez = RefOps.Nade(D(d), D(c), D(v), D(W), D(V), R, K, N);
            var (_, edc, edW, edV) = RefOps.NadeBackward(D(dz), D(c), D(v), D(W), D(V), R, K, N);

            using var td = be.Upload(d, R * K); using var tc = be.Upload(c, R * N); using var tv = be.Upload(v, R * K);
            using var tW = be.Upload(W, N * K); using var tV = be.Upload(V, K * N);
            using var hidden = be.Allocate(R * K * N); using var z = be.Allocate(R * K);
            Nade.Forward(be, s, td, tc, tv, tW, tV, hidden, z);
            Close.All(be.Download(z), i => ez[i], "z");

            using var tdz = be.Upload(dz, R * K); using var dA = be.Allocate(R * K * N); using var dc = be.Upload(r.Floats(R * N), R * N);
            using var tdW = be.Upload(dW0, N * K); using var tdV = be.Upload(dV0, K * N);
            Nade.Backward(be, s, tdz, tv, tW, tV, hidden, dA, dc, tdW, tdV);
            Close.All(be.Download(dc), i => edc[i], "dc (overwritten)", atol: 1e-4);
            Close.All(be.Download(tdW), i => edW[i] + dW0[i], "dW (accumulated)", atol: 1e-4);
            Close.All(be.Download(tdV), i => edV[i] + dV0[i], "dV (accumulated)", atol: 1e-4);
        }
    }

    [BackendFact]
    public void Dropout_draws_the_same_mask_as_the_reference_hash_and_backward_reuses_it()
    {
        using var be = CreateBackend();
        int n = Size(100_000, 257);
        const float p = 0.3f;
        var x = new Rand(8).Floats(n);
        using var tx = be.Upload(x, n); using var ty = be.Allocate(n);
        Dropout.Forward(be, tx, ty, n, p, seed: 42, counter: 7);
        var y = be.Download(ty);
        int kept = 0;
        for (int i = 0; i < n; i++)
        {
            bool keep = Dropout.Hash(42, 7, (uint)i) / 4294967296.0 >= p;
            Assert.Equal(keep ? x[i] / (1 - p) : 0f, y[i], 1e-6f);
            if (keep) kept++;
        }
        if (n > 10_000) Assert.InRange(kept / (double)n, 0.69, 0.71);

        using var dx = be.Upload(Enumerable.Repeat(1f, n).ToArray(), n);
        Dropout.Backward(be, tx, dx, n, p, 42, 7);
        var d = be.Download(dx);
        for (int i = 0; i < n; i++) Assert.Equal(1f + (y[i] == 0 && x[i] != 0 ? 0 : x[i] / (1 - p)), d[i], 1e-5f);

        Dropout.Forward(be, tx, ty, n, p, seed: 42, counter: 8);
        Assert.NotEqual(y, be.Download(ty)); // a new call counter draws a new mask
        Assert.Throws<ArgumentOutOfRangeException>(() => Dropout.Forward(be, tx, ty, n, 1f, 1, 1));
    }

    [BackendFact]
    public void Dropout_on_a_shard_of_the_batch_draws_the_whole_batchs_mask_for_those_rows()
    {
        // A batch [T=3, B=5, D=4] dropped whole, and rows 2..3 of it dropped as a data-parallel rank holds them ([3, 2, 4]).
        using var be = CreateBackend();
        const int T = 3, B = 5, D = 4, first = 2, rows = 2;
        const float p = 0.4f;
        var x = new Rand(9).Floats(T * B * D);
        using var whole = be.Upload(x, T * B * D); using var wholeOut = be.Allocate(T * B * D);
        Dropout.Forward(be, whole, wholeOut, T * B * D, p, 5, 6);
        var expected = be.Download(wholeOut);
        var local = new float[T * rows * D];
        for (int t = 0; t < T; t++) Array.Copy(x, (t * B + first) * D, local, t * rows * D, rows * D);
        using var shard = be.Upload(local, T * rows * D); using var shardOut = be.Allocate(T * rows * D); using var grad = be.Allocate(T * rows * D);
        var layout = DropoutShard.Rows(first, rows, B, D);
        Dropout.Forward(be, shard, shardOut, T * rows * D, p, 5, 6, layout);
        Dropout.Backward(be, shard, grad, T * rows * D, p, 5, 6, layout);
        var got = be.Download(shardOut);
        for (int t = 0; t < T; t++)
            for (int k = 0; k < rows * D; k++) Assert.Equal(expected[(t * B + first) * D + k], got[t * rows * D + k]);
        Assert.Equal(got, be.Download(grad)); // backward (+= into zeros) applies the same mask
        Assert.Equal(DropoutShard.Whole, DropoutShard.Rows(0, B, B, D));
    }

    [BackendFact]
    public void Locked_dropout_draws_one_mask_for_every_time_step_of_a_row_also_on_a_shard()
    {
        // [T=4, B=3, D=5], locked: element (t, b, f) keeps or drops as hash(seed, counter, b*D + f) says, at every t.
        using var be = CreateBackend();
        const int T = 4, B = 3, D = 5, n = T * B * D;
        const float p = 0.5f;
        var x = new Rand(10).Floats(n);
        using var tx = be.Upload(x, n); using var ty = be.Allocate(n); using var dx = be.Allocate(n);
        Dropout.Forward(be, tx, ty, n, p, 3, 9, stepBlock: B * D);
        Dropout.Backward(be, tx, dx, n, p, 3, 9, stepBlock: B * D);
        var y = be.Download(ty);
        for (int t = 0; t < T; t++)
            for (int k = 0; k < B * D; k++)
            {
                bool keep = Dropout.Hash(3, 9, (uint)k) / 4294967296.0 >= p;
                Assert.Equal(keep ? x[t * B * D + k] / (1 - p) : 0f, y[t * B * D + k], 1e-6f);
            }
        Assert.Equal(y, be.Download(dx)); // backward (+= into zeros): the same mask
        Assert.Contains(0f, y); // some dropped ..
        Assert.NotEqual(y, new float[n]); // .. and some kept

        // Rows 1..2 held by a data-parallel rank draw the whole batch's locked masks for those rows.
        const int first = 1, rows = 2;
        var local = new float[T * rows * D];
        for (int t = 0; t < T; t++) Array.Copy(x, (t * B + first) * D, local, t * rows * D, rows * D);
        using var shard = be.Upload(local, local.Length); using var shardOut = be.Allocate(local.Length);
        Dropout.Forward(be, shard, shardOut, local.Length, p, 3, 9, DropoutShard.Rows(first, rows, B, D), stepBlock: rows * D);
        var got = be.Download(shardOut);
        for (int t = 0; t < T; t++)
            for (int k = 0; k < rows * D; k++) Assert.Equal(y[(t * B + first) * D + k], got[t * rows * D + k]);

        Assert.Throws<ArgumentOutOfRangeException>(() => Dropout.Forward(be, tx, ty, n, p, 3, 9, stepBlock: 7)); // 7 does not divide 60
    }

    [BackendTheory]
    [InlineData(2, false)]
    [InlineData(3, true)]
    public void Multi_head_loss_values_and_gradients(int R, bool huber)
    {
        int B = Size(64, 3);
        using var be = CreateBackend();
        var r = new Rand(B + R);
        var logits = r.Floats(B * 128, 3f); var reg = r.Floats(B * R, 1f);
        var targets = new float[B * (1 + R)];
        var refTargets = new double[B][];
        for (int b = 0; b < B; b++)
        {
            targets[b * (1 + R)] = (b * 37) % 128;
            for (int k = 0; k < R; k++) targets[b * (1 + R) + 1 + k] = (float)(0.1 * (k + 1) * (b % 3));
            refTargets[b] = targets.Skip(b * (1 + R)).Take(1 + R).Select(v => (double)v).ToArray();
        }
        var cfg = new LossConfig(PitchWeight: 0.5f, StepWeight: 1f, DurationWeight: 2f, VelocityWeight: 0.25f, RegressionHeads: R, Huber: huber);
        var (heads, total, edl, edr) = RefOps.Loss(Rand.Mat(logits, B, 128), Rand.Mat(reg, B, R), refTargets, new RefOps.LossWeights(0.5, 1, 2, 0.25, Huber: huber));

        using var tl = be.Upload(logits, B, 128); using var tr = be.Upload(reg, B, R); using var tt = be.Upload(targets, B, 1 + R);
        using var dl = be.Allocate(B, 128); using var dr = be.Allocate(B, R); using var rows = be.Allocate(B, 1 + R);
        MultiHeadLoss.ForwardBackward(be, B, cfg, tl, tr, tt, dl, dr, rows);
        var got = MultiHeadLoss.HeadLosses(be, rows, B, 1 + R);
        Close.All(got, k => heads[k], "head loss");
        Assert.Equal(total, MultiHeadLoss.Total(cfg, got), 3);
        Close.Matrix(be.Download(dl), edl, "dlogits");
        Close.Matrix(be.Download(dr), edr, "dreg");
    }

    [BackendTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void Categorical_loss_values_and_gradients(bool velocity)
    {
        int N = velocity ? Size(64, 3) : Size(5, 2);
        using var be = CreateBackend();
        int[] sizes = velocity ? [128, 64, 64, 32] : [128, 9, 6];
        float[] weights = velocity ? [1f, 0.5f, 0.7f, 0.25f] : [0.8f, 1f, 2f];
        var groups = CategoricalGroups.From(sizes, weights);
        int K = groups.Width, G = sizes.Length;
        var r = new Rand(N + K);
        var logits = r.Floats(N * K, 3f);
        var targets = new float[N * G];
        for (int n = 0; n < N; n++)
            for (int g = 0; g < G; g++) targets[n * G + g] = (n * 37 + g * 11) % sizes[g];
        var refTargets = Enumerable.Range(0, N).Select(n => targets.Skip(n * G).Take(G).Select(v => (double)v).ToArray()).ToArray();
        var (heads, total, edl) = RefOps.CategoricalLoss(Rand.Mat(logits, N, K), refTargets, sizes, weights.Select(w => (double)w).ToArray());

        using var tl = be.Upload(logits, N, K); using var tt = be.Upload(targets, N, G);
        using var dl = be.Allocate(N, K); using var rows = be.Allocate(N, G);
        CategoricalLoss.ForwardBackward(be, N, groups, tl, tt, dl, rows);
        var got = MultiHeadLoss.HeadLosses(be, rows, N, G);
        Close.All(got, k => heads[k], "head loss");
        Assert.Equal(total, got.Zip(weights, (h, w) => (double)h * w).Sum(), 3);
        Close.Matrix(be.Download(dl), edl, "dlogits");
        Assert.Equal(K, 128 + sizes.Skip(1).Sum());
        Assert.Equal(128 + sizes[1], groups.Offset(2));
    }

    [BackendFact]
    public void Binary_cross_entropy_values_and_gradients()
    {
        int N = Size(37, 5), K = Size(88, 7);
        using var be = CreateBackend();
        var r = new Rand(N * K);
        var logits = r.Floats(N * K, 8f);
        logits[0] = 60f; logits[1] = -60f; // far in the tails: no overflow, no log(0)
        var targets = r.Floats(N * K).Select(v => v > 0.5f ? 1f : 0f).ToArray();
        targets[0] = 0f; targets[1] = 1f;  // ... and confidently wrong there: a loss of about 60 each
        targets[2] = 0.25f;                // a soft target is allowed
        var weights = Enumerable.Range(0, N).Select(i => i % 4 == 3 ? 0f : i % 4 == 2 ? 0.5f : 1f).ToArray();
        float scale = 1f / weights.Sum();
        var (rowLoss, total, dlogits) = RefOps.BinaryCrossEntropy(Rand.Mat(logits, N, K), Rand.Mat(targets, N, K), weights.Select(w => (double)w).ToArray(), scale);

        using var tl = be.Upload(logits, N, K); using var tt = be.Upload(targets, N, K); using var tw = be.Upload(weights, N);
        using var dl = be.Allocate(N, K); using var rows = be.Allocate(N);
        BinaryCrossEntropy.ForwardBackward(be, N, K, scale, tl, tt, tw, dl, rows);
        Close.All(be.Download(rows), i => rowLoss[i], "row loss");
        Close.Matrix(be.Download(dl), dlogits, "dlogits");
        Assert.True(rowLoss[0] > 60, "the confidently wrong keys cost about 60 nats each");
        Assert.Equal(0f, be.Download(rows)[3]); // a padding row costs nothing ...
        Assert.All(be.Download(dl).Skip(3 * K).Take(K), g => Assert.Equal(0f, g)); // ... and gets no gradient
        Assert.True(total > 0);
    }

    [BackendFact]
    public void Class_conditioning_forward_and_backward()
    {
        int N = Size(33, 4);
        using var be = CreateBackend();
        const int K = 20, G = 3, group = 1, from = 8, count = 5; // columns 8..12 are the conditioning group
        var r = new Rand(N);
        var logits = r.Floats(N * K, 2f); var table = r.Floats(count * K, 1f); var dlogits = r.Floats(N * K, 1f);
        var targets = new float[N * G];
        var classes = new int[N];
        for (int n = 0; n < N; n++) { classes[n] = (n * 7) % count; targets[n * G + group] = classes[n]; targets[n * G] = 99; targets[n * G + 2] = -1; }
        var expected = RefOps.Condition(Rand.Mat(logits, N, K), classes, Rand.Mat(table, count, K), from, count);
        var expectedGrad = RefOps.ConditionBackward(Rand.Mat(dlogits, N, K), classes, count, from, count);

        using var tl = be.Upload(logits, N, K); using var tt = be.Upload(targets, N, G); using var tw = be.Upload(table, count, K);
        using var td = be.Upload(dlogits, N, K); using var tg = be.Upload(Enumerable.Repeat(0.5f, count * K).ToArray(), count, K);
        ClassConditioning.Forward(be, tl, tt, tw, N, K, G, group, from, count);
        ClassConditioning.Backward(be, td, tt, tg, N, K, G, group, from, count);
        Close.Matrix(be.Download(tl), expected, "conditioned logits");
        Close.Matrix(be.Download(tg), expectedGrad.Map(v => v + 0.5), "d table (accumulated)");
        Assert.Equal(logits[from], be.Download(tl)[from]); // the group's own columns are untouched
    }

    /// <summary>Every op that indexes by a value held as a float (targets, ids, classes) refuses one out of range, on every backend, with its row.</summary>
    [BackendFact]
    public void Ops_reject_an_index_outside_its_range_with_the_row()
    {
        using var be = CreateBackend();
        // Categorical loss: group 1 has 4 classes; row 1 asks for class 4.
        var groups = CategoricalGroups.From([128, 4], [1f, 1f]);
        using (var l = be.Allocate(2, 132)) using (var t = be.Upload([60f, 1f, 61f, 4f], 2, 2)) using (var dl = be.Allocate(2, 132)) using (var rows = be.Allocate(2, 2))
        {
            var m = Assert.Throws<ArgumentException>(() => CategoricalLoss.ForwardBackward(be, 2, groups, l, t, dl, rows)).Message;
            Assert.Contains("group 1", m); Assert.Contains("row 1", m);
        }
        // Regression heads: a pitch of 128.
        using (var l = be.Allocate(1, 128)) using (var y = be.Allocate(1, 2)) using (var t = be.Upload([128f, 0, 0], 1, 3))
        using (var dl = be.Allocate(1, 128)) using (var dy = be.Allocate(1, 2)) using (var rows = be.Allocate(1, 3))
            Assert.Contains("pitch target 128", Assert.Throws<ArgumentException>(() => MultiHeadLoss.ForwardBackward(be, 1, new LossConfig(RegressionHeads: 2), l, y, t, dl, dy, rows)).Message); // (new LossConfig() is default: 0 heads)
        // Class conditioning: 3 classes in column 1; row 2 holds 3 (forward) and -1 (backward).
        using (var l = be.Allocate(3, 6)) using (var table = be.Allocate(3, 6))
        {
            using var t = be.Upload([0f, 0f, 0f, 2f, 0f, 3f], 3, 2);
            Assert.Contains("row 2", Assert.Throws<ArgumentException>(() => ClassConditioning.Forward(be, l, t, table, 3, 6, 2, 1, 0, 3)).Message);
            using var tn = be.Upload([0f, 0f, 0f, 2f, 0f, -1f], 3, 2);
            Assert.Contains("-1", Assert.Throws<ArgumentException>(() => ClassConditioning.Backward(be, l, tn, table, 3, 6, 2, 1, 0, 3)).Message);
        }
        // Embedding: 5 ids into a table of 4 rows; row 3 holds 4, and a fraction is refused too.
        using (var table = be.Allocate(4, 2)) using (var y = be.Allocate(5, 2))
        {
            using var ids = be.Upload([0f, 1f, 2f, 4f, 3f], 5);
            Assert.Contains("embedding id 4", Assert.Throws<ArgumentException>(() => Glue.EmbeddingForward(be, ids, table, y, 5, 4, 2)).Message);
            Assert.Contains("row 3", Assert.Throws<ArgumentException>(() => Glue.EmbeddingBackward(be, ids, y, table, 5, 4, 2)).Message);
            using var half = be.Upload([0f, 1.5f, 2f, 3f, 3f], 5);
            Assert.Contains("row 1", Assert.Throws<ArgumentException>(() => Glue.EmbeddingForward(be, half, table, y, 5, 4, 2)).Message);
        }
    }

    [BackendTheory]
    [InlineData(false, 0f)]
    [InlineData(true, 0.5f)]
    [InlineData(false, 0f, true)]
    [InlineData(true, 0.5f, true)]
    public void Adam_steps_with_bias_correction_weight_decay_and_global_norm_clipping(bool decoupled, float maxNorm, bool rectified = false)
    {
        using var be = CreateBackend();
        int n = Size(10_000, 37);
        var r = new Rand(n);
        var p = r.Floats(n); var g1 = r.Floats(n); var g2 = r.Floats(n, 0.1f);
        var cfg = new AdamConfig(LearningRate: 0.01f, WeightDecay: 0.1f, Decoupled: decoupled, MaxGradNorm: maxNorm, Rectified: rectified);
        using var tp = be.Upload(p, n); using var tm = be.Allocate(n); using var tv = be.Allocate(n); using var tg = be.Allocate(n);
        using var norm2 = be.Allocate(1); using var partials = be.Allocate((n + 4095) / 4096);
        var ep = p.Select(v => (double)v).ToArray(); var em = new double[n]; var ev = new double[n];
        int t = 0;
        // RAdam: eight steps, through its momentum-only start (rho_t <= 5 until step 5 at b2 = 0.999) into the rectified steps.
        foreach (var g in rectified ? [g1, g2, g1, g2, g1, g2, g1, g2] : new[] { g1, g2 })
        {
            t++;
            be.CopyFromHost(g, tg);
            Elementwise.Fill(be, norm2, 0f);
            Adam.SumSquares(be, tg, n, partials, norm2);
            double norm = Math.Sqrt(g.Sum(v => (double)v * v));
            Assert.Equal(norm * norm, be.Download(norm2)[0], norm * norm * 1e-4);
            double clip = maxNorm > 0 ? Math.Min(1, maxNorm / (norm + 1e-6)) : 1;
            Adam.Step(be, tp, tg, tm, tv, n, cfg, t, norm2);
            for (int i = 0; i < n; i++) (ep[i], em[i], ev[i]) = RefOps.Adam(ep[i], g[i], em[i], ev[i], t, 0.01, 0.9, 0.999, 1e-8, 0.1, decoupled, clip, rectified);
        }
        Close.All(be.Download(tp), i => ep[i], "param");
        Close.All(be.Download(tm), i => em[i], "m");
        Close.All(be.Download(tv), i => ev[i], "v", atol: 1e-7);
    }

    [BackendTheory]
    [InlineData(5)]
    [InlineData(1)]
    public void Select_ends_reads_forward_at_the_last_step_and_reverse_at_the_first(int T)
    {
        using var be = CreateBackend();
        var r = new Rand(4);
        const int B = 3, H = 4, W = 2 * H;
        var x = r.Floats(T * B * W); var dy = r.Floats(B * W); var dx0 = r.Floats(T * B * W);
        using var tx = be.Upload(x, T, B, W); using var ty = be.Allocate(B, W); using var tdy = be.Upload(dy, B, W); using var tdx = be.Upload(dx0, T, B, W);
        Glue.SelectEndsForward(be, tx, ty, T, B, H);
        // y[b, j] = x[T-1, b, j] for the forward half j < H, x[0, b, j] for the reverse half: worked out by hand.
        Assert.Equal(Enumerable.Range(0, B * W).Select(i => { int b = i / W, j = i % W; return x[((j < H ? T - 1 : 0) * B + b) * W + j]; }), be.Download(ty));
        Glue.SelectEndsBackward(be, tdy, tdx, T, B, H);
        var dx = be.Download(tdx);
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
                for (int j = 0; j < W; j++)
                {
                    bool read = j < H ? t == T - 1 : t == 0;
                    int i = (t * B + b) * W + j;
                    Assert.Equal(read ? dx0[i] + dy[b * W + j] : dx0[i], dx[i]); // accumulated where read, untouched elsewhere
                }
    }

    [BackendFact]
    public void Glue_ops_forward_and_backward()
    {
        using var be = CreateBackend();
        var r = new Rand(2);
        const int R = 6, Na = 3, Nb = 4;
        var a = r.Floats(R * Na); var b = r.Floats(R * Nb);
        using var ta = be.Upload(a, R, Na); using var tb = be.Upload(b, R, Nb); using var ty = be.Allocate(R, Na + Nb);
        Glue.ConcatForward(be, ta, tb, ty, R, Na, Nb);
        var y = be.Download(ty);
        for (int i = 0; i < R; i++)
        {
            Assert.Equal(a.AsSpan(i * Na, Na).ToArray(), y.AsSpan(i * (Na + Nb), Na).ToArray());
            Assert.Equal(b.AsSpan(i * Nb, Nb).ToArray(), y.AsSpan(i * (Na + Nb) + Na, Nb).ToArray());
        }
        Glue.ConcatBackward(be, ty, ta, tb, R, Na, Nb); // da += a, db += b
        Assert.Equal(a.Select(v => 2 * v), be.Download(ta));
        Assert.Equal(b.Select(v => 2 * v), be.Download(tb));

        // bias add and its backward (column sums)
        var bias = r.Floats(Na);
        using var tbias = be.Upload(bias, Na); using var tsum = be.Allocate(Na);
        be.CopyFromHost(a, ta);
        Glue.AddBias(be, ta, tbias, R, Na);
        Close.All(be.Download(ta), i => a[i] + bias[i % Na], "y + bias");
        Elementwise.SumRowsForward(be, ta, R, Na, tsum);
        Close.All(be.Download(tsum), j => Enumerable.Range(0, R).Sum(i => (double)a[i * Na + j] + bias[j]), "column sums");

        // axpy, scale, select a step and its backward
        using var tx = be.Upload(r.Floats(4 * 6), 4, 6);
        var x = be.Download(tx);
        using var step = be.Allocate(6);
        Glue.SelectStepForward(be, tx, 2, 6, step);
        Assert.Equal(x.AsSpan(12, 6).ToArray(), be.Download(step));
        Glue.Axpy(be, 2f, step, 0, step, 0, 6); // step *= 3
        Glue.SelectStepBackward(be, step, 2, 6, tx);
        Close.All(be.Download(tx), i => i is >= 12 and < 18 ? 4.0 * x[i] : x[i], "x after step backward");
        Elementwise.Fill(be, step, 1.5f);
        Assert.All(be.Download(step), v => Assert.Equal(1.5f, v));

        // embedding lookup and scatter-add backward
        const int V = 5, E = 3;
        var table = r.Floats(V * E); float[] ids = [4, 0, 4, 2];
        using var tt = be.Upload(table, V, E); using var tids = be.Upload(ids, 4); using var te = be.Allocate(4, E);
        Glue.EmbeddingForward(be, tids, tt, te, 4, V, E);
        var emb = be.Download(te);
        for (int i = 0; i < 4; i++) Assert.Equal(table.AsSpan((int)ids[i] * E, E).ToArray(), emb.AsSpan(i * E, E).ToArray());
        using var dt = be.Allocate(V, E);
        Glue.EmbeddingBackward(be, tids, te, dt, 4, V, E);
        var d = be.Download(dt);
        Close.All(d, i => (i / E) switch { 4 => 2.0 * table[i], 0 or 2 => table[i], _ => 0 }, "dtable");
    }
}

[Backend("cpu")] public sealed class ManagedOpsConformance : OpsConformance { protected override string Device => "cpu"; protected override bool Large => true; }
[Backend("ilgpu-cpu")] public sealed class IlgpuCpuOpsConformance : OpsConformance { protected override string Device => "ilgpu-cpu"; protected override bool Large => false; }
[Backend("cuda")] public sealed class CudaOpsConformance : OpsConformance { protected override string Device => "cuda"; protected override bool Large => true; }
