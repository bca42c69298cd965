using System.Text.Json;
using MusicGen.Kernels;
using MusicGen.Midi;

namespace MusicGen.Tests.Cli;

public class KernelCommandsTests
{
    [Fact]
    public void Devices_lists_the_managed_cpu_and_ilgpu_cpu()
    {
        var r = CliRunner.Run("devices");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("cpu", r.Stdout);
        Assert.Contains("ilgpu-cpu", r.Stdout);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void Selftest_passes_and_prints_a_table(string device)
    {
        var r = CliRunner.Run("selftest", "--device", device, "--tiny");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("lstm fwd+bwd", r.Stdout);
        Assert.Matches(@"\n\d+ passed, 0 failed", r.Stdout);
    }

    [Fact]
    public void Selftest_in_process_covers_every_op_and_all_pass_on_ilgpu_cpu()
    {
        using var be = Devices.Create("ilgpu-cpu");
        var results = SelfTest.Run(be, tiny: true);
        foreach (var op in new[] { "gemm NN", "gemm NT", "gemm TN", "lstm fwd+bwd", "lstm fwd+bwd reverse", "layernorm", "dropout", "loss (3", "loss (categorical", "step conditioning", "adamw", "concat" })
            Assert.Contains(results, x => x.Op.StartsWith(op, StringComparison.Ordinal));
        Assert.All(results, x => Assert.True(x.Passed, $"{x.Op} {x.Shape}: {x.MaxAbsError} {x.Error}"));
    }

    /// <summary>
    /// The whole self-test on the simulator laid out like a GPU's multiprocessor (32-lane warps, groups of 128), where the
    /// TF32 GEMM's cases join in (the tensor cores emulated) and the warp-shuffle kernels run with a GPU's warp width.
    /// </summary>
    [Fact]
    public void Selftest_passes_on_the_32_lane_simulator_tf32_gemm_included()
    {
        using var be = Devices.CreateTensorCoreSimulator();
        var results = SelfTest.Run(be, tiny: true);
        Assert.Contains(results, x => x.Op.StartsWith("gemm tf32", StringComparison.Ordinal));
        Assert.Contains(results, x => x.Op.StartsWith("lstm fwd+bwd tiled", StringComparison.Ordinal));
        Assert.All(results, x => Assert.True(x.Passed, $"{x.Op} {x.Shape}: {x.MaxAbsError} {x.Error}"));
        Assert.Equal(MusicGen.Kernels.Ops.GemmPrecision.Float32, be.Precision); // the TF32 cases leave the device as they found it
    }

    [Theory]
    [InlineData("nope", "unknown device")]
    [InlineData("cuda", "no cuda device")]
    public void Unknown_or_absent_device_is_a_one_line_error(string device, string message)
    {
        var r = CliRunner.Run("selftest", "--device", device);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Bench_prints_one_json_line_with_a_median()
    {
        var r = CliRunner.Run("bench", "gemm", "--m", "32", "--n", "16", "--k", "8", "--reps", "3", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout.Trim());
        Assert.True(doc.RootElement.GetProperty("median_ms").GetDouble() > 0);
        var lstm = CliRunner.Run("bench", "lstm", "--batch", "2", "--hidden", "4", "--seq", "3", "--reps", "2", "--json");
        Assert.Equal(0, lstm.ExitCode);
        using var doc2 = JsonDocument.Parse(lstm.Stdout.Trim());
        Assert.True(doc2.RootElement.GetProperty("gemm_share").GetDouble() > 0);
        Assert.Equal(2, CliRunner.Run("bench", "gemm", "--m", "0").ExitCode);
    }

    [Theory]
    [InlineData("cpu", "bench gemm --m 8 --n 8 --k 8 --precision tf32", "tensor cores")]
    [InlineData("opencl", "bench train-step --steps 1 --precision tf32", "no opencl device found")]
    [InlineData("cpu", "train --data x --out y --precision tf32", "tensor cores")]
    [InlineData("cpu", "bench gemm --precision fp16", "choose float32 or tf32")]
    public void Tf32_without_tensor_cores_is_a_one_line_error(string device, string command, string says)
    {
        var r = CliRunner.Run([.. command.Split(' '), "--device", device]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(says, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("regression", 565890)] // the seed network: 3 inputs, a 128-way pitch head and 2 regression outputs
    [InlineData("categorical", 661792)]
    public void Bench_train_step_times_the_named_heads(string heads, long parameters)
    {
        var r = CliRunner.Run("bench", "train-step", "--heads", heads, "--steps", "1", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Stdout.Trim());
        Assert.Equal(parameters, doc.RootElement.GetProperty("parameters").GetInt64());
        Assert.Equal(heads, doc.RootElement.GetProperty("heads").GetString());
        Assert.Equal(2, CliRunner.Run("bench", "train-step", "--heads", "nope").ExitCode);
    }

    [Fact]
    public void Kernels_lists_the_registry_and_writes_each_kernels_ptx()
    {
        using var dir = new MusicGen.Tests.Corpus.TempDir();
        var r = CliRunner.Run("kernels", "--ptx", dir.Path, "--arch", "sm_80");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"{KernelRegistry.All.Count} kernels", r.Stdout);
        foreach (var k in KernelRegistry.All)
            Assert.Contains(".target sm_80", File.ReadAllText(Path.Combine(dir.Path, $"{k.Name}.sm_80.ptx")));
        Assert.Equal(2, CliRunner.Run("kernels", "--ptx", dir.Path, "--arch", "sm_1000").ExitCode);
    }

    [Fact]
    public void Probe_writes_windows_and_the_outputs_the_model_gives_for_them()
    {
        using var dir = new MusicGen.Tests.Corpus.TempDir();
        string file = Path.Combine(dir.Path, "probe.safetensors");
        var r = CliRunner.Run("probe", "--windows", "3", "--out", file);
        Assert.Equal(0, r.ExitCode);
        var probe = MusicGen.Model.SafeTensors.Load(file);
        var config = MusicGen.Model.ModelConfig.FromJson(probe.Metadata["config"]);
        int T = config.SeqLen, I = 1 + config.Continuous;
        Assert.Equal([T, 3, 4], probe.Tensors["notes"].Shape);
        Assert.Equal([T, 3, I], probe.Tensors["inputs"].Shape);
        Assert.Equal([3, config.ClassCount], probe.Tensors["logits"].Shape);

        // The logits are the embedded model's for those notes: run them again in-process and compare.
        using var be = new MusicGen.Kernels.Backends.ManagedBackend();
        var (model, _) = MusicGen.Cli.Commands.GenerateCommand.LoadModel(null, be);
        using (model)
        {
            var notes = probe.Tensors["notes"].Data;
            var batch = new MusicGen.Model.Batch(config, 3);
            for (int row = 0; row < T * 3; row++)
                batch.SetInput(row, new NoteRow(notes[row * 4], notes[row * 4 + 1], notes[row * 4 + 2], notes[row * 4 + 3]), 0, config);
            // The embedded model reads a pitch index and step, duration, velocity/127, then (in beats) its place in the bar:
            // the probe's inputs hold them all; the place is the probe's own draw, so it is taken from there.
            var inputs = probe.Tensors["inputs"].Data;
            Assert.Equal(new[] { batch.Ids[0], batch.Continuous[0], batch.Continuous[1], batch.Continuous[2] }, inputs[..4]);
            for (int row = 0; row < T * 3; row++)
                for (int j = 0; j < config.Continuous; j++) batch.Continuous[row * config.Continuous + j] = inputs[row * I + 1 + j];
            model.Forward(batch, training: false);
            var (logits, _) = model.Outputs(3);
            Assert.Equal(probe.Tensors["logits"].Data, logits);
        }
        Assert.Equal(2, CliRunner.Run("probe", "--out", Path.Combine(dir.Path, "probe.bin")).ExitCode);
        Assert.Equal(2, CliRunner.Run("probe", "--out", file, "--windows", "0").ExitCode);
    }
}
