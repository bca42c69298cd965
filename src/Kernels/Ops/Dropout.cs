using ILGPU;
using ILGPU.Runtime;
using MusicGen.Kernels.Backends;

namespace MusicGen.Kernels.Ops;

/// <summary>
/// Inverted dropout with a counter-based random number generator: element i of call `counter` is kept
/// when hash(seed, counter, i) / 2^32 >= p, and kept values are scaled by 1/(1-p), so inference needs
/// no rescaling (p = 0, or simply not calling it, is the no-op). The mask is never stored: backward
/// recomputes it from the same (seed, counter), and every backend draws the same mask.
/// A data-parallel rank holding rows b0 .. b0+Bl-1 of a global batch of Bg rows (time-major [T, B, D]) passes a
/// <see cref="DropoutShard"/>, so its element i draws the mask of the element it is in the whole batch: every rank's
/// masks are the single-process run's masks.
/// Locked (variational) dropout, as AWD-LSTM drops an LSTM's outputs: with <c>stepBlock</c> = the elements of one time
/// step of a time-major [T, B, D] tensor (B*D), element i draws the mask of element i % stepBlock, so every time step of a
/// row drops the same features (Gal and Ghahramani's variational RNN dropout). 0: every element its own draw.
/// </summary>
/// <param name="LocalBlock">Elements per time step here (Bl * D).</param>
/// <param name="GlobalBlock">Elements per time step in the whole batch (Bg * D).</param>
/// <param name="Offset">Where this shard's rows start within a time step of the whole batch (b0 * D).</param>
public readonly record struct DropoutShard(int LocalBlock, int GlobalBlock, int Offset)
{
    /// <summary>Not a shard: element i is element i.</summary>
    public static DropoutShard Whole => new(int.MaxValue, 0, 0);

    /// <summary>The rows [first, first + rows) of a time-major batch of <paramref name="globalRows"/> rows per step, each of <paramref name="width"/> elements.</summary>
    public static DropoutShard Rows(int first, int rows, int globalRows, int width) =>
        first == 0 && rows == globalRows ? Whole : new(rows * width, globalRows * width, first * width);

    /// <summary>The index in the whole batch of local element <paramref name="i"/>.</summary>
    public uint Index(int i) => (uint)((long)(i / LocalBlock) * GlobalBlock + Offset + i % LocalBlock);
}

public static class Dropout
{
    /// <summary>A 32-bit mix of (seed, counter, index): three rounds of a murmur-style finaliser.</summary>
    public static uint Hash(uint seed, uint counter, uint index)
    {
        uint h = seed * 0x9E3779B1u ^ counter * 0x85EBCA77u ^ index * 0xC2B2AE3Du;
        h ^= h >> 16; h *= 0x7FEB352Du;
        h ^= h >> 15; h *= 0x846CA68Bu;
        h ^= h >> 16;
        return h;
    }

    /// <summary>The multiplier of element i: 0 (dropped) or 1/(1-p) (kept).</summary>
    public static float Scale(uint seed, uint counter, uint index, float p) =>
        Hash(seed, counter, index) * (1f / 4294967296f) >= p ? 1f / (1f - p) : 0f;

    /// <summary>The index whose draw element <paramref name="i"/> takes: its index in the whole batch, of its first time step when locked.</summary>
    public static uint MaskIndex(int i, DropoutShard shard, int stepBlock) => shard.Index(stepBlock > 0 ? i % stepBlock : i);

    /// <summary>x[N] -> y[N] = x * scale(mask index of i). y may be x. stepBlock &gt; 0: one mask for every time step (locked).</summary>
    public static void Forward(Backend backend, Tensor x, Tensor y, int n, float p, uint seed, uint counter, DropoutShard? shard = null, int stepBlock = 0)
    {
        Check(x, y, n, p, stepBlock);
        Run(backend, "dropout.forward", x, y, n, p, seed, counter, shard ?? DropoutShard.Whole, stepBlock, accumulate: false);
    }

    /// <summary>dy[N] -> dx[N] += dy * scale(mask index of i), the same mask as forward.</summary>
    public static void Backward(Backend backend, Tensor dy, Tensor dx, int n, float p, uint seed, uint counter, DropoutShard? shard = null, int stepBlock = 0)
    {
        Check(dy, dx, n, p, stepBlock);
        Run(backend, "dropout.backward", dy, dx, n, p, seed, counter, shard ?? DropoutShard.Whole, stepBlock, accumulate: true);
    }

    static void Check(Tensor a, Tensor b, int n, float p, int stepBlock)
    {
        if (!(p >= 0 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), $"dropout probability {p} outside [0, 1)");
        if (stepBlock < 0 || (stepBlock > 0 && n % stepBlock != 0)) throw new ArgumentOutOfRangeException(nameof(stepBlock), $"a locked mask's step of {stepBlock} elements does not divide {n}");
        Backend.Check(a, 0, n, "input");
        Backend.Check(b, 0, n, "output");
    }

    static void Run(Backend backend, string key, Tensor src, Tensor dst, int n, float p, uint seed, uint counter, DropoutShard shard, int stepBlock, bool accumulate)
    {
        switch (backend)
        {
            case ManagedBackend cpu:
            {
                ManagedTensor st = ManagedBackend.Of(src), dt = ManagedBackend.Of(dst);
                const int chunk = 4096;
                cpu.For((n + chunk - 1) / chunk, chunk * 8L, c =>
                {
                    int from = c * chunk, len = Math.Min(n, from + chunk) - from;
                    Span<float> s = st.Span(from, len), d = dt.Span(from, len);
                    for (int j = 0; j < len; j++)
                    {
                        float v = s[j] * Scale(seed, counter, MaskIndex(from + j, shard, stepBlock), p);
                        d[j] = accumulate ? d[j] + v : v;
                    }
                });
                return;
            }
            case IlgpuBackend gpu:
            {
                var kernel = gpu.Kernel(key, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, float, uint, uint, DropoutShard, int, int>(Kernel));
                kernel(n, IlgpuBackend.Of(src).Slice(0, n), IlgpuBackend.Of(dst).Slice(0, n), p, seed, counter, shard, stepBlock, accumulate ? 1 : 0);
                return;
            }
            default: throw Backend.NotImplemented(key, backend);
        }
    }

    // src[N] -> dst[N] (= or +=) src * scale(mask index of i); one thread per element.
    static void Kernel(Index1D i, ArrayView<float> src, ArrayView<float> dst, float p, uint seed, uint counter, DropoutShard shard, int stepBlock, int accumulate)
    {
        float v = src[i] * Scale(seed, counter, MaskIndex(i.X, shard, stepBlock), p);
        dst[i] = accumulate != 0 ? dst[i] + v : v;
    }
}
