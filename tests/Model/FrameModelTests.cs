using System.Text;
using System.Text.Json;
using MathNet.Numerics.LinearAlgebra;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Model;
using MusicGen.Model.Frames;
using MusicGen.Tests.Corpus;
using MusicGen.Tests.Kernels;
using MusicGen.Tests.Reference;

namespace MusicGen.Tests.Model;

/// <summary>The frame model (JSB Chorales task): its composed backward against the double reference, its data, training and sampling.</summary>
public class FrameModelTests
{
    /// <summary>A small frames file: pieces that walk up a chord shape, so a model can learn something in a few epochs.</summary>
    internal static string MakeFramesFile(TempDir dir, int train = 12, int valid = 4, int test = 4)
    {
        int[][][] Pieces(int n, int offset) => Enumerable.Range(0, n).Select(p =>
            Enumerable.Range(0, 6 + (p + offset) % 5).Select(f => new[] { 48 + (p + f) % 12, 60 + (p + 2 * f) % 12, 67 + (p + f) % 7 }).ToArray()).ToArray();
        var json = JsonSerializer.Serialize(new Dictionary<string, int[][][]> { ["train"] = Pieces(train, 0), ["valid"] = Pieces(valid, 1), ["test"] = Pieces(test, 2) });
        return dir.Write("frames.json", Encoding.UTF8.GetBytes(json));
    }

