using System.Text.Json;
using MusicGen.Kernels;

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
}
