namespace MusicGen.Model;

/// <summary>
/// What data-parallel training needs from a communication engine: N identical processes ("ranks"), each holding a
/// copy of the model, exchange gradients once per step. The CLI implements it over MPI (src/Cli/Mpi.cs); the
/// <see cref="Trainer"/> uses it when given one. Every call is collective: all ranks make it, in the same order.
/// </summary>
public interface IDataParallel
{
    /// <summary>This process's number, 0 .. Size-1. Rank 0 alone writes checkpoints, metrics and progress.</summary>
    int Rank { get; }
    /// <summary>How many ranks train together.</summary>
    int Size { get; }
    /// <summary>Replaces data[i], on every rank, by the sum over ranks of data[i] (an all-reduce).</summary>
    void SumInPlace(float[] data);
    /// <summary>Every rank's <paramref name="value"/>, indexed by rank (an all-gather).</summary>
    long[] Gather(long value);
}

/// <summary>How a global batch of B windows is split over N ranks: contiguous shards of floor(B/N) or ceil(B/N) windows, in rank order.</summary>
public static class Shards
{
    /// <summary>The rows [First, First + Count) of a batch of <paramref name="batch"/> that rank <paramref name="rank"/> of <paramref name="ranks"/> holds.</summary>
    public static (int First, int Count) Of(int batch, int rank, int ranks)
    {
        int first = (int)((long)batch * rank / ranks), next = (int)((long)batch * (rank + 1) / ranks);
        return (first, next - first);
    }
}