    [Theory]
    [InlineData("cpu", 0f, false)]
    [InlineData("ilgpu-cpu", 0f, false)]
    [InlineData("cpu", 0.3f, false)]
    [InlineData("ilgpu-cpu", 0.3f, false)]
    [InlineData("cpu", 0.3f, true)]
    [InlineData("ilgpu-cpu", 0f, true)]
    [InlineData("cpu", 0.3f, false, true)]    // residual: layer 1 adds its input to its output
    [InlineData("ilgpu-cpu", 0f, true, true)]
    public void Frame_model_gradients_match_the_reference_network(string device, float weightDrop, bool lockedDropout, bool residual = false)
    {
        var cfg = new FrameConfig { Layers = 2, Hidden = 3, Dropout = 0.25f, InputDropout = 0.2f, WeightDrop = weightDrop, LockedDropout = lockedDropout, Residual = residual };
        using var be = TestBackends.Create(device);
        using var model = new FrameModel(be, cfg);
        model.Initialize(5);
        var r = new Rand(6);
        foreach (var p in model.Parameters.Where(p => p.Name.StartsWith("norm.")))
            be.CopyFromHost(r.Floats(p.Length, 0.5f).Select(v => (p.Name.EndsWith("weight") ? 1 : 0) + v).ToArray(), p.Value);
        // Two pieces, 4 and 3 frames: 3 and 2 predictions; the batch pads the shorter one (StepQuantum rounds T up to 8).
        int[][][] pieces = [[[60, 64, 67], [62, 65], [], [21, 108]], [[48], [50, 53, 57], [52]]];
        var batch = FrameBatch.From(pieces);
        Assert.Equal(5, batch.Frames);
        Assert.Equal(8, batch.Steps);
        int T = batch.Steps, B = batch.Size, K = FrameCorpus.Keys, H = cfg.Hidden;
        const uint seed = 13, counter = 4;
        model.Forward(B, T, batch.Inputs, batch.Targets, batch.Weights, training: true, seed, counter);
        var (nll, frames) = model.Loss(B, T, batch.Frames);
        model.Backward(B, T);

        var P = model.Parameters.ToDictionary(p => p.Name, p => be.Download(p.Value));
        var G = model.Parameters.ToDictionary(p => p.Name, p => be.Download(p.Grad));
        // Weight drop: the reference runs on W_hh' = W_hh * mask (the same counter-based mask as the op, drawn once per
        // forward), so dL/dW_hh = dL/dW_hh' * mask. At 0 the mask is all ones.
        Matrix<double> WhhMask(int l) => Matrix<double>.Build.Dense(4 * H, H, (i, j) =>
            weightDrop > 0 ? Dropout.Scale(seed, LstmStack.WeightDropCall(counter, l, 0), (uint)(i * H + j), weightDrop) : 1.0);
        RefLstm Lstm(int l, int input) => new()
        {
            Wih = Rand.Mat(P[$"lstm.weight_ih_l{l}"], 4 * H, input), Whh = Rand.Mat(P[$"lstm.weight_hh_l{l}"], 4 * H, H).PointwiseMultiply(WhhMask(l)),
            Bih = Rand.Vec(P[$"lstm.bias_ih_l{l}"]), Bhh = Rand.Vec(P[$"lstm.bias_hh_l{l}"]),
        };
        // Output dropout: element (t, b, j) draws index (t*B + b)*H + j; locked, every t draws (b*H + j), the mask of step 0.
        Matrix<double> Mask(int l, int t) => Matrix<double>.Build.Dense(B, H, (b, j) =>
            Dropout.Scale(seed, counter * 64 + (uint)l, (uint)(((lockedDropout ? 0 : t) * B + b) * H + j), cfg.Dropout));
        var net = new RefStack
        {
            Residual = residual,
            Layers = [[Lstm(0, K)], [Lstm(1, H)]],
            Gain = [Rand.Vec(P["norm.0.weight"]), Rand.Vec(P["norm.1.weight"])], Bias = [Rand.Vec(P["norm.0.bias"]), Rand.Vec(P["norm.1.bias"])],
            Masks = [Enumerable.Range(0, T).Select(t => Mask(0, t)).ToArray(), Enumerable.Range(0, T).Select(t => Mask(1, t)).ToArray()],
            Wp = Rand.Mat(P["head.weight"], K, H), Bp = Rand.Vec(P["head.bias"]),
            Wr = Matrix<double>.Build.Dense(1, H), Br = Vector<double>.Build.Dense(1), Weights = new RefOps.LossWeights(1, 0, 0, 0),
            EveryStep = true,
            Bce = (Rand.Mat(batch.Targets, T * B, K), batch.Weights.Select(w => (double)w).ToArray(), 1.0 / batch.Frames),
        };
        // The input frames after input dropout (the same counter-based mask the op draws).
        var dropped = batch.Inputs.Select((v, i) => v * Dropout.Scale(seed, counter * 64 + 63, (uint)i, cfg.InputDropout)).ToArray();
        var x = Rand.Seq(dropped, T, B, K);
        var g = net.Backward(x, []);

        Assert.Equal(net.Loss(x, []), nll / frames, 4);
        for (int l = 0; l < 2; l++)
        {
            Close.Matrix(G[$"lstm.weight_ih_l{l}"], g.Wih[l][0], $"dW_ih l{l}", atol: 1e-4);
            Close.Matrix(G[$"lstm.weight_hh_l{l}"], g.Whh[l][0].PointwiseMultiply(WhhMask(l)), $"dW_hh l{l}", atol: 1e-4);
            Close.All(G[$"lstm.bias_ih_l{l}"], i => g.Bih[l][0][i], $"db_ih l{l}", atol: 1e-4);
            Close.All(G[$"lstm.bias_hh_l{l}"], i => g.Bhh[l][0][i], $"db_hh l{l}", atol: 1e-4);
            Close.All(G[$"norm.{l}.weight"], i => g.Gain[l][i], $"dgain {l}", atol: 1e-4);
            Close.All(G[$"norm.{l}.bias"], i => g.Bias[l][i], $"dbias {l}", atol: 1e-4);
        }
        Close.Matrix(G["head.weight"], g.Wp, "dW head", atol: 1e-4);
        Close.All(G["head.bias"], i => g.Bp[i], "db head", atol: 1e-4);
        Assert.Equal(cfg.ParameterCount(), model.ParameterCount);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void Weight_drop_changes_training_forwards_only(string device)
    {
        using var be = TestBackends.Create(device);
        using var model = new FrameModel(be, new FrameConfig { Layers = 2, Hidden = 16, Dropout = 0, WeightDrop = 0.5f });
        model.Initialize(7);
        var r = new Random(8);
        float[] x = Enumerable.Range(0, 2 * 8 * 88).Select(_ => r.Next(10) == 0 ? 1f : 0f).ToArray();
        model.Forward(2, 8, x, default, default, training: false);
        var before = model.Logits(2, 8);
        // A training forward runs on W_hh * mask (and leaves the transposes of the dropped weights in the workspace) ..
        model.Forward(2, 8, x, default, default, training: true, seed: 3, counter: 1);
        Assert.NotEqual(before, model.Logits(2, 8));
        // .. which no later inference forward may reuse: it runs on W_hh itself again.
        model.Forward(2, 8, x, default, default, training: false);
        Assert.Equal(before, model.Logits(2, 8));
    }

    [Fact]
    public void Many_batch_shapes_keep_a_bounded_number_of_buffer_sets_and_the_same_results()
    {
        using var be = new MusicGen.Kernels.Backends.ManagedBackend(1);
        using var model = new FrameModel(be, new FrameConfig { Hidden = 8, Layers = 1 });
        model.Initialize(3);
        var r = new Random(4);
        float[] Frames(int n) => Enumerable.Range(0, n * 88).Select(_ => r.Next(20) == 0 ? 1f : 0f).ToArray();
        // A corpus of pieces of many lengths: every batch a new shape. The cache never holds more than its bound.
        var first = Frames(3 * 8);
        model.Forward(3, 8, first, default, default, training: false);
        var logits = model.Logits(3, 8);
        int fullCollections = GC.CollectionCount(GC.MaxGeneration);
        for (int steps = 16; steps <= 160; steps += 8)
        {
            model.Forward(2, steps, Frames(2 * steps), default, default, training: false);
            Assert.InRange(model.CachedShapes, 1, FrameModel.MaxCachedShapes);
        }
        // 20 shapes through a cache of 4: 16 sets evicted, and each time the managed arrays reclaimed at once
        // (Backend.ReclaimDisposed: a full collection), not left for the GC to find.
        Assert.True(GC.CollectionCount(GC.MaxGeneration) - fullCollections >= 20 - FrameModel.MaxCachedShapes);
        // A shape whose buffers were freed gets new ones, and the same numbers.
        model.Forward(3, 8, first, default, default, training: false);
        Assert.Equal(logits, model.Logits(3, 8));
    }

    [Fact]
    public void Evaluation_does_not_depend_on_how_pieces_are_batched()
    {
        using var dir = new TempDir();
        var corpus = FrameCorpus.Load(MakeFramesFile(dir));
        using var be = new MusicGen.Kernels.Backends.ManagedBackend(1);
        using var model = new FrameModel(be, new FrameConfig { Hidden = 16 });
        model.Initialize(2);
        var test = corpus.Split("test");
        var (all, frames, pieces) = FrameTrainer.Evaluate(model, test);
        var (one, frames1, _) = FrameTrainer.Evaluate(model, test, batchSize: 1);
        Assert.Equal(test.Sum(p => p.Length - 1), frames);
        Assert.Equal(frames, frames1);
        Assert.Equal(4, pieces);
        Assert.Equal(all, one, 4);
        // An untrained model near the base-rate start: about 88 keys x H(4/88) plus the 3 keys' surprise, well above 10 nats.
        Assert.InRange(all, 10, 30);
    }

    /// <summary>A run folder's last checkpoint pair: the model's tensors and those of the optimizer file it names (Adam moments, averages), in one map.</summary>
    static Dictionary<string, (int[] Shape, float[] Data)> LastPair(string runDir)
    {
        string last = Path.Combine(runDir, FrameTrainer.Last);
        var model = SafeTensors.Load(last);
        var all = new Dictionary<string, (int[] Shape, float[] Data)>(model.Tensors);
        foreach (var (name, t) in Checkpoint.ReadOptimizer(last, model).Tensors) all.Add(name, t);
        return all;
    }

    [Fact]
    public void RAdam_trains_a_frame_model_and_its_choice_is_kept_for_the_resume()
    {
        using var dir = new TempDir();
        var corpus = FrameCorpus.Load(MakeFramesFile(dir));
        var cfg = new FrameConfig { Layers = 1, Hidden = 16, Dropout = 0.1f };
        // RAdam's first steps (rho_t <= 5) are momentum alone, without the adaptive scale: small steps, so more epochs than Adam's tests.
        var options = new FrameTrainOptions { Epochs = 16, BatchSize = 4, LearningRate = 1e-2f, Patience = 0, Optimizer = OptimizerKind.RAdam };
        using var be = new MusicGen.Kernels.Backends.ManagedBackend(1);
        var radam = new FrameTrainer(be, corpus, dir["radam"]).Train(cfg, options);
        var adam = new FrameTrainer(be, corpus, dir["adam"]).Train(cfg, options with { Optimizer = OptimizerKind.Adam });
        var nll = File.ReadAllLines(Path.Combine(dir["radam"], FrameTrainer.Metrics)).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("ValidationNll").GetDouble()).ToArray();
        Assert.True(nll[^1] < nll[0] - 1, $"validation NLL should fall: {string.Join(", ", nll)}");
        Assert.NotEqual(adam.BestValidationLoss, radam.BestValidationLoss); // another optimizer, another run
        Assert.Contains("\"Optimizer\":\"RAdam\"", SafeTensors.Load(Path.Combine(dir["radam"], FrameTrainer.Last)).Metadata["options"]);
        Assert.Equal(OptimizerKind.Adam, FrameTrainOptions.FromJson("{\"Epochs\":3}").Optimizer); // options saved before the choice existed
    }

