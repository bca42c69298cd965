using MusicGen.Model;
using Xunit;

namespace MusicGen.Tests.Model;

/// <summary>The shared training loop, driven by a scripted run: what it saves, when it stops, and the state it hands back.</summary>
public class TrainingLoopTests
{
    /// <summary>A run whose epochs score as scripted; it records every call the loop makes.</summary>
    sealed class ScriptedRun(double[] scores, int batches, int patience, bool hasValidation = true, int stopAtStep = -1, int checkpointEvery = 0) : ITrainingRun<ScriptedRun.Scores>
    {
        public sealed record Scores(double Score) : IEpochScores;
        public readonly List<string> Calls = [];
        public int Epochs => scores.Length;
        public int Patience => patience;
        public bool HasValidation => hasValidation;
        public int StartEpoch(int epoch) { Calls.Add($"start {epoch}"); return batches; }
        public BatchOutcome TrainBatch(int epoch, int batch, TrainingState state, CancellationToken cancel) =>
            new(LossSum: 2.0 * (batch + 1), LossCount: 2, Steps: 1, Stop: state.Step + 1 == stopAtStep);
        public bool CheckpointDue(TrainingState state, TimeSpan sinceLastSave) => checkpointEvery > 0 && state.Step % checkpointEvery == 0;
        public Scores Score(int epoch, double trainLoss) => new(scores[epoch]);
        public void RecordEpoch(EpochEnd<Scores> end) => Calls.Add($"epoch {end.State.Epoch} train {end.TrainLoss} over {end.TrainLossCount} score {end.Scores.Score}{(end.Improved ? " best" : "")}");
        public void Save(string file, TrainingState state, bool withOptimizer) => Calls.Add($"save {file} at {state.Epoch}/{state.Batch} step {state.Step}{(state.Finished ? " finished" : "")}");
        public void Interrupted(TrainingState state) => Calls.Add("interrupted");
        public void StoppedEarly(TrainingState state) => Calls.Add("early stop");
    }

    [Fact]
    public void Saves_best_only_on_improvement_and_stops_after_patience_epochs_without_one()
    {
        var run = new ScriptedRun([3, 2, 2.5, 2.1, 1], batches: 2, patience: 2);
        var (outcome, state) = TrainingLoop.Run(run, TrainingState.Start, default);
        Assert.Equal(TrainOutcome.EarlyStopped, outcome);
        Assert.Equal(new TrainingState(4, 0, 8, 2, 2, Finished: true, BestEpoch: 2), state);
        Assert.Equal(
        [
            "start 0", "epoch 1 train 1.5 over 4 score 3 best", "save best.safetensors at 1/0 step 2", "save last.safetensors at 1/0 step 2",
            "start 1", "epoch 2 train 1.5 over 4 score 2 best", "save best.safetensors at 2/0 step 4", "save last.safetensors at 2/0 step 4",
            "start 2", "epoch 3 train 1.5 over 4 score 2.5", "save last.safetensors at 3/0 step 6",
            "start 3", "epoch 4 train 1.5 over 4 score 2.1", "save last.safetensors at 4/0 step 8 finished", "early stop",
        ], run.Calls);
    }

    [Fact]
    public void Without_validation_it_never_stops_early_and_the_last_epoch_is_finished()
    {
        var run = new ScriptedRun([5, 6, 7], batches: 1, patience: 1, hasValidation: false);
        var (outcome, state) = TrainingLoop.Run(run, TrainingState.Start, default);
        Assert.Equal(TrainOutcome.Completed, outcome);
        Assert.True(state.Finished);
        Assert.Equal(1, state.BestEpoch);
        Assert.Contains("save last.safetensors at 3/0 step 3 finished", run.Calls);
    }

    [Fact]
    public void A_stop_within_an_epoch_saves_there_and_the_resumed_run_ends_as_the_whole_one()
    {
        var whole = TrainingLoop.Run(new ScriptedRun([3, 2, 1], batches: 3, patience: 0), TrainingState.Start, default);
        var stopped = new ScriptedRun([3, 2, 1], batches: 3, patience: 0, stopAtStep: 5);
        var (outcome, state) = TrainingLoop.Run(stopped, TrainingState.Start, default);
        Assert.Equal(TrainOutcome.Interrupted, outcome);
        Assert.Equal(["save last.safetensors at 1/2 step 5", "interrupted"], stopped.Calls.TakeLast(2));
        // The epoch's loss so far travels in the state, so the resumed epoch's mean counts the batches before the stop.
        Assert.Equal(new TrainingState(1, 2, 5, 3, 0, EpochLossSum: 6, EpochLossCount: 4, BestEpoch: 1), state);
        var resumed = new ScriptedRun([3, 2, 1], batches: 3, patience: 0);
        var end = TrainingLoop.Run(resumed, state, default);
        Assert.Equal(whole, end);
        Assert.Equal("start 1", resumed.Calls[0]);
        Assert.Equal("epoch 2 train 2 over 6 score 2 best", resumed.Calls[1]);
    }

    [Fact]
    public void Checkpoints_within_an_epoch_when_the_run_says_one_is_due()
    {
        var run = new ScriptedRun([1, 0.5], batches: 4, patience: 0, checkpointEvery: 3);
        TrainingLoop.Run(run, TrainingState.Start, default);
        Assert.Equal(["save last.safetensors at 0/3 step 3", "save last.safetensors at 1/2 step 6"], run.Calls.Where(c => c.StartsWith("save last") && !c.Contains("/0 ")));
    }

    [Fact]
    public void Reads_the_states_older_checkpoints_wrote()
    {
        // A note model's (EpochLossCount was an integer) and a frame model's (BestValidationNll, BestEpoch from 0).
        Assert.Equal(new TrainingState(2, 590, 1239, 4.1, 0, EpochLossSum: 2600.5, EpochLossCount: 590),
            TrainingState.FromJson("""{"Epoch":2,"Batch":590,"Step":1239,"BestValidationLoss":4.1,"EpochsWithoutImprovement":0,"Finished":false,"EpochLossSum":2600.5,"EpochLossCount":590}"""));
        Assert.Equal(new TrainingState(55, 0, 1650, 5.585, 15, Finished: true, BestEpoch: 40),
            TrainingState.FromJson("""{"Epoch":55,"Step":1650,"BestValidationNll":5.585,"BestEpoch":39,"EpochsWithoutImprovement":15,"Finished":true}"""));
        Assert.Equal(new TrainingState(0, 0, 0, double.PositiveInfinity, 0),
            TrainingState.FromJson("""{"Epoch":0,"Step":0,"BestValidationNll":"Infinity","BestEpoch":-1,"EpochsWithoutImprovement":0}"""));
        var now = new TrainingState(3, 1, 40, 2.5, 1, EpochLossSum: 1.5, EpochLossCount: 7.25, BestEpoch: 2);
        Assert.Equal(now, TrainingState.FromJson(now.ToJson()));
        Assert.Throws<InvalidDataException>(() => TrainingState.FromJson("null"));
    }
}
