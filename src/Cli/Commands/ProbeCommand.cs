using System.CommandLine;
using MusicGen.Kernels;
using MusicGen.Midi;
using MusicGen.Model;

namespace MusicGen.Cli.Commands;

/// <summary>
/// <c>musicgen probe [--checkpoint FILE] --out probe.safetensors</c>: random windows and what the model makes of them,
/// written as safetensors, so that another implementation holding the same checkpoint can be checked against ours
/// (bench/pytorch/interop.py rebuilds the network in PyTorch by the checkpoint's tensor names and compares).
///
/// The file holds, for W windows of the model's length T (time-major, like every tensor here):
///   notes      [T, W, 4]  the windows' notes: pitch, step s, duration s, velocity (0..127), as the model reads them
///   inputs     [T, W, I]  the features the first LSTM layer's input is made of: pitch/128 or the pitch index, then
///                         step, duration (clipped to MaxSeconds) and velocity/127 (when the model has velocity)
///   logits     [W, K]     the prediction after each window (before any step conditioning)
///   regression [W, R]     regression heads only
/// and, as metadata, the model's config and the checkpoint it came from.
/// </summary>
public static class ProbeCommand
{
    public static Command Build()
    {
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint or run directory (default: an embedded model, --model)" };
        var modelName = GenerateCommand.ModelOption();
        var output = new Option<string>("--out", "-o") { Description = "The probe file to write (.safetensors)", Required = true };
        var windows = new Option<int>("--windows") { Description = "Random windows to run", DefaultValueFactory = _ => 16 };
        var seed = new Option<int>("--seed") { Description = "Seed of the random windows", DefaultValueFactory = _ => 1 };
        var device = DevicesCommand.DeviceOption("cpu");
        var cmd = new Command("probe", "Write random windows and the model's outputs for them (.safetensors), to check another implementation against ours")
        {
            checkpoint, modelName, output, windows, seed, device,
        };
        cmd.SetAction(p => Cli.Run(() =>
        {
            string destination = p.GetValue(output)!;
            if (!destination.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)) return Cli.Error($"--out '{destination}' should end in .safetensors");
            if (Cli.CannotWrite(destination, "--out") is string whyNot) return Cli.Error(whyNot);
            int W = p.GetValue(windows);
            if (W <= 0) return Cli.Error($"--windows must be positive (got {W})");
            using var be = Devices.Create(p.GetValue(device)!);
            var (model, source) = GenerateCommand.LoadModel(p.GetValue(checkpoint), be, p.GetValue(modelName));
            using (model)
            {
                var c = model.Config;
                int T = c.SeqLen;
                var rng = new Random(p.GetValue(seed));
                var batch = new Batch(c, W);
                var notes = new float[T * W * 4];
                for (int t = 0; t < T; t++)
                    for (int b = 0; b < W; b++)
                    {
                        // Notes spread over what music has: chords (step 0), short and long steps, all loudnesses.
                        var n = new NoteRow(rng.Next(21, 109), rng.Next(4) == 0 ? 0f : (float)(rng.NextDouble() * 1.5), (float)(0.05 + rng.NextDouble() * 2), rng.Next(20, 128));
                        // A beats model also reads where in its bar each note starts: random places on the grid of a 4/4 bar.
                        batch.SetInput(t * W + b, n, 0, c, c.Beats ? new BarPlace(rng.Next(4 * BeatFeatures.GridPerBeat) / (float)BeatFeatures.GridPerBeat, 4) : default);
                        int row = (t * W + b) * 4;
                        notes[row] = n.Pitch; notes[row + 1] = n.Step; notes[row + 2] = n.Duration; notes[row + 3] = n.Velocity;
                    }
                model.Forward(batch, training: false);
                var (logits, reg) = model.Outputs(W);
                // The first layer's input features, whichever way the model stores them.
                int I = 1 + c.Continuous;
                var inputs = new float[T * W * I];
                for (int r = 0; r < T * W; r++)
                {
                    if (c.Input == InputKind.Embedding)
                    {
                        inputs[r * I] = batch.Ids[r];
                        for (int j = 0; j < c.Continuous; j++) inputs[r * I + 1 + j] = batch.Continuous[r * c.Continuous + j];
                    }
                    else
                        for (int j = 0; j < I; j++) inputs[r * I + j] = batch.Inputs[r * c.InputSize + j];
                }
                var tensors = new List<(string, int[], float[])>
                {
                    ("notes", [T, W, 4], notes), ("inputs", [T, W, I], inputs), ("logits", [W, c.ClassCount], logits),
                };
                if (reg.Length > 0) tensors.Add(("regression", [W, reg.Length / W], reg));
                SafeTensors.Save(destination, tensors, new Dictionary<string, string>
                {
                    ["format"] = "musicgen-probe-1", ["config"] = c.ToJson(), ["checkpoint"] = source, ["device"] = be.Name,
                });
                Console.WriteLine($"{destination}: {W} windows of {T} notes through {source} on {be.Name}");
            }
            return Cli.Ok;
        }));
        return cmd;
    }
}
