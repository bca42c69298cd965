using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MusicGen.Kernels;
using MusicGen.Kernels.Ops;
using MusicGen.Midi;

namespace MusicGen.Cli.Commands;

/// <summary>
/// <c>musicgen bench gemm|lstm</c>: timings that run anywhere the CLI runs (the GPU machine has no SDK, so
/// no BenchmarkDotNet there). Warm-up, then the median of --reps timed repetitions, each ending in a device
/// synchronisation. --json prints one JSON line with median_ms.
/// </summary>
public static class BenchCommand
{
    public static Command Build()
    {
        var bench = new Command("bench", "Time kernels and steps: gemm, lstm, train-step, generate, fma, nade (median of repetitions after warm-up); precision: what TF32 costs in accuracy");
        bench.Add(Gemm());
        bench.Add(Lstm());
        bench.Add(TrainStep());
        bench.Add(Generate());
        bench.Add(Fma());
        bench.Add(NadeOp());
        bench.Add(PrecisionCost());
        return bench;
    }

    /// <summary>
    /// One core's float32 FMA peak, measured: 10 independent chains of 256-bit fused multiply-adds (more than the
    /// 2 FMA ports x 4 cycles of latency a core needs in flight), nothing else in the loop. What the GEMM's GFLOP/s are
    /// a fraction of.
    /// </summary>
    static Command Fma()
    {
        var reps = Int("--reps", 7, "Timed repetitions");
        var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var cmd = new Command("fma", "One core's measured float32 FMA throughput (AVX2): the peak the GEMM is measured against; and the packed GEMM's micro-kernel alone on L1-resident strips") { reps, json };
        cmd.SetAction(p => Cli.Run(() =>
        {
            if (!System.Runtime.Intrinsics.X86.Fma.IsSupported) return Cli.Error("this CPU has no FMA instructions (x86 AVX2/FMA)", Cli.Failed);
            const long iterations = 20_000_000;
            var times = new List<double>();
            float sink = 0;
            for (int r = 0; r < Positive(p.GetValue(reps), "--reps") + 1; r++)
            {
                var sw = Stopwatch.StartNew();
                sink += FmaChains(iterations);
                if (r > 0) times.Add(sw.Elapsed.TotalMilliseconds); // the first is warm-up
            }
            double median = Median(times.ToArray()), gflops = iterations * 10 * 8 * 2 / (median * 1e6);
            // The packed GEMM's micro-kernel alone, on strips that stay in L1: how close its inner loop comes to that peak.
            const int calls = 100_000;
            var micro = new List<double>();
            for (int r = 0; r < Positive(p.GetValue(reps), "--reps") + 1; r++)
            {
                double seconds = PackedGemm.TimeMicroKernel(calls);
                if (r > 0) micro.Add(seconds);
            }
            double microGflops = 2.0 * PackedGemm.MR * PackedGemm.NR * PackedGemm.KC * calls / (Median(micro.ToArray()) * 1e9);
            Report(p.GetValue(json), new()
            {
                ["bench"] = "fma", ["chains"] = 10, ["vector_bits"] = 256, ["median_ms"] = Round(median), ["gflops"] = Round(gflops), ["checksum"] = sink,
                ["micro_kernel_gflops"] = Round(microGflops), ["micro_kernel_of_peak"] = Round(microGflops / gflops),
            });
            return Cli.Ok;
        }));
        return cmd;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    static float FmaChains(long iterations)
    {
        var m = System.Runtime.Intrinsics.Vector256.Create(0.999999f); var add = System.Runtime.Intrinsics.Vector256.Create(1e-7f);
        System.Runtime.Intrinsics.Vector256<float> a0 = add, a1 = add, a2 = add, a3 = add, a4 = add, a5 = add, a6 = add, a7 = add, a8 = add, a9 = add;
        for (long i = 0; i < iterations; i++)
        {
            a0 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a0, m, add); a1 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a1, m, add);
            a2 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a2, m, add); a3 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a3, m, add);
            a4 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a4, m, add); a5 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a5, m, add);
            a6 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a6, m, add); a7 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a7, m, add);
            a8 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a8, m, add); a9 = System.Runtime.Intrinsics.X86.Fma.MultiplyAdd(a9, m, add);
        }
        var s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
        return System.Runtime.Intrinsics.Vector256.Sum(s);
    }

    static Option<int> Int(string name, int value, string description) => new(name) { Description = description, DefaultValueFactory = _ => value };

    static Command Gemm()
    {
        var m = Int("--m", 512, "Rows of C"); var n = Int("--n", 512, "Columns of C"); var k = Int("--k", 512, "Inner dimension");
        var reps = Int("--reps", 20, "Timed repetitions"); var device = DevicesCommand.DeviceOption("cpu");
        var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var trans = new Option<string>("--trans") { Description = "NN, NT or TN", DefaultValueFactory = _ => "NN" };
        var kernel = new Option<string>("--kernel") { Description = "cpu: auto (what training uses), plain (the 4x16 kernel) or packed (the cache-blocked GEMM); ILGPU devices: auto, tiled (16x16 tiles) or blocked (8x8 per thread in registers)", DefaultValueFactory = _ => "auto" };
        var precision = DevicesCommand.PrecisionOption();
        var tileOption = TileOption();
        var cmd = new Command("gemm", "C[m,n] = A[m,k] B[k,n]: median ms and GFLOP/s") { m, n, k, trans, kernel, tileOption, precision, reps, device, json };
        cmd.SetAction(p => Cli.Run(() =>
        {
            int M = Positive(p.GetValue(m), "--m"), N = Positive(p.GetValue(n), "--n"), K = Positive(p.GetValue(k), "--k"), R = Positive(p.GetValue(reps), "--reps");
            string t = p.GetValue(trans)!.ToUpperInvariant();
            if (t is not ("NN" or "NT" or "TN")) return Cli.Error($"--trans '{t}': choose NN, NT or TN");
            bool ta = t[0] == 'T', tb = t[1] == 'T';
            int? gemmTile = Tile(p.GetValue(tileOption)!);
            using var be = Devices.Create(p.GetValue(device)!, DevicesCommand.Precision(p.GetValue(precision)!));
            if (be.Kind == "cpu")
            {
                if (!Enum.TryParse<MusicGen.Kernels.Ops.ManagedGemmKernel>(p.GetValue(kernel), ignoreCase: true, out var which)) return Cli.Error($"--kernel '{p.GetValue(kernel)}': choose auto, plain or packed");
                MusicGen.Kernels.Ops.Gemm.ManagedKernel = which;
            }
            else
            {
                if (!Enum.TryParse<MusicGen.Kernels.Ops.IlgpuGemmKernel>(p.GetValue(kernel), ignoreCase: true, out var which)) return Cli.Error($"--kernel '{p.GetValue(kernel)}': choose auto, tiled or blocked");
                MusicGen.Kernels.Ops.Gemm.IlgpuKernel = which;
                ((MusicGen.Kernels.Backends.IlgpuBackend)be).GemmTile = gemmTile;
            }
            var r = new Random(1);
            float[] Rand(int len) { var a = new float[len]; for (int i = 0; i < len; i++) a[i] = (float)r.NextDouble() - 0.5f; return a; }
            using var a = be.Upload(Rand(M * K), M * K); using var b = be.Upload(Rand(K * N), K * N); using var c = be.Allocate(M * N);
            var va = ta ? MatrixView.Of(a, K, M).T : MatrixView.Of(a, M, K); var vb = tb ? MatrixView.Of(b, N, K).T : MatrixView.Of(b, K, N);
            var times = Time(be, R, () => MusicGen.Kernels.Ops.Gemm.Forward(be, va, vb, MatrixView.Of(c, M, N)));
            double median = Median(times), gflops = 2.0 * M * N * K / (median * 1e6);
            Report(p.GetValue(json), new()
            {
                ["bench"] = "gemm", ["device"] = be.Kind, ["device_name"] = be.Name, ["m"] = M, ["n"] = N, ["k"] = K, ["trans"] = t, ["reps"] = R,
                ["kernel"] = be.Kind == "cpu" ? (MusicGen.Kernels.Ops.Gemm.UsesPacked(M, N, K) ? "packed" : "plain")
                    : be.Precision == MusicGen.Kernels.Ops.GemmPrecision.Tf32 ? "tf32"
                    : be is MusicGen.Kernels.Backends.IlgpuBackend g && MusicGen.Kernels.Ops.Gemm.UsesBlocked(g, M, N, K) ? "blocked" : "tiled",
                ["precision"] = be.Precision.ToString().ToLowerInvariant(),
                ["tile"] = be is MusicGen.Kernels.Backends.IlgpuBackend gt && be.Precision == GemmPrecision.Float32 && MusicGen.Kernels.Ops.Gemm.UsesBlocked(gt, M, N, K)
                    ? MusicGen.Kernels.Ops.BlockedGemm.SideFor(gt, M, N) * MusicGen.Kernels.Ops.BlockedGemm.Micro : 0, // the blocked kernel's block tile side (0: another kernel)
                ["median_ms"] = Round(median), ["min_ms"] = Round(times.Min()), ["gflops"] = Round(gflops),
            });
            return Cli.Ok;
        }));
        return cmd;
    }

    /// <summary>The NADE output op (frame models' --head nade): forward and backward over R rows of 88 keys.</summary>
    static Command NadeOp()
    {
        var rows = Int("--rows", 2048, "Rows R (time steps x pieces)"); var hidden = Int("--hidden", 150, "NADE hidden units N");
        var reps = Int("--reps", 10, "Timed repetitions"); var device = DevicesCommand.DeviceOption("cpu");
        var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var cmd = new Command("nade", "The NADE op of frame models (88 keys): forward, and forward + backward, median ms and GFLOP/s") { rows, hidden, reps, device, json };
        cmd.SetAction(p => Cli.Run(() =>
        {
            int R = Positive(p.GetValue(rows), "--rows"), N = Positive(p.GetValue(hidden), "--hidden"), repeats = Positive(p.GetValue(reps), "--reps");
            const int K = 88;
            using var be = Devices.Create(p.GetValue(device)!);
            var rng = new Random(3);
            float[] Rand(int len, float scale = 1f) { var a = new float[len]; for (int i = 0; i < len; i++) a[i] = ((float)rng.NextDouble() * 2 - 1) * scale; return a; }
            var keys = Rand(R * K).Select(v => v > 0.9f ? 1f : 0f).ToArray(); // about 4 keys of 88 on, as in a chorale
            using var d = be.Upload(Rand(R * K), R * K); using var c = be.Upload(Rand(R * N), R * N); using var v = be.Upload(keys, R * K);
            using var W = be.Upload(Rand(N * K, 0.1f), N * K); using var V = be.Upload(Rand(K * N, 0.1f), K * N);
            using var hiddenT = be.Allocate(R * K * N); using var z = be.Allocate(R * K); using var dz = be.Upload(Rand(R * K), R * K);
            using var dA = be.Allocate(R * K * N); using var dc = be.Allocate(R * N); using var dW = be.Allocate(N * K); using var dV = be.Allocate(K * N);
            var s = new Nade.Shape(R, K, N);
            double forward = Median(Time(be, repeats, () => Nade.Forward(be, s, d, c, v, W, V, hiddenT, z)));
            double both = Median(Time(be, repeats, () => { Nade.Forward(be, s, d, c, v, W, V, hiddenT, z); Nade.Backward(be, s, dz, v, W, V, hiddenT, dA, dc, dW, dV); }));
            // Multiply-adds: forward K*N (the running sum) + K*N (the logits); backward K*N (the hidden gradient) + 2 K*N (dV, dW).
            double flopsForward = 2.0 * R * K * N * 2, flopsBoth = flopsForward + 2.0 * R * K * N * 3;
            Report(p.GetValue(json), new()
            {
                ["bench"] = "nade", ["device"] = be.Kind, ["device_name"] = be.Name, ["rows"] = R, ["keys"] = K, ["hidden"] = N, ["reps"] = repeats,
                ["forward_ms"] = Round(forward), ["median_ms"] = Round(both), ["forward_gflops"] = Round(flopsForward / (forward * 1e6)), ["gflops"] = Round(flopsBoth / (both * 1e6)),
            });
            return Cli.Ok;
        }));
        return cmd;
    }

    static Command Lstm()
    {
        var batch = Int("--batch", 64, "Batch size B"); var hidden = Int("--hidden", 128, "Hidden size H"); var seq = Int("--seq", 10, "Sequence length T");
        var input = Int("--input", 3, "Input features I"); var reps = Int("--reps", 20, "Timed repetitions");
        var device = DevicesCommand.DeviceOption("cpu"); var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var cmd = new Command("lstm", "One bidirectional LSTM layer, forward + backward, both directions, the layer's real code: median ms, and the share of its time in GEMMs and in the gate kernels")
        {
            batch, hidden, seq, input, reps, device, json,
        };
        cmd.SetAction(p => Cli.Run(() =>
        {
            int B = Positive(p.GetValue(batch), "--batch"), H = Positive(p.GetValue(hidden), "--hidden"), T = Positive(p.GetValue(seq), "--seq");
            int I = Positive(p.GetValue(input), "--input"), R = Positive(p.GetValue(reps), "--reps");
            using var be = Devices.Create(p.GetValue(device)!);
            var rng = new Random(2);
            float s = 1f / MathF.Sqrt(H);
            float[] Rand(int len, float scale = 1f) { var a = new float[len]; for (int i = 0; i < len; i++) a[i] = ((float)rng.NextDouble() * 2 - 1) * scale; return a; }
            LstmWeights Weights() => new(be.Upload(Rand(4 * H * I, s), 4 * H, I), be.Upload(Rand(4 * H * H, s), 4 * H, H), be.Upload(Rand(4 * H, s), 4 * H), be.Upload(Rand(4 * H, s), 4 * H));
            using var wf = Weights(); using var wr = Weights();
            using var gf = LstmWeights.Allocate(be, I, H); using var gr = LstmWeights.Allocate(be, I, H);
            using var wsf = new LstmWorkspace(be, T, B, I, H); using var wsr = new LstmWorkspace(be, T, B, I, H);
            using var x = be.Upload(Rand(T * B * I), T, B, I); using var zero = be.Allocate(B, H); using var dh = be.Upload(Rand(T * B * H), T, B, H);
            using var dx = be.Allocate(T, B, I); using var dxr = be.Allocate(T, B, I);

            // The layer's real code path, both directions as the model runs them (side by side on the managed backend).
            void Direction(int d)
            {
                var (w, ws, g) = d == 0 ? (wf, wsf, gf) : (wr, wsr, gr);
                LstmLayer.Forward(be, ws, w, reverse: d == 1, x, zero, zero);
                LstmLayer.Backward(be, ws, g, dh, new LstmInputGrads(Dx: d == 0 ? dx : dxr));
            }
            void Layer()
            {
                be.RunIndependently(() => Direction(0), () => Direction(1));
            }
            double full = Median(Time(be, R, Layer));
            // Where the time goes: the same real code, directions one after the other, with OpClock recording the time
            // inside the GEMMs and inside the cell kernels (the fused recurrence counts as cell time).
            var gemmMs = new List<double>(); var cellMs = new List<double>();
            var sequential = Time(be, R, () =>
            {
                OpClock.Reset(); OpClock.Enabled = true;
                try { Direction(0); Direction(1); }
                finally { OpClock.Enabled = false; }
                gemmMs.Add(OpClock.Seconds(OpClock.Kind.Gemm) * 1e3); cellMs.Add(OpClock.Seconds(OpClock.Kind.Cell) * 1e3);
            });
            double sequentialMs = Median(sequential), gemm = Median(gemmMs.Skip(gemmMs.Count - R).ToArray()), cells = Median(cellMs.Skip(cellMs.Count - R).ToArray());
            Report(p.GetValue(json), new()
            {
                ["bench"] = "lstm", ["device"] = be.Kind, ["device_name"] = be.Name, ["batch"] = B, ["hidden"] = H, ["seq"] = T, ["input"] = I,
                ["directions"] = 2, ["reps"] = R, ["median_ms"] = Round(full), ["sequential_ms"] = Round(sequentialMs), ["gemm_ms"] = Round(gemm), ["gate_kernels_ms"] = Round(cells),
                ["gemm_share"] = Round(gemm / sequentialMs), ["gate_share"] = Round(cells / sequentialMs), ["other_share"] = Round(Math.Max(0, 1 - (gemm + cells) / sequentialMs)),
            });
            return Cli.Ok;
        }));
        return cmd;
    }

    /// <summary>What TF32 tensor cores cost in accuracy: one training step's loss and gradients in float32 and in TF32 (<see cref="MusicGen.Model.PrecisionComparison"/>).</summary>
    static Command PrecisionCost()
    {
        var layers = Int("--layers", 2, "LSTM layers"); var hidden = Int("--hidden", 128, "Hidden size per direction"); var seq = Int("--seq", 32, "Window length T");
        var batch = Int("--batch", 64, "Batch size B"); var seed = Int("--seed", 1, "Weights and windows");
        var device = DevicesCommand.DeviceOption("cuda"); var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var cmd = new Command("precision", "One training step of the default network's shape (categorical heads, bidirectional) in float32 and in TF32 on the same device, weights and windows: the gradients' relative error, overall and at its worst parameter (ilgpu-cpu emulates the tensor cores: tiny shapes only)")
        {
            layers, hidden, seq, batch, seed, device, json,
        };
        cmd.SetAction(p => Cli.Run(() =>
        {
            var config = new MusicGen.Model.ModelConfig { Layers = Positive(p.GetValue(layers), "--layers"), Hidden = Positive(p.GetValue(hidden), "--hidden"), SeqLen = Positive(p.GetValue(seq), "--seq") };
            using var be = Devices.Create(p.GetValue(device)!, GemmPrecision.Tf32);
            var r = MusicGen.Model.PrecisionComparison.Run(be, config, Positive(p.GetValue(batch), "--batch"), p.GetValue(seed));
            Report(p.GetValue(json), new()
            {
                ["bench"] = "precision", ["device"] = be.Kind, ["device_name"] = be.Name, ["layers"] = config.Layers, ["hidden"] = config.Hidden, ["seq"] = config.SeqLen,
                ["batch"] = p.GetValue(batch), ["parameters"] = r.Parameters, ["pitch_loss_float32"] = Round(r.PitchLossFloat32), ["pitch_loss_tf32"] = Round(r.PitchLossTf32),
                ["gradient_relative_error"] = r.GradientRelativeError, ["worst_parameter"] = r.WorstParameter, ["worst_relative_error"] = r.WorstRelativeError,
            });
            return Cli.Ok;
        }));
        return cmd;
    }

    static Option<string> TileOption() => new("--tile")
    {
        Description = "GPUs: the register-blocked GEMM's block tile, 64 or 128, or auto (128 where its tiles give every multiprocessor a group, else 64)",
        DefaultValueFactory = _ => "auto",
    };

    static int? Tile(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => null, "64" => 64, "128" => 128,
        _ => throw new ArgumentException($"--tile '{text}': choose auto, 64 or 128"),
    };

    static Command TrainStep()
    {
        var layers = Int("--layers", 2, "LSTM layers"); var hidden = Int("--hidden", 128, "Hidden size per direction"); var seq = Int("--seq", 10, "Window length T");
        var batch = Int("--batch", 64, "Batch size B"); var steps = Int("--steps", 50, "Timed steps"); var device = DevicesCommand.DeviceOption("cpu");
        var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var uni = new Option<bool>("--unidirectional") { Description = "Forward-only layers" };
        var everyStep = new Option<bool>("--every-step") { Description = "With --unidirectional: heads and loss on every step (T*B predictions)" };
        var heads = new Option<string>("--heads")
        {
            Description = "regression (the seed network: a 128-way pitch head and 2 regression outputs) or categorical (the default model's heads, with velocity)",
            DefaultValueFactory = _ => "regression",
        };
        var fusedOption = new Option<string>("--recurrence")
        {
            Description = "ILGPU devices: fused (one kernel per LSTM step: a warp per unit does its dot products and the cell), tiled (one kernel per step: the blocked GEMM with the cell on its outputs), unfused (a GEMM and a cell kernel), or auto (fused up to H=256 on CUDA, where it measured faster; else unfused)",
            DefaultValueFactory = _ => "auto",
        };
        var gemmKernel = new Option<string>("--gemm") { Description = "cpu: the managed GEMM kernel: auto (what training uses), plain (the 4x16 kernel alone) or packed (the cache-blocked GEMM wherever it can run)", DefaultValueFactory = _ => "auto" };
        var precision = DevicesCommand.PrecisionOption();
        var tileOption = TileOption();
        var cmd = new Command("train-step", "A full training step of the seed network (forward, loss, backward, Adam) on random windows: median ms")
        {
            layers, hidden, seq, batch, steps, uni, everyStep, heads, fusedOption, gemmKernel, tileOption, precision, device, json,
        };
        cmd.SetAction(p => Cli.Run(() =>
        {
            if (!Enum.TryParse<ManagedGemmKernel>(p.GetValue(gemmKernel), ignoreCase: true, out var gemmWhich)) return Cli.Error($"--gemm '{p.GetValue(gemmKernel)}': choose auto, plain or packed");
            MusicGen.Kernels.Ops.Gemm.ManagedKernel = gemmWhich;
            var config = new MusicGen.Model.ModelConfig
            {
                Layers = Positive(p.GetValue(layers), "--layers"), Hidden = Positive(p.GetValue(hidden), "--hidden"), SeqLen = Positive(p.GetValue(seq), "--seq"),
                Bidirectional = !p.GetValue(uni), EveryStep = p.GetValue(everyStep),
            };
            // The seed network: 3 input features (pitch/128, step, duration), pitch logits and 2 regression outputs.
            config = p.GetValue(heads) switch
            {
                "regression" => config with { Input = MusicGen.Model.InputKind.Scalar, Heads = MusicGen.Model.HeadKind.Regression, Velocity = false },
                "categorical" => config,
                var h => throw new ArgumentException($"--heads '{h}': choose regression or categorical"),
            };
            int B = Positive(p.GetValue(batch), "--batch"), R = Positive(p.GetValue(steps), "--steps");
            using var be = Devices.Create(p.GetValue(device)!, DevicesCommand.Precision(p.GetValue(precision)!));
            if (be is MusicGen.Kernels.Backends.IlgpuBackend gpu)
                gpu.Recurrence = p.GetValue(fusedOption) switch
                {
                    "auto" => MusicGen.Kernels.Backends.RecurrenceKernel.Auto, "fused" => MusicGen.Kernels.Backends.RecurrenceKernel.Fused,
                    "unfused" => MusicGen.Kernels.Backends.RecurrenceKernel.Unfused, "tiled" => MusicGen.Kernels.Backends.RecurrenceKernel.Tiled,
                    var r => throw new ArgumentException($"--recurrence '{r}': choose auto, fused, tiled or unfused"),
                };
            if (be is MusicGen.Kernels.Backends.IlgpuBackend tiled) tiled.GemmTile = Tile(p.GetValue(tileOption)!);
            using var model = new MusicGen.Model.MusicModel(be, config);
            model.Initialize(1);
            var rng = new Random(3);
            var b = new MusicGen.Model.Batch(config, B);
            NoteRow RandomNote() => new(rng.Next(21, 109), (float)rng.NextDouble(), (float)rng.NextDouble(), rng.Next(20, 128));
            for (int r = 0; r < b.Steps * B; r++) b.SetInput(r, RandomNote(), 0, config);
            for (int r = 0; r < b.TargetRows; r++) b.SetTarget(r, RandomNote(), 0, config);
            var adam = new AdamConfig(1e-3f, MaxGradNorm: 1f);
            int step = 0;
            var times = Time(be, R, () =>
            {
                step++;
                model.Forward(b, training: true, 1, (uint)step);
                model.Backward(b);
                model.GradNorm2();
                model.OptimizerStep(adam, step);
            });
            double median = Median(times);
            // Kernel launches of one more step (ILGPU devices; the managed backend launches nothing).
            long launches = -1;
            Dictionary<string, long>? byKernel = null;
            if (be is MusicGen.Kernels.Backends.IlgpuBackend counted)
            {
                long before = counted.Launches;
                var beforeBy = counted.LaunchesByKernel;
                step++;
                model.Forward(b, training: true, 1, (uint)step); model.Backward(b); model.GradNorm2(); model.OptimizerStep(adam, step);
                launches = counted.Launches - before;
                byKernel = counted.LaunchesByKernel.ToDictionary(kv => kv.Key, kv => kv.Value - beforeBy.GetValueOrDefault(kv.Key))
                    .Where(kv => kv.Value > 0).OrderByDescending(kv => kv.Value).ToDictionary();
            }
            Report(p.GetValue(json), new()
            {
                ["bench"] = "train-step", ["gemm"] = gemmWhich.ToString().ToLowerInvariant(), ["device"] = be.Kind, ["precision"] = be.Precision.ToString().ToLowerInvariant(), ["device_name"] = be.Name, ["layers"] = config.Layers, ["hidden"] = config.Hidden, ["seq"] = config.SeqLen,
                ["batch"] = B, ["bidirectional"] = config.Bidirectional, ["heads"] = config.Heads.ToString().ToLowerInvariant(), ["every_step"] = config.EveryStep, ["predictions_per_step"] = b.TargetRows, ["parameters"] = model.ParameterCount, ["steps"] = R,
                ["median_ms"] = Round(median), ["min_ms"] = Round(times.Min()), ["notes_per_s"] = Round(b.TargetRows / (median / 1000)), // predicted notes
                ["launches_per_step"] = launches, // -1: not an ILGPU device
                ["launches_by_kernel"] = (object?)byKernel ?? "n/a",
                ["fused_recurrence"] = be is MusicGen.Kernels.Backends.IlgpuBackend g2 && g2.RecurrenceFor(config.Hidden) != MusicGen.Kernels.Backends.RecurrenceKernel.Unfused,
                ["recurrence"] = be is MusicGen.Kernels.Backends.IlgpuBackend g3 ? g3.RecurrenceFor(config.Hidden).ToString().ToLowerInvariant() : "managed",
            });
            return Cli.Ok;
        }));
        return cmd;
    }

    static Command Generate()
    {
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint or run directory (default: an embedded model, --model)" };
        var modelName = GenerateCommand.ModelOption();
        var count = Int("--count", 1, "Pieces generated together"); var notes = Int("--notes", 200, "Notes per piece");
        var reps = Int("--reps", 5, "Timed repetitions"); var device = DevicesCommand.DeviceOption("cpu");
        var json = new Option<bool>("--json") { Description = "Print one JSON line" };
        var cmd = new Command("generate", "Generation throughput: notes per second in total over --count pieces") { checkpoint, modelName, count, notes, reps, device, json };
        cmd.SetAction(p => Cli.Run(() =>
        {
            int C = Positive(p.GetValue(count), "--count"), N = Positive(p.GetValue(notes), "--notes"), R = Positive(p.GetValue(reps), "--reps");
            using var be = Devices.Create(p.GetValue(device)!);
            var (model, source) = GenerateCommand.LoadModel(p.GetValue(checkpoint), be, p.GetValue(modelName));
            using (model)
            {
                var primer = MusicGen.Model.Generator.RandomPrimers(model.Config, 1, 1)[0]; // in the model's time unit
                var options = new MusicGen.Model.GenerateOptions(N, C, 1, new MusicGen.Model.SamplingOptions(TopP: 0.95f, RepetitionPenalty: 1.3f));
                var times = Time(be, R, () => MusicGen.Model.Generator.Generate(model, primer, options));
                double median = Median(times);
                Report(p.GetValue(json), new()
                {
                    ["bench"] = "generate", ["device"] = be.Kind, ["model"] = source,
                    ["network"] = $"{model.Config.Layers}x{(model.Config.Bidirectional ? "bi" : "uni")}LSTM({model.Config.Hidden}), window {model.Config.SeqLen}",
                    ["count"] = C, ["notes"] = N, ["reps"] = R, ["median_ms"] = Round(median), ["min_ms"] = Round(times.Min()),
                    ["notes_per_s"] = Round(C * N / (median / 1000)),
                });
            }
            return Cli.Ok;
        }));
        return cmd;
    }

    static int Positive(int v, string name) => v > 0 ? v : throw new ArgumentException($"{name} must be positive (got {v})");

    /// <summary>Warm-up (3 runs, compiles kernels), then reps timed runs, each synchronised.</summary>
    public static double[] Time(Backend be, int reps, Action body)
    {
        for (int i = 0; i < 3; i++) body();
        be.Synchronize();
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            long start = Stopwatch.GetTimestamp();
            body();
            be.Synchronize();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return times;
    }

    public static double Median(double[] xs)
    {
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    static double Round(double v) => Math.Round(v, 4);

    static void Report(bool json, Dictionary<string, object> fields)
    {
        if (json) Console.WriteLine(JsonSerializer.Serialize(fields));
        else foreach (var (key, value) in fields) Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{key,-16} {value}"));
    }
}