    [Fact]
    public void Length_batching_pads_far_less_changes_from_epoch_to_epoch_and_resumes_exactly()
    {
        // 101 pieces of lengths spread over 2..800 frames, in batches of 8 (12 full batches and a remainder of 5).
        var rng = new Random(3);
        int[][][] train = Enumerable.Range(0, 101).Select(_ => Enumerable.Range(0, 2 + rng.Next(799)).Select(f => new[] { 60 }).ToArray()).ToArray();
        var random = new FrameTrainOptions { BatchSize = 8, Seed = 4 };
        var bucketed = random with { Batching = BatchOrder.Length };
        // The share of a batch's padded rows x frames that are real frames, over an epoch.
        double RealShare(int[] order) => order.Chunk(8).Sum(b => b.Sum(i => (double)train[i].Length)) / order.Chunk(8).Sum(b => 8.0 * b.Max(i => train[i].Length));
        for (int epoch = 0; epoch < 3; epoch++)
        {
            var order = FrameTrainer.EpochOrder(train, bucketed, epoch);
            Assert.Equal(Enumerable.Range(0, train.Length), order.Order()); // every piece once
            Assert.Equal(order, FrameTrainer.EpochOrder(train, bucketed, epoch)); // drawn from (seed, epoch) alone
            double share = RealShare(order), randomShare = RealShare(FrameTrainer.EpochOrder(train, random, epoch));
            Assert.True(share > 0.85 && randomShare < 0.6, $"real frames: {share:F2} by length, {randomShare:F2} random");
            // The remainder (fewer than a batch) is the shortest pieces, last, so batches stay whole runs of the order.
            int tenthShortest = train.Select(p => p.Length).Order().ElementAt(10);
            Assert.All(order.Skip(96), i => Assert.True(train[i].Length <= tenthShortest, $"remainder piece of {train[i].Length} frames"));
        }
        // Batches differ across epochs: in another order, and (with the jitter) not always the same pieces together.
        var e0 = FrameTrainer.EpochOrder(train, bucketed, 0).Take(96).Chunk(8).Select(b => string.Join(",", b.Order())).ToHashSet();
        var e1 = FrameTrainer.EpochOrder(train, bucketed, 1).Take(96).Chunk(8).Select(b => string.Join(",", b.Order())).ToList();
        Assert.NotEqual(FrameTrainer.EpochOrder(train, bucketed, 0), FrameTrainer.EpochOrder(train, bucketed, 1));
        Assert.True(e1.Count(e0.Contains) < 12, "some batches should change partners between epochs");
        Assert.Equal(BatchOrder.Random, FrameTrainOptions.FromJson("{\"Epochs\":3}").Batching); // options saved before the choice existed

        // A run with length batching, stopped after epoch 1 and resumed, is the same run bit for bit.
        using var dir = new TempDir();
        var corpus = FrameCorpus.Load(MakeFramesFile(dir));
        var cfg = new FrameConfig { Layers = 1, Hidden = 8, Dropout = 0.1f };
        var options = new FrameTrainOptions { Epochs = 3, BatchSize = 4, LearningRate = 1e-2f, Patience = 0, Window = 8, Batching = BatchOrder.Length };
        using var be = new MusicGen.Kernels.Backends.ManagedBackend(1);
        var whole = new FrameTrainer(be, corpus, dir["whole"]).Train(cfg, options);
        using var stop = new CancellationTokenSource();
        new FrameTrainer(be, corpus, dir["split"]) { OnEpoch = r => { if (r.Epoch == 1) stop.Cancel(); } }.Train(cfg, options, stop.Token);
        Assert.Equal(whole, new FrameTrainer(be, corpus, dir["split"]).Resume());
        var a = LastPair(dir["whole"]);
        var b = LastPair(dir["split"]);
        foreach (var (name, t) in a) Assert.Equal(t.Data, b[name].Data);
        Assert.Contains("\"Batching\":\"Length\"", SafeTensors.Load(Path.Combine(dir["whole"], FrameTrainer.Last)).Metadata["options"]);
    }

