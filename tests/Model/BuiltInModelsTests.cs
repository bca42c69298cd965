using MusicGen.Midi;
using MusicGen.Tests.Kernels;
using MusicGen.Model;
using Xunit;

namespace MusicGen.Tests.Model;

/// <summary>The models built into the library: found by name, loaded without the CLI, refused by a clear message otherwise.</summary>
public class BuiltInModelsTests
{
    [Fact]
    public void Both_models_are_built_in_and_load_as_their_configs_say()
    {
        using var be = TestBackends.Create("cpu");
        Assert.All(BuiltInModels.All, e => Assert.True(e.Present, $"{e.Name} is missing from this build"));
        foreach (var e in BuiltInModels.All)
        {
            var (config, file) = BuiltInModels.Read(e.Name);
            var (model, _) = BuiltInModels.Load(e.Name, be);
            using (model)
            {
                Assert.Equal(config, model.Config);
                Assert.Equal(file.Tensors.Values.Sum(t => (long)t.Data.Length), model.ParameterCount);
            }
        }
        Assert.Equal(TimeUnit.Beats, BuiltInModels.Read("pop").Config.Time);
        Assert.Equal(TimeUnit.Seconds, BuiltInModels.Read("classical").Config.Time);
    }

    [Fact]
    public void A_model_is_named_by_a_checkpoint_or_a_built_in_name_and_nothing_else()
    {
        using var be = TestBackends.Create("cpu");
        var (model, source) = BuiltInModels.LoadModel(null, null, be);
        using (model) Assert.Equal("built-in pop model (POP909)", source);
        var unknown = Assert.Throws<SettingException>(() => BuiltInModels.Find("jazz"));
        Assert.Equal("model", unknown.Setting);
        Assert.Contains("choose pop or classical", unknown.Message);
        Assert.Throws<ArgumentException>(() => BuiltInModels.LoadModel("x.safetensors", "pop", be));
        Assert.Equal("checkpoint", Assert.Throws<SettingException>(() => BuiltInModels.LoadModel("/no/such/run", null, be)).Setting);
    }
}
