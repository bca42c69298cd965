using System.Text.Json.Nodes;
using MusicGen.Tests.Corpus;

namespace MusicGen.Tests.Cli;

/// <summary>A test that launches an MPI job: skipped, with the reason, where `mpiexec` is not installed (CI installs MPICH).</summary>
public sealed class MpiFactAttribute : FactAttribute
{
    public MpiFactAttribute() { if (!CliRunner.HasMpiexec) Skip = "mpiexec is not installed (apt install mpich)"; }
}

/// <summary>`musicgen train --distributed` under `mpiexec`: the same training as one process, and failures that end the whole job.</summary>
public class DistributedTrainTests
{
    /// <summary>A prepared cache of 60 generated files: over 20 batches of 64 windows of 10 notes in an epoch.</summary>
    static string Cache(TempDir dir)
    {
        var folder = TrainCommandTests.MakeFolder(dir, files: 60);
        var r = CliRunner.Run("prepare", "--data", folder, "--out", dir["cache"], "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        return Directory.GetFiles(dir["cache"], "*.mgcache").Single();
    }

    static string[] Train(string cache, string run, params string[] more) =>
        ["train", "--data", cache, "--out", run, "--hidden", "16", "--batch", "64", "--log-every", "1", "--quiet", .. more.Contains("--epochs") ? more : [.. more, "--epochs", "1"]];

    static List<(int Step, double Loss)> Losses(string run) => File.ReadAllLines(Path.Combine(run, "metrics.jsonl"))
        .Select(l => JsonNode.Parse(l)!.AsObject()).Where(o => (string?)o["kind"] == "step")
        .Select(o => ((int)o["step"]!, (double)o["loss"]!)).ToList();

    // Tolerance: the ranks' gradients are summed in another order than one process's GEMMs sum the same rows (each rank's
    // part is its own mean times its share of the batch), so they differ in the last bits of float32 (~1e-7 relative);
    // Adam carries that through 20 steps. 1e-4 relative is far below any real difference (a wrong shard, mask or
    // weighting moves the loss in the second or third digit) and far above float summation noise.
    const double Tolerance = 1e-4;

    [MpiFact]
    public void Two_and_three_ranks_train_as_one_process_with_the_whole_batch()
    {
        using var dir = new TempDir();
        var cache = Cache(dir);
        var one = CliRunner.Run(Train(cache, dir["one"]));
        Assert.True(one.ExitCode == 0, one.Stderr);
        var reference = Losses(dir["one"]);
        Assert.True(reference.Count >= 20, $"{reference.Count} steps");
        foreach (int ranks in new[] { 2, 3 }) // 3: uneven shards of 21, 21 and 22 windows
        {
            var run = dir[$"ranks{ranks}"];
            var r = CliRunner.Mpi(ranks, Train(cache, run, "--distributed"));
            Assert.True(r.ExitCode == 0, r.Stderr + r.Stdout);
            var losses = Losses(run);
            Assert.Equal(reference.Select(x => x.Step), losses.Select(x => x.Step));
            for (int i = 0; i < reference.Count; i++)
                Assert.True(Math.Abs(losses[i].Loss - reference[i].Loss) <= Tolerance * Math.Abs(reference[i].Loss),
                    $"{ranks} ranks, step {reference[i].Step}: {losses[i].Loss} against {reference[i].Loss} in one process");
            Assert.Contains($"data parallel: {ranks} rank(s)", r.Stdout);
            Assert.Single(r.Stdout.Split('\n'), l => l.StartsWith("completed")); // rank 0 alone reports
        }
    }

    [MpiFact]
    public void A_distributed_run_resumes_with_the_same_or_another_number_of_ranks()
    {
        using var dir = new TempDir();
        var cache = Cache(dir);
        // One process: an epoch, then resumed for a second (a resume with a new epoch count stretches the learning-rate
        // schedule from there on, so the distributed run is compared with the same history).
        var whole = CliRunner.Run(Train(cache, dir["whole"]));
        Assert.True(whole.ExitCode == 0, whole.Stderr);
        whole = CliRunner.Run("train", "--resume", dir["whole"], "--epochs", "2", "--quiet");
        Assert.True(whole.ExitCode == 0, whole.Stderr);
        var first = CliRunner.Mpi(2, Train(cache, dir["split"], "--distributed"));
        Assert.True(first.ExitCode == 0, first.Stderr);
        // Another number of ranks re-shards the same global batches (shuffles, masks and the batch do not depend on it).
        var second = CliRunner.Mpi(3, ["train", "--resume", dir["split"], "--epochs", "2", "--distributed", "--quiet"]);
        Assert.True(second.ExitCode == 0, second.Stderr);
        var a = Losses(dir["whole"]); var b = Losses(dir["split"]);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++) Assert.True(Math.Abs(a[i].Loss - b[i].Loss) <= Tolerance * Math.Abs(a[i].Loss), $"step {a[i].Step}: {b[i].Loss} against {a[i].Loss}");
    }

    [MpiFact]
    public void Ranks_launched_with_different_arguments_are_refused_at_start()
    {
        using var dir = new TempDir();
        var cache = Cache(dir);
        var r = CliRunner.Mpi(2, [], [Train(cache, dir["run"], "--distributed"), Train(cache, dir["run"], "--distributed", "--lr", "0.001")]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("rank 1 differs from rank 0", r.Stderr);
        Assert.False(File.Exists(Path.Combine(dir["run"], "last.safetensors")));
    }

    [MpiFact]
    public void A_rank_that_fails_ends_the_whole_job_and_the_last_checkpoint_stays()
    {
        using var dir = new TempDir();
        var cache = Cache(dir);
        var first = CliRunner.Mpi(2, Train(cache, dir["run"], "--distributed"));
        Assert.True(first.ExitCode == 0, first.Stderr);
        var before = File.ReadAllBytes(Path.Combine(dir["run"], "last.safetensors"));
        // Rank 1 is given a corpus that does not exist: it fails at start while rank 0 waits for it in the first collective.
        // Without MPI_Abort rank 0 would wait forever (the runner's timeout would fail the test).
        var r = CliRunner.Mpi(2, [], [["train", "--resume", dir["run"], "--epochs", "2", "--distributed", "--quiet"],
                                      ["train", "--resume", dir["run"], "--epochs", "2", "--distributed", "--quiet", "--data", dir["missing.mgcache"]]]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("rank 1 of 2 failed", r.Stderr);
        Assert.Equal(before, File.ReadAllBytes(Path.Combine(dir["run"], "last.safetensors")));
    }

    [Fact]
    public void Without_an_mpi_library_distributed_training_says_what_to_install()
    {
        using var dir = new TempDir();
        var r = CliRunner.RunWithEnvironment(new Dictionary<string, string> { ["MUSICGEN_MPI_LIBRARY"] = "libno-such-mpi.so" },
            "train", "--distributed", "--data", dir["x.mgcache"], "--out", dir["run"]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("install MPICH", r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }
}
