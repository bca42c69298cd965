using BenchmarkDotNet.Attributes;
using MusicGen.Kernels.Backends;
using MusicGen.Kernels.Ops;
using MusicGen.Midi;
using MusicGen.Model;

namespace MusicGen.Bench;

/// <summary>
/// The seed network's training step (2-layer Bi-LSTM, H=128, T=10, B=64, 3 scalar inputs, regression heads) on the
/// managed backend, with BenchmarkDotNet's memory diagnoser: a step should allocate (almost) nothing, because every
/// buffer is made once per batch size (MusicModel's StepBuffers, the LSTM workspaces, the flat parameter buffer) and the
/// GEMMs' packing buffers come from a pool. Baseline, in the same run: the inference forward alone.
/// </summary>
[MedianColumn, MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 5, iterationCount: 20)]
public class TrainStepBenchmarks
{
    const int B = 64;
    readonly ManagedBackend _cpu = new();
    MusicModel _model = null!;
    Batch _batch = null!;
    readonly AdamConfig _adam = new(1e-3f, MaxGradNorm: 1f);
    int _step;

    [GlobalSetup]
    public void Setup()
    {
        var config = new ModelConfig { Layers = 2, Hidden = 128, SeqLen = 10, Bidirectional = true, Input = InputKind.Scalar, Heads = HeadKind.Regression, Velocity = false };
        _model = new MusicModel(_cpu, config);
        _model.Initialize(1);
        _batch = new Batch(config, B);
        var rng = new Random(3);
        NoteRow Note() => new(rng.Next(21, 109), (float)rng.NextDouble(), (float)rng.NextDouble(), rng.Next(20, 128));
        for (int r = 0; r < _batch.Steps * B; r++) _batch.SetInput(r, Note(), 0, config);
        for (int r = 0; r < _batch.TargetRows; r++) _batch.SetTarget(r, Note(), 0, config);
    }

    [Benchmark(Baseline = true, Description = "forward, inference")]
    public void Forward() => _model.Forward(_batch, training: false, 1, 0);

    [Benchmark(Description = "training step: forward, backward, grad norm, Adam")]
    public void Step()
    {
        _step++;
        _model.Forward(_batch, training: true, 1, (uint)_step);
        _model.Backward(_batch);
        _model.GradNorm2();
        _model.OptimizerStep(_adam, _step);
    }

    [GlobalCleanup]
    public void Cleanup() => _model.Dispose();
}
