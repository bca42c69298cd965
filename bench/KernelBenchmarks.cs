using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using MusicGen.Kernels;
using Tensor = MusicGen.Kernels.Tensor;
using MusicGen.Kernels.Backends;
using MusicGen.Kernels.Ops;

namespace MusicGen.Bench;

/// <summary>
/// Managed GEMM at 512^3. Baseline, in the same run: the plain single-threaded TensorPrimitives row loop
/// (C[i,:] += A[i,p] * B[p,:]), the plainest SIMD GEMM (about 27 GFLOP/s at 512^3 on the development machine, README).
/// GFLOP/s = 2*512^3 / median. At this size Auto picks the packed, cache-blocked GEMM; GemmPlain forces the plain kernel.
/// </summary>
[MedianColumn, MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 15)]
public class GemmBenchmarks
{
    const int N = 512;
    readonly ManagedBackend _cpu = new();
    float[] _a = [], _b = [], _c = [];
    Tensor _ta = null!, _tb = null!, _tc = null!;

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(1);
        _a = Enumerable.Range(0, N * N).Select(_ => (float)r.NextDouble()).ToArray();
        _b = Enumerable.Range(0, N * N).Select(_ => (float)r.NextDouble()).ToArray();
        _c = new float[N * N];
        _ta = _cpu.Upload(_a, N, N); _tb = _cpu.Upload(_b, N, N); _tc = _cpu.Allocate(N, N);
    }

    [Benchmark(Baseline = true, Description = "TensorPrimitives row loop, 1 thread")]
    public void RowLoop()
    {
        Array.Clear(_c);
        for (int i = 0; i < N; i++)
        {
            var row = _c.AsSpan(i * N, N);
            for (int p = 0; p < N; p++) TensorPrimitives.MultiplyAdd(_b.AsSpan(p * N, N), _a[i * N + p], row, row);
        }
    }

    [Benchmark(Description = "Gemm.Forward NN (managed backend)")]
    public void GemmNN() => Gemm.Forward(_cpu, MatrixView.Of(_ta, N, N), MatrixView.Of(_tb, N, N), MatrixView.Of(_tc, N, N));

    [Benchmark(Description = "Gemm.Forward NT (managed backend)")]
    public void GemmNT() => Gemm.Forward(_cpu, MatrixView.Of(_ta, N, N), MatrixView.Of(_tb, N, N).T, MatrixView.Of(_tc, N, N));

    [Benchmark(Description = "Gemm.Forward NN, the plain 4x16 kernel forced")]
    public void GemmPlain()
    {
        Gemm.ManagedKernel = ManagedGemmKernel.Plain;
        try { Gemm.Forward(_cpu, MatrixView.Of(_ta, N, N), MatrixView.Of(_tb, N, N), MatrixView.Of(_tc, N, N)); }
        finally { Gemm.ManagedKernel = ManagedGemmKernel.Auto; }
    }
}

/// <summary>
/// One LSTM direction at the seed's shapes (B=64, H=128, T=10, I=3), forward and forward + backward,
/// on the managed backend. Baseline: the forward pass alone.
/// </summary>
[MedianColumn, MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 15)]
public class LstmBenchmarks
{
    const int T = 10, B = 64, I = 3, H = 128;
    readonly ManagedBackend _cpu = new();
    LstmWeights _w = null!, _g = null!;
    LstmWorkspace _ws = null!;
    Tensor _x = null!, _zero = null!, _dh = null!, _dx = null!;

    [GlobalSetup]
    public void Setup()
    {
        var r = new Random(2);
        float[] Rand(int n) => Enumerable.Range(0, n).Select(_ => (float)r.NextDouble() * 0.2f - 0.1f).ToArray();
        _w = new LstmWeights(_cpu.Upload(Rand(4 * H * I), 4 * H, I), _cpu.Upload(Rand(4 * H * H), 4 * H, H), _cpu.Upload(Rand(4 * H), 4 * H), _cpu.Upload(Rand(4 * H), 4 * H));
        _g = LstmWeights.Allocate(_cpu, I, H);
        _ws = new LstmWorkspace(_cpu, T, B, I, H);
        _x = _cpu.Upload(Rand(T * B * I), T, B, I); _zero = _cpu.Allocate(B, H); _dh = _cpu.Upload(Rand(T * B * H), T, B, H); _dx = _cpu.Allocate(T, B, I);
    }

    [Benchmark(Baseline = true, Description = "LSTM layer forward, one direction")]
    public void Forward() => LstmLayer.Forward(_cpu, _ws, _w, false, _x, _zero, _zero);

    [Benchmark(Description = "LSTM layer forward + backward, one direction")]
    public void ForwardBackward()
    {
        LstmLayer.Forward(_cpu, _ws, _w, false, _x, _zero, _zero);
        LstmLayer.Backward(_cpu, _ws, _g, _dh, new LstmInputGrads(Dx: _dx));
    }
}