    [Fact]
    public void Windowed_training_carries_the_state_steps_per_window_and_resumes_exactly()
    {
        using var dir = new TempDir();
        var corpus = FrameCorpus.Load(MakeFramesFile(dir));
        var cfg = new FrameConfig { Layers = 2, Hidden = 8, Dropout = 0.1f };
        var options = new FrameTrainOptions { Epochs = 3, BatchSize = 4, LearningRate = 1e-2f, Patience = 0, Window = 8 };
        using var be = new MusicGen.Kernels.Backends.ManagedBackend(1);
        var whole = new FrameTrainer(be, corpus, dir["w8"]).Train(cfg, options);
        // Pieces longer than a window take several optimizer steps per batch.
        var plain = new FrameTrainer(be, corpus, dir["plain"]).Train(cfg, options with { Window = 0 });
        Assert.True(whole.Step > plain.Step, $"windows: {whole.Step} steps, whole pieces: {plain.Step}");
        var nll = File.ReadAllLines(Path.Combine(dir["w8"], FrameTrainer.Metrics)).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("ValidationNll").GetDouble()).ToArray();
        Assert.True(nll[^1] < nll[0], $"validation NLL should fall: {string.Join(", ", nll)}");
        // Stopped after epoch 1 and resumed: the same run, bit for bit.
        using var stop = new CancellationTokenSource();
        new FrameTrainer(be, corpus, dir["split"]) { OnEpoch = r => { if (r.Epoch == 1) stop.Cancel(); } }.Train(cfg, options, stop.Token);
        Assert.Equal(whole, new FrameTrainer(be, corpus, dir["split"]).Resume());
        var a = LastPair(dir["w8"]);
        var b = LastPair(dir["split"]);
        foreach (var (name, t) in a) Assert.Equal(t.Data, b[name].Data);
        // A window as long as every batch is whole-piece training.
        var wide = new FrameTrainer(be, corpus, dir["wide"]).Train(cfg, options with { Window = 4096 });
        Assert.Equal(plain with { }, wide);
        Assert.Throws<ArgumentException>(() => (options with { Window = 12 }).Validate());
        // Evaluation in windows with the state carried gives the whole pieces' numbers.
        var (model, _) = FrameTrainer.Load(dir["w8"], be);
        using (model)
        {
            var test = corpus.Split("test");
            Assert.Equal(FrameTrainer.Evaluate(model, test).Nll, FrameTrainer.Evaluate(model, test, window: 8).Nll, 5);
        }
    }

    [Fact]
    public void Training_learns_resumes_exactly_and_samples()
    {
        using var dir = new TempDir();
        var corpus = FrameCorpus.Load(MakeFramesFile(dir));
        var cfg = new FrameConfig { Layers = 1, Hidden = 16, Dropout = 0.1f };
        var options = new FrameTrainOptions { Epochs = 4, BatchSize = 4, LearningRate = 1e-2f, Transpose = 2, Patience = 0, AverageDecay = 0.8f };
        using var be = new MusicGen.Kernels.Backends.ManagedBackend(1);
        var whole = new FrameTrainer(be, corpus, dir["whole"]).Train(cfg, options);
        Assert.True(whole.Finished);
        // The same run stopped after epoch 2 (as Ctrl-C does), then resumed: the learning-rate schedule, shuffles,
        // transpositions and dropout masks carry on exactly.
        using var stop = new CancellationTokenSource();
        var halfway = new FrameTrainer(be, corpus, dir["split"]) { OnEpoch = r => { if (r.Epoch == 2) stop.Cancel(); } }.Train(cfg, options, stop.Token);
        Assert.Equal(2, halfway.Epoch); // two epochs finished; the stop came in the third, after its first batch, and was saved there
        Assert.Equal(1, halfway.Batch);
        Assert.False(halfway.Finished);
        var resumed = new FrameTrainer(be, corpus, dir["split"]).Resume();
        Assert.Equal(whole, resumed);
        var a = LastPair(dir["whole"]);
        var b = LastPair(dir["split"]);
        foreach (var (name, t) in a) Assert.Equal(t.Data, b[name].Data); // bit for bit, Adam moments and weight averages included
        Assert.Contains(a.Keys, k => k.StartsWith("average."));
        Assert.Contains(a.Keys, k => k.StartsWith("m."));
        Assert.DoesNotContain(SafeTensors.Load(Path.Combine(dir["whole"], FrameTrainer.Best)).Tensors.Keys, k => k.StartsWith("average.") || k.StartsWith("adam."));

        var epochs = File.ReadAllLines(Path.Combine(dir["whole"], FrameTrainer.Metrics)).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("ValidationNll").GetDouble()).ToArray();
        Assert.Equal(4, epochs.Length);
        Assert.True(epochs[^1] < epochs[0] - 1, $"validation NLL should fall: {string.Join(", ", epochs)}");

        var (model, _) = FrameTrainer.Load(dir["whole"], be);
        using (model)
        {
            var s1 = FrameGenerator.Sample(model, [[60, 64, 67]], frames: 10, count: 3, temperature: 1f, seed: 7);
            var s2 = FrameGenerator.Sample(model, [[60, 64, 67]], frames: 10, count: 3, temperature: 1f, seed: 7);
            Assert.Equal(3, s1.Count);
            Assert.All(s1, p => Assert.Equal(11, p.Length));
            Assert.Equal(s1.SelectMany(p => p.SelectMany(f => f)), s2.SelectMany(p => p.SelectMany(f => f)));
            Assert.All(s1.SelectMany(p => p.SelectMany(f => f)), k => Assert.InRange(k, 21, 108));
            Assert.InRange(s1.Average(p => p.Skip(1).Average(f => f.Length)), 0.5, 12); // a texture of a few keys, not silence or noise
        }
        Assert.Throws<ArgumentException>(() => new FrameTrainer(be, corpus, dir["whole"]).Train(cfg, options)); // never overwrites a run
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void Weight_averaging_is_an_exponential_moving_average_and_swaps_back(string device)
    {
        using var be = TestBackends.Create(device);
        using var model = new FrameModel(be, new FrameConfig { Layers = 1, Hidden = 2 });
        model.Initialize(1);
        var p = model.Parameters[0];
        var before = be.Download(p.Value);
        model.StartAverage();
        var after = before.Select(v => v + 1f).ToArray();
        be.CopyFromHost(after, p.Value);
        model.UpdateAverage(0.75f);
        Close.All(be.Download(model.AverageOf(p)), i => 0.75 * before[i] + 0.25 * after[i], "average");
        model.SwapAverage();
        Close.All(be.Download(p.Value), i => 0.75 * before[i] + 0.25 * after[i], "weights while swapped");
        model.SwapAverage();
        Assert.Equal(after, be.Download(p.Value));
    }

    [Fact]
    public void Held_keys_become_one_note_and_repeated_ones_do_not_merge_across_a_gap()
    {
        var notes = FrameGenerator.ToNotes([[60, 64], [60], [], [60]], frameSeconds: 0.5);
        Assert.Equal(3, notes.Count);
        Assert.Contains(notes, n => n.Pitch == 60 && n.Start == 0 && n.End == 1.0);
        Assert.Contains(notes, n => n.Pitch == 64 && n.Start == 0 && n.End == 0.5);
        Assert.Contains(notes, n => n.Pitch == 60 && n.Start == 1.5 && n.End == 2.0);
    }

    [Theory]
    [InlineData("[1,2]", "object of splits")]
    [InlineData("{\"valid\": []}", "no \"train\" split")]
    [InlineData("{\"train\": [[[60], [200]]]}", "not a piano pitch")]
    [InlineData("{\"train\": [[[60]]]}", "at least 2")]
    [InlineData("{\"train\": [[[60], 5]]}", "not a list of pitches")]
    [InlineData("{\"train\": [[[60], [60.5]]]}", "not a piano pitch")]
    [InlineData("not json", "is not JSON")]
    public void Malformed_frames_files_are_refused_with_a_reason(string json, string reason)
    {
        using var dir = new TempDir();
        var path = dir.Write("bad.json", Encoding.UTF8.GetBytes(json));
        Assert.Contains(reason, Assert.Throws<InvalidDataException>(() => FrameCorpus.Load(path)).Message);
    }

    [Fact]
    public void Transposition_keeps_every_piece_on_the_keyboard()
    {
        Assert.Equal((-3, 5), FrameCorpus.TranspositionRange([[24, 60], [103]], 6)); // 24-3 = 21 (A0), 103+5 = 108 (C8)
        Assert.Equal((-6, 6), FrameCorpus.TranspositionRange([[60], []], 6));
    }

    [SharedDataFact]
    public void Jsb_chorales_load_with_the_published_split()
    {
        var corpus = FrameCorpus.Load(SharedData.JsbChorales);
        Assert.Equal(229, corpus.Split("train").Length);
        Assert.Equal(76, corpus.Split("valid").Length);
        Assert.Equal(77, corpus.Split("test").Length);
        // The benchmark predicts every frame but each piece's first: 4,725 test frames of 77 chorales -> 4,648 predictions.
        Assert.Equal(4725, corpus.Split("test").Sum(p => p.Length));
        Assert.Equal(4648, corpus.Split("test").Sum(p => p.Length - 1));
    }
}
