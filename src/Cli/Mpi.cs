using System.Reflection;
using System.Runtime.InteropServices;
using MusicGen.Model;

namespace MusicGen.Cli;

/// <summary>
/// <see cref="IDataParallel"/> over MPI, through MPI.NET (NuGet MPI.NET 1.4.0). MPI.NET's P/Invokes name Microsoft
/// MPI's "msmpi.dll"; elsewhere a resolver maps that name to MPICH's libmpich.so.12, whose ABI Intel MPI, MVAPICH and
/// Cray MPICH share. Open MPI does not work: its handles are pointers where MPICH's and MS-MPI's are integers, and
/// MPI.NET's constants (MPI_COMM_WORLD = 0x44000000, ...) are MPICH's integers.
/// Launch: <c>mpiexec -n N musicgen train --distributed ...</c> (run alone, it is one rank).
/// </summary>
public sealed class Mpi : IDataParallel, IDisposable
{
    /// <summary>What to install when no MPI library loads.</summary>
    public const string Missing = "--distributed needs an MPICH-compatible MPI library (libmpich.so.12, or $MUSICGEN_MPI_LIBRARY) and none loaded: install MPICH (Debian/Ubuntu: apt install mpich; also Intel MPI, MVAPICH, Cray MPICH; Open MPI is not compatible) and launch with mpiexec -n N";

    /// <summary>The MPI libraries tried, in order: $MUSICGEN_MPI_LIBRARY alone when set (a path or a name), else the platform's usual names.</summary>
    static readonly string[] Candidates = Environment.GetEnvironmentVariable("MUSICGEN_MPI_LIBRARY") is { Length: > 0 } chosen ? [chosen]
        : OperatingSystem.IsWindows() ? ["msmpi.dll"]
        : OperatingSystem.IsMacOS() ? ["libmpich.12.dylib", "libmpi.12.dylib"] : ["libmpich.so.12", "libmpi.so.12"];
    static bool _resolverSet;

    readonly MPI.Environment _environment;

    Mpi(MPI.Environment environment)
    {
        _environment = environment;
        Rank = MPI.Communicator.world.Rank;
        Size = MPI.Communicator.world.Size;
    }

    public int Rank { get; }
    public int Size { get; }

    /// <summary>Initialises MPI (once per process). Throws <see cref="InvalidOperationException"/> with <see cref="Missing"/> when no library loads.</summary>
    public static Mpi Start()
    {
        lock (typeof(Mpi))
        {
            if (!_resolverSet)
            {
                NativeLibrary.SetDllImportResolver(typeof(MPI.Communicator).Assembly, Resolve);
                _resolverSet = true;
            }
        }
        if (!Candidates.Any(c => NativeLibrary.TryLoad(c, out _))) throw new InvalidOperationException(Missing);
        string[] args = [];
        return new Mpi(new MPI.Environment(ref args));
    }

    static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (!name.StartsWith("msmpi", StringComparison.OrdinalIgnoreCase)) return IntPtr.Zero;
        foreach (var c in Candidates) if (NativeLibrary.TryLoad(c, assembly, path, out var handle)) return handle;
        return IntPtr.Zero;
    }

    /// <summary>MPI_IN_PLACE: the same value, (void*)-1, in MPICH and MS-MPI.</summary>
    static readonly IntPtr InPlace = new(-1);

    public unsafe void SumInPlace(float[] data)
    {
        fixed (float* p = data)
        {
            int rc = MPI.Unsafe.MPI_Allreduce(InPlace, (IntPtr)p, data.Length, MPI.Unsafe.MPI_FLOAT, MPI.Unsafe.MPI_SUM, MPI.Unsafe.MPI_COMM_WORLD);
            if (rc != 0) throw new InvalidOperationException($"MPI_Allreduce failed with error {rc}");
        }
    }

    public long[] Gather(long value) => MPI.Communicator.world.Allgather(value);

    /// <summary>
    /// Ends every rank of the job (MPI_Abort): what a rank that fails must do, or the others wait forever in the next
    /// all-reduce. Its error lines are flushed first and given a second to travel: mpiexec forwards a rank's stderr
    /// asynchronously, and an abort that killed the job at once lost them in 2 of 5 runs here
    /// (the job then failed with no message at all).
    /// </summary>
    public static void Abort(int code)
    {
        Console.Out.Flush();
        Console.Error.Flush();
        Thread.Sleep(TimeSpan.FromSeconds(1));
        MPI.Unsafe.MPI_Abort(MPI.Unsafe.MPI_COMM_WORLD, code);
    }

    public void Dispose() => _environment.Dispose();
}
