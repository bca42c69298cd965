using MusicGen.Model;

namespace MusicGen.Tests.Model;

/// <summary>Each preset is the recipe of the model shipped under its name: the embedded model's own stored config and options.</summary>
public class TrainingPresetsTests
{
    [Theory]
    [InlineData("pop", "default-pop909.safetensors")]
    [InlineData("classical", "default-classical.safetensors")]
    public void A_preset_is_the_config_and_options_the_shipped_model_was_trained_with(string preset, string file)
    {
        var (config, shipped) = Checkpoint.Read(Path.Combine(SharedData.RepositoryRoot, "models", file));
        var (model, options) = TrainingPresets.Get(preset);
        // The classical model was trained before "ends" became the bidirectional default; a unidirectional model never reads it.
        // The tempo is the training corpus' median, not part of the recipe.
        Assert.Equal(config with { BidirectionalHeads = model.BidirectionalHeads, Bpm = model.Bpm }, model);
        var trained = TrainOptions.FromJson(shipped.Metadata["train_options"]);
        Assert.Equal(trained with { CheckpointMinutes = options.CheckpointMinutes, TrainFraction = options.TrainFraction, ValidationStride = options.ValidationStride }, options);
    }
}
