using MusicGen.Kernels;
using MusicGen.Kernels.Ops;

namespace MusicGen.Tests.Kernels;

/// <summary>
/// Each op picks its implementation in one switch over the backend; a backend it has no case for gets an error that
/// names the op and the backend (not an InvalidCastException from deep inside the op).
/// </summary>
public class DispatchTests
{
    /// <summary>A third backend: it can hold tensors (host arrays) but implements no op.</summary>
    sealed class HostOnlyBackend : Backend
    {
        public override string Name => "host-only test backend";
        public override string Kind => "host-only";
        public override Tensor Allocate(params int[] shape) => new ManagedTensor(this, shape);
        protected override Tensor MakeView(Tensor owner, int offset, int[] shape) => throw new NotSupportedException();
        public override void CopyFromHost(ReadOnlySpan<float> source, Tensor destination, int offset = 0) => source.CopyTo(((ManagedTensor)destination).Span(offset, source.Length));
        public override void CopyToHost(Tensor source, Span<float> destination, int offset = 0) => ((ManagedTensor)source).Span(offset, destination.Length).CopyTo(destination);
        public override void Synchronize() { }
        public override void Dispose() { }
    }

    [Fact]
    public void An_op_without_a_case_for_the_backend_names_the_op_and_the_backend()
    {
        using var be = new HostOnlyBackend();
        using var x = be.Allocate(8); using var y = be.Allocate(8);
        var e = Assert.Throws<NotSupportedException>(() => Dropout.Forward(be, x, y, 8, 0.5f, 1, 1));
        Assert.Contains("dropout.forward", e.Message);
        Assert.Contains("host-only", e.Message);
        e = Assert.Throws<NotSupportedException>(() => Gemm.Forward(be, MatrixView.Of(x, 2, 4), MatrixView.Of(y, 4, 2), MatrixView.Of(be.Allocate(4), 2, 2)));
        Assert.Contains("Gemm.Forward", e.Message);
        e = Assert.Throws<NotSupportedException>(() => Elementwise.Fill(be, x, 1f));
        Assert.Contains("Elementwise.Fill", e.Message);
    }

    [Fact]
    public void The_base_backend_runs_independent_work_one_after_the_other()
    {
        using var be = new HostOnlyBackend();
        var order = new List<int>();
        be.RunIndependently(() => order.Add(1), () => order.Add(2));
        Assert.Equal([1, 2], order);
    }
}
