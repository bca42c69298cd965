using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MusicGen.Model;

/// <summary>
/// Where training stands: enough, with the model and optimizer tensors, to resume exactly. Both trainers keep this one
/// record in their checkpoints' "state" metadata.
/// </summary>
/// <param name="Epoch">The epoch to run next (or the one in progress), counted from 0: also the number of finished epochs.</param>
/// <param name="Batch">The next batch index within <paramref name="Epoch"/>'s shuffled order.</param>
/// <param name="Step">Optimizer steps taken so far (Adam's t; also the dropout counter).</param>
/// <param name="BestValidationLoss">The best (lowest) epoch score so far: validation loss or NLL.</param>
/// <param name="EpochLossSum">Sum of this epoch's training losses so far (for the epoch's mean after a resume).</param>
/// <param name="EpochLossCount">What <paramref name="EpochLossSum"/> is divided by: steps (note models) or predicted frames (frame models).</param>
/// <param name="BestEpoch">The epoch (from 1) that scored <paramref name="BestValidationLoss"/>; 0 before any.</param>
public sealed record TrainingState(int Epoch, int Batch, int Step, double BestValidationLoss, int EpochsWithoutImprovement, bool Finished = false,
    double EpochLossSum = 0, double EpochLossCount = 0, int BestEpoch = 0)
{
    public static TrainingState Start => new(0, 0, 0, double.PositiveInfinity, 0);

    public string ToJson() => JsonSerializer.Serialize(this, TrainingCore.StateJson);

    /// <summary>
    /// Reads a checkpoint's state. Frame checkpoints written before the trainers shared this record named the best score
    /// "BestValidationNll" and counted BestEpoch from 0 (-1: none); they are read as the same state.
    /// </summary>
    public static TrainingState FromJson(string json)
    {
        var o = JsonNode.Parse(json)?.AsObject() ?? throw new InvalidDataException("the checkpoint has no training state");
        if (o["BestValidationNll"] is JsonNode legacyBest)
        {
            o["BestValidationLoss"] = legacyBest.DeepClone();
            o.Remove("BestValidationNll");
            o["BestEpoch"] = (o["BestEpoch"]?.GetValue<int>() ?? -1) + 1;
        }
        return o.Deserialize<TrainingState>(TrainingCore.StateJson) ?? throw new InvalidDataException("the checkpoint has no training state");
    }
}

/// <summary>Why training stopped.</summary>
public enum TrainOutcome { Completed, EarlyStopped, Interrupted }

/// <summary>What one batch of training did: its summed loss and what that sum is divided by, the optimizer steps it took, and whether to stop now.</summary>
public readonly record struct BatchOutcome(double LossSum, double LossCount, int Steps, bool Stop);

/// <summary>A model's scores after an epoch: <see cref="Score"/> (lower is better) chooses best.safetensors and drives early stopping.</summary>
public interface IEpochScores
{
    double Score { get; }
}

/// <summary>The end of an epoch, as the loop saw it: the state to save (Finished set on the last epoch), the mean training loss and
/// what it was averaged over (steps or frames, the whole epoch's, a resumed one's too), the scores.</summary>
public sealed record EpochEnd<TScores>(TrainingState State, double TrainLoss, double TrainLossCount, TScores Scores, bool Improved, double TrainSeconds, double Seconds);

