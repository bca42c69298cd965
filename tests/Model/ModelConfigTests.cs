using MusicGen.Kernels.Backends;
using MusicGen.Model;
using MusicGen.Tests.Cli;
using MusicGen.Tests.Corpus;

namespace MusicGen.Tests.Model;

public class ModelConfigTests
{
    [Theory]
    [InlineData(true, "categorical", true, "embedding", true)]
    [InlineData(false, "categorical", false, "embedding", true)]
    [InlineData(true, "regression", false, "scalar", false)]
    [InlineData(false, "regression", true, "scalar", true)]
    public void The_parameter_count_worked_out_from_a_config_is_the_models(bool bidirectional, string heads, bool stepFirst, string input, bool layerNorm)
    {
        var config = new ModelConfig { Layers = 3, Hidden = 7, Bidirectional = bidirectional, Heads = Enum.Parse<HeadKind>(heads, ignoreCase: true), StepFirst = stepFirst, Input = Enum.Parse<InputKind>(input, ignoreCase: true), LayerNorm = layerNorm, EmbeddingDim = 5 };
        using var be = new ManagedBackend();
        using var model = new MusicModel(be, config);
        Assert.Equal(model.ParameterCount, config.ParameterCount());
    }

    [Fact]
    public void A_network_too_big_for_the_memory_is_refused_before_anything_is_allocated_or_written()
    {
        using var dir = new TempDir();
        var corpus = TrainerTests.TinyCorpus();
        corpus.Save(dir["c.mgcache"]);
        var r = CliRunner.Run("train", "--data", dir["c.mgcache"], "--out", dir["run"], "--hidden", "8192", "--layers", "16");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("GB to train", r.Stderr);
        Assert.False(Directory.Exists(dir["run"]));
    }
}