/// <summary>
/// What a model's trainer supplies to <see cref="TrainingLoop"/>: how many batches an epoch has, how to train one, how to
/// score the model, and how to save and report. Everything that does not depend on the model is the loop's.
/// </summary>
public interface ITrainingRun<TScores> where TScores : IEpochScores
{
    int Epochs { get; }
    /// <summary>Epochs without improvement before an early stop (0: never).</summary>
    int Patience { get; }
    /// <summary>Whether the scores come from a validation split (without one they are the training loss, and there is no early stop).</summary>
    bool HasValidation { get; }
    /// <summary>Prepares epoch <paramref name="epoch"/> (its shuffled order) and returns how many batches it has.</summary>
    int StartEpoch(int epoch);
    /// <summary>Trains batch <paramref name="batch"/> of <paramref name="epoch"/>, starting from <paramref name="state"/> (its Step: the steps taken before).</summary>
    BatchOutcome TrainBatch(int epoch, int batch, TrainingState state, CancellationToken cancel);
    /// <summary>Whether to save last.safetensors now, within an epoch (a step interval, or time since the last save).</summary>
    bool CheckpointDue(TrainingState state, TimeSpan sinceLastSave);
    /// <summary>Scores the model after an epoch; <paramref name="trainLoss"/> is the epoch's mean training loss.</summary>
    TScores Score(int epoch, double trainLoss);
    /// <summary>Records a finished epoch (metrics.jsonl, the caller's report), before its checkpoints are written.</summary>
    void RecordEpoch(EpochEnd<TScores> end);
    /// <summary>Writes <paramref name="file"/> (<see cref="RunFolder.Last"/> with the optimizer state, or <see cref="RunFolder.Best"/>).</summary>
    void Save(string file, TrainingState state, bool withOptimizer);
    /// <summary>Says that the run stopped early (Ctrl-C, a signal) and was saved at <paramref name="state"/>.</summary>
    void Interrupted(TrainingState state);
    /// <summary>Says that the run stopped because its score has not improved for <see cref="Patience"/> epochs.</summary>
    void StoppedEarly(TrainingState state);
}

/// <summary>
/// The training loop both trainers share: epochs of batches; the state after every batch (so a checkpoint within an
/// epoch resumes exactly where it was); periodic saves; a stop that saves where it stands; at each epoch's end the
/// scores, early stopping, metrics, best.safetensors when the score improved and last.safetensors always.
/// </summary>
public static class TrainingLoop
{
    public static (TrainOutcome Outcome, TrainingState State) Run<TScores>(ITrainingRun<TScores> run, TrainingState state, CancellationToken cancel)
        where TScores : IEpochScores
    {
        var sinceSave = Stopwatch.StartNew();
        for (int epoch = state.Epoch; epoch < run.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            bool resumingThisEpoch = state.Epoch == epoch && state.Batch > 0;
            if (!resumingThisEpoch) state = state with { Epoch = epoch, Batch = 0, EpochLossSum = 0, EpochLossCount = 0 };
            int batches = run.StartEpoch(epoch);
            for (int b = state.Batch; b < batches; b++)
            {
                var done = run.TrainBatch(epoch, b, state, cancel);
                state = state with
                {
                    Batch = b + 1, Step = state.Step + done.Steps,
                    EpochLossSum = state.EpochLossSum + done.LossSum, EpochLossCount = state.EpochLossCount + done.LossCount,
                };
                if (done.Stop)
                {
                    run.Save(RunFolder.Last, state, withOptimizer: true);
                    run.Interrupted(state);
                    return (TrainOutcome.Interrupted, state);
                }
                if (run.CheckpointDue(state, sinceSave.Elapsed))
                {
                    run.Save(RunFolder.Last, state, withOptimizer: true);
                    sinceSave.Restart();
                }
            }

            double trainSeconds = clock.Elapsed.TotalSeconds;
            double trainLoss = state.EpochLossCount > 0 ? state.EpochLossSum / state.EpochLossCount : double.NaN, trainCount = state.EpochLossCount;
            var scores = run.Score(epoch, trainLoss);
            var (stopping, improved) = new EarlyStopping(state.BestValidationLoss, state.EpochsWithoutImprovement).Observe(scores.Score);
            bool stop = run.HasValidation && stopping.ShouldStop(run.Patience);
            state = state with
            {
                Epoch = epoch + 1, Batch = 0, EpochLossSum = 0, EpochLossCount = 0,
                BestValidationLoss = stopping.Best, EpochsWithoutImprovement = stopping.EpochsWithoutImprovement,
                BestEpoch = improved ? epoch + 1 : state.BestEpoch, Finished = stop || epoch + 1 == run.Epochs,
            };
            run.RecordEpoch(new EpochEnd<TScores>(state, trainLoss, trainCount, scores, improved, trainSeconds, clock.Elapsed.TotalSeconds));
            if (improved) run.Save(RunFolder.Best, state, withOptimizer: false);
            run.Save(RunFolder.Last, state, withOptimizer: true);
            sinceSave.Restart();
            if (stop)
            {
                run.StoppedEarly(state);
                return (TrainOutcome.EarlyStopped, state);
            }
        }
        return (TrainOutcome.Completed, state with { Finished = true });
    }
}
